"""The inbound ACD of the one assembly (``build_contact_center`` — what ``callcenter demo`` runs
on the simulated PBX) on the real Asterisk: a caller reaches ``[holding]``, the dispatcher
picks the agent, the agent's SIP phone (SIPp) rings and answers, the server bridges them; when
the caller hangs up the agent goes through wrap-up back to ready."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from callcenter.acd.agents import AgentBoard, AgentState
from callcenter.config import AcdSettings
from callcenter.contact_center import build_contact_center
from callcenter.core.clock import RealtimeClock
from callcenter.core.pbx import OriginateRequest
from crm_bridge.db import make_engine, session_factory, upgrade_database
from crm_bridge.interactions import InteractionRecorder
from crm_bridge.models import Interaction

from .conftest import Link, ami_settings_for
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


async def test_caller_and_agent_legs_are_one_call_and_one_interaction(
        link: Link, asterisk_sandbox: Any, tmp_path: Path) -> None:
    """Issue 10: the agent's leg, originated with its own linkedid, is a leg of the caller's
    call — in the model (what /api/calls serves), in a restarted server's model rebuilt from
    Asterisk's snapshot, and in the CRM: one interaction with the agent, the queue and the
    agent's talk time."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'crm.db'}"
    await upgrade_database(url)
    engine = make_engine(url)
    recorder = InteractionRecorder(link.bus, session_factory(engine), "CN")
    await recorder.start()
    clock = RealtimeClock()
    board = AgentBoard()
    agent = board.add("2001", now=clock.now())
    board.log_in(agent, clock.now())
    center = build_contact_center(link.pbx, link.bus, clock, AcdSettings(wrap_up_s=0.5),
                                  board=board)
    await center.start()
    phone = SippAgent(asterisk_sandbox, "2001", port=25_312, ring_ms=300)
    await phone.start()
    restarted: Link | None = None
    try:
        caller = await link.pbx.originate(OriginateRequest(
            endpoint="Local/5550100@inbound", application="Wait", data="6",
            caller_id="+8613800138000", timeout_s=10))
        assert (await asyncio.wait_for(caller.outcome, 10)).answered
        call_id = caller.channel_id  # the caller's linkedid: its Local ;1 half
        await link.wait_for(lambda: agent.state is AgentState.ON_CALL, 15, "agent on call")
        await link.wait_for(lambda: len([ch for ch in link.model.channels.values()
                                         if ch.bridge_id]) >= 2, 10, "caller and agent bridged")
        calls = link.model.snapshot()["calls"]
        assert [c["call_id"] for c in calls] == [call_id], calls
        legs = {leg["name"].split("-")[0]: leg for leg in calls[0]["legs"]}
        assert "PJSIP/2001" in legs, legs
        assert any(leg["context"] == "holding" for leg in calls[0]["legs"])
        assert calls[0]["variables"]["CC_AGENT"] == "2001"
        # a restarted server (a fresh model, built from Asterisk's snapshot) groups the same
        restarted = Link(ami_settings_for(asterisk_sandbox))
        await restarted.ami.start()
        await restarted.ami.wait_ready(15)
        live = {uid: ch.call_id for uid, ch in link.model.channels.items()}
        rebuilt = {uid: ch.call_id for uid, ch in restarted.model.channels.items()}
        assert rebuilt == live and set(live.values()) == {call_id}, (live, rebuilt)
        # the caller hangs up: one call ended, one interaction with agent and queue
        await link.wait_for(lambda: not link.model.channels, 15, "every channel gone")
        assert [e.call_id for e in link.of_type("call.ended")] == [call_id]  # type: ignore[attr-defined]
        await recorder.stop()
        async with session_factory(engine)() as session:
            rows = (await session.execute(select(Interaction))).scalars().all()
        assert [(r.call_id, r.agent, r.queue) for r in rows] == [(call_id, "2001", "default")]
        assert rows[0].answered_at is not None and rows[0].ended_at is not None
        assert rows[0].direction == "inbound"
        # talk time: from the agent's leg answering to its hang-up (the caller's Wait(6) ends)
        agent_leg = next(leg for leg in link.model.get_call(call_id).legs.values()  # type: ignore[union-attr]
                         if leg.name.startswith("PJSIP/2001"))
        assert rows[0].talk_started_at is not None and rows[0].talk_ended_at is not None
        assert abs(rows[0].talk_started_at.timestamp() - agent_leg.answered_at) < 0.01  # type: ignore[operator]
        assert abs(rows[0].talk_ended_at.timestamp() - agent_leg.hungup_at) < 0.01  # type: ignore[operator]
        talk_s = (rows[0].talk_ended_at - rows[0].talk_started_at).total_seconds()
        assert 0.5 < talk_s < 6, talk_s
    finally:
        await recorder.stop()
        if restarted is not None:
            await restarted.ami.stop()
        await center.close()
        await phone.stop()
        await engine.dispose()
