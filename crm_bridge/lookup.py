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
import sqlite3
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from sqlalchemy import (
    BindParameter,
    ColumnElement,
    CompoundSelect,
    Dialect,
    Select,
    bindparam,
    func,
    literal,
    literal_column,
    select,
    union_all,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import make_transient_to_detached
from sqlalchemy.orm.util import identity_key

from crm_bridge import cards
from crm_bridge.models import (
    CUSTOMER_CODE_PATTERN,
    OPEN_COMPLAINT_STATUSES,
    Complaint,
    Customer,
    CustomerAnalyticsRow,
    Interaction,
    Order,
    Phone,
    SatisfactionRating,
    Tag,
    customer_tags,
)
from crm_bridge.phones import MAX_INPUT_CHARS, InvalidNumber, looks_like_phone, normalise

ANALYTICS_COLUMNS = ("value_tier", "churn_risk", "churn_reasons", "computed_at", "segment",
                     "r_score", "f_score", "m_score")
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
    code, e164 = parse_query(number_or_code, default_region)
    return await _customers(session, code, e164)


def parse_query(number_or_code: str, default_region: str) -> tuple[str | None, str | None]:
    """``(customer code, E.164 number)`` to search for (either may be None, never both), or
    :class:`InvalidQuery` for empty, oversized or unreadable input. No database here."""
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
    return code, e164


async def customers_by_e164(session: AsyncSession, e164: str) -> list[Customer]:
    """Customers who have ``e164`` (already normalised, e.g. a trunk's caller id), by id."""
    return await _customers(session, None, e164)


def _find_statement(code: bool, e164: bool) -> Select[Any]:
    """Customers by code and/or number (bind parameters ``code``, ``e164``): the exact code
    first, then by id."""
    parts: list[Select[Any]] = []
    if code:
        parts.append(select(Customer.id).where(Customer.customer_code == bindparam("code")))
    if e164:
        parts.append(select(Phone.customer_id).where(Phone.e164 == bindparam("e164")))
    ids = union_all(*parts) if len(parts) > 1 else parts[0]
    by_code = (Customer.customer_code == bindparam("code")) if code else literal(False)
    return (select(Customer.__table__).where(Customer.id.in_(ids))
            .order_by(by_code.desc(), Customer.id).limit(MAX_CANDIDATES))


_FIND = {(code, e164): _find_statement(code, e164)
         for code, e164 in ((True, False), (False, True), (True, True))}


def _find_params(code: str | None, e164: str | None) -> tuple[Select[Any], dict[str, Any]]:
    params = {name: value for name, value in (("code", code), ("e164", e164))
              if value is not None}
    return _FIND[code is not None, e164 is not None], params


def _exact_code(rows: list[Any], code: str | None) -> list[Any]:
    if rows and code is not None and rows[0]["customer_code"] == code:
        return rows[:1]  # the code is exact; numbers only matter when no code matched
    return rows


async def _customers(session: AsyncSession, code: str | None, e164: str | None) -> list[Customer]:
    statement, params = _find_params(code, e164)
    reader = await _fast_reader(session)
    if reader is not None:
        rows = await reader.run(_sync_find, code, e164)
        return [_attach(session, row) for row in rows]
    rows = list((await session.execute(statement, params)).mappings())
    return [_attach(session, row) for row in _exact_code(rows, code)]


_CUSTOMER_COLUMNS = tuple(column.key for column in Customer.__table__.columns)


def _attach(session: AsyncSession, row: Mapping[str, Any]) -> Customer:
    """The session's ``Customer`` for a customers row: the one already in the session's
    identity map, else a new persistent instance built from the row without another query
    (``make_transient_to_detached`` + ``add``: what a query's loading would have done)."""
    sync = session.sync_session
    known = sync.identity_map.get(identity_key(Customer, row["id"]))
    if known is not None:
        return known
    customer = Customer(**{key: row[key] for key in _CUSTOMER_COLUMNS})
    make_transient_to_detached(customer)
    sync.add(customer)
    return customer


def _card_statements() -> tuple[Select[Any], ...]:
    """The five card queries, built once with bind parameters (building a statement per call
    costs more than running it on SQLite): the customer with its aggregates as scalar
    subqueries, phones and tags together, and the three recent lists."""
    cid: BindParameter[int] = bindparam("customer_id")
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
        # what ``callcenter analytics refresh`` stored: tier, RFM, churn warning
        *(getattr(CustomerAnalyticsRow, name).label(f"a_{name}") for name in ANALYTICS_COLUMNS),
    ).outerjoin(CustomerAnalyticsRow, CustomerAnalyticsRow.customer_id == Customer.id
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
                         # literals, not an "expanding" IN: one SQL text for every call
                         Complaint.status.in_([literal_column(f"'{status}'")
                                               for status in OPEN_COMPLAINT_STATUSES]))
                  .order_by(Complaint.opened_at.desc(), Complaint.id.desc()))
    return customer, labels, orders, interactions, complaints  # type: ignore[return-value]


_CUSTOMER, _LABELS, _ORDERS, _INTERACTIONS, _COMPLAINTS = _card_statements()


async def build_card(
    session: AsyncSession, customer_id: int, *, now: dt.datetime | None = None
) -> dict[str, Any]:
    """The full customer card (shape: :func:`crm_bridge.cards.full_card`).

    ``now`` fixes the end of the 365-day value window (default: the current time); raises
    :class:`CustomerNotFound` for an unknown id. Five indexed queries (see above), run in one
    hop on SQLite (see :class:`_SqliteReader`).
    """
    since = (now or dt.datetime.now(dt.UTC)) - cards.TIER_WINDOW
    reader = await _fast_reader(session)
    if reader is not None:
        parts = await reader.run(_sync_card_parts, customer_id, since)
    else:
        parts = await _card_parts(session, customer_id, since)
    if parts is None:
        raise CustomerNotFound(f"no customer with id {customer_id}")
    return _card(parts, since)


async def _card_parts(
    session: AsyncSession, customer_id: int, since: dt.datetime
) -> dict[str, Any] | None:
    params = {"customer_id": customer_id}
    customer = (await session.execute(
        _CUSTOMER, {**params, "since": since})).mappings().first()
    if customer is None:
        return None
    return {
        "customer": customer,
        "labels": (await session.execute(_LABELS, params)).mappings().all(),
        "orders": (await session.execute(_ORDERS, params)).mappings().all(),
        "interactions": (await session.execute(_INTERACTIONS, params)).mappings().all(),
        "complaints": (await session.execute(_COMPLAINTS, params)).mappings().all(),
    }


def _card(parts: Mapping[str, Any], since: dt.datetime) -> dict[str, Any]:
    customer, labels = parts["customer"], parts["labels"]
    return cards.full_card(
        customer,
        phones=[row["value"] for row in labels if row["kind"] == "phone"],
        tags=[row["value"] for row in labels if row["kind"] == "tag"],
        total_12m=customer["total_12m"],
        orders_12m=customer["orders_12m"],
        recent_orders=parts["orders"],
        recent_interactions=parts["interactions"],
        open_complaints=parts["complaints"],
        rating_average=customer["rating_average"],
        rating_count=customer["rating_count"],
        since=since,
    )


async def lookup_card(
    session: AsyncSession, text: str, default_region: str, *, now: dt.datetime | None = None
) -> dict[str, Any]:
    """The screen-pop answer for a caller id or a keyed-in code, always JSON-ready:

    - ``{"match": card}``: exactly one customer;
    - ``{"match": None, "candidates": [short cards]}``: several customers share the number;
    - ``{"match": None}``: unknown caller (offer quick-create);
    - ``{"match": None, "error": "..."}``: the input is not readable (nothing was searched).

    On SQLite the search and the card are one hop to the database thread.
    """
    try:
        code, e164 = parse_query(text, default_region)
    except InvalidQuery as exc:
        return {"match": None, "error": str(exc)}
    since = (now or dt.datetime.now(dt.UTC)) - cards.TIER_WINDOW
    reader = await _fast_reader(session)
    parts: dict[str, Any] | None = None
    if reader is not None:
        found, parts = await reader.run(_sync_lookup, code, e164, since)
    else:
        statement, params = _find_params(code, e164)
        found = _exact_code(list((await session.execute(statement, params)).mappings()), code)
        if len(found) == 1:
            parts = await _card_parts(session, found[0]["id"], since)
    if not found:
        return {"match": None}
    if len(found) == 1:
        if parts is None:  # deleted between the two queries
            return {"match": None}
        return {"match": _card(parts, since)}
    return {"match": None, "candidates": [cards.short_card(row) for row in found]}


# --- SQLite: the whole look-up in one hop --------------------------------------------------


def _column_key(column: ColumnElement[Any]) -> str:
    if column.key is None:  # every column our statements select is named
        raise ValueError(f"unnamed column {column!r} in a compiled statement")
    return column.key


class _Compiled:
    """A Core statement compiled once for SQLite, with what SQLAlchemy would do around it:
    positional parameters through the columns' bind processors, rows through the selected
    columns' result processors (``UtcDateTime`` -> aware datetimes, ``Numeric`` -> Decimal)."""

    def __init__(self, statement: Select[Any] | CompoundSelect, dialect: Dialect) -> None:
        compiled = statement.compile(dialect=dialect)
        self.sql = compiled.string
        self.names = tuple(compiled.positiontup or ())
        binds = compiled.binds
        self.bind_processors = {
            name: binds[name].type.dialect_impl(dialect).bind_processor(dialect)
            for name in set(self.names) if name in binds
        }
        self.defaults = {name: self._bind(name, value) for name, value in compiled.params.items()}
        columns = list(statement.selected_columns)
        self.keys = tuple(_column_key(column) for column in columns)
        self.result_processors = tuple(
            column.type.dialect_impl(dialect).result_processor(dialect, None)
            for column in columns)

    def _bind(self, name: str, value: Any) -> Any:
        processor = self.bind_processors.get(name)
        return processor(value) if processor is not None and value is not None else value

    def rows(self, dbapi: sqlite3.Connection, params: Mapping[str, Any]) -> list[dict[str, Any]]:
        args = [self._bind(name, params[name]) if name in params else self.defaults[name]
                for name in self.names]
        keys, processors = self.keys, self.result_processors
        return [
            {key: (process(value) if process is not None and value is not None else value)
             for key, process, value in zip(keys, processors, row, strict=True)}
            for row in dbapi.execute(self.sql, args).fetchall()
        ]


class _SqliteDb:
    """The statements of this module, compiled for SQLite, on one sqlite3 connection."""

    compiled: dict[int, _Compiled] = {}

    def __init__(self, dbapi: sqlite3.Connection) -> None:
        self.dbapi = dbapi

    @classmethod
    def prepare(cls, dialect: Dialect) -> None:
        """Compile every statement once (in the event loop's thread, before any hop)."""
        if not cls.compiled:
            statements = (*_FIND.values(), _CUSTOMER, _LABELS, _ORDERS, _INTERACTIONS,
                          _COMPLAINTS)
            cls.compiled = {id(statement): _Compiled(statement, dialect)
                            for statement in statements}

    def rows(self, statement: Any, params: Mapping[str, Any]) -> list[dict[str, Any]]:
        return self.compiled[id(statement)].rows(self.dbapi, params)


class _SqliteReader:
    """Runs a synchronous function on the session's *own* sqlite3 connection, in aiosqlite's
    worker thread, so all its queries cost one hop to that thread instead of four per query
    (cursor, execute, fetch, close through SQLAlchemy's aiosqlite adapter: ~0.1 ms each, and
    most of a look-up's time). Same connection, so the session's own unflushed-then-flushed
    and uncommitted writes are seen, exactly as with ``session.execute``.

    aiosqlite has no public "run this function in your thread"; ``_execute`` and ``_conn``
    are its internals (stable from 0.17 to 0.22). :func:`_fast_reader` checks they exist and
    falls back to the ordinary path otherwise; tests/integration/test_crm_lookup_speedups.py
    fails if the fast path is silently lost.
    """

    def __init__(self, driver: Any) -> None:
        self.driver = driver

    async def run(self, fn: Callable[..., _T], *args: Any) -> _T:
        driver = self.driver
        return await driver._execute(lambda: fn(_SqliteDb(driver._conn), *args))


_T = TypeVar("_T")
FAST_SQLITE = True
"""Use :class:`_SqliteReader` on SQLite (False: every query through SQLAlchemy; benchmarks and
tests compare the two)."""


async def _fast_reader(session: AsyncSession) -> _SqliteReader | None:
    dialect = session.get_bind().dialect
    if not FAST_SQLITE or dialect.name != "sqlite":
        return None
    sync = session.sync_session
    if sync.autoflush and (sync.new or sync.dirty or sync.deleted):
        await session.flush()  # what session.execute would have done first
    connection = await session.connection()
    driver = (await connection.get_raw_connection()).driver_connection
    if not callable(getattr(driver, "_execute", None)) or not hasattr(driver, "_conn"):
        return None
    _SqliteDb.prepare(dialect)
    return _SqliteReader(driver)


def _sync_find(db: _SqliteDb, code: str | None, e164: str | None) -> list[dict[str, Any]]:
    statement, params = _find_params(code, e164)
    return _exact_code(db.rows(statement, params), code)


def _sync_card_parts(db: _SqliteDb, customer_id: int, since: dt.datetime,
                     ) -> dict[str, Any] | None:
    params = {"customer_id": customer_id}
    customer = db.rows(_CUSTOMER, {**params, "since": since})
    if not customer:
        return None
    return {
        "customer": customer[0],
        "labels": db.rows(_LABELS, params),
        "orders": db.rows(_ORDERS, params),
        "interactions": db.rows(_INTERACTIONS, params),
        "complaints": db.rows(_COMPLAINTS, params),
    }


def _sync_lookup(db: _SqliteDb, code: str | None, e164: str | None, since: dt.datetime,
                 ) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    found = _sync_find(db, code, e164)
    parts = _sync_card_parts(db, found[0]["id"], since) if len(found) == 1 else None
    return found, parts
