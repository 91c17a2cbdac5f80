"""The inbound ACD of the one assembly (``build_contact_center`` — what ``callcenter demo`` runs
on the simulated PBX) on the real Asterisk: a caller reaches ``[holding]``, the dispatcher
picks the agent, the agent's SIP phone (SIPp) rings and answers, the server bridges them; when
the caller hangs up the agent goes through wrap-up back to ready."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from callcenter.acd.agents import AgentBoard, AgentState
from callcenter.config import AcdSettings
from callcenter.contact_center import build_contact_center
from callcenter.core.clock import RealtimeClock
from callcenter.core.pbx import OriginateRequest

from .conftest import Link
from .sipp_agent import SippAgent

pytestmark = pytest.mark.system


async def test_waiting_caller_is_bridged_to_the_longest_idle_agent(
        link: Link, asterisk_sandbox: Any) -> None:
    clock = RealtimeClock()
    board = AgentBoard()
    now = clock.now()
    busy = board.add("2002", now=now - 100)  # idle longer, but paused
    board.log_in(busy, now - 100)
    board.move(busy, AgentState.PAUSED, now, reason="lunch")
    agent = board.add("2001", now=now)
    board.log_in(agent, now)
    states: list[str] = []
    board.listeners.append(lambda t: states.append(f"{t.agent_id}:{t.state}"))
    center = build_contact_center(link.pbx, link.bus, clock, AcdSettings(wrap_up_s=0.5),
                                  board=board)
    await center.start()
    acd = center.queues["default"]
    phone = SippAgent(asterisk_sandbox, "2001", port=25_311, ring_ms=300)
    await phone.start()
    try:
        caller = await link.pbx.originate(OriginateRequest(
            endpoint="Local/5550100@inbound", application="Wait", data="5",
            caller_id="+8613800138000", timeout_s=10))
        assert (await asyncio.wait_for(caller.outcome, 10)).answered
        await link.wait_for(lambda: agent.state is AgentState.ON_CALL, 15, "agent on call")
        # the caller's leg in [holding] and the agent's leg share one bridge in Asterisk
        await link.wait_for(lambda: len({ch.bridge_id for ch in link.model.channels.values()
                                          if ch.bridge_id and (ch.name.startswith("PJSIP/2001")
                                                               or ch.context == "holding")}) == 1
                            and len([ch for ch in link.model.channels.values()
                                     if ch.bridge_id]) >= 2, 10, "caller and agent bridged")
        await link.assert_matches_asterisk()
        assert acd.answered == 1 and acd.abandoned == 0
        assert busy.state is AgentState.PAUSED  # a paused agent is never offered a call
        # the caller hangs up after 5 s: the agent's leg is hung up, wrap-up, then ready
        await link.wait_for(lambda: agent.state is AgentState.WRAP_UP, 15, "wrap-up")
        await link.wait_for(lambda: agent.state is AgentState.READY, 5, "ready again")
        await link.wait_for(lambda: not link.model.channels, 10, "every channel gone")
        assert states == ["2001:reserved", "2001:on_call", "2001:wrap_up", "2001:ready"]
        assert agent.calls_handled == 1
    finally:
        await center.close()
        await phone.stop()
