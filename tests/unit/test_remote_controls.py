"""Agents' controls made on another server process (relayed ``agent.state``) are applied to
this process's board; moves each process derives from the PBX itself, and local events, are
not."""

from __future__ import annotations

from typing import Any

import pytest

from callcenter import events as ev
from callcenter.acd.agents import HOLD_REASON, AgentBoard, AgentState
from callcenter.acd.identity import AgentEndpoints
from callcenter.acd.phones import AgentPhones
from callcenter.acd.remote_controls import RemoteAgentControls
from callcenter.core.clock import RealtimeClock
from callcenter.events import EventBus

pytestmark = pytest.mark.unit


def _relayed(bus: EventBus, event: ev.DomainEvent) -> None:
    bus.relayed = True
    try:
        bus.publish(event)
    finally:
        bus.relayed = False


def _move(agent_id: str, previous: str, state: str, reason: str = "") -> ev.AgentStateChanged:
    return ev.AgentStateChanged(at=1.0, agent_id=agent_id, state=state, previous=previous,
                                reason=reason)


async def test_a_pause_and_a_return_made_elsewhere_apply_here() -> None:
    bus, board = EventBus(), AgentBoard()
    clock = RealtimeClock()
    phones = AgentPhones(board, bus, clock)
    RemoteAgentControls(bus, board, phones, clock)
    agent = board.add("2001")
    _relayed(bus, _move("2001", "offline", "ready"))
    assert agent.state is AgentState.READY
    bus.publish(_move("2001", "ready", "paused", "lunch"))  # local: this board made it
    assert agent.state is AgentState.READY
    _relayed(bus, _move("2001", "ready", "paused", "lunch"))
    assert agent.state is AgentState.PAUSED and agent.pause_reason == "lunch"
    _relayed(bus, _move("2001", "paused", "ready"))
    assert agent.state is AgentState.READY
    _relayed(bus, _move("2001", "ready", "reserved"))  # derived here from the PBX: ignored
    assert agent.state is AgentState.READY


async def test_a_pause_or_log_out_while_busy_here_waits_for_the_end_of_the_work() -> None:
    bus, board = EventBus(), AgentBoard()
    clock = RealtimeClock()
    phones = AgentPhones(board, bus, clock)
    RemoteAgentControls(bus, board, phones, clock)
    agent = board.add("2001")
    board.log_in(agent, 1.0)
    board.reserve(agent, "call-1", 2.0)
    board.answer(agent, 3.0)
    _relayed(bus, _move("2001", "wrap_up", "paused", "break"))
    assert agent.state is AgentState.ON_CALL and phones.pause_after_work == {"2001": "break"}
    _relayed(bus, _move("2001", "paused", "offline"))
    assert agent.state is AgentState.ON_CALL and agent.leaving


def _held_setup() -> tuple[EventBus, AgentBoard, Any]:
    bus, board = EventBus(), AgentBoard()
    clock = RealtimeClock()
    phones = AgentPhones(board, bus, clock, wrap_up_s=lambda agent: 0.0,
                         endpoints=AgentEndpoints("PJSIP/{agent}", is_agent={"2001"}.__contains__))
    RemoteAgentControls(bus, board, phones, clock)
    agent = board.add("2001")
    board.log_in(agent, 1.0)
    return bus, board, agent


def _held(line: str = "renewals-7") -> ev.AgentStateChanged:
    return ev.AgentStateChanged(at=2.0, agent_id="2001", state="reserved", previous="ready",
                                reason=HOLD_REASON, call_id=line)


def _let_go() -> ev.AgentStateChanged:
    return ev.AgentStateChanged(at=3.0, agent_id="2001", state="ready", previous="reserved",
                                reason=HOLD_REASON)


async def test_a_preview_hold_made_elsewhere_applies_here_until_let_go() -> None:
    """The campaign's process holds the agent who clicked Dial while the line rings: no leg on
    the agent's phone exists yet, so without the relayed hold this process would offer them
    an inbound caller meanwhile."""
    bus, board, agent = _held_setup()
    bus.publish(_held())  # local: this board made it (the loop's own move)
    assert agent.state is AgentState.READY
    _relayed(bus, _held())
    assert agent.state is AgentState.RESERVED and agent.held_for == "renewals-7"
    assert board.counts[AgentState.READY] == 0  # nothing to offer an inbound caller
    _relayed(bus, _let_go())  # nobody answered the line
    assert agent.state is AgentState.READY and agent.held_for is None


async def test_a_held_agent_follows_the_leg_on_their_phone_and_ignores_a_late_let_go() -> None:
    """The person answered: the campaign's process rings the agent, and this process sees that
    leg on its own link: reserved for it, on call, then ready after it (no wrap-up here)."""
    bus, _board, agent = _held_setup()
    _relayed(bus, _held())
    assert agent.held_for == "renewals-7"
    bus.publish(ev.ChannelCreated(at=4.0, call_id="call-9", channel_id="leg-1",
                                  name="PJSIP/2001-00000004", state="ringing"))
    assert agent.state is AgentState.RESERVED and agent.held_for is None
    assert agent.call_id == "call-9"
    _relayed(bus, _let_go())  # a let-go after the phone rang for something: not applied
    assert agent.state is AgentState.RESERVED
    bus.publish(ev.ChannelStateChanged(at=5.0, call_id="call-9", channel_id="leg-1",
                                       name="PJSIP/2001-00000004", state="up",
                                       previous="ringing"))
    assert agent.state is AgentState.ON_CALL
    bus.publish(ev.ChannelHungUp(at=9.0, call_id="call-9", channel_id="leg-1",
                                 name="PJSIP/2001-00000004", cause=16,
                                 cause_text="Normal Clearing"))
    assert agent.state is AgentState.READY


async def test_a_hold_for_an_agent_busy_here_is_not_applied() -> None:
    bus, board, agent = _held_setup()
    board.reserve(agent, "caller-3", 2.0)  # this process's dispatcher was first
    _relayed(bus, _held())
    assert agent.state is AgentState.RESERVED and agent.call_id == "caller-3"
    assert agent.held_for is None
    _relayed(bus, _let_go())
    assert agent.state is AgentState.RESERVED and agent.call_id == "caller-3"
