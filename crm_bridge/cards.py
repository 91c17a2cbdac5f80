"""Pure pieces of the customer card: value tiers and row -> JSON shaping (no database here).

The card is what a screen pop, ``callcenter crm lookup`` and the REST API show, so its shape is
decided once, here. Every value is JSON-ready: timestamps are ISO 8601 in UTC, money is a
decimal *string* (``"1234.50"``; a float would misstate cents), dates are ``YYYY-MM-DD``.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

TIER_WINDOW = dt.timedelta(days=365)
"""The card's ``value_12m`` looks at the last 365 days: what a customer is worth *now*."""

TIERS = ("vip", "major", "ordinary", "small", "none")
"""The value-pyramid tiers a card shows (``crm_bridge.analytics``: top 1 % of customers by
order total over the window ``vip``, next 4 % ``major``, next 15 % ``ordinary``, the rest
``small``; ``none``: no orders in the window, or not computed yet). The tier is relative to
the whole customer base, so it is computed for everyone at once by ``callcenter analytics
refresh`` and stored (table ``customer_analytics``); the card reads the stored one."""
RECENT_LIMIT = 5

Row = Mapping[Any, Any]
"""A row read by column name: a dict, or SQLAlchemy's ``RowMapping`` (whose keys may also be
column objects, so ``Mapping[str, Any]`` would not take it)."""


def stored_tier(tier: str | None) -> str:
    """The card's tier from the stored one (``none`` when the customer has no stored row)."""
    if tier is None:
        return "none"
    if tier not in TIERS:
        raise ValueError(f"unknown value tier {tier!r} (one of {', '.join(TIERS)})")
    return tier


def churn_json(risk: bool | int | None, reasons: str | None,
               computed_at: dt.datetime | None) -> dict[str, Any]:
    """The card's churn warning: ``{"at_risk", "reasons": [{"code", "text"}], "as_of"}``
    from the stored row (``reasons`` is its JSON text)."""
    found = json.loads(reasons) if reasons else []
    return {"at_risk": bool(risk), "reasons": found, "as_of": iso(computed_at)}


def rfm_json(analytics: Mapping[str, Any]) -> dict[str, Any] | None:
    """The card's RFM scores and segment, None when the customer was not scored."""
    if analytics.get("segment") is None:
        return None
    return {"r": analytics["r_score"], "f": analytics["f_score"], "m": analytics["m_score"],
            "segment": analytics["segment"]}


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
        "value_tier": stored_tier(customer.get("a_value_tier")),
        "churn": churn_json(customer.get("a_churn_risk"), customer.get("a_churn_reasons"),
                            customer.get("a_computed_at")),
        "rfm": rfm_json({"segment": customer.get("a_segment"),
                         "r_score": customer.get("a_r_score"),
                         "f_score": customer.get("a_f_score"),
                         "m_score": customer.get("a_m_score")}),
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
