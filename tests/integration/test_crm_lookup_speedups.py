"""The look-up speed-ups (bench/screen_pop.py) change nothing but the speed.

- SQLite: the one-hop read path (``crm_bridge.lookup._SqliteReader``) answers exactly what the
  plain SQLAlchemy path answers, sees the session's own unflushed and uncommitted writes, and is
  really taken (an aiosqlite upgrade that removes its internals must not silently slow us down);
- both backends: ``find_customers`` returns the session's persistent ``Customer`` objects;
- the SQLite pragmas are applied and every look-up query is an index search, never a scan.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.dialects import sqlite as sqlite_dialect
from sqlalchemy.ext.asyncio import AsyncEngine

from crm_bridge import lookup
from crm_bridge.db import SQLITE_CACHE_KIB, SQLITE_MMAP_BYTES, make_engine, session_factory
from crm_bridge.lookup import build_card, find_customers, lookup_card
from crm_bridge.models import Customer, Phone
from crm_bridge.seed import seed

pytestmark = pytest.mark.integration

ANCHOR = dt.datetime(2026, 6, 1, 12, 0, tzinfo=dt.UTC)
NOW = ANCHOR + dt.timedelta(days=1)
REGION = "US"


@pytest.fixture(scope="module")
def seeded_sqlite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    import asyncio

    url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('speed') / 'crm.db'}"
    asyncio.run(seed(url, 400, progress=False, anchor=ANCHOR, batch_size=150))
    yield url


@pytest.fixture
async def engine(seeded_sqlite: str) -> AsyncIterator[AsyncEngine]:
    engine = make_engine(seeded_sqlite)
    yield engine
    await engine.dispose()


async def _queries(engine: AsyncEngine) -> list[str]:
    async with engine.connect() as conn:
        numbers = list(await conn.scalars(select(Phone.e164).order_by(Phone.id).limit(60)))
        shared = list(await conn.scalars(
            select(Phone.e164).group_by(Phone.e164).having(func.count() > 1).limit(10)))
        codes = list(await conn.scalars(select(Customer.customer_code).limit(10)))
    assert shared, "the synthetic CRM has shared numbers"
    return [*numbers, *shared, *codes, "+14155550100", "999999999", "", "'; DROP TABLE x; --",
            "+1 (415) 555-0132", "0044 20 7946 0958"]


async def _answers(engine: AsyncEngine, queries: list[str]) -> list[Any]:
    sessions = session_factory(engine)
    out: list[Any] = []
    async with sessions() as session:
        for query in queries:
            out.append(await lookup_card(session, query, REGION, now=NOW))
            try:
                found = await find_customers(session, query, REGION)
            except lookup.InvalidQuery as exc:
                out.append(str(exc))
                continue
            out.append([(c.id, c.customer_code, c.name, c.birthday, c.created_at, c.consent)
                        for c in found])
            for customer in found[:1]:
                out.append(await build_card(session, customer.id, now=NOW))
    return out


async def test_fast_path_answers_exactly_what_the_sqlalchemy_path_answers(
        engine: AsyncEngine) -> None:
    queries = await _queries(engine)
    fast = await _answers(engine, queries)
    lookup.FAST_SQLITE = False
    try:
        slow = await _answers(engine, queries)
    finally:
        lookup.FAST_SQLITE = True
    assert fast == slow
    cards = [a["match"] for a in fast if isinstance(a, dict) and a.get("match")]
    assert len(cards) > 30 and any(card["recent_orders"] for card in cards)
    assert any(a.get("candidates") for a in fast if isinstance(a, dict))


async def test_fast_path_is_taken_on_sqlite(engine: AsyncEngine,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    hops: list[str] = []
    real_run = lookup._SqliteReader.run

    async def spy(self: Any, fn: Any, *args: Any) -> Any:
        hops.append(fn.__name__)
        return await real_run(self, fn, *args)

    monkeypatch.setattr(lookup._SqliteReader, "run", spy)
    async with session_factory(engine)() as session:
        number = await session.scalar(select(Phone.e164).limit(1))
        assert number is not None
        answer = await lookup_card(session, number, REGION, now=NOW)
        assert answer["match"] or answer.get("candidates")
        customer = await find_customers(session, number, REGION)
        await build_card(session, customer[0].id, now=NOW)
    assert hops == ["_sync_lookup", "_sync_find", "_sync_card_parts"]  # one hop per call


async def test_fast_path_sees_the_sessions_own_uncommitted_writes(engine: AsyncEngine) -> None:
    code = f"T{uuid.uuid4().hex[:10]}"
    async with session_factory(engine)() as session:
        customer = Customer(name="Uncommitted Ursula", customer_code=code)
        customer.phones.append(Phone(e164="+14155550177", raw="(415) 555-0177", kind="mobile"))
        session.add(customer)  # pending, not flushed: autoflush must happen first
        found = await find_customers(session, "(415) 555-0177", REGION)
        assert found == [customer]
        card = (await lookup_card(session, code, REGION, now=NOW))["match"]
        assert card["name"] == "Uncommitted Ursula" and card["phones"] == ["+14155550177"]
        await session.rollback()
    async with session_factory(engine)() as session:
        assert await find_customers(session, code, REGION) == []


@pytest.fixture(params=["sqlite", "postgres"])
async def any_engine(request: pytest.FixtureRequest, tmp_path: Path,
                     ) -> AsyncIterator[AsyncEngine]:
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'crm.db'}"
        await seed(url, 30, progress=False, anchor=ANCHOR)
        engine = make_engine(url)
        yield engine
        await engine.dispose()
        return
    server = request.getfixturevalue("postgres_server")
    name = f"crm_{uuid.uuid4().hex[:12]}"
    server.psql(f"CREATE DATABASE {name} OWNER {server.user}")
    url = server.url.rsplit("/", 1)[0] + "/" + name
    try:
        await seed(url, 30, progress=False, anchor=ANCHOR)
        engine = make_engine(url)
        yield engine
        await engine.dispose()
    finally:
        server.psql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


async def test_found_customers_are_the_sessions_persistent_objects(
        any_engine: AsyncEngine) -> None:
    sessions = session_factory(any_engine)
    async with sessions() as session:
        code = await session.scalar(select(Customer.customer_code).limit(1))
        assert code is not None
        [found] = await find_customers(session, code, REGION)
        assert found in session and found not in session.dirty
        assert await session.get(Customer, found.id) is found
        assert (await find_customers(session, code, REGION))[0] is found
        assert found.created_at.tzinfo is not None  # processed like an ORM load
        found.title = "Chief Listener"
        await session.commit()
    async with sessions() as session:
        assert (await session.get(Customer, found.id)).title == "Chief Listener"


async def test_sqlite_read_pragmas_are_set(engine: AsyncEngine) -> None:
    async with engine.connect() as conn:
        assert await conn.scalar(text("PRAGMA cache_size")) == -SQLITE_CACHE_KIB
        assert await conn.scalar(text("PRAGMA mmap_size")) == SQLITE_MMAP_BYTES
        assert await conn.scalar(text("PRAGMA temp_store")) == 2  # MEMORY


def test_every_lookup_query_searches_an_index(seeded_sqlite: str) -> None:
    lookup._SqliteDb.prepare(sqlite_dialect.dialect())
    connection = sqlite3.connect(seeded_sqlite.split("///", 1)[1])
    try:
        for compiled in lookup._SqliteDb.compiled.values():
            args = [compiled.defaults.get(name, 1) for name in compiled.names]
            plan = [row[3] for row in connection.execute(
                "EXPLAIN QUERY PLAN " + compiled.sql, args)]
            scans = [step for step in plan if step.startswith("SCAN")]
            assert not scans, (compiled.sql, plan)
            assert any(step.startswith("SEARCH") for step in plan), (compiled.sql, plan)
    finally:
        connection.close()
