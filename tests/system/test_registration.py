"""Device registration on the real Asterisk: an agent whose phone is not registered is never
rung, and becomes eligible — taking a waiting caller at once — when its phone registers.

Agents 2001 and 2002 are configured and ready; only 2002's SIPp phone registers. A caller in
``[holding]`` rings 2002, never 2001 (no ``PJSIP/2001-`` channel ever appears); a second caller
waits while 2002 talks; 2001's phone registers and that caller is offered to 2001 at once.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from callcenter import events as ev
from callcenter.acd.agents import AgentBoard, AgentState
from callcenter.config import AcdSettings
from callcenter.contact_center import build_contact_center
from callcenter.core.clock import RealtimeClock
from callcenter.core.pbx import OriginateRequest

from .conftest import Link
from .sipp_agent import SippAgent

pytestmark = pytest.mark.system


async def test_an_unregistered_agent_is_never_rung_and_registering_makes_it_eligible(
        link: Link, asterisk_sandbox: Any) -> None:
    first = SippAgent(asterisk_sandbox, "2001", port=25_421, ring_ms=300)
    second = SippAgent(asterisk_sandbox, "2002", port=25_422, ring_ms=300)
    # earlier tests leave their phones registered (Expires 600): start from none
    for phone in (first, second):
        await phone.unregister()
    registrations = link.ami.registrations
    await link.wait_for(lambda: not registrations.registered("PJSIP/2001")
                        and not registrations.registered("PJSIP/2002"), 5, "no contacts")
    clock = RealtimeClock()
    board = AgentBoard()
    for agent_id in ("2001", "2002"):
        board.log_in(board.add(agent_id, now=clock.now()), clock.now())
    center = build_contact_center(link.pbx, link.bus, clock, AcdSettings(wrap_up_s=30.0),
                                  board=board)
    await center.start()
    acd = center.queues["default"]
    a2001, a2002 = board["2001"], board["2002"]
    assert not a2001.registered and not a2002.registered  # configured, never seen: not yet
    try:
        await second.start()
        await link.wait_for(lambda: a2002.registered, 5, "2002 registered")
        calls = []
        for number in ("+8613800138001", "+8613800138002"):
            handle = await link.pbx.originate(OriginateRequest(
                endpoint="Local/5550100@inbound", application="Wait", data="60",
                caller_id=number, timeout_s=10))
            assert (await asyncio.wait_for(handle.outcome, 10)).answered
            calls.append(handle)
        # (a ring may go unanswered right after other tests used the phone: the ACD puts the
        # caller back at its place and rings again — see test_serve_sandbox.py)
        await link.wait_for(lambda: a2002.state is AgentState.ON_CALL, 40, "2002 on call")
        try:
            await link.wait_for(lambda: acd.dispatcher.queue_length == 1, 10, "second waits")
        except AssertionError:
            story = [e.to_dict() for e in link.events if isinstance(e, (
                ev.CallOffered, ev.AgentStateChanged, ev.ChannelCreated, ev.ChannelHungUp))
                or (isinstance(e, ev.ChannelVariableSet) and e.name.startswith("CC_"))]
            raise AssertionError(f"queue length {acd.dispatcher.queue_length}; "
                                 f"asterisk: {await link.asterisk_channels()}; "
                                 f"events: {story}") from None
        await asyncio.sleep(2.0)  # time enough to (wrongly) ring 2001
        assert a2001.state is AgentState.READY and acd.dispatcher.queue_length == 1
        offered = [e.agent_id for e in link.events if isinstance(e, ev.CallOffered)]
        assert set(offered) == {"2002"}, offered

        before = len(link.events)
        await first.start()  # 2001's phone registers: the waiting caller goes to it at once
        await link.wait_for(lambda: a2001.state is AgentState.ON_CALL, 40, "2001 on call")
        offers = [e for e in link.events if isinstance(e, ev.CallOffered)]
        to_2001 = [e for e in offers if e.agent_id == "2001"]
        assert to_2001 and "phone registered" in to_2001[0].reason, offers
        kinds = [(e.type, getattr(e, "endpoint", getattr(e, "agent_id", "")))
                 for e in link.events]
        registered_at = next(i for i, e in enumerate(link.events)
                             if i >= before and isinstance(e, ev.DeviceRegistration)
                             and e.endpoint == "PJSIP/2001" and e.registered)
        assert kinds[registered_at + 1] == ("agent.registration", "2001")
        assert kinds.index(("queue.offered", "2001")) > registered_at
        rung_2001 = [i for i, e in enumerate(link.events) if isinstance(e, ev.ChannelCreated)
                     and e.name.startswith("PJSIP/2001-")]
        assert rung_2001 and min(rung_2001) > registered_at  # never rung before it registered
        # the ACD counts the answer once the connector returns (after the agent's state
        # changed): wait for it rather than race it
        await link.wait_for(lambda: acd.answered == 2, 5, "both answers counted",
                            lambda: f"answered {acd.answered}")
        assert acd.abandoned == 0
    finally:
        await center.close()
        for phone in (first, second):
            await phone.stop()
        asterisk_sandbox.cli("channel request hangup all")
