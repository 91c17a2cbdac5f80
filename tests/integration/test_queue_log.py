"""The queue-event log on REAL SQLite and PostgreSQL: rows written in order and read back
exactly, figures from the database equal to those from the events, a refused row and a
database outage lose nothing else, migration 0003 up and down, the REST routes; and the whole
assembly on the simulated PBX writing the rows of a ring-out, an answer and an abandon."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import random
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import inspect, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from callcenter import events as ev
from callcenter.acd.agents import AgentState
from callcenter.config import AcdSettings, Settings
from callcenter.contact_center import build_contact_center
from callcenter.core.clock import RealtimeClock
from callcenter.cti.model import CallModel
from callcenter.metrics import Metrics
from callcenter.sim.pbx import Behaviour, Delay, SimulatedPbx
from callcenter.web import create_app
from crm_bridge.db import downgrade_database, make_engine, session_factory, upgrade_database
from crm_bridge.queue_figures import queue_figures
from crm_bridge.queue_log import (
    QueueLogEntry,
    QueueLogRecorder,
    entries_of,
    read_entries,
    read_log,
)
from tests.accounts import sign_in
from tests.fakes import NoCalls
from tests.unit.test_queue_log import DAY, T0

pytestmark = pytest.mark.integration

FAR = dt.datetime(2100, 1, 1, tzinfo=dt.UTC)
EPOCH = dt.datetime(1970, 1, 2, tzinfo=dt.UTC)


async def _record(sessions: Callable[[], Any], events: list[ev.DomainEvent],
                  drain_timeout_s: float = 5.0, **options: Any) -> QueueLogRecorder:
    """A recorder on a bus fed ``events``, drained and stopped."""
    bus = ev.EventBus()
    recorder = QueueLogRecorder(bus, sessions, **options)
    await recorder.start()
    for event in events:
        bus.publish(event)
    await recorder.stop(drain_timeout_s)
    return recorder


async def test_rows_round_trip_and_figures_match_the_events(
        sessions: async_sessionmaker[AsyncSession]) -> None:
    recorder = await _record(sessions, DAY, batch=4)  # several batches, in order
    expected = entries_of(DAY)
    assert (recorder.written, recorder.failed, recorder.dropped) == (len(expected), 0, 0)
    assert recorder.batches >= len(expected) // 4
    async with sessions() as session:
        stored = await read_entries(session, EPOCH, FAR)
        only_sales = await read_entries(session, EPOCH, FAR, "sales")
        b_path = await read_log(session, "sales", call_id="call-B")
        newest = await read_log(session, "sales", limit=2)
    assert stored == expected  # every value, to the microsecond, in order
    assert only_sales == [e for e in expected if e.queue == "sales"]
    assert [row["kind"] for row in b_path] == ["enter", "offer", "not_connected", "requeue",
                                                "offer", "answer"]
    assert b_path[-1]["priority"] == 5 and b_path[-1]["wait_s"] == 65
    assert [row["kind"] for row in newest] == ["enter", "abandon"]  # E: the last two, in order
    from_db = queue_figures(stored, T0, T0 + 1800)
    from_events = queue_figures(expected, T0, T0 + 1800)
    assert {q: r.to_dict() for q, r in from_db.items()} == {
        q: r.to_dict() for q, r in from_events.items()}
    assert from_db["sales"].total.figures()["service_level"] == 0.2


async def test_a_refused_row_is_counted_and_logged_and_the_rest_is_written(
        sessions: async_sessionmaker[AsyncSession], caplog: pytest.LogCaptureFixture) -> None:
    bus = ev.EventBus()
    recorder = QueueLogRecorder(bus, sessions)
    good = entries_of(DAY)[:3]
    bad = QueueLogEntry(T0, "sales", "call-X", "X", "teleported")  # breaks the CHECK
    caplog.set_level(logging.ERROR, "crm_bridge.queue_log")
    await recorder.start()
    for entry in [good[0], bad, *good[1:]]:  # one batch: isolated row by row
        recorder.queue.put_nowait(entry)
    await recorder.stop()
    assert (recorder.written, recorder.failed) == (3, 1)
    (record,) = [r for r in caplog.records if "refused" in r.getMessage()]
    assert record.exc_info is None and "call-X" == record.call_id  # type: ignore[attr-defined]
    async with sessions() as session:
        assert await read_entries(session, EPOCH, FAR) == good


class Unreachable:
    """Session factory of a database that is down for the first ``failures`` attempts."""

    def __init__(self, real: async_sessionmaker[AsyncSession], failures: int) -> None:
        self.real = real
        self.failures = failures

    def __call__(self) -> AsyncSession:
        if self.failures:
            self.failures -= 1
            raise OperationalError("INSERT INTO queue_log", {}, ConnectionRefusedError(111))
        return self.real()


async def test_an_outage_delays_rows_but_loses_none(
        sessions: async_sessionmaker[AsyncSession]) -> None:
    flaky = Unreachable(sessions, failures=3)
    recorder = await _record(flaky, DAY)
    assert flaky.failures == 0
    assert (recorder.written, recorder.failed, recorder.dropped) == (len(entries_of(DAY)), 0, 0)
    async with sessions() as session:
        assert await read_entries(session, EPOCH, FAR) == entries_of(DAY)


async def test_rows_left_when_the_database_stays_down_are_counted_as_dropped(
        sessions: async_sessionmaker[AsyncSession]) -> None:
    bus = ev.EventBus()
    recorder = QueueLogRecorder(bus, Unreachable(sessions, failures=10**6))  # type: ignore[arg-type]
    await recorder.start()
    for event in DAY:
        bus.publish(event)
    await recorder.stop(drain_timeout_s=0.3)
    assert recorder.written == 0 and recorder.dropped == len(entries_of(DAY))


async def test_migration_0003_up_and_down_with_rows(db_url: str) -> None:
    await upgrade_database(db_url)
    engine = make_engine(db_url)
    try:
        await _record(session_factory(engine), DAY)
        async with engine.connect() as conn:
            indexes = await conn.run_sync(
                lambda sync: {i["name"] for i in inspect(sync).get_indexes("queue_log")})
        assert indexes == {"ix_queue_log_queue_at", "ix_queue_log_at", "ix_queue_log_call_id"}
        await downgrade_database(db_url, "0002")
        async with engine.connect() as conn:
            tables = await conn.run_sync(lambda sync: set(inspect(sync).get_table_names()))
        assert "queue_log" not in tables and "interactions" in tables
        await upgrade_database(db_url)
        async with engine.connect() as conn:
            count = (await conn.execute(text("SELECT count(*) FROM queue_log"))).scalar_one()
        assert count == 0
    finally:
        await engine.dispose()


async def test_rest_stats_and_log(sessions: async_sessionmaker[AsyncSession]) -> None:
    await _record(sessions, DAY)
    settings = Settings(acd=AcdSettings(queues=["sales", "billing"]))
    app = create_app(settings=settings, bus=ev.EventBus(), calls=NoCalls(), metrics=Metrics(),
                     crm_sessions=sessions)
    start = dt.datetime.fromtimestamp(T0, dt.UTC)
    iso = start.isoformat()
    async with TestClient(TestServer(app)) as client:
        await sign_in(client)
        answer = await client.get("/api/queues/stats", params={
            "from": iso, "to": (start + dt.timedelta(minutes=30)).isoformat(),
            "interval": "900", "threshold": "20"})
        assert answer.status == 200, await answer.text()
        body = await answer.json()
        assert body["rows"] == len(entries_of(DAY)) and body["interval_s"] == 900
        by_queue = {q["queue"]: q for q in body["queues"]}
        assert list(by_queue) == ["billing", "sales", "support"]  # configured ones too
        assert by_queue["billing"]["total"]["offered"] == 0
        sales = by_queue["sales"]
        assert sales["total"]["service_level"] == 0.2 and sales["total"]["offered"] == 6
        assert [i["start"] for i in sales["intervals"]] == [
            iso, (start + dt.timedelta(minutes=15)).isoformat()]
        assert sales["intervals"][0]["asa_s"] == 33.333

        # one queue; "+" unencoded in the query string reads as a space: still understood
        one = await client.get(f"/api/queues/support/stats?from={start.date()}"
                               f"&to={(start + dt.timedelta(hours=2)).isoformat()}"
                               "&threshold=10")
        assert one.status == 200, await one.text()
        (support,) = (await one.json())["queues"]
        assert support["total"]["answered"] == 1 and support["total"]["service_level"] == 0.0

        log = await client.get("/api/queues/sales/log", params={"call_id": "call-C"})
        assert [r["kind"] for r in (await log.json())["rows"]] == ["enter", "abandon"]
        assert (await log.json())["rows"][1]["detail"] == "waiting"

        for path, params in [
            ("/api/queues/stats", {"from": "yesterday"}),
            ("/api/queues/stats", {"from": "2026-12-10T08:00:00"}),  # no offset
            ("/api/queues/stats", {"from": iso, "to": iso}),
            ("/api/queues/stats", {"from": "2026-01-01", "to": "2026-03-01"}),  # > 7 days
            ("/api/queues/stats", {"interval": "5"}),
            ("/api/queues/stats", {"interval": "abc"}),
            ("/api/queues/stats", {"threshold": "0"}),
            ("/api/queues/sales/log", {"limit": "0"}),
            ("/api/queues/sales/log", {"call_id": "x" * 65}),
            ("/api/queues/" + "q" * 65 + "/stats", {}),
        ]:
            bad = await client.get(path, params=params)
            assert bad.status == 400, (path, params, await bad.text())
            assert (await bad.json())["error"]["code"] == "invalid_parameter"


async def test_the_assembly_writes_a_ring_out_an_answer_and_an_abandon(
        tmp_path: Path) -> None:
    """One agent on the simulated PBX whose phone rings out once: caller A is offered, rings
    out, goes back to its place, is offered again and answered; caller B arrives while A
    talks and hangs up after 3 s. The log holds exactly those steps, and the figures read from
    the database are those of the events."""
    url = f"sqlite:///{tmp_path / 'crm.db'}"
    await upgrade_database(url)
    engine = make_engine(url)
    speed = 50.0
    clock = RealtimeClock(speed=speed)
    bus = ev.EventBus()
    events: list[ev.DomainEvent] = []
    bus.add_handler(events.append)
    model = CallModel(emit=bus.publish)
    behaviour = Behaviour(human=1.0, machine=0.0, busy=0.0, answer_after=Delay.fixed(2.0),
                          amd_human_after=Delay.fixed(1.0), amd_false_machine=0.0,
                          talk=Delay.fixed(20.0), agent_answer_after=Delay.fixed(1.0))
    sim = SimulatedPbx(clock, model, random.Random(3), behaviour)
    sim.register_endpoint("PJSIP/1001", answers=False)

    def answer_from_now_on(event: ev.DomainEvent) -> None:
        if isinstance(event, ev.CallNotConnected):
            sim.register_endpoint("PJSIP/1001")

    bus.add_handler(answer_from_now_on)
    recorder = QueueLogRecorder(bus, session_factory(engine))
    center = build_contact_center(
        sim, bus, clock, AcdSettings(queues=["support"], agents=["1001"], wrap_up_s=2.0,
                                     ring_timeout_s=10.0), queue_log=recorder)
    agent = center.board["1001"]

    async def until(predicate: Callable[[], bool], what: str) -> None:
        for _ in range(2000):
            if predicate():
                return
            await asyncio.sleep(0.005)
        raise AssertionError(f"timed out: {what}")

    try:
        await center.start()
        a = sim.inject_inbound_call("+14155550101", "8005550100",
                                    variables={"CC_QUEUE": "support"})
        await until(lambda: agent.state is AgentState.ON_CALL, "A answered after a ring-out")
        b = sim.inject_inbound_call("+14155550102", "8005550100", patience_s=3.0,
                                    variables={"CC_QUEUE": "support"})
        await until(lambda: any(isinstance(e, ev.CallAbandoned) for e in events), "B gave up")
    finally:
        await center.close()  # drains the recorder
    try:
        async with session_factory(engine)() as session:
            rows = await read_entries(session, EPOCH, FAR)
    finally:
        await engine.dispose()
    assert (recorder.written, recorder.failed, recorder.dropped) == (len(rows), 0, 0)
    assert [(r.channel_id, r.kind, r.agent, r.detail) for r in rows] == [
        (a, "enter", None, None),
        (a, "offer", "1001", rows[1].detail),
        (a, "not_connected", "1001", "not_answered"),
        (a, "requeue", None, None),
        (a, "offer", "1001", rows[4].detail),
        (a, "answer", "1001", None),
        (b, "enter", None, None),
        (b, "abandon", None, "waiting"),
    ]
    assert (rows[1].detail or "").startswith("fifo-longest-idle")
    announced = entries_of(events)  # what the ACD announced, value for value (times to the
    assert [replace(r, at=0) for r in rows] == [replace(e, at=0) for e in announced]
    assert all(abs(r.at - e.at) < 1e-6 for r, e in zip(rows, announced, strict=True))  # µs)
    answer, abandon = rows[5], rows[7]
    assert answer.wait_s is not None and 10.0 <= answer.wait_s <= 13.0  # a 10 s ring-out + 1
    assert abandon.wait_s is not None and 2.9 <= abandon.wait_s <= 3.5
    start = rows[0].at - 1
    figures = queue_figures(rows, start, start + 900, interval_s=900)["support"].total.figures()
    assert figures == {
        "offered": 2, "answered": 1, "answered_within_threshold": 1, "abandoned": 1,
        "abandoned_waiting": 1, "abandoned_ringing": 0, "abandoned_within_threshold": 1,
        "service_level": 1.0,  # 1 / (1 answered + 1 abandoned - 1 abandoned within 20 s)
        "threshold_s": 20.0, "asa_s": round(answer.wait_s, 3),
        "average_wait_s": round((answer.wait_s + abandon.wait_s) / 2, 3),
        "longest_wait_s": round(answer.wait_s, 3),
        "average_abandon_s": round(abandon.wait_s, 3),
        "requeued": 1, "ring_no_answer": 1, "agent_offers": 2}


async def test_write_rate(sessions: async_sessionmaker[AsyncSession],
                          capsys: pytest.CaptureFixture[str]) -> None:
    """20,000 rows through the recorder (batches of 500): measured, and every row stored."""
    rows = 20_000
    events: list[ev.DomainEvent] = []
    for i in range(rows // 2):
        events.append(ev.CallQueued(at=T0 + i, queue="sales", call_id=f"c{i}",
                                    channel_id=f"h{i}", priority=0, waiting=1))
        events.append(ev.CallConnected(at=T0 + i + 5, queue="sales", call_id=f"c{i}",
                                       channel_id=f"h{i}", agent_id="1001", waited_s=5.0))
    started = time.perf_counter()
    recorder = await _record(sessions, events, queue_size=rows, drain_timeout_s=120)
    elapsed = time.perf_counter() - started
    assert recorder.written == rows
    with capsys.disabled():
        print(f"\nqueue_log: {rows} rows in {elapsed:.2f} s = {rows / elapsed:,.0f} rows/s "
              f"({recorder.batches} batches)")


def test_a_queue_step_relayed_from_another_process_is_tracked_but_not_written() -> None:
    """Several server processes: the dispatcher's process writes its rows; another one that
    hears the step relayed (``bus.relayed``) keeps it for its live figures only."""
    bus = ev.EventBus()
    recorder = QueueLogRecorder(bus, None)  # type: ignore[arg-type]  # never writes here
    step = ev.CallQueued(at=1.0, queue="support", call_id="c1", channel_id="c1", priority=0,
                         waiting=1)
    bus.relayed = True
    recorder.on_event(step)
    assert recorder.queue.empty()
    bus.relayed = False
    recorder.on_event(ev.CallQueued(at=2.0, queue="support", call_id="c2", channel_id="c2",
                                    priority=0, waiting=2))
    assert recorder.queue.qsize() == 1
