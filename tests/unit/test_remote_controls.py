"""Agents' controls made on another server process (relayed ``agent.state``) are applied to
this process's board; moves each process derives from the PBX itself, and local events, are
not."""

from __future__ import annotations

import pytest

from callcenter import events as ev
from callcenter.acd.agents import AgentBoard, AgentState
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
