"""Interactions across a server crash, on REAL SQLite and PostgreSQL (issue 9).

The scenario the event stream gives a restarted server: the resync announces every live call
again (``call.started``, ``call.answered``, its variables), then ``pbx.resynced``. The rows of
the previous process must be continued, not duplicated, and those of calls that ended during
the outage closed with an inferred end. Plus migration 0002 up and down with data in place.
"""

from __future__ import annotations

import datetime as dt
import logging

import pytest
from sqlalchemy import insert, inspect, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from callcenter import events as ev
from crm_bridge.db import (
    current_revision,
    downgrade_database,
    make_engine,
    session_factory,
    upgrade_database,
)
from crm_bridge.interactions import CLOSE_BATCH, INFERRED_CAUSE, InteractionRecorder
from crm_bridge.models import Customer, Interaction, Phone, SatisfactionRating

pytestmark = pytest.mark.integration

T0 = 1_780_000_000.0  # epoch seconds of the first process's events


def _when(epoch: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(epoch, dt.UTC)


def _ended(at: float, call_id: str, cause: int = 16) -> ev.CallEnded:
    return ev.CallEnded(at=at, call_id=call_id, hangup_cause=cause,
                        hangup_cause_text="Normal Clearing", duration_s=1.0, answered=True)


def _resynced(at: float) -> ev.PbxResynced:
    return ev.PbxResynced(at=at, pbx="asterisk", channels=0, calls=0, bridges=0,
                          ghosts_removed=0, discovered=0, duration_s=0.2)


async def _process(sessions: async_sessionmaker[AsyncSession],
                   events: list[ev.DomainEvent]) -> InteractionRecorder:
    """One server process's recorder fed ``events``, drained and stopped."""
    bus = ev.EventBus()
    recorder = InteractionRecorder(bus, sessions, "US")
    await recorder.start()
    for event in events:
        bus.publish(event)
    await recorder.stop(drain_timeout_s=30)
    assert recorder.queue.empty()
    return recorder


async def _rows(sessions: async_sessionmaker[AsyncSession]) -> list[Interaction]:
    async with sessions() as session:
        return list((await session.execute(select(Interaction).order_by(Interaction.id)))
                    .scalars())


async def test_restart_continues_live_calls_and_closes_those_that_ended_unseen(
        sessions: async_sessionmaker[AsyncSession], caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="crm_bridge")
    async with sessions() as session, session.begin():
        customer = Customer(name="Ada", customer_code="A-1", phones=[
            Phone(e164="+14155550132", raw="(415) 555-0132", kind="work")], tags=[])
        session.add(customer)
        session.add(Interaction(direction="inbound", started_at=_when(T0)))  # no call: kept
    live_before = [f"live-{i}" for i in range(6)]
    gone = [f"gone-{i}" for i in range(4)]

    first: list[ev.DomainEvent] = []
    for i, call_id in enumerate([*live_before, *gone, "done"]):
        first += [
            ev.CallStarted(at=T0 + i, call_id=call_id, caller_num="(415) 555-0132",
                           context="inbound"),
            ev.CallAnswered(at=T0 + i + 0.5, call_id=call_id),
            ev.ChannelVariableSet(at=T0 + i + 0.6, call_id=call_id, channel_id=call_id,
                                  name="CC_AGENT", value="2001"),
        ]
    first.append(_ended(T0 + 30, "done"))
    await _process(sessions, first)  # then: kill -9 (its queue was empty)

    # the restart: the resync re-discovers the live calls (with approximate times: the
    # Duration column has seconds only), a new call started during the outage, and ends
    restart = T0 + 600
    second: list[ev.DomainEvent] = []
    for call_id in [*live_before, "new-1"]:
        second += [
            ev.CallStarted(at=restart - 7, call_id=call_id, caller_num="(415) 555-0132",
                           context="holding"),
            ev.CallAnswered(at=restart - 7, call_id=call_id),
            ev.ChannelVariableSet(at=restart, call_id=call_id, channel_id=call_id,
                                  name="CC_AGENT", value="2001"),
        ]
    second.append(_resynced(restart + 0.25))
    second += [_ended(restart + 60 + i, call_id)
               for i, call_id in enumerate([*live_before, "new-1"])]
    recorder = await _process(sessions, second)
    assert recorder.failed == 0 and recorder.dropped == 0

    rows = await _rows(sessions)
    by_call = {row.call_id: row for row in rows}
    assert len(rows) == len(by_call) == 1 + len(live_before) + len(gone) + 2  # one per call
    for i, call_id in enumerate(live_before):
        row = by_call[call_id]
        assert row.started_at == _when(T0 + i)                # the first process's, kept
        assert row.answered_at == _when(T0 + i + 0.5)         # not the resync's guess
        assert row.customer_id == customer.id and row.agent == "2001"
        assert row.direction == "inbound"
        assert row.ended_at == _when(restart + 60 + i) and row.end_inferred is False
    for call_id in gone:
        row = by_call[call_id]
        assert row.ended_at == _when(restart + 0.25) and row.end_inferred is True
        assert row.hangup_cause == INFERRED_CAUSE
    done, new = by_call["done"], by_call["new-1"]
    assert done.ended_at == _when(T0 + 30) and done.end_inferred is False
    assert new.started_at == _when(restart - 7) and new.end_inferred is False
    assert by_call[None].ended_at is None  # not a call of ours: left alone
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert any("ended unseen" in r.getMessage() for r in caplog.records)


async def test_a_reconnect_without_restart_marks_vanished_calls_inferred(
        sessions: async_sessionmaker[AsyncSession]) -> None:
    """The same process, PBX link lost and back: the model ends ghosts with cause 0."""
    from callcenter.cti.model import CAUSE_VANISHED, CAUSE_VANISHED_TEXT

    await _process(sessions, [
        ev.CallStarted(at=T0, call_id="a"), ev.CallStarted(at=T0, call_id="b"),
        ev.CallEnded(at=T0 + 50, call_id="a", hangup_cause=CAUSE_VANISHED,
                     hangup_cause_text=CAUSE_VANISHED_TEXT, duration_s=50, answered=False),
        _resynced(T0 + 50.1),
    ])
    by_call = {row.call_id: row for row in await _rows(sessions)}
    assert by_call["a"].end_inferred is True and by_call["a"].ended_at == _when(T0 + 50)
    assert by_call["b"].ended_at is None and by_call["b"].end_inferred is None  # still live


async def test_many_open_rows_are_closed_in_batches(
        sessions: async_sessionmaker[AsyncSession]) -> None:
    count = 2 * CLOSE_BATCH + 7
    async with sessions() as session, session.begin():
        await session.execute(insert(Interaction), [
            {"call_id": f"old-{i}", "direction": "outbound", "started_at": _when(T0)}
            for i in range(count)])
    await _process(sessions, [ev.CallStarted(at=T0 + 1, call_id="old-3"), _resynced(T0 + 2)])
    rows = await _rows(sessions)
    assert len(rows) == count
    assert sum(1 for r in rows if r.end_inferred) == count - 1
    assert [r.call_id for r in rows if r.ended_at is None] == ["old-3"]


async def test_migration_0002_up_and_down_keeps_the_data(db_url: str) -> None:
    await upgrade_database(db_url, "0001")
    engine = make_engine(db_url)
    try:
        async with engine.begin() as conn:
            await conn.execute(text(
                "INSERT INTO customers (id, name, consent, do_not_call, created_at, updated_at) "
                "VALUES (1, 'Ada', false, false, :t, :t)"), {"t": _when(T0)})
            await conn.execute(text(
                "INSERT INTO interactions (id, customer_id, call_id, direction, started_at, "
                "ended_at) VALUES (7, 1, 'c-7', 'inbound', :t, :t)"), {"t": _when(T0)})
            await conn.execute(text(
                "INSERT INTO satisfaction_ratings (customer_id, interaction_id, score, "
                "rated_at) VALUES (1, 7, 5, :t)"), {"t": _when(T0)})
        await upgrade_database(db_url, "0002")
        assert await current_revision(db_url) == "0002"
        async with session_factory(engine)() as session:  # the columns 0002 knows
            row = (await session.execute(select(Interaction.call_id,
                                                Interaction.end_inferred))).one()
            assert row.call_id == "c-7" and row.end_inferred is None
        await downgrade_database(db_url, "0001")
        assert await current_revision(db_url) == "0001"
        async with engine.connect() as conn:
            columns = await conn.run_sync(
                lambda sync: {c["name"] for c in inspect(sync).get_columns("interactions")})
            indexes = await conn.run_sync(
                lambda sync: {i["name"] for i in inspect(sync).get_indexes("interactions")})
            assert "end_inferred" not in columns and "ix_interactions_open" not in indexes
            assert (await conn.execute(text("SELECT call_id FROM interactions"))).scalar() == "c-7"
            rating = (await conn.execute(select(SatisfactionRating.__table__.c.interaction_id)))
            assert rating.scalar() == 7  # the downgrade did not copy the table (SET NULL)
        await upgrade_database(db_url, "0002")
        assert await current_revision(db_url) == "0002"
    finally:
        await engine.dispose()


async def test_migration_0004_talk_time_up_and_down_keeps_the_data(db_url: str) -> None:
    await upgrade_database(db_url, "0003")
    engine = make_engine(db_url)
    try:
        async with engine.begin() as conn:
            await conn.execute(text(
                "INSERT INTO customers (id, name, consent, do_not_call, created_at, updated_at) "
                "VALUES (1, 'Ada', false, false, :t, :t)"), {"t": _when(T0)})
            await conn.execute(text(
                "INSERT INTO interactions (id, customer_id, call_id, direction, started_at, "
                "ended_at) VALUES (7, 1, 'c-7', 'inbound', :t, :t)"), {"t": _when(T0)})
            await conn.execute(text(
                "INSERT INTO satisfaction_ratings (customer_id, interaction_id, score, "
                "rated_at) VALUES (1, 7, 5, :t)"), {"t": _when(T0)})
        await upgrade_database(db_url, "0004")
        # the columns of revision 0004 only (the model has later ones too)
        async with engine.begin() as conn:
            row = (await conn.execute(select(Interaction.call_id,
                                             Interaction.talk_started_at))).one()
            assert row.call_id == "c-7" and row.talk_started_at is None
            await conn.execute(update(Interaction).values(talk_started_at=_when(T0 + 5)))
        async with engine.connect() as conn:
            started = (await conn.execute(select(Interaction.talk_started_at))).scalar_one()
            assert started == _when(T0 + 5)  # timezone-aware, both databases
        await downgrade_database(db_url, "0003")
        async with engine.connect() as conn:
            columns = await conn.run_sync(
                lambda sync: {c["name"] for c in inspect(sync).get_columns("interactions")})
            assert not {"talk_started_at", "talk_ended_at"} & columns
            assert (await conn.execute(text("SELECT call_id FROM interactions"))).scalar() == "c-7"
            rating = (await conn.execute(select(SatisfactionRating.__table__.c.interaction_id)))
            assert rating.scalar() == 7  # the downgrade did not copy the table (SET NULL)
        await upgrade_database(db_url, "0004")
        assert await current_revision(db_url) == "0004"
    finally:
        await engine.dispose()
