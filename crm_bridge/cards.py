"""Pure pieces of the customer card: value tiers and row -> JSON shaping (no database here).

The card is what a screen pop, ``callcenter crm lookup`` and the REST API show, so its shape is
decided once, here. Every value is JSON-ready: timestamps are ISO 8601 in UTC, money is a
decimal *string* (``"1234.50"``; a float would misstate cents), dates are ``YYYY-MM-DD``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

TIER_WINDOW = dt.timedelta(days=365)
"""Tiers look at the last 365 days: what a customer is worth *now*, not ten years ago."""

TIER_THRESHOLDS: tuple[tuple[str, Decimal], ...] = (
    ("platinum", Decimal("50000")),
    ("gold", Decimal("10000")),
    ("silver", Decimal("2000")),
)
"""Minimum order total over :data:`TIER_WINDOW` per tier, highest first. Below silver, any order
in the window makes ``bronze``; none makes ``none``. Amounts are in the CRM's billing currency
(``orders.currency``; the CRM does not convert between currencies)."""

FREQUENT_BUYER_ORDERS = 12
"""At least this many orders in the window (monthly or more often) lifts a customer one tier,
up to ``gold``: a frequent small buyer deserves more attention than one large order says.
Platinum stays a matter of money alone."""

TIERS = ("platinum", "gold", "silver", "bronze", "none")
RECENT_LIMIT = 5

Row = Mapping[Any, Any]
"""A row read by column name: a dict, or SQLAlchemy's ``RowMapping`` (whose keys may also be
column objects, so ``Mapping[str, Any]`` would not take it)."""


def value_tier(total_amount: Decimal | int | float | str, order_count: int) -> str:
    """``platinum`` / ``gold`` / ``silver`` / ``bronze`` / ``none`` for a 365-day order history.

    ``total_amount`` is the sum of order amounts in the window (refunds may make it small or
    negative) and ``order_count`` the number of orders in it; see :data:`TIER_THRESHOLDS` and
    :data:`FREQUENT_BUYER_ORDERS`. Inconsistent input (negative count, money without orders)
    is a ValueError: it means the caller queried the wrong thing.
    """
    total = Decimal(str(total_amount))
    if not total.is_finite():
        raise ValueError(f"total_amount must be a finite number, not {total_amount!r}")
    if order_count < 0:
        raise ValueError(f"order_count must be >= 0, not {order_count}")
    if order_count == 0:
        if total != 0:
            raise ValueError(f"total {total} with no orders")
        return "none"
    tier = next((name for name, minimum in TIER_THRESHOLDS if total >= minimum), "bronze")
    if order_count >= FREQUENT_BUYER_ORDERS and tier not in ("platinum", "gold"):
        tier = TIERS[TIERS.index(tier) - 1]
    return tier


def iso(value: dt.datetime | dt.date | None) -> str | None:
    """ISO 8601; datetimes in UTC (naive ones are taken to be UTC already)."""
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")
    return value.isoformat()


def money(value: Decimal | int | float | str | None) -> str:
    """Two-decimal string, e.g. ``"1234.50"``."""
    return str(Decimal(str(value if value is not None else 0)).quantize(Decimal("0.01")))


def order_json(row: Row) -> dict[str, Any]:
    return {
        "order_id": row["id"],
        "product": row["product"],
        "amount": money(row["amount"]),
        "currency": row["currency"],
        "ordered_at": iso(row["ordered_at"]),
    }


def interaction_json(row: Row) -> dict[str, Any]:
    return {
        "interaction_id": row["id"],
        "call_id": row["call_id"],
        "direction": row["direction"],
        "caller_number": row["caller_number"],
        "queue": row["queue"],
        "agent": row["agent"],
        "ivr_path": row["ivr_path"],
        "disposition": row["disposition"],
        "notes": row["notes"],
        "started_at": iso(row["started_at"]),
        "answered_at": iso(row["answered_at"]),
        "ended_at": iso(row["ended_at"]),
        "hangup_cause": row["hangup_cause"],
        "recording_ref": row["recording_ref"],
        "talk_started_at": iso(row["talk_started_at"]),
        "talk_ended_at": iso(row["talk_ended_at"]),
        "talk_s": _seconds_between(row["talk_started_at"], row["talk_ended_at"]),
    }


def _seconds_between(start: dt.datetime | None, end: dt.datetime | None) -> float | None:
    if start is None or end is None:
        return None
    return round(max(0.0, (end - start).total_seconds()), 3)


def complaint_json(row: Row) -> dict[str, Any]:
    return {
        "complaint_id": row["id"],
        "status": row["status"],
        "stage": row["stage"],  # the workflow's status (migration 0010)
        "severity": row["severity"],
        "deadline": iso(row["deadline_at"]),
        "category": row["category"],
        "summary": row["summary"],
        "opened_at": iso(row["opened_at"]),
    }


def short_card(customer: Row) -> dict[str, Any]:
    """Enough to pick the right person from several who share a number."""
    return {
        "customer_id": customer["id"],
        "customer_code": customer["customer_code"],
        "name": customer["name"],
        "company": customer["company"],
        "region": customer["region"],
    }


def full_card(
    customer: Mapping[str, Any],
    *,
    phones: Iterable[str],
    tags: Iterable[str],
    total_12m: Decimal | int | float | str | None,
    orders_12m: int,
    recent_orders: Iterable[Mapping[str, Any]],
    recent_interactions: Iterable[Mapping[str, Any]],
    open_complaints: Iterable[Mapping[str, Any]],
    rating_average: float | Decimal | None,
    rating_count: int,
    since: dt.datetime,
) -> dict[str, Any]:
    """The customer card from already-queried rows (see ``crm_bridge.lookup.build_card``)."""
    total = Decimal(str(total_12m if total_12m is not None else 0))
    return {
        **short_card(customer),
        "title": customer["title"],
        "email": customer["email"],
        "address": customer["address"],
        "industry": customer["industry"],
        "birthday": iso(customer["birthday"]),
        "consent": bool(customer["consent"]),
        "do_not_call": bool(customer["do_not_call"]),
        "phones": list(phones),
        "tags": list(tags),
        "value_tier": value_tier(total, orders_12m),
        "value_12m": {"total": money(total), "orders": orders_12m, "since": iso(since)},
        "recent_orders": [order_json(row) for row in recent_orders],
        "recent_interactions": [interaction_json(row) for row in recent_interactions],
        "open_complaints": [complaint_json(row) for row in open_complaints],
        "satisfaction": {
            "average": round(float(rating_average), 2)
            if rating_count and rating_average is not None
            else None,
            "count": rating_count,
        },
    }
