"""The one assembly on the simulated PBX (fast real time): causes before effects on the bus,
callers back at their place in line after a failed ring, the error contract (nothing retried
when an outcome is unknown), and one identity for agents' channels."""

from __future__ import annotations

import asyncio
import datetime as dt
import random
from collections.abc import Callable
from typing import Any

import pytest

from callcenter import events as ev
from callcenter.acd.agents import AgentBoard, AgentState
from callcenter.acd.identity import AgentEndpoints
from callcenter.acd.routing import make_routing
from callcenter.config import AcdSettings, Settings
from callcenter.contact_center import ContactCenter, build_contact_center
from callcenter.core.clock import RealtimeClock
from callcenter.core.errors import (
    ActionFailed,
    ActionTimeout,
    ConnectionLost,
    OutcomeUnknown,
    PbxError,
    PbxUnavailable,
)
from callcenter.core.pbx import (
    OriginateHandle,
    OriginateOutcome,
    OriginateReason,
    OriginateRequest,
)
from callcenter.cti.model import CallModel
from callcenter.dialer.pacing import LineOutcome, Pacer
from callcenter.dialer.pbx_port import PbxCampaign
from callcenter.events import EventBus
from callcenter.sim.pbx import Behaviour, Delay, SimulatedPbx
from tests.event_order import check_event_order
from tests.fakes import HangUpEveryLine, OneLine

pytestmark = pytest.mark.unit

SPEED = 50.0  # simulated seconds per wall second


class FlakyPbx:
    """The simulated PBX, except that chosen originates fail the way a real link can."""

    def __init__(self, inner: SimulatedPbx) -> None:
        self.inner = inner
        self.name = inner.name
        #: endpoint prefix -> errors to raise on the next originates to it (in order)
        self.failures: dict[str, list[PbxError]] = {}
        #: originates that "ran" although the caller was told OutcomeUnknown
        self.ran_anyway: list[str] = []
        self.originated: list[OriginateRequest] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    @property
    def calls(self) -> CallModel:
        return self.inner.calls

    async def originate(self, request: OriginateRequest) -> OriginateHandle:
        self.originated.append(request)
        for prefix, errors in self.failures.items():
            if request.endpoint.startswith(prefix) and errors:
                error = errors.pop(0)
                if isinstance(error, OutcomeUnknown):  # it did run: the leg shows up later
                    await self.inner.originate(request)
                    self.ran_anyway.append(request.channel_id or "")
                raise error
        return await self.inner.originate(request)


class World:
    def __init__(self, agents: list[str], *, answer_after: float = 1.0,
                 dial_once: Pacer | None = None, queues: list[str] | None = None,
                 record: list[str] | None = None, hang_up_after_s: float | None = None,
                 campaign_ring_s: float | None = None) -> None:
        self.clock = RealtimeClock(speed=SPEED)
        self.bus = EventBus()
        self.events: list[ev.DomainEvent] = []
        self.bus.add_handler(self.events.append)
        self.model = CallModel(emit=self.bus.publish)
        behaviour = Behaviour(human=1.0, machine=0.0, busy=0.0, answer_after=Delay.fixed(2.0),
                              amd_human_after=Delay.fixed(1.0), amd_false_machine=0.0,
                              talk=Delay.fixed(20.0), agent_answer_after=Delay.fixed(answer_after))
        self.sim = SimulatedPbx(self.clock, self.model, random.Random(3), behaviour)
        for agent in agents:
            self.sim.register_endpoint(f"PJSIP/{agent}")
        self.pbx = FlakyPbx(self.sim)
        settings = AcdSettings(queues=queues or ["support"], agents=agents, wrap_up_s=2.0,
                               ring_timeout_s=10.0, record_queues=record or [])
        self.center: ContactCenter = build_contact_center(
            self.pbx, self.bus, self.clock, settings)  # type: ignore[arg-type]
        #: ``dial_once``: a campaign that dials one number with that pacer, built on the
        #: center's PBX, agents and connector as CampaignRunner builds it, without the gate
        #: and the lead book (these tests are about the line port and the error contract)
        self.campaign: PbxCampaign | None = None
        if dial_once is not None:
            numbers = iter(["5551000"])
            self.campaign = PbxCampaign(
                self.pbx, self.bus, self.center.board,  # type: ignore[arg-type]
                self.center.connector, self.clock, dial_once,
                make_routing("fifo-longest-idle", random.Random(1)),
                lambda: next(numbers, None), campaign="c1",
                ring_timeout_s=campaign_ring_s or settings.ring_timeout_s,
                connect_timeout_s=settings.connect_timeout_s, hang_up_after_s=hang_up_after_s)

    async def start(self) -> None:
        await self.center.start()
        if self.campaign is not None:
            self.campaign.start()

    def caller(self, number: str, patience_s: float = 600.0) -> str:
        return self.sim.inject_inbound_call(number, "8005550100", patience_s=patience_s,
                                            variables={"CC_QUEUE": "support"})

    async def until(self, predicate: Callable[[], bool], simulated_s: float = 60.0,
                    what: str = "") -> None:
        for _ in range(int(simulated_s / SPEED / 0.005) + 1):
            if predicate():
                return
            await asyncio.sleep(0.005)
        raise AssertionError(f"timed out: {what or predicate}")

    def agent_moves(self, agent_id: str) -> list[str]:
        return [f"{e.previous}>{e.state}" for e in self.events
                if isinstance(e, ev.AgentStateChanged) and e.agent_id == agent_id]

    def dicts(self) -> list[dict[str, Any]]:
        return [e.to_dict() for e in self.events]


@pytest.fixture
async def world_factory() -> Any:
    made: list[World] = []

    def make(*args: Any, **kwargs: Any) -> World:
        made.append(World(*args, **kwargs))
        return made[-1]

    yield make
    for world in made:
        if world.campaign is not None:
            await world.campaign.close()
        await world.center.close()


async def test_a_call_through_the_assembly_is_told_causes_first(world_factory: Any) -> None:
    w = world_factory(["1001"])
    await w.center.start()
    caller = w.caller("+14155550101")
    agent = w.center.board["1001"]
    await w.until(lambda: agent.state is AgentState.ON_CALL, what="on call")
    await w.until(lambda: agent.state is AgentState.READY and agent.calls_handled == 1, 60,
                  "wrap-up done")
    assert w.agent_moves("1001") == ["offline>ready", "ready>reserved", "reserved>on_call",
                                     "on_call>wrap_up", "wrap_up>ready"]
    moves = check_event_order(w.dicts())
    assert moves == {"1001": 5}
    kinds = [e.type for e in w.events]
    up = next(i for i, e in enumerate(w.events) if isinstance(e, ev.ChannelStateChanged)
              and e.name.startswith("PJSIP/1001-") and e.state == "up")
    on_call = next(i for i, e in enumerate(w.events) if isinstance(e, ev.AgentStateChanged)
                   and e.state == "on_call")
    assert up < on_call, kinds
    assert w.center.queues["support"].answered == 1
    assert caller in {e.channel_id for e in w.events if isinstance(e, ev.ChannelHungUp)}


async def test_a_ring_not_sent_parks_the_caller_until_the_resync(world_factory: Any) -> None:
    w = world_factory(["1001"])
    w.pbx.failures["PJSIP/1001"] = [PbxUnavailable("AMI link is down")]
    await w.center.start()
    caller = w.caller("+14155550102")
    acd = w.center.queues["support"]
    agent = w.center.board["1001"]
    await w.until(lambda: len(w.pbx.originated) == 1 and agent.state is AgentState.READY,
                  what="ring refused, agent free")
    await asyncio.sleep(0.05)
    assert len(w.pbx.originated) == 1, "nothing is retried into a dead link"
    assert acd.waiting == 1 and acd.dispatcher.queue_length == 0
    w.bus.publish(ev.PbxResynced(at=w.clock.now(), pbx="simulated", channels=1, calls=1,
                                 bridges=0, ghosts_removed=0, discovered=0, duration_s=0.1))
    await w.until(lambda: agent.state is AgentState.ON_CALL, what="connected after resync")
    assert acd.answered == 1 and acd.pbx.calls.channel(caller) is not None


async def test_an_unknown_ring_is_never_retried_and_its_leg_is_hung_up(
        world_factory: Any) -> None:
    """The Originate ran but the link lost its answer: the agent's phone rings anyway. The
    server does not ring again on that request; it hangs that leg up and offers the caller,
    at its place, to the next agent."""
    w = world_factory(["1001", "1002"], answer_after=3.0)
    w.pbx.failures["PJSIP/"] = [ConnectionLost("AMI connection lost")]
    await w.center.start()
    w.caller("+14155550103")
    await w.until(lambda: any(a.state is AgentState.ON_CALL for a in w.center.board),
                  what="caller connected to an agent")
    (orphan,) = w.pbx.ran_anyway
    await w.until(lambda: w.model.channel(orphan) is None, what="the orphaned leg hung up")
    assert any(isinstance(e, ev.ChannelHungUp) and e.channel_id == orphan for e in w.events)
    assert len([r for r in w.pbx.originated if r.channel_id == orphan]) == 1
    first_agent = w.pbx.originated[0].variables["CC_AGENT"]
    assert "reserved>ready" in w.agent_moves(first_agent)
    check_event_order(w.dicts())


async def test_a_caller_whose_agent_does_not_answer_keeps_its_place(
        world_factory: Any) -> None:
    w = world_factory(["1001"])
    w.sim.register_endpoint("PJSIP/1001", answers=False)  # rings out
    await w.center.start()
    first = w.caller("+14155550104")
    await w.until(lambda: w.center.board["1001"].state is AgentState.RESERVED, what="ringing")
    second = w.caller("+14155550105")
    acd = w.center.queues["support"]
    await w.until(lambda: acd.dispatcher.queue_length == 2 or len(w.pbx.originated) >= 2,
                  30, "first ring timed out")
    # the agent is free again and takes the head of the line: the first caller, not the second
    ringing_for = [r.caller_id for r in w.pbx.originated]
    assert ringing_for[0] == "+14155550104"
    assert ringing_for[1] == "+14155550104", ringing_for
    assert second in acd.dispatcher.waiting and first not in acd.dispatcher.waiting


async def test_a_caller_leaving_while_the_agent_rings_stops_the_ring(
        world_factory: Any) -> None:
    w = world_factory(["1001"], answer_after=30.0)
    await w.center.start()
    caller = w.caller("+14155550106", patience_s=3.0)
    agent = w.center.board["1001"]
    await w.until(lambda: agent.state is AgentState.RESERVED, what="ringing")
    await w.until(lambda: agent.state is AgentState.READY, 20, "ring stopped")
    leg = w.pbx.originated[0].channel_id or ""
    assert w.model.channel(leg) is None and w.model.channel(caller) is None  # both hung up
    assert w.center.queues["support"].abandoned == 1
    assert w.agent_moves("1001")[-2:] == ["ready>reserved", "reserved>ready"]


async def test_when_either_side_hangs_up_the_other_goes_too(world_factory: Any) -> None:
    w = world_factory(["1001"])
    await w.center.start()
    caller = w.caller("+14155550107")
    agent = w.center.board["1001"]
    await w.until(lambda: agent.state is AgentState.ON_CALL, what="on call")
    leg = w.pbx.originated[0].channel_id or ""
    assert w.center.connector.paired_with(caller) == leg
    await w.pbx.hangup(leg)  # the agent hangs up first
    await w.until(lambda: w.model.channel(caller) is None, what="caller hung up by the server")
    assert w.center.connector.paired_with(caller) is None


async def test_a_dial_with_an_unknown_outcome_is_not_a_no_answer_nor_redialled(
        world_factory: Any) -> None:
    pacer = OneLine()
    w = world_factory(["1001"], dial_once=pacer)
    w.pbx.failures["Local/"] = [ActionTimeout("Originate: no answer in 10s")]
    await w.start()
    campaign = w.campaign
    assert campaign is not None
    await w.until(lambda: LineOutcome.HUMAN in pacer.outcomes, what="the call ran anyway")
    assert LineOutcome.NO_ANSWER not in pacer.outcomes
    assert campaign.unknown == 1
    assert len([r for r in w.pbx.originated if r.endpoint.startswith("Local/")]) == 1


async def test_a_dial_not_sent_fails_at_once_and_an_unknown_one_that_never_showed_later(
        world_factory: Any) -> None:
    pacer = OneLine()
    w = world_factory(["1001"], dial_once=pacer)
    w.pbx.failures["Local/"] = [PbxUnavailable("AMI link is down")]
    await w.start()
    await w.until(lambda: LineOutcome.FAILED in pacer.outcomes, what="failed")
    assert pacer.outcomes == [LineOutcome.DIALED, LineOutcome.FAILED]


async def test_a_failed_dial_whose_channel_then_ends_busy_is_busy(world_factory: Any) -> None:
    """Asterisk may answer an Originate through a Local channel with Reason 0 ("failed")
    before the channel's own hang-up says 17, user busy: the cause decides, not the answer."""
    pacer = OneLine()
    w = world_factory(["1001"], dial_once=pacer)
    w.sim.behaviour = Behaviour(human=0.0, machine=0.0, busy=1.0,
                                busy_after=Delay.fixed(1.0))  # within the 2-s grace
    inner = w.pbx.inner
    tasks: list[asyncio.Task[None]] = []

    async def failed_first(request: OriginateRequest) -> OriginateHandle:
        handle = await inner.originate(request)
        told: asyncio.Future[OriginateOutcome] = asyncio.get_running_loop().create_future()

        async def tell() -> None:  # once the channel shows, before its hang-up
            await w.until(lambda: w.model.channels.get(handle.channel_id) is not None,
                          what="the dial's channel")
            told.set_result(OriginateOutcome(handle.channel_id, OriginateReason.FAILED))

        tasks.append(asyncio.get_running_loop().create_task(tell()))
        return OriginateHandle(handle.channel_id, told)

    w.pbx.originate = failed_first  # type: ignore[method-assign]
    await w.start()
    await w.until(lambda: len(pacer.outcomes) == 2, what="the line's outcome")
    assert pacer.outcomes == [LineOutcome.DIALED, LineOutcome.BUSY]


def test_the_error_contract_separates_not_sent_from_outcome_unknown() -> None:
    assert issubclass(ConnectionLost, OutcomeUnknown)
    assert issubclass(ActionTimeout, OutcomeUnknown)
    assert not issubclass(ConnectionLost, PbxUnavailable)
    assert not issubclass(OutcomeUnknown, PbxUnavailable)
    assert not issubclass(PbxUnavailable, OutcomeUnknown)


def test_one_identity_for_agents_channels() -> None:
    endpoints = AgentEndpoints(is_agent={"2001", "agent.7"}.__contains__)
    assert endpoints.endpoint("2001") == "PJSIP/2001"
    assert endpoints.agent_of("PJSIP/2001-0000002a") == "2001"
    assert endpoints.agent_of("PJSIP/agent.7-00000001") == "agent.7"
    assert endpoints.agent_of("PJSIP/trunk-0000002b") is None  # not an agent
    assert endpoints.agent_of("PJSIP/2002-0000002c") is None  # not on the board
    assert endpoints.agent_of("Local/2001@agents-local-0000001a;1") is None
    local = AgentEndpoints("Local/{agent}@agents-local", is_agent=lambda _: True)
    assert local.agent_of("Local/2001@agents-local-0000001a;2") == "2001"
    with pytest.raises(ValueError, match="agent"):
        AgentEndpoints("PJSIP/fixed")


def test_agents_come_from_configuration() -> None:
    settings = Settings(acd={"agents": ["2001", {"agent_id": "2002", "skills": ["fr"],
                                                 "logged_in": False}]})
    assert [a.agent_id for a in settings.acd.agents] == ["2001", "2002"]
    assert settings.acd.agents[1].skills == ["fr"] and not settings.acd.agents[1].logged_in
    with pytest.raises(ValueError, match="unknown routing"):
        Settings(acd={"routing": "nearest"})
    with pytest.raises(ValueError):
        Settings(acd={"agents": ["bad id with spaces"]})


async def test_configured_agents_log_in_at_start(world_factory: Any) -> None:
    w = world_factory(["1001", "1002"])
    board: AgentBoard = w.center.board
    assert [a.state for a in board] == [AgentState.OFFLINE, AgentState.OFFLINE]
    await w.center.start()
    assert [a.state for a in board] == [AgentState.READY, AgentState.READY]


async def test_an_agent_whose_phone_keeps_ringing_out_is_paused_not_spun(
        world_factory: Any) -> None:
    """An unattended phone (registered, never answered) would take every caller in turn;
    after three rings unanswered in a row the agent is paused with reason no_answer. (An
    unregistered phone is never rung at all: tests/unit/test_registration.py.)"""
    w = world_factory(["1001"])
    w.sim.register_endpoint("PJSIP/1001", answers=False)  # rings out (ring_timeout_s)
    await w.center.start()
    w.caller("+14155550108")
    agent = w.center.board["1001"]
    await w.until(lambda: agent.state is AgentState.PAUSED, 120, what="paused")
    assert agent.pause_reason == "no_answer"
    assert len(w.pbx.originated) == 3
    assert w.center.queues["support"].dispatcher.queue_length == 1  # still waiting, in line
    check_event_order(w.dicts())


async def test_every_step_of_a_caller_in_a_queue_is_an_event(world_factory: Any) -> None:
    """entered -> offered -> (not connected -> entered again, keeping its place) ->
    offered -> connected; a second caller who gives up is abandoned with its wait."""
    w = world_factory(["1001"], answer_after=0.5)
    w.pbx.failures["PJSIP/1001"] = [ActionFailed("Originate", "Originate failed")]
    await w.center.start()
    first = w.caller("+14155550109")
    await w.until(lambda: any(isinstance(e, ev.CallNotConnected) for e in w.events),
                  30, "first ring refused")
    w.caller("+14155550110", patience_s=1.0)
    await w.until(lambda: any(isinstance(e, ev.CallConnected) for e in w.events), 30,
                  "connected")
    await w.until(lambda: any(isinstance(e, ev.CallAbandoned) for e in w.events), 30,
                  "second caller gave up")
    steps = [(e.type, e.channel_id) for e in w.events  # type: ignore[attr-defined]
             if e.type.startswith("queue.") and e.type != "queue.changed"]
    mine = [kind for kind, channel in steps if channel == first]
    assert mine == ["queue.entered", "queue.offered", "queue.not_connected", "queue.entered",
                    "queue.offered", "queue.connected"], steps
    requeued = [e for e in w.events if isinstance(e, ev.CallQueued) and e.channel_id == first]
    assert [e.requeued for e in requeued] == [False, True]
    (offered, *_) = [e for e in w.events if isinstance(e, ev.CallOffered)]
    assert offered.agent_id == "1001" and offered.reason.startswith("fifo-longest-idle: idle ")
    (abandoned,) = [e for e in w.events if isinstance(e, ev.CallAbandoned)]
    assert abandoned.stage == "waiting" and abandoned.waited_s >= 0.9
    connected = next(e for e in w.events if isinstance(e, ev.CallConnected))
    assert connected.call_id == first and connected.waited_s > 0
    assert {e.type for e in w.events} <= set(ev.EVENT_TYPES)  # all relayable over Redis
    for event in w.events:
        assert ev.event_from_dict(event.to_dict()) == event


async def test_a_recorded_queue_records_each_conversation_and_names_the_file(
        world_factory: Any) -> None:
    w = world_factory(["1001", "1002"], record=["support"], queues=["support", "sales"])
    await w.center.start()
    caller = w.caller("+14155550111")
    await w.until(lambda: caller in w.sim.recordings, what="recording started")
    file = w.sim.recordings[caller]
    day = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d")
    assert file == f"support/{day}/{caller}.wav"
    named = [e for e in w.events if isinstance(e, ev.ChannelVariableSet)
             and e.name == "CC_RECORDING"]
    assert [(e.channel_id, e.value) for e in named] == [(caller, file)]
    # the interaction's recording column comes from that variable (crm_bridge.interactions)
    from crm_bridge.interactions import VARIABLE_COLUMNS

    assert VARIABLE_COLUMNS["CC_RECORDING"] == "recording_ref"
    assert not w.center.queues["sales"].recording_file


def test_recording_file_templates_are_checked() -> None:
    assert AcdSettings(recording_file="{queue}/{call_id}.ogg").records("x") is False
    assert AcdSettings(record_queues=["*"]).records("anything")
    for bad in ("/abs/{call_id}.wav", "../{call_id}.wav", "{queue}/{nope}.wav", "{call_id}"):
        with pytest.raises(ValueError, match="recording_file"):
            AcdSettings(recording_file=bad)


async def test_an_agent_paused_during_a_call_goes_from_wrap_up_straight_to_paused(
        world_factory: Any) -> None:
    """Never through ready, where the ACD would hand them the next caller."""
    w = world_factory(["1001"])
    await w.center.start()
    controls = w.center.controls
    w.caller("+14155550112")
    agent = w.center.board["1001"]
    await w.until(lambda: agent.state is AgentState.ON_CALL, what="on call")
    controls.pause("1001", "lunch")
    assert agent.state is AgentState.ON_CALL  # not now: after the work
    w.caller("+14155550113")  # waits: the only agent is busy, then pauses
    await w.until(lambda: agent.state is AgentState.PAUSED, 60, "paused after wrap-up")
    assert w.agent_moves("1001")[-2:] == ["on_call>wrap_up", "wrap_up>paused"]
    assert agent.pause_reason == "lunch"
    assert w.center.queues["support"].dispatcher.queue_length == 1  # not offered to them
    controls.ready("1001")
    await w.until(lambda: agent.state is AgentState.ON_CALL, what="next caller")


async def test_a_wrap_up_can_be_extended_and_ended_early(world_factory: Any) -> None:
    from callcenter.acd.controls import BadRequest, NotNow, UnknownAgent

    w = world_factory(["1001"])
    await w.center.start()
    controls = w.center.controls
    agent = w.center.board["1001"]
    with pytest.raises(NotNow):
        controls.extend_wrap_up("1001", 30)
    with pytest.raises(UnknownAgent):
        controls.ready("9999")
    with pytest.raises(BadRequest, match="unknown pause reason"):
        controls.pause("1001", "no_answer")  # the ACD's own reason
    w.caller("+14155550114", patience_s=600)
    await w.until(lambda: agent.state is AgentState.WRAP_UP, 60, "wrap-up")
    first_end = w.center.phones.wrap_up_until(agent)
    assert first_end is not None
    until = controls.extend_wrap_up("1001", 60)
    assert until == pytest.approx(first_end + 60)
    with pytest.raises(NotNow, match="in all"):
        controls.extend_wrap_up("1001", 290)  # past max_wrap_up_s (300)
    ends = [e.until for e in w.events if isinstance(e, ev.AgentWrapUp)]
    assert ends == [pytest.approx(first_end), pytest.approx(until)]
    await asyncio.sleep(3.0 / SPEED * 2)  # past the first end: still wrapping up
    assert agent.state is AgentState.WRAP_UP
    controls.ready("1001")  # done with the notes
    assert agent.state is AgentState.READY


async def test_a_person_whose_agent_never_answers_is_a_drop_not_a_connect(
        world_factory: Any) -> None:
    """Reserving an agent is not connecting the person: the agent's phone rings out, the
    dialplan abandons the customer at the connect limit, and the pacer hears a drop."""
    pacer = OneLine()
    w = world_factory(["1001"], dial_once=pacer)
    w.sim.register_endpoint("PJSIP/1001", answers=False)
    await w.start()
    campaign = w.campaign
    assert campaign is not None
    await w.until(lambda: LineOutcome.DROPPED in pacer.outcomes, 60, "dropped")
    assert pacer.outcomes == [LineOutcome.DIALED, LineOutcome.HUMAN, LineOutcome.DROPPED]
    assert campaign.dropped == 1 and campaign.loop.connected == 0
    assert any(isinstance(e, ev.ChannelVariableSet) and e.name == "CC_ABANDONED"
               for e in w.events)


async def test_a_person_bridged_to_an_agent_is_connected(world_factory: Any) -> None:
    pacer = OneLine()
    w = world_factory(["1001"], dial_once=pacer, answer_after=0.5)
    await w.start()
    await w.until(lambda: LineOutcome.CONNECTED in pacer.outcomes, 30, "connected")
    assert pacer.outcomes == [LineOutcome.DIALED, LineOutcome.HUMAN, LineOutcome.CONNECTED]
    assert w.campaign is not None and w.campaign.dropped == 0


async def test_a_callback_asked_for_in_the_ivr_joins_the_line_and_is_made(
        world_factory: Any) -> None:
    """The IVR's callback node (the caller hung up there, never waited): the queue's ACD
    lines the callback up from now and calls the customer back with the next free agent."""
    w = world_factory(["1001"])
    await w.center.start()
    assert w.center.request_callback("support", "ivr-call-1", "ivr-chan-1", "+14155550199", 5)
    assert not w.center.request_callback("nowhere", "ivr-call-2", "ivr-chan-2", "+1415", 0)
    await w.until(lambda: any(e.type == "queue.callback_connected" for e in w.events), 60,
                  "called back")
    kinds = [e.type for e in w.events if e.type.startswith("queue.callback")]
    assert kinds[0] == "queue.callback_requested" and "queue.callback_started" in kinds
    requested = next(e for e in w.events if e.type == "queue.callback_requested")
    assert (requested.queue, requested.number, requested.waited_s) == (  # type: ignore[attr-defined]
        "support", "+14155550199", 0.0)
    await w.until(lambda: w.center.board["1001"].state is AgentState.ON_CALL, 30, "agent talks")


async def test_a_line_ringing_past_the_minimum_is_hung_up_when_the_pacer_asks(
        world_factory: Any) -> None:
    """The pacer asks at every decision; the loop hangs the line up only once it rang 15 s,
    it ends ``cancelled`` (no person, no drop for the law) and the channel is gone."""
    pacer = HangUpEveryLine()
    w = world_factory(["1001"], dial_once=pacer, hang_up_after_s=15.0, campaign_ring_s=40.0)
    w.sim.behaviour = Behaviour(human=0.0, machine=0.0, busy=0.0)  # it would ring 40 s
    await w.start()
    campaign = w.campaign
    assert campaign is not None
    await w.until(lambda: LineOutcome.CANCELLED in pacer.outcomes, 60, "hung up")
    assert pacer.outcomes == [LineOutcome.DIALED, LineOutcome.CANCELLED]
    [(outcome, age)] = pacer.lines
    assert outcome is LineOutcome.CANCELLED and 15.0 <= age < 18.0
    # asked at every decision (every 0.5 s) from the dial on, obeyed only after 15 s
    assert sum(1 for _, ringing in pacer.asked if ringing) >= 25
    assert campaign.cancelled == 1 and campaign.humans == 0 and campaign.dropped == 0
    hangups = [e for e in w.events if isinstance(e, ev.ChannelHungUp)]
    assert hangups and not w.model.channels
    assert [e.outcome for e in w.events if isinstance(e, ev.CampaignChanged)] == [
        "dialed", "cancelled"]


async def test_a_line_answered_as_it_is_hung_up_is_a_person_abandoned(
        world_factory: Any) -> None:
    """The callee picks up while the hang-up is on its way: that is a person the campaign
    hung up on, and the law's count says so (never a quiet no-answer)."""
    pacer = HangUpEveryLine()
    w = world_factory(["1001"], dial_once=pacer, hang_up_after_s=15.0, campaign_ring_s=40.0)
    w.sim.behaviour = Behaviour(human=1.0, machine=0.0, busy=0.0,
                                answer_after=Delay.fixed(16.0), amd_human_after=Delay.fixed(3.0))
    inner_hangup = w.sim.hangup

    async def slow_hangup(channel_id: str, cause: int = 16) -> None:
        # the answer overtakes the hang-up on the wire
        await w.until(lambda: w.model.channels[channel_id].answered_at is not None, 30,
                      "the answer")
        await inner_hangup(channel_id, cause)

    w.pbx.hangup = slow_hangup  # type: ignore[method-assign]
    await w.start()
    campaign = w.campaign
    assert campaign is not None
    await w.until(lambda: LineOutcome.DROPPED in pacer.outcomes, 60, "counted")
    assert pacer.outcomes == [LineOutcome.DIALED, LineOutcome.HUMAN, LineOutcome.DROPPED]
    assert campaign.humans == 1 and campaign.dropped == 1 and campaign.cancelled == 0
    assert [e.outcome for e in w.events if isinstance(e, ev.CampaignChanged)] == [
        "dialed", "cancel_answered"]


async def test_an_answered_line_is_never_hung_up_by_the_pacer(world_factory: Any) -> None:
    pacer = HangUpEveryLine()
    w = world_factory(["1001"], dial_once=pacer, hang_up_after_s=15.0, campaign_ring_s=40.0,
                      answer_after=0.5)
    w.sim.behaviour = Behaviour(human=1.0, machine=0.0, busy=0.0,
                                answer_after=Delay.fixed(14.0), amd_human_after=Delay.fixed(3.0),
                                talk=Delay.fixed(5.0))
    await w.start()
    await w.until(lambda: LineOutcome.CONNECTED in pacer.outcomes, 60, "connected")
    assert LineOutcome.CANCELLED not in pacer.outcomes
    assert w.campaign is not None and w.campaign.cancelled == 0
