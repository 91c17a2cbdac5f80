"""CRM queries and writes behind the REST API: search, customer create/update, interactions.

Kept apart from :mod:`crm_bridge.lookup` (the screen pop's hot path) because these serve people
typing into a search box and forms, not ringing phones. Every value from a request is bound as a
query parameter; ``LIKE`` wildcards in search text are escaped (``autoescape``), so ``%`` or
``_`` search for themselves and SQL-looking text is only ever a string to compare with.

Input here is already validated (the web layer does that with pydantic and
:func:`crm_bridge.phones.normalise`); these functions only talk to the database.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import case, func, literal, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from crm_bridge import cards
from crm_bridge.models import CUSTOMER_CODE_PATTERN, Customer, Interaction, Phone, Tag
from crm_bridge.phones import InvalidNumber, is_mobile, looks_like_phone, normalise

CUSTOMER_FIELDS = ("name", "customer_code", "company", "title", "email", "address", "region",
                   "industry", "birthday", "consent", "do_not_call")
"""Plain columns a create/update may set (phones and tags are handled apart)."""


class DuplicateCustomerCode(ValueError):
    """Another customer already has this customer code."""

    def __init__(self, code: str) -> None:
        self.code = code
        super().__init__(f"customer_code {code!r} belongs to another customer")


@dataclass(frozen=True, slots=True)
class PhoneInput:
    """One validated number: E.164 for matching, the text as entered for display."""

    e164: str
    raw: str

    @property
    def kind(self) -> str:
        return "mobile" if is_mobile(self.e164) else "other"


async def search_customers(
    session: AsyncSession, text: str, default_region: str, *, limit: int, offset: int
) -> tuple[list[dict[str, Any]], int]:
    """Short cards of customers matching ``text``, and how many match in all.

    Matches: the exact customer code, a phone number in any human format (normalised in
    ``default_region``; text that is no readable number simply matches no phone), or a
    case-insensitive substring of the name (SQLite folds ASCII letters only). Ordered by how
    well they match (code, phone, name prefix, name substring), then name and id, so pages are
    stable.
    """
    needle = text.strip()
    code = needle if CUSTOMER_CODE_PATTERN.fullmatch(needle) else None
    e164 = None
    if looks_like_phone(needle):
        try:
            e164 = normalise(needle, default_region)
        except InvalidNumber:
            e164 = None
    lowered = func.lower(Customer.name)
    folded = needle.lower()
    by_name = lowered.contains(folded, autoescape=True)
    by_code = Customer.customer_code == code if code is not None else literal(False)
    by_phone = (Customer.id.in_(select(Phone.customer_id).where(Phone.e164 == e164))
                if e164 is not None else literal(False))
    where = or_(by_code, by_phone, by_name)
    rank = case((by_code, 0), (by_phone, 1), (lowered.startswith(folded, autoescape=True), 2),
                else_=3)
    total = await session.scalar(select(func.count()).select_from(Customer).where(where))
    rows = (await session.execute(
        select(Customer.id, Customer.customer_code, Customer.name, Customer.company,
               Customer.region)
        .where(where).order_by(rank, Customer.name, Customer.id).limit(limit).offset(offset)
    )).mappings().all()
    return [cards.short_card(row) for row in rows], int(total or 0)


async def customer_exists(session: AsyncSession, customer_id: int) -> bool:
    found = await session.scalar(select(Customer.id).where(Customer.id == customer_id))
    return found is not None


async def code_owner(session: AsyncSession, code: str) -> int | None:
    """The id of the customer whose code this is, if any."""
    return await session.scalar(select(Customer.id).where(Customer.customer_code == code))


async def _check_code(session: AsyncSession, code: str | None, customer_id: int | None) -> None:
    """Refuse a code another customer holds (the unique index is the final word under races)."""
    if code is None:
        return
    owner = await code_owner(session, code)
    if owner is not None and owner != customer_id:
        raise DuplicateCustomerCode(code)


async def _tags(session: AsyncSession, names: Iterable[str]) -> list[Tag]:
    """The Tag rows for ``names`` (deduplicated, order kept), creating the missing ones."""
    wanted = list(dict.fromkeys(names))
    if not wanted:
        return []
    existing = {tag.name: tag for tag in await session.scalars(
        select(Tag).where(Tag.name.in_(wanted)))}
    return [existing.get(name) or Tag(name=name) for name in wanted]


def _phones(phones: Sequence[PhoneInput]) -> list[Phone]:
    unique: dict[str, PhoneInput] = {}
    for phone in phones:  # a number given twice is stored once, as first spelled
        unique.setdefault(phone.e164, phone)
    return [Phone(e164=p.e164, raw=p.raw, kind=p.kind) for p in unique.values()]


async def create_customer(
    session: AsyncSession, fields: Mapping[str, Any], phones: Sequence[PhoneInput],
    tags: Sequence[str],
) -> int:
    """Insert one customer with its phones and tags (flushed, not committed); its id.

    Raises :class:`DuplicateCustomerCode`. Repeating a number is harmless: it is stored once.
    """
    await _check_code(session, fields.get("customer_code"), None)
    customer = Customer(**{k: v for k, v in fields.items() if k in CUSTOMER_FIELDS})
    customer.phones = _phones(phones)
    customer.tags = await _tags(session, tags)
    session.add(customer)
    await session.flush()
    return customer.id


async def update_customer(
    session: AsyncSession, customer_id: int, fields: Mapping[str, Any],
    phones: Sequence[PhoneInput] | None, tags: Sequence[str] | None,
) -> bool:
    """Apply a partial update (flushed, not committed); False if there is no such customer.

    ``phones``/``tags`` replace the whole list when given (None leaves them alone). A phone
    that stays keeps its row (only its spelling is refreshed), so ids do not churn.
    """
    customer = await session.scalar(
        select(Customer).where(Customer.id == customer_id)
        .options(selectinload(Customer.phones), selectinload(Customer.tags)))
    if customer is None:
        return False
    if "customer_code" in fields:
        await _check_code(session, fields["customer_code"], customer_id)
    for key, value in fields.items():
        if key in CUSTOMER_FIELDS:
            setattr(customer, key, value)
    if phones is not None:
        kept = {phone.e164: phone for phone in customer.phones}
        fresh = []
        for phone in _phones(phones):
            old = kept.get(phone.e164)
            if old is not None:
                old.raw = phone.raw
            fresh.append(old or phone)
        customer.phones = fresh
    if tags is not None:
        customer.tags = await _tags(session, tags)
    await session.flush()
    return True


async def list_interactions(
    session: AsyncSession, customer_id: int, *, limit: int, offset: int
) -> tuple[list[dict[str, Any]], int]:
    """A customer's interactions, newest first, and how many there are."""
    mine = Interaction.customer_id == customer_id
    total = await session.scalar(select(func.count()).select_from(Interaction).where(mine))
    rows = (await session.execute(
        select(Interaction.__table__).where(mine)
        .order_by(Interaction.started_at.desc(), Interaction.id.desc())
        .limit(limit).offset(offset)
    )).mappings().all()
    return [cards.interaction_json(row) for row in rows], int(total or 0)


async def update_interaction(
    session: AsyncSession, interaction_id: int, fields: Mapping[str, Any]
) -> dict[str, Any] | None:
    """Set the wrap-up fields (``disposition``, ``notes``); the interaction as JSON, or None."""
    interaction = await session.get(Interaction, interaction_id)
    if interaction is None:
        return None
    for key in ("disposition", "notes"):
        if key in fields:
            setattr(interaction, key, fields[key])
    await session.flush()
    row = {column.name: getattr(interaction, column.name)
           for column in Interaction.__table__.columns}
    return cards.interaction_json(row)
