"""Definitions changed while the center runs (``ContactCenter.apply``) on the simulated PBX:
a deleted agent on a call finishes it and then leaves the board, one defined again before
that stays; a ready agent's new skills wait until it leaves ready; a queue's new strategy and
ring time apply; a deleted queue stops serving; ``config.changed`` each time."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from callcenter import events as ev
from callcenter.acd.agents import AgentState
from callcenter.acd.definitions import AgentDefinition, QueueDefinition
from tests.unit.test_contact_center import World

pytestmark = pytest.mark.unit


@pytest.fixture
async def world() -> Any:
    w = World(["1001", "1002"])
    await w.center.start()
    yield w
    await w.center.close()


async def test_a_deleted_agent_finishes_its_call_then_leaves(world: World) -> None:
    center = world.center
    world.caller("+14155550111")
    await world.until(lambda: any(a.state is AgentState.ON_CALL for a in center.board),
                      what="on call")
    busy = next(a for a in center.board if a.state is AgentState.ON_CALL)
    idle = next(a for a in center.board if a is not busy)
    keep = tuple(a for a in center.definitions.agents if a.agent_id == idle.agent_id)
    await center.apply(replace(center.definitions, agents=keep))
    assert busy.agent_id in center.board and busy.leaving  # still talking
    await world.until(lambda: busy.agent_id not in center.board, 120, "gone after the call")
    assert [a.agent_id for a in center.board] == [idle.agent_id]
    assert "offline" in world.agent_moves(busy.agent_id)[-1]
    changed = [e for e in world.events if isinstance(e, ev.ConfigChanged)]
    assert changed and changed[-1].agents == 1


async def test_an_agent_defined_again_before_its_call_ends_stays(world: World) -> None:
    center = world.center
    world.caller("+14155550112")
    await world.until(lambda: any(a.state is AgentState.ON_CALL for a in center.board),
                      what="on call")
    busy = next(a for a in center.board if a.state is AgentState.ON_CALL)
    everyone = center.definitions
    await center.apply(replace(everyone, agents=tuple(
        a for a in everyone.agents if a.agent_id != busy.agent_id)))
    assert busy.leaving
    await center.apply(everyone)
    assert not busy.leaving and busy.agent_id not in center.retiring
    await world.until(lambda: busy.state is AgentState.READY, 120, "back to ready")
    assert busy.agent_id in center.board


async def test_skills_of_a_ready_agent_apply_when_it_leaves_ready(world: World) -> None:
    center = world.center
    agent = center.board["1001"]
    assert agent.state is AgentState.READY
    defs = center.definitions
    changed = tuple(AgentDefinition("1001", skills={"fr": 7}, logged_in=True)
                    if a.agent_id == "1001" else a for a in defs.agents)
    await center.apply(replace(defs, agents=changed))
    assert agent.skill_levels == {} and center.pending_skills["1001"] == {"fr": 7}
    center.controls.pause("1001", "break")
    assert agent.skill_levels == {"fr": 7} and agent.skills == {"fr"}
    center.controls.ready("1001")
    assert agent.state is AgentState.READY


async def test_queue_settings_and_deletion_apply(world: World) -> None:
    center = world.center
    support = center.queues["support"]
    before = support.dispatcher.routing
    defs = center.definitions
    await center.apply(replace(defs, queues=(
        QueueDefinition("support", strategy="fewest-calls", ring_timeout_s=7.0),)))
    assert center.queues["support"] is support  # the same line, callers kept
    assert support.ring_timeout_s == 7.0 and support.dispatcher.routing is not before
    assert support.definition.strategy == "fewest-calls"
    await center.apply(replace(defs, queues=(QueueDefinition("sales"),)))
    assert list(center.queues) == ["sales"]
    world.sim.inject_inbound_call("+14155550113", "8005550100",
                                  variables={"CC_QUEUE": "support"})
    world.sim.inject_inbound_call("+14155550114", "8005550100",
                                  variables={"CC_QUEUE": "sales"})
    await world.until(lambda: any(isinstance(e, ev.CallConnected) for e in world.events),
                      what="the sales caller answered")
    assert {e.queue for e in world.events if isinstance(e, ev.CallQueued)} == {"sales"}
