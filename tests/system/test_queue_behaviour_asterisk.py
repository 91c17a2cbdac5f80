"""Queue behaviour on the real Asterisk (issue 10): a caller in a queue nobody of which is
logged in hears its position ([queue-announce]) in its queue's music class, overflows after
``overflow_after_s`` and is answered by the overflow queue's agent (a SIPp phone) keeping its
place; a caller whose max wait runs out in a queue without overflow goes to [queue-timeout]
(message, hang-up), counted as a transfer, not an abandon; a waiting caller transferred to
another queue keeps its wait and is answered there; transferred again while it talks, it goes
back on hold in the new queue at its first arrival and the agent's leg is hung up."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from callcenter import events as ev
from callcenter.acd.agents import AgentState
from callcenter.acd.connect import hang_up_if_alive
from callcenter.acd.definitions import AcdDefinitions, AgentDefinition, QueueDefinition
from callcenter.config import AcdSettings
from callcenter.contact_center import build_contact_center
from callcenter.core.clock import RealtimeClock
from callcenter.core.pbx import OriginateRequest
from crm_bridge.callbacks import DbCallbacks
from crm_bridge.db import make_engine, session_factory, upgrade_database
from crm_bridge.queue_log import entries_of

from .conftest import Link
from .sipp_agent import SippAgent

pytestmark = pytest.mark.system

DEFINITIONS = AcdDefinitions(
    queues=(
        QueueDefinition("sales", required_skills={"sales": 1}, overflow_queue="support",
                        overflow_after_s=6, announce_every_s=3, music_class="calm"),
        QueueDefinition("support", required_skills={"support": 1}),
        QueueDefinition("brief", max_wait_s=3),
        QueueDefinition("billing", required_skills={"billing": 1}),
    ),
    agents=(AgentDefinition("2001", skills={"support": 1}, logged_in=True),),
)


def _of(link: Link, kind: type[ev.DomainEvent]) -> list[Any]:
    return [e for e in link.events if isinstance(e, kind)]


def _waiting_channel(link: Link, queue: str) -> str | None:
    """The caller's channel in [holding] (the ;2 half of its Local channel ``q-<queue>``)."""
    for channel in link.model.channels.values():
        if channel.name.startswith(f"Local/q-{queue}@cc-test") and channel.name.endswith(";2"):
            return channel.channel_id
    return None


async def _call(link: Link, queue: str, stay_s: int) -> None:
    caller = await link.pbx.originate(OriginateRequest(
        endpoint=f"Local/q-{queue}@cc-test", application="Wait", data=str(stay_s),
        caller_id="+14155550100", timeout_s=10))
    assert (await asyncio.wait_for(caller.outcome, 10)).answered


async def test_overflow_announcement_max_wait_and_transfer_on_asterisk(
        link: Link, asterisk_sandbox: Any) -> None:
    clock = RealtimeClock()
    center = build_contact_center(link.pbx, link.bus, clock, AcdSettings(wrap_up_s=0.5),
                                  definitions=DEFINITIONS)
    await center.start()
    agent = center.board["2001"]
    phone = SippAgent(asterisk_sandbox, "2001", port=25_371, ring_ms=300)
    await phone.start()
    try:
        # paused until the sales caller overflows: nobody takes it before
        center.board.move(agent, AgentState.PAUSED, clock.now(), reason="setup")

        # 1. sales: announced, music class "calm", overflows to support after 6 s
        await _call(link, "sales", 20)
        await link.wait_for(lambda: _waiting_channel(link, "sales") is not None, 10, "in line")
        sales_caller = _waiting_channel(link, "sales")
        assert sales_caller is not None
        await link.wait_for(lambda: "CC_POSITION" in link.model.channels[sales_caller].variables,
                            6, "position announced")
        variables = link.model.channels[sales_caller].variables
        assert variables["CC_POSITION"] == "1"
        assert variables["CC_MUSIC_CLASS"] == "calm"
        await link.wait_for(lambda: any(c.channel_id == sales_caller and c.exten == "moh"
                                        for c in link.model.channels.values()
                                        if c.context == "holding"),
                            10, "back to the music after the announcement")
        await link.wait_for(lambda: _of(link, ev.CallOverflowed), 8, "overflow")
        assert _of(link, ev.CallOverflowed)[0].to_queue == "support"
        center.board.move(agent, AgentState.READY, clock.now())
        await link.wait_for(lambda: _of(link, ev.CallConnected), 15, "answered by overflow")
        connected = _of(link, ev.CallConnected)[0]
        assert (connected.queue, connected.agent_id, connected.channel_id) == \
            ("sales", "2001", sales_caller)
        offers = _of(link, ev.CallOffered)
        assert len(offers) == 1 and offers[0].reason.startswith("overflow to support")

        # 2. brief: nobody serves it; after 3 s the caller goes to [queue-timeout]
        await _call(link, "brief", 30)
        await link.wait_for(lambda: _of(link, ev.CallTransferred), 10, "max wait")
        moved = _of(link, ev.CallTransferred)[0]
        assert (moved.queue, moved.to_queue, moved.reason) == \
            ("brief", "queue-timeout", "max_wait")
        timed_out = moved.channel_id
        await link.wait_for(lambda: timed_out not in link.model.channels
                            or "CC_TIMED_OUT" in link.model.channels[timed_out].variables,
                            5, "in [queue-timeout]")
        await link.wait_for(lambda: timed_out not in link.model.channels, 20,
                            "the message played, the caller hung up")
        assert _of(link, ev.CallAbandoned) == []

        # 3. billing: nobody has the skill; transferred to support after 3 s, its wait kept
        await link.wait_for(lambda: agent.state is AgentState.READY, 30, "2001 free again")
        center.board.move(agent, AgentState.PAUSED, clock.now(), reason="setup")
        await _call(link, "billing", 30)
        await link.wait_for(lambda: _waiting_channel(link, "billing") is not None, 10, "in line")
        billing_caller = _waiting_channel(link, "billing")
        assert billing_caller is not None
        await asyncio.sleep(3)
        center.queues["billing"].transfer(billing_caller, center.queues["support"])
        await link.wait_for(lambda: link.model.channels[billing_caller].variables.get(
            "CC_QUEUE") == "support", 5, "CC_QUEUE on the channel")
        center.board.move(agent, AgentState.READY, clock.now())
        await link.wait_for(lambda: len(_of(link, ev.CallConnected)) == 2, 15, "answered")
        second = _of(link, ev.CallConnected)[1]
        assert (second.queue, second.channel_id) == ("support", billing_caller)
        assert second.waited_s >= 3.0, second
        # 4. while it talks to 2001, back to billing: on hold again at its first arrival,
        # 2001's leg hung up (wrap-up), the caller still there
        arrived = center.queues["support"]._callers[billing_caller][1]
        center.transfer(billing_caller, "billing")
        billing = center.queues["billing"]
        await link.wait_for(lambda: billing_caller in billing.dispatcher.waiting, 10,
                            "on hold in billing")
        assert abs(billing.dispatcher.waiting[billing_caller].arrived - arrived) < 1.0
        await link.wait_for(lambda: agent.state in (AgentState.WRAP_UP, AgentState.READY), 10,
                            "2001's leg hung up")
        await link.wait_for(lambda: link.model.channels[billing_caller].context == "holding"
                            and not link.model.channels[billing_caller].bridge_id, 10,
                            "the caller in [holding], alone")
        rows = [(e.queue, e.kind) for e in entries_of(link.events)]
        assert ("sales", "overflow") in rows and ("brief", "transfer") in rows
        assert ("billing", "transfer") in rows and ("support", "enter") in rows
        assert ("support", "transfer") in rows
    finally:
        await center.close()
        await phone.stop()


async def test_a_callback_keeps_the_place_survives_a_restart_and_reaches_an_agent(
        link: Link, asterisk_sandbox: Any, tmp_path: Path) -> None:
    """The caller presses 1 in [queue-callback-offer] and hangs up; the server that kept its
    place is replaced by a new one on the same database, which calls the customer back
    (Originate into [callback-connect]) and rings the agent's SIPp phone when it answers."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'crm.db'}"
    await upgrade_database(url)
    engine = make_engine(url)
    definitions = AcdDefinitions(
        queues=(QueueDefinition("cb", callback_after_s=2),),
        agents=(AgentDefinition("2001", logged_in=False),))
    # the customer's number would be dialled through the trunk; the sandbox's far end answers
    settings = AcdSettings(wrap_up_s=0.5, callback_endpoint="Local/answer@cc-test")
    clock = RealtimeClock()
    first = build_contact_center(link.pbx, link.bus, clock, settings, definitions=definitions,
                                 callbacks=DbCallbacks(session_factory(engine)))
    await first.start()
    phone = SippAgent(asterisk_sandbox, "2001", port=25_372, ring_ms=300)
    second = None
    closed = False
    try:
        await _call(link, "cb", 30)
        await link.wait_for(lambda: _waiting_channel(link, "cb") is not None, 10, "in line")
        caller = _waiting_channel(link, "cb")
        assert caller is not None
        await link.wait_for(lambda: link.model.channels[caller].context
                            == "queue-callback-offer", 10, "callback offered")
        # the caller presses 1: its own side of the Local channel sends the digit
        outer = next(ch.channel_id for ch in link.model.channels.values()
                     if ch.name.startswith("Local/q-cb@cc-test") and ch.name.endswith(";1"))
        await link.pbx.set_variable(outer, "CC_DTMF", "1")
        await link.pbx.redirect(outer, "cc-test", "dtmf")
        await link.wait_for(lambda: _of(link, ev.CallbackRequested), 10, "callback requested")
        await link.wait_for(lambda: caller not in link.model.channels, 15, "caller hung up")
        assert _of(link, ev.CallAbandoned) == []
        assert first.queues["cb"].waiting == 1  # the virtual caller, at its place
        await first.close()  # the server goes; the callback is in the database
        closed = True

        second = build_contact_center(link.pbx, link.bus, clock, settings,
                                      definitions=definitions,
                                      callbacks=DbCallbacks(session_factory(engine)))
        await second.start()
        assert second.queues["cb"].waiting == 1  # loaded from the database
        await phone.start()
        second.board.log_in(second.board["2001"], clock.now())
        await link.wait_for(lambda: _of(link, ev.CallbackConnected), 25, "called back")
        started = _of(link, ev.CallbackStarted)[0]
        assert (started.channel_id, started.agent_id, started.attempt) == (caller, "2001", 1)
        assert second.board["2001"].state is AgentState.ON_CALL
        assert await DbCallbacks(session_factory(engine)).pending("cb") == []
    finally:
        if second is not None:
            await second.close()
        if not closed:
            await first.close()
        await phone.stop()
        await engine.dispose()
        for channel in list(link.model.channels):
            await hang_up_if_alive(link.pbx, channel)
