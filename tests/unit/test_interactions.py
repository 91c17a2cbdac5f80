"""Interactions written by the server from the event stream (SQLite; PostgreSQL in system)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import select

from callcenter import events as ev
from callcenter.cti.model import CAUSE_VANISHED, CAUSE_VANISHED_TEXT
from crm_bridge.db import make_engine, session_factory, upgrade_database
from crm_bridge.interactions import (
    CloseEnded,
    InteractionRecorder,
    InteractionTracker,
    InteractionUpdate,
    NewInteraction,
)
from crm_bridge.models import Customer, Interaction, Phone

pytestmark = pytest.mark.unit


def test_tracker_maps_events_to_changes() -> None:
    tracker = InteractionTracker()
    start = tracker.on_event(ev.CallStarted(at=10.0, call_id="c", caller_num="+1415",
                                            context="inbound"))
    assert isinstance(start, NewInteraction) and start.direction == "inbound"
    assert tracker.on_event(ev.ChannelVariableSet(at=11, call_id="c", channel_id="x",
                                                  name="CC_QUEUE", value="sales")).values == {
        "queue": "sales"}
    assert tracker.on_event(ev.ChannelVariableSet(at=11, call_id="c", channel_id="x",
                                                  name="CC_DIRECTION", value="sideways")) is None
    assert tracker.on_event(ev.ChannelVariableSet(at=11, call_id="c", channel_id="x",
                                                  name="CC_OTHER", value="1")) is None
    end = tracker.on_event(ev.CallEnded(at=20, call_id="c", hangup_cause=17,
                                        hangup_cause_text="User busy", duration_s=10,
                                        answered=False))
    assert end.values["hangup_cause"] == "17 User busy"  # type: ignore[union-attr]
    assert end.values["end_inferred"] is False  # type: ignore[union-attr]


def _resynced(at: float) -> ev.PbxResynced:
    return ev.PbxResynced(at=at, pbx="asterisk", channels=0, calls=0, bridges=0,
                          ghosts_removed=0, discovered=0, duration_s=0.1)


def test_tracker_knows_the_live_calls_at_each_resync() -> None:
    tracker = InteractionTracker(live=["seeded"])
    for call_id in ("a", "b", "c"):
        tracker.on_event(ev.CallStarted(at=1.0, call_id=call_id))
    tracker.on_event(ev.CallEnded(at=2.0, call_id="b", hangup_cause=16,
                                  hangup_cause_text="Normal Clearing", duration_s=1,
                                  answered=True))
    ghost = tracker.on_event(ev.CallEnded(at=3.0, call_id="c", hangup_cause=CAUSE_VANISHED,
                                          hangup_cause_text=CAUSE_VANISHED_TEXT, duration_s=2,
                                          answered=False))
    assert isinstance(ghost, InteractionUpdate) and ghost.values["end_inferred"] is True
    close = tracker.on_event(_resynced(1_700_000_000.0))
    assert isinstance(close, CloseEnded)
    assert close.live == frozenset({"seeded", "a"})
    assert close.at.timestamp() == 1_700_000_000.0 and close.at.tzinfo is not None
    tracker.on_event(ev.CallStarted(at=4.0, call_id="d"))
    assert close.live == frozenset({"seeded", "a"})  # a snapshot, not the tracker's own set
    answered = tracker.on_event(ev.CallAnswered(at=5.0, call_id="d"))
    assert isinstance(answered, InteractionUpdate) and answered.if_unset


async def test_recorder_writes_every_call_in_order(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'crm.db'}"
    await upgrade_database(url)
    engine = make_engine(url)
    sessions = session_factory(engine)
    async with sessions() as session, session.begin():
        customer = Customer(name="Ada", customer_code="A-1")
        session.add(customer)
        await session.flush()
        session.add(Phone(customer_id=customer.id, e164="+14155550132", raw="x", kind="work"))
    bus = ev.EventBus()
    recorder = InteractionRecorder(bus, sessions, "US")
    await recorder.start()
    bus.publish(ev.CallStarted(at=100.0, call_id="k", caller_num="(415) 555-0132",
                               context="inbound"))
    bus.publish(ev.CallAnswered(at=101.0, call_id="k"))
    bus.publish(ev.ChannelVariableSet(at=102.0, call_id="k", channel_id="k",
                                      name="CC_QUEUE", value="support"))
    bus.publish(ev.CallEnded(at=160.0, call_id="k", hangup_cause=16,
                             hangup_cause_text="Normal Clearing", duration_s=60, answered=True))
    bus.publish(ev.CallStarted(at=200.0, call_id="u", caller_num="anonymous", context="x"))
    await recorder.stop()
    async with sessions() as session:
        rows = {r.call_id: r for r in (await session.execute(select(Interaction))).scalars()}
    await engine.dispose()
    known, unknown = rows["k"], rows["u"]
    assert known.customer_id == customer.id and known.caller_number == "+14155550132"
    assert known.queue == "support" and known.direction == "inbound"
    assert (known.ended_at - known.started_at).total_seconds() == 60  # type: ignore[operator]
    assert known.hangup_cause == "16 Normal Clearing"
    assert unknown.customer_id is None and unknown.caller_number == "anonymous"
    assert unknown.direction == "outbound" and recorder.failed == 0
    await asyncio.sleep(0)


def _agent_call(at_resync: bool) -> list[ev.DomainEvent]:
    """A caller's call "c" with the agent's leg "a" joined to it: live, the leg is created
    ringing, gets CC_AGENT, answers at 30; at a resync it appears answered before its
    variables are read. The agent hangs up at 90; the caller's leg was answered at 10."""
    events: list[ev.DomainEvent] = [
        ev.CallStarted(at=10.0, call_id="c", caller_num="+14155550132", context="inbound"),
        ev.ChannelCreated(at=10.0, call_id="c", channel_id="c", name="PJSIP/trunk-1",
                          state="up")]
    if at_resync:
        events += [ev.ChannelCreated(at=30.0, call_id="c", channel_id="a", name="PJSIP/2001-1",
                                     state="up")]
    else:
        events += [ev.ChannelCreated(at=20.0, call_id="c", channel_id="a", name="PJSIP/2001-1",
                                     state="down")]
    events += [ev.ChannelVariableSet(at=30.0, call_id="c", channel_id="a", name="CC_AGENT",
                                     value="2001")]
    if not at_resync:
        events += [ev.ChannelStateChanged(at=30.0, call_id="c", channel_id="a",
                                          name="PJSIP/2001-1", state="up", previous="ringing")]
    events += [ev.ChannelHungUp(at=90.0, call_id="c", channel_id="a", name="PJSIP/2001-1",
                                cause=16, cause_text="Normal Clearing"),
               ev.ChannelHungUp(at=91.0, call_id="c", channel_id="c", name="PJSIP/trunk-1",
                                cause=16, cause_text="Normal Clearing")]
    return events


@pytest.mark.parametrize("at_resync", [False, True])
def test_talk_time_runs_from_the_agent_legs_answer_to_its_hang_up(at_resync: bool) -> None:
    tracker = InteractionTracker()
    changes = [c for c in map(tracker.on_event, _agent_call(at_resync))
               if isinstance(c, InteractionUpdate)]
    started = [c for c in changes if "talk_started_at" in c.values]
    ended = [c for c in changes if "talk_ended_at" in c.values]
    assert [c.values["talk_started_at"].timestamp() for c in started] == [30.0]
    # never overwrites what an earlier process wrote (a resync's answer time is a guess)
    assert started[0].if_unset or "talk_started_at" in started[0].keep
    assert [(c.call_id, c.values["talk_ended_at"].timestamp()) for c in ended] == [("c", 90.0)]
    assert not tracker._agent_legs and not tracker._up  # forgotten with the channels


def test_a_leg_that_never_answered_has_no_talk() -> None:
    tracker = InteractionTracker()
    events = [e for e in _agent_call(False) if not isinstance(e, ev.ChannelStateChanged)]
    changes = [tracker.on_event(e) for e in events]
    assert not any(isinstance(c, InteractionUpdate) and ({"talk_started_at", "talk_ended_at"}
                                                         & c.values.keys()) for c in changes)


async def test_recorder_keeps_the_first_talk_start_and_writes_the_talk(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'crm.db'}"
    await upgrade_database(url)
    engine = make_engine(url)
    sessions = session_factory(engine)
    bus = ev.EventBus()
    recorder = InteractionRecorder(bus, sessions, "US")
    await recorder.start()
    for event in _agent_call(False):
        bus.publish(event)
    # a restarted server's resync guesses a later answer for the same leg: ignored
    bus.publish(ev.ChannelCreated(at=60.0, call_id="c", channel_id="a2", name="PJSIP/2001-1",
                                  state="up"))
    bus.publish(ev.ChannelVariableSet(at=60.0, call_id="c", channel_id="a2", name="CC_AGENT",
                                      value="2001"))
    await recorder.stop()
    async with sessions() as session:
        row = (await session.execute(select(Interaction))).scalar_one()
    await engine.dispose()
    assert row.agent == "2001" and row.answered_at is None
    assert row.talk_started_at is not None and row.talk_started_at.timestamp() == 30.0
    assert row.talk_ended_at is not None and row.talk_ended_at.timestamp() == 90.0
    assert recorder.failed == 0
