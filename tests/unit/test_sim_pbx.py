"""SimulatedPbx: the simulated switch feeds the real CallModel the way Asterisk would."""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass, field
from typing import Any

import pytest

from callcenter import events as ev
from callcenter.core.clock import RealtimeClock
from callcenter.core.errors import ActionFailed, PbxError, UnknownChannel
from callcenter.core.pbx import OriginateReason, OriginateRequest, Pbx, SpyMode
from callcenter.cti.model import CallModel, ChannelState
from callcenter.events import EventBus
from callcenter.screenpop.detect import AgentRinging, RingDetector
from callcenter.sim.clock import VirtualClock
from callcenter.sim.pbx import Behaviour, CustomerOutcome, Delay, SimulatedPbx

pytestmark = pytest.mark.unit

T0 = 1_700_000_000.0

#: a world without chance: every customer is a person, every delay fixed
HUMANS = Behaviour(human=1.0, machine=0.0, busy=0.0, answer_after=Delay.fixed(3.0),
                   amd_human_after=Delay.fixed(1.0), amd_false_machine=0.0,
                   talk=Delay.fixed(30.0), abandon_message=Delay.fixed(3.0))
MACHINES = Behaviour(human=0.0, machine=1.0, busy=0.0, answer_after=Delay.fixed(3.0),
                     amd_machine_after=Delay.fixed(2.0), amd_false_human=0.0)


@dataclass
class World:
    clock: VirtualClock
    model: CallModel
    pbx: SimulatedPbx
    events: list[ev.DomainEvent] = field(default_factory=list)
    ami: list[dict[str, str]] = field(default_factory=list)

    def run(self, seconds: float) -> None:
        self.clock.run(until=self.clock.now() + seconds)

    def at(self, seconds: float) -> None:
        self.clock.run(until=T0 + seconds)

    def of(self, kind: type[ev.DomainEvent]) -> list[Any]:
        return [e for e in self.events if isinstance(e, kind)]

    def variables(self, name: str) -> list[ev.ChannelVariableSet]:
        return [e for e in self.of(ev.ChannelVariableSet) if e.name == name]


def make_world(behaviour: Behaviour | None = None, seed: int = 1) -> World:
    clock = VirtualClock(start=T0)
    bus = EventBus()
    model = CallModel(emit=bus.publish)
    world = World(clock, model, SimulatedPbx(clock, model, random.Random(seed), behaviour))
    bus.add_handler(world.events.append)
    world.pbx.taps.append(world.ami.append)
    return world


def agent_leg(endpoint: str = "PJSIP/1001", **kw: Any) -> OriginateRequest:
    return OriginateRequest(endpoint=endpoint, context="agent-connect", exten="s", **kw)


def customer(number: str = "5551234", **kw: Any) -> OriginateRequest:
    return OriginateRequest(endpoint=f"Local/{number}@outbound", context="outbound-amd",
                            exten="s", caller_id="8005550000", **kw)


async def test_is_a_pbx_and_every_event_has_the_common_headers() -> None:
    w = make_world(HUMANS)
    assert isinstance(w.pbx, Pbx) and w.pbx.name == "simulated"
    w.pbx.register_endpoint("PJSIP/1001", answer_after_s=1.0)
    await w.pbx.originate(customer())
    w.run(60)
    assert w.ami
    for headers in w.ami:
        assert headers["Event"] and float(headers["Timestamp"]) >= T0
        if headers["Event"] == "ContactStatus":  # a phone, not a channel
            assert {"URI", "ContactStatus", "AOR", "EndpointName"} <= headers.keys()
        elif not headers["Event"].startswith("Bridge") or "Uniqueid" in headers:
            assert {"Uniqueid", "Linkedid", "Channel"} <= headers.keys()


async def test_agent_endpoint_answers_and_the_model_shows_it_up() -> None:
    w = make_world()
    w.pbx.register_endpoint("PJSIP/1001", answer_after_s=2.0)
    handle = await w.pbx.originate(agent_leg(caller_id="5551234", channel_id="agent-1"))
    assert handle.channel_id == "agent-1" and not handle.outcome.done()
    channel = w.model.channels["agent-1"]
    assert channel.state is ChannelState.RINGING and channel.name.startswith("PJSIP/1001-")
    w.run(1.9)
    assert not handle.outcome.done()
    w.run(0.1)
    outcome = await handle.outcome
    assert outcome.reason is OriginateReason.ANSWERED and outcome.channel_id == "agent-1"
    assert channel.state is ChannelState.UP and channel.context == "agent-connect"
    assert "CC_AGENT_ANSWERED" in channel.variables
    assert w.model.get_call("agent-1").answered_at == T0 + 2.0


async def test_local_agent_leg_makes_three_channels_in_one_call() -> None:
    w = make_world()
    w.pbx.register_endpoint("1001", answer_after_s=1.0)
    handle = await w.pbx.originate(agent_leg("Local/1001@agents-local"))
    w.run(1)
    assert (await handle.outcome).answered
    call = w.model.get_call(handle.channel_id)
    names = [leg.name for leg in call.legs.values()]
    assert names[0].endswith(";1") and names[1].endswith(";2") and names[2].startswith(
        "PJSIP/1001-")
    assert all(leg.state is ChannelState.UP for leg in call.legs.values())
    assert call.variables()["CC_AGENT"] == "1001"
    await w.pbx.hangup(handle.channel_id)
    assert w.model.get_call(handle.channel_id).ended_at == T0 + 1
    assert not w.model.channels and not w.model.bridges


async def test_unregistered_or_unknown_endpoints_fail() -> None:
    w = make_world()
    direct = await w.pbx.originate(agent_leg("PJSIP/1009"))
    assert (await direct.outcome).reason is OriginateReason.CONGESTION
    assert not w.model.channels  # Asterisk could not even create the channel
    local = await w.pbx.originate(agent_leg("Local/1009@agents-local"))
    assert (await local.outcome).reason is OriginateReason.CONGESTION
    ended = w.model.get_call(local.channel_id)
    assert ended.ended_at is not None and ended.hangup_cause == 20
    for endpoint in ("SIP/1001", "Local/1001@nowhere", "PJSIP/555@elsewhere"):
        handle = await w.pbx.originate(agent_leg(endpoint))
        assert (await handle.outcome).reason is OriginateReason.FAILED
    w.pbx.register_endpoint("PJSIP/1009", answer_after_s=0.5)
    w.pbx.unregister_endpoint("PJSIP/1009")
    again = await w.pbx.originate(agent_leg("PJSIP/1009"))
    assert (await again.outcome).reason is OriginateReason.CONGESTION


async def test_no_answer_after_the_timeout() -> None:
    w = make_world()
    w.pbx.register_endpoint("PJSIP/1002", answers=False)
    handle = await w.pbx.originate(agent_leg("PJSIP/1002", timeout_s=5.0))
    w.run(4.9)
    assert not handle.outcome.done()
    w.run(0.1)
    assert (await handle.outcome).reason is OriginateReason.NO_ANSWER
    call = w.model.get_call(handle.channel_id)
    assert call.ended_at == T0 + 5.0 and call.hangup_cause == 19 and call.answered_at is None


async def test_busy_customer() -> None:
    w = make_world(Behaviour(human=0, machine=0, busy=1.0, busy_after=Delay.fixed(2.0)))
    handle = await w.pbx.originate(customer())
    w.run(2)
    assert (await handle.outcome).reason is OriginateReason.BUSY
    call = w.model.get_call(handle.channel_id)
    assert call.hangup_cause == 17 and call.ended_at == T0 + 2 and len(call.legs) == 3


async def test_outbound_human_is_abandoned_when_nobody_bridges_within_2_s() -> None:
    w = make_world(HUMANS)
    handle = await w.pbx.originate(customer())
    w.at(3)
    assert (await handle.outcome).answered
    w.at(10)
    [amd] = w.variables("CC_AMD_STATUS")
    assert (amd.value, amd.at, amd.channel_id) == ("HUMAN", T0 + 4, handle.channel_id)
    [abandoned] = w.variables("CC_ABANDONED")
    assert (abandoned.value, abandoned.at) == ("1", T0 + 6)  # 2 s after the verdict
    [ended] = w.of(ev.CallEnded)
    assert ended.call_id == handle.channel_id and ended.hangup_cause == 16
    assert ended.at == T0 + 9 and ended.answered  # after the 3 s message
    assert [h["Channel"].split("-")[0] for h in w.ami if h["Event"] == "Hangup"] == [
        "Local/5551234@outbound", "Local/5551234@outbound", "PJSIP/trunk"]


async def test_connect_timeout_variable_is_honoured() -> None:
    w = make_world(HUMANS)
    await w.pbx.originate(customer(variables={"CC_CONNECT_TIMEOUT": "5"}))
    w.at(20)
    [abandoned] = w.variables("CC_ABANDONED")
    assert abandoned.at == T0 + 4 + 5


async def test_outbound_human_bridged_to_an_agent_talks_then_both_legs_end() -> None:
    w = make_world(HUMANS)
    w.pbx.register_endpoint("PJSIP/1001", answer_after_s=1.0)
    cust = await w.pbx.originate(customer())
    w.at(4)  # answered at 3, AMD says HUMAN at 4: now waiting in outbound-connect
    assert w.model.channels[cust.channel_id].context == "outbound-connect"
    agent = await w.pbx.originate(agent_leg(
        caller_id="5551234", variables={"CC_BRIDGE_TO": cust.channel_id}))
    w.at(5)
    assert (await agent.outcome).answered
    bridge_id = w.model.channels[cust.channel_id].bridge_id
    assert bridge_id is not None
    assert w.model.bridges[bridge_id].channels == {cust.channel_id, agent.channel_id}
    w.at(34.9)
    assert agent.channel_id in w.model.channels
    w.at(35)  # 30 s of talk: the customer hangs up, the agent leg goes too
    assert not w.model.channels and not w.model.bridges
    ended = {e.call_id: e for e in w.of(ev.CallEnded)}
    assert ended.keys() == {cust.channel_id, agent.channel_id}
    assert all(e.at == T0 + 35 and e.hangup_cause == 16 for e in ended.values())
    assert not w.variables("CC_ABANDONED")
    hangups = [h for h in w.ami if h["Event"] == "Hangup"]
    assert hangups[0]["Channel"].startswith("PJSIP/trunk-")  # the customer hung up first
    assert hangups[-1]["Uniqueid"] == agent.channel_id


async def test_machine_is_hung_up() -> None:
    w = make_world(MACHINES)
    handle = await w.pbx.originate(customer())
    w.at(60)
    assert (await handle.outcome).answered
    [amd] = w.variables("CC_AMD_STATUS")
    assert (amd.value, amd.at) == ("MACHINE", T0 + 5)
    call = w.model.get_call(handle.channel_id)
    assert call.ended_at == T0 + 5 and call.hangup_cause == 16
    assert call.legs[handle.channel_id].context == "outbound-machine"
    assert not w.variables("CC_ABANDONED")


async def test_amd_can_be_skipped() -> None:
    w = make_world(HUMANS)
    handle = await w.pbx.originate(customer(variables={"CC_AMD": "no"}))
    w.at(3)
    assert w.model.channels[handle.channel_id].context == "outbound-connect"
    assert not w.variables("CC_AMD_STATUS")


async def test_inbound_caller_abandons_after_its_patience() -> None:
    w = make_world()
    cid = w.pbx.inject_inbound_call("+8613800138000", "4000", patience_s=20.0,
                                    variables={"CC_QUEUE": "sales", "CC_CUSTOMER_CODE": "C-7"})
    channel = w.model.channels[cid]
    assert channel.name.startswith("PJSIP/trunk-") and channel.state is ChannelState.UP
    assert channel.context == "holding" and channel.caller_num == "+8613800138000"
    assert channel.variables == {"CC_DIRECTION": "inbound", "CC_DNIS": "4000",
                                 "CC_QUEUE": "sales", "CC_CUSTOMER_CODE": "C-7",
                                 "CC_HOLD_START": f"{T0:.3f}"}
    [started] = w.of(ev.CallStarted)
    assert (started.call_id, started.context, started.exten) == (cid, "inbound", "4000")
    w.run(19.9)
    assert cid in w.model.channels
    w.run(0.1)
    [ended] = w.of(ev.CallEnded)
    assert (ended.call_id, ended.hangup_cause, ended.at) == (cid, 16, T0 + 20)


async def test_inbound_caller_bridged_by_the_server_stops_waiting_and_talks() -> None:
    w = make_world(HUMANS)
    w.pbx.register_endpoint("PJSIP/1001", answer_after_s=1.0)
    cid = w.pbx.inject_inbound_call("5551234", "4000", patience_s=5.0)
    agent = await w.pbx.originate(agent_leg(caller_id="5551234"))
    w.run(1)
    await w.pbx.bridge(cid, agent.channel_id)
    w.run(10)  # past the patience: bridged callers do not abandon
    assert cid in w.model.channels and w.model.channels[cid].bridge_id is not None
    w.run(21)
    assert not w.model.channels
    assert {e.call_id for e in w.of(ev.CallEnded)} == {cid, agent.channel_id}


async def test_redirect_leaves_the_bridge_and_rearms_patience() -> None:
    w = make_world(HUMANS)
    w.pbx.register_endpoint("PJSIP/1001", answer_after_s=1.0)
    cid = w.pbx.inject_inbound_call("5551234", "4000", patience_s=5.0)
    agent = await w.pbx.originate(agent_leg())
    w.run(1)
    await w.pbx.bridge(cid, agent.channel_id)
    await w.pbx.redirect(cid, "holding", "s")
    assert w.model.channels[cid].bridge_id is None
    assert w.model.channels[cid].context == "holding"
    assert [e.channel_id for e in w.of(ev.ChannelUnbridged)] == [cid]
    w.run(5)
    assert cid not in w.model.channels  # waited again and gave up
    assert agent.channel_id in w.model.channels  # alone in its bridge, as in Asterisk


async def test_bridge_and_control_of_unknown_or_unready_channels_fail() -> None:
    w = make_world()
    w.pbx.register_endpoint("PJSIP/1001", answers=False)
    cid = w.pbx.inject_inbound_call("5551234", "4000")
    ringing = await w.pbx.originate(agent_leg())
    with pytest.raises(UnknownChannel):
        await w.pbx.bridge(cid, "nope")
    with pytest.raises(ActionFailed) as info:
        await w.pbx.bridge(cid, ringing.channel_id)
    assert isinstance(info.value, PbxError) and not isinstance(info.value, UnknownChannel)
    with pytest.raises(ActionFailed):
        await w.pbx.bridge(cid, cid)
    for call in (w.pbx.hangup("nope"), w.pbx.redirect("nope", "holding", "s"),
                 w.pbx.set_variable("nope", "CC_X", "1"), w.pbx.get_variable("nope", "CC_X"),
                 w.pbx.spy("PJSIP/1001", "nope")):
        with pytest.raises(UnknownChannel):
            await call
    await w.pbx.hangup(cid)
    with pytest.raises(UnknownChannel):
        await w.pbx.hangup(cid)


async def test_variables_are_set_and_read_back() -> None:
    w = make_world()
    cid = w.pbx.inject_inbound_call("5551234", "4000")
    await w.pbx.set_variable(cid, "CC_NEXT", "holding,s,1")
    assert await w.pbx.get_variable(cid, "CC_NEXT") == "holding,s,1"
    assert await w.pbx.get_variable(cid, "CC_MISSING") is None
    assert w.model.channels[cid].variables["CC_NEXT"] == "holding,s,1"
    assert w.variables("CC_NEXT")[0].channel_id == cid


async def test_spy_stays_up_until_the_target_hangs_up() -> None:
    w = make_world()
    w.pbx.register_endpoint("PJSIP/2001", answer_after_s=1.0)
    cid = w.pbx.inject_inbound_call("5551234", "4000")
    spy = await w.pbx.spy("PJSIP/2001", cid, SpyMode.WHISPER)
    w.run(1)
    assert (await spy.outcome).answered
    assert w.model.channels[spy.channel_id].variables["CC_SPY_MODE"] == "whisper"
    w.run(100)
    assert spy.channel_id in w.model.channels
    await w.pbx.hangup(cid)
    assert spy.channel_id not in w.model.channels


@pytest.mark.parametrize("endpoint", ["PJSIP/1001", "Local/1001@agents-local"])
async def test_a_ringing_agent_pops_the_callers_screen(endpoint: str) -> None:
    w = make_world()
    detector = RingDetector(w.model)
    w.pbx.register_endpoint("PJSIP/1001", answer_after_s=2.0)
    handle = await w.pbx.originate(agent_leg(endpoint, caller_id='"Alice" <5551234>'))
    pops = [p for e in w.events if isinstance(p := detector.on_event(e), AgentRinging)]
    assert len(pops) == 1
    pop = pops[0]
    assert (pop.agent_id, pop.call_id, pop.caller_number) == ("1001", handle.channel_id,
                                                              "5551234")
    assert w.model.channels[pop.channel_id].name.startswith("PJSIP/1001-")


async def test_bridge_application_and_dialled_customer_on_the_trunk() -> None:
    w = make_world(HUMANS)
    w.pbx.register_endpoint("PJSIP/1001", answer_after_s=4.0)
    cust = await w.pbx.originate(OriginateRequest(
        endpoint="PJSIP/5551234@trunk", context="outbound-amd", exten="s"))
    w.at(3)
    assert w.model.channels[cust.channel_id].name.startswith("PJSIP/trunk-")
    name = w.model.channels[cust.channel_id].name
    agent = await w.pbx.originate(OriginateRequest(
        endpoint="PJSIP/1001", application="Bridge", data=name))
    w.at(7)
    assert (await agent.outcome).answered
    assert w.model.channels[agent.channel_id].bridge_id == w.model.channels[
        cust.channel_id].bridge_id is not None


def scenario(seed: int) -> list[dict[str, Any]]:
    async def play() -> list[dict[str, Any]]:
        w = make_world(Behaviour(), seed=seed)
        for agent in ("1001", "1002", "1003"):
            w.pbx.register_endpoint(f"PJSIP/{agent}")
        handles = [await w.pbx.originate(customer(f"55500{i:02d}")) for i in range(12)]
        callers = [w.pbx.inject_inbound_call(f"5559{i}", "4000", patience_s=30.0)
                   for i in range(3)]
        w.run(8)
        agents = iter(["1001", "1002", "1003"])
        for cid in callers[:2]:
            await w.pbx.originate(agent_leg(f"Local/{next(agents)}@agents-local",
                                            variables={"CC_BRIDGE_TO": cid}))
        w.run(2000)
        assert all(h.outcome.done() for h in handles)
        return [e.to_dict() for e in w.events]

    return asyncio.run(play())


def test_same_seed_same_events() -> None:
    first = scenario(42)
    assert first == scenario(42)
    assert len(first) > 200
    kinds = {e["type"] for e in first}
    assert {"call.started", "call.answered", "channel.bridged", "call.ended",
            "channel.variable", "channel.state"} <= kinds
    outcomes = {e["value"] for e in first if e.get("name") == "CC_AMD_STATUS"}
    assert outcomes  # the default behaviour reached AMD at least once


def test_behaviour_draws_and_validation() -> None:
    rng = random.Random(3)
    draws = [Behaviour().dial_customer("1", rng).outcome for _ in range(2000)]
    share = draws.count(CustomerOutcome.HUMAN) / len(draws)
    assert 0.5 < share < 0.6 and CustomerOutcome.NO_ANSWER in draws
    assert Delay.fixed(2).sample(rng) == 2.0
    assert 1.0 <= Delay.uniform(1, 2).sample(rng) <= 2.0
    assert Delay.exponential(10, minimum=5).sample(rng) >= 5
    with pytest.raises(ValueError):
        Behaviour(human=0.8, machine=0.5)
    with pytest.raises(ValueError):
        Delay.uniform(3, 1)


async def test_runs_on_the_realtime_clock() -> None:
    bus = EventBus()
    model = CallModel(emit=bus.publish)
    clock = RealtimeClock()
    fast = Behaviour(human=1.0, machine=0.0, busy=0.0, answer_after=Delay.fixed(0.05),
                     amd_human_after=Delay.fixed(0.05), amd_false_machine=0.0,
                     abandon_message=Delay.fixed(0.05))
    pbx = SimulatedPbx(clock, model, random.Random(1), fast)
    ended: asyncio.Future[ev.CallEnded] = asyncio.get_running_loop().create_future()
    bus.add_handler(lambda e: isinstance(e, ev.CallEnded) and not ended.done()
                    and ended.set_result(e))
    handle = await pbx.originate(customer(variables={"CC_CONNECT_TIMEOUT": "0.1"}))
    assert (await asyncio.wait_for(handle.outcome, 2)).answered
    event = await asyncio.wait_for(ended, 2)
    assert event.call_id == handle.channel_id and event.hangup_cause == 16
    assert model.get_call(handle.channel_id).variables()["CC_ABANDONED"] == "1"


@pytest.mark.parametrize("endpoint", ["PJSIP/1001", "Local/1001@agents-local"])
async def test_an_agent_leg_originated_for_a_caller_is_a_leg_of_the_callers_call(
        endpoint: str) -> None:
    """One call for the caller's and the agent's legs (issue 10), as on Asterisk: one
    call.started / call.ended, every agent-side channel in the caller's call."""
    w = make_world(HUMANS)
    w.pbx.register_endpoint("1001" if endpoint.startswith("Local") else endpoint,
                            answer_after_s=1.0)
    cid = w.pbx.inject_inbound_call("5551234", "4000", patience_s=60.0)
    call_id = w.model.channels[cid].call_id
    agent = await w.pbx.originate(agent_leg(endpoint, caller_id="5551234", call_id=call_id))
    w.run(1)
    assert (await agent.outcome).answered
    await w.pbx.bridge(cid, agent.channel_id)
    call = w.model.get_call(call_id)
    assert call is not None and list(call.legs)[:2] == [cid, agent.channel_id]
    assert len(call.legs) == (4 if endpoint.startswith("Local") else 2)
    assert call.variables()["CC_CALL_ID"] == call_id
    assert [e.call_id for e in w.of(ev.CallStarted)] == [call_id]
    w.run(40)
    assert not w.model.channels
    assert [e.call_id for e in w.of(ev.CallEnded)] == [call_id]


async def test_an_agent_leg_for_a_caller_who_already_left_is_a_call_of_its_own() -> None:
    w = make_world(HUMANS)
    w.pbx.register_endpoint("PJSIP/1001", answer_after_s=1.0)
    cid = w.pbx.inject_inbound_call("5551234", "4000", patience_s=60.0)
    call_id = w.model.channels[cid].call_id
    await w.pbx.hangup(cid)
    agent = await w.pbx.originate(agent_leg(call_id=call_id))
    assert w.model.channels[agent.channel_id].call_id == agent.channel_id
