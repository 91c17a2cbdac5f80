"""Who is calling? Customer look-up by customer code or phone number, and the customer card.

The screen pop, ``callcenter crm lookup`` and the REST API all call :func:`lookup_card` (or its two
halves, :func:`find_customers` and :func:`build_card`). Input is treated strictly as data: it is
bound as a query parameter, never spliced into SQL, and anything that is neither a plausible
customer code nor a phone number is refused with a reason before the database is asked.

Order of the search: the exact customer code first (codes are keyed on a phone keypad, so they
are digits and may look like numbers), then the number normalised to E.164 in
``default_region`` and matched on the ``phones.e164`` index.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Select, bindparam, func, literal, select, union_all
from sqlalchemy.ext.asyncio import AsyncSession

from crm_bridge import cards
from crm_bridge.models import (
    CUSTOMER_CODE_PATTERN,
    OPEN_COMPLAINT_STATUSES,
    Complaint,
    Customer,
    Interaction,
    Order,
    Phone,
    SatisfactionRating,
    Tag,
    customer_tags,
)
from crm_bridge.phones import MAX_INPUT_CHARS, InvalidNumber, looks_like_phone, normalise

MAX_CANDIDATES = 20
"""A shared number listing more people than this is a switchboard, not a pick list."""


class InvalidQuery(ValueError):
    """The text is neither a customer code nor a readable phone number (message says why)."""


class CustomerNotFound(LookupError):
    """No customer with that id."""


async def find_customers(
    session: AsyncSession, number_or_code: str, default_region: str
) -> list[Customer]:
    """Customers matching a customer code (exactly) or else a phone number in any human format.

    Returns ``[]`` for an unknown code or number, the one customer whose code it is, or the
    customers who have the number (shared lines: several, by id, at most
    :data:`MAX_CANDIDATES`). Relationships are not loaded. Raises :class:`InvalidQuery` for
    empty, oversized or unreadable input. One query, whatever the input: a screen pop waits
    for it.
    """
    text = (number_or_code or "").strip()
    if not text:
        raise InvalidQuery("empty: give a phone number or a customer code")
    if len(text) > MAX_INPUT_CHARS:
        raise InvalidQuery(f"longer than {MAX_INPUT_CHARS} characters")
    code = text if CUSTOMER_CODE_PATTERN.fullmatch(text) else None
    e164 = None
    if looks_like_phone(text):
        try:
            e164 = normalise(text, default_region)
        except InvalidNumber as exc:
            if code is None:
                raise InvalidQuery(f"unreadable phone number: {exc.reason}") from exc
            # digits keyed in the IVR that are no number here: only a (possible) code
    if code is None and e164 is None:
        raise InvalidQuery("neither a phone number nor a customer code")
    return await _customers(session, code, e164)


async def customers_by_e164(session: AsyncSession, e164: str) -> list[Customer]:
    """Customers who have ``e164`` (already normalised, e.g. a trunk's caller id), by id."""
    return await _customers(session, None, e164)


async def _customers(session: AsyncSession, code: str | None, e164: str | None) -> list[Customer]:
    parts: list[Select[Any]] = []
    if code is not None:
        parts.append(select(Customer.id).where(Customer.customer_code == code))
    if e164 is not None:
        parts.append(select(Phone.customer_id).where(Phone.e164 == e164))
    ids = union_all(*parts) if len(parts) > 1 else parts[0]
    by_code = Customer.customer_code == code if code is not None else literal(False)
    found = list(await session.scalars(
        select(Customer).where(Customer.id.in_(ids))
        .order_by(by_code.desc(), Customer.id).limit(MAX_CANDIDATES)
    ))
    if found and code is not None and found[0].customer_code == code:
        return found[:1]  # the code is exact; numbers only matter when no code matched
    return found


def _card_statements() -> tuple[Select[Any], ...]:
    """The five card queries, built once with bind parameters (building a statement per call
    costs more than running it on SQLite): the customer with its aggregates as scalar
    subqueries, phones and tags together, and the three recent lists."""
    cid = bindparam("customer_id")
    in_window = (Order.customer_id == Customer.id, Order.ordered_at >= bindparam("since"))
    rated = SatisfactionRating.customer_id == Customer.id
    customer = select(
        Customer.__table__,
        select(func.coalesce(func.sum(Order.amount), 0)).where(*in_window)
        .scalar_subquery().label("total_12m"),
        select(func.count()).select_from(Order).where(*in_window)
        .scalar_subquery().label("orders_12m"),
        select(func.avg(SatisfactionRating.score)).where(rated)
        .scalar_subquery().label("rating_average"),
        select(func.count()).select_from(SatisfactionRating).where(rated)
        .scalar_subquery().label("rating_count"),
    ).where(Customer.id == cid)
    labels = union_all(
        select(literal("phone").label("kind"), Phone.e164.label("value"),
               Phone.id.label("position")).where(Phone.customer_id == cid),
        select(literal("tag"), Tag.name, literal(0))
        .join(customer_tags, customer_tags.c.tag_id == Tag.id)
        .where(customer_tags.c.customer_id == cid),
    ).order_by("kind", "position", "value")
    orders = (select(Order.__table__).where(Order.customer_id == cid)
              .order_by(Order.ordered_at.desc(), Order.id.desc()).limit(cards.RECENT_LIMIT))
    interactions = (select(Interaction.__table__).where(Interaction.customer_id == cid)
                    .order_by(Interaction.started_at.desc(), Interaction.id.desc())
                    .limit(cards.RECENT_LIMIT))
    complaints = (select(Complaint.__table__)
                  .where(Complaint.customer_id == cid,
                         Complaint.status.in_(OPEN_COMPLAINT_STATUSES))
                  .order_by(Complaint.opened_at.desc(), Complaint.id.desc()))
    return customer, labels, orders, interactions, complaints  # type: ignore[return-value]


_CUSTOMER, _LABELS, _ORDERS, _INTERACTIONS, _COMPLAINTS = _card_statements()


async def build_card(
    session: AsyncSession, customer_id: int, *, now: dt.datetime | None = None
) -> dict[str, Any]:
    """The full customer card (shape: :func:`crm_bridge.cards.full_card`).

    ``now`` fixes the end of the 365-day value window (default: the current time); raises
    :class:`CustomerNotFound` for an unknown id. Five indexed queries (see above).
    """
    now = now or dt.datetime.now(dt.UTC)
    since = now - cards.TIER_WINDOW
    params = {"customer_id": customer_id}
    customer = (await session.execute(
        _CUSTOMER, {**params, "since": since})).mappings().first()
    if customer is None:
        raise CustomerNotFound(f"no customer with id {customer_id}")
    labels = (await session.execute(_LABELS, params)).all()
    orders = (await session.execute(_ORDERS, params)).mappings().all()
    interactions = (await session.execute(_INTERACTIONS, params)).mappings().all()
    complaints = (await session.execute(_COMPLAINTS, params)).mappings().all()
    return cards.full_card(
        customer,
        phones=[value for kind, value, _ in labels if kind == "phone"],
        tags=[value for kind, value, _ in labels if kind == "tag"],
        total_12m=customer["total_12m"],
        orders_12m=customer["orders_12m"],
        recent_orders=orders,
        recent_interactions=interactions,
        open_complaints=complaints,
        rating_average=customer["rating_average"],
        rating_count=customer["rating_count"],
        since=since,
    )


def _short(customer: Customer) -> dict[str, Any]:
    return cards.short_card({
        "id": customer.id,
        "customer_code": customer.customer_code,
        "name": customer.name,
        "company": customer.company,
        "region": customer.region,
    })


async def lookup_card(
    session: AsyncSession, text: str, default_region: str, *, now: dt.datetime | None = None
) -> dict[str, Any]:
    """The screen-pop answer for a caller id or a keyed-in code, always JSON-ready:

    - ``{"match": card}``: exactly one customer;
    - ``{"match": None, "candidates": [short cards]}``: several customers share the number;
    - ``{"match": None}``: unknown caller (offer quick-create);
    - ``{"match": None, "error": "..."}``: the input is not readable (nothing was searched).
    """
    try:
        customers = await find_customers(session, text, default_region)
    except InvalidQuery as exc:
        return {"match": None, "error": str(exc)}
    if not customers:
        return {"match": None}
    if len(customers) == 1:
        return {"match": await build_card(session, customers[0].id, now=now)}
    return {"match": None, "candidates": [_short(customer) for customer in customers]}
