"""The inbound ACD under a dispatch lease (several processes): a standby ignores callers and,
on acquiring the lease, adopts every caller waiting in the PBX at its place; a lost lease
drops the waiting line; a refused ring claim never rings. The lease is scripted here (the Redis
one is tested against a real Redis in tests/integration/test_redis_lease.py)."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from callcenter import events as ev
from callcenter.acd.agents import AgentState
from callcenter.acd.lease import ClaimAnswer, HeldLease, LeaseListener, QueueLease, RingClaim
from callcenter.config import AcdSettings
from callcenter.contact_center import ContactCenter, build_contact_center
from callcenter.core.clock import RealtimeClock
from callcenter.core.pbx import OriginateRequest
from callcenter.cti.model import CallModel
from callcenter.events import EventBus
from callcenter.sim.pbx import Behaviour, Delay, SimulatedPbx

pytestmark = pytest.mark.unit

SPEED = 50.0


@dataclass
class ScriptedLease:
    """A lease the test holds or drops, whose ring claims answer from a script."""

    queue: str
    is_held: bool = False
    token: int = 0
    listeners: list[LeaseListener] = field(default_factory=list)
    #: answers to the next claims (then GRANTED)
    answers: list[ClaimAnswer] = field(default_factory=list)
    claims: list[tuple[str, str]] = field(default_factory=list)
    ended: list[tuple[str, str, bool]] = field(default_factory=list)
    gone: list[str] = field(default_factory=list)

    @property
    def held(self) -> bool:
        return self.is_held

    def subscribe(self, listener: LeaseListener) -> None:
        self.listeners.append(listener)

    def unsubscribe(self, listener: LeaseListener) -> None:
        if listener in self.listeners:  # closing twice is harmless
            self.listeners.remove(listener)

    def set(self, held: bool) -> None:
        self.is_held = held
        self.token += held
        for listener in self.listeners:
            listener(held)

    async def claim_ring(self, caller_id: str, agent_id: str,
                         ring_timeout_s: float) -> ClaimAnswer:
        self.claims.append((caller_id, agent_id))
        return self.answers.pop(0) if self.answers else ClaimAnswer(RingClaim.GRANTED)

    async def ring_ended(self, caller_id: str, agent_id: str, *, connected: bool) -> None:
        self.ended.append((caller_id, agent_id, connected))

    async def caller_gone(self, caller_id: str) -> None:
        self.gone.append(caller_id)


@dataclass
class ScriptedLeases:
    made: dict[str, ScriptedLease] = field(default_factory=dict)

    def lease(self, queue: str) -> QueueLease:
        return self.made.setdefault(queue, ScriptedLease(queue))


class World:
    def __init__(self, agents: list[str], *, answer_after: float = 1.0,
                 follow_other_legs: bool = False) -> None:
        self.clock = RealtimeClock(speed=SPEED)
        self.bus = EventBus()
        self.events: list[ev.DomainEvent] = []
        self.bus.add_handler(self.events.append)
        self.model = CallModel(emit=self.bus.publish)
        behaviour = Behaviour(human=1.0, machine=0.0, busy=0.0, answer_after=Delay.fixed(2.0),
                              amd_human_after=Delay.fixed(1.0), amd_false_machine=0.0,
                              talk=Delay.fixed(30.0), agent_answer_after=Delay.fixed(answer_after))
        self.sim = SimulatedPbx(self.clock, self.model, random.Random(3), behaviour)
        for agent in agents:
            self.sim.register_endpoint(f"PJSIP/{agent}")
        self.leases = ScriptedLeases()
        settings = AcdSettings(queues=["support"], agents=agents, wrap_up_s=2.0,
                               ring_timeout_s=10.0)
        self.center: ContactCenter = build_contact_center(
            self.sim, self.bus, self.clock, settings, leases=self.leases,
            follow_other_legs=follow_other_legs)
        self.lease = self.leases.made["support"]
        self.acd = self.center.queues["support"]

    def caller(self, number: str, priority: int = 0) -> str:
        return self.sim.inject_inbound_call(
            number, "8005550100",
            variables={"CC_QUEUE": "support", "CC_PRIORITY": str(priority)})

    def offered(self) -> list[tuple[str, str]]:
        return [(e.channel_id, e.agent_id) for e in self.events
                if isinstance(e, ev.CallOffered)]

    async def until(self, predicate: Callable[[], bool], simulated_s: float = 60.0,
                    what: str = "") -> None:
        for _ in range(int(simulated_s / SPEED / 0.005) + 1):
            if predicate():
                return
            await asyncio.sleep(0.005)
        raise AssertionError(f"timed out: {what or predicate}")


@pytest.fixture
async def world() -> Any:
    made: list[World] = []

    def make(*args: Any, **kwargs: Any) -> World:
        made.append(World(*args, **kwargs))
        return made[-1]

    yield make
    for w in made:
        await w.center.close()


async def test_a_standby_offers_nothing_then_adopts_every_waiting_caller_at_its_place(
        world: Any) -> None:
    w = world(["1001"])
    await w.center.start()
    first = w.caller("+14155550101")
    await asyncio.sleep(0.05)  # 2.5 simulated seconds: the VIP arrives later, but is a VIP
    vip = w.caller("+14155550102", priority=5)
    third = w.caller("+14155550103")
    await asyncio.sleep(0.05)
    assert w.offered() == [] and w.acd.waiting == 0
    assert w.center.board["1001"].state is AgentState.READY
    w.lease.set(True)
    # the one agent takes the VIP; the others wait in line in their order
    assert w.offered() == [(vip, "1001")]
    assert list(w.acd.dispatcher.waiting) == [first, third]
    await w.until(lambda: w.center.board["1001"].state is AgentState.ON_CALL, what="on call")
    await w.until(lambda: w.lease.ended != [], what="ring over")
    assert w.lease.claims == [(vip, "1001")]
    assert w.lease.ended == [(vip, "1001", True)]


async def test_a_lost_lease_drops_the_line_and_a_new_holding_adopts_it_again(
        world: Any) -> None:
    w = world(["1001"])
    w.lease.set(True)
    callers = [w.caller(f"+1415555011{n}") for n in range(2)]
    assert list(w.acd.dispatcher.waiting) == callers  # no agent logged in yet
    w.lease.set(False)
    assert w.acd.waiting == 0
    await w.center.start()  # the agent is ready; a standby rings nobody
    await asyncio.sleep(0.05)
    assert w.offered() == []
    w.lease.set(True)
    assert w.offered() == [(callers[0], "1001")]
    assert list(w.acd.dispatcher.waiting) == [callers[1]]
    queued = [e for e in w.events if isinstance(e, ev.CallQueued)]
    assert [e.channel_id for e in queued] == [*callers, *callers]


async def test_a_ring_refused_for_a_busy_agent_goes_to_another_agent(world: Any) -> None:
    w = world(["1001", "1002"])
    w.lease.set(True)
    await w.center.start()
    w.lease.answers = [ClaimAnswer(RingClaim.AGENT_BUSY)]
    caller = w.caller("+14155550120")
    await w.until(lambda: any(a.state is AgentState.ON_CALL for a in w.center.board),
                  what="connected")
    assert [c for c, _ in w.lease.claims] == [caller, caller]
    (_, busy_id), (_, other_id) = w.lease.claims
    assert busy_id != other_id
    assert w.center.board[other_id].state is AgentState.ON_CALL
    # the busy agent stays out for a second (not spun), then is ready again, never rung
    busy = w.center.board[busy_id]
    await w.until(lambda: busy.state is AgentState.READY, what="busy agent released")
    moves = [e for e in w.events if isinstance(e, ev.AgentStateChanged)
             and e.agent_id == busy_id]
    assert [f"{e.previous}>{e.state}" for e in moves] == [
        "offline>ready", "ready>reserved", "reserved>ready"]
    assert moves[2].at - moves[1].at >= 0.9
    assert not [e for e in w.events if isinstance(e, ev.ChannelCreated)
                and e.name.startswith(f"PJSIP/{busy_id}")]


async def test_a_stale_lease_rings_nobody(world: Any) -> None:
    w = world(["1001"])
    w.lease.set(True)
    await w.center.start()
    w.lease.answers = [ClaimAnswer(RingClaim.STALE)]
    w.caller("+14155550130")
    await w.until(lambda: w.lease.claims != [], what="claimed")
    await w.until(lambda: w.center.board["1001"].state is AgentState.READY, what="released")
    await asyncio.sleep(0.05)
    assert not [e for e in w.events if isinstance(e, ev.ChannelCreated)
                and e.name.startswith("PJSIP/1001")]


async def test_a_caller_taken_by_another_ring_is_offered_again_once_it_is_over(
        world: Any) -> None:
    w = world(["1001"])
    w.lease.set(True)
    await w.center.start()
    w.lease.answers = [ClaimAnswer(RingClaim.CALLER_TAKEN, retry_after_s=5.0)]
    caller = w.caller("+14155550140")
    await w.until(lambda: len(w.lease.claims) == 1, what="claimed")
    at = w.clock.now()
    await w.until(lambda: len(w.lease.claims) == 2, what="claimed again")
    assert w.clock.now() - at >= 4.5
    await w.until(lambda: w.center.board["1001"].state is AgentState.ON_CALL, what="on call")
    assert w.lease.claims == [(caller, "1001"), (caller, "1001")]


def test_one_process_alone_always_holds_its_lease() -> None:
    lease = HeldLease("support")
    assert lease.held and lease.token == 1
    assert asyncio.run(lease.claim_ring("c", "a", 20.0)).claim is RingClaim.GRANTED


async def test_an_agent_rung_by_another_process_is_busy_here_too(world: Any) -> None:
    """Another process's dispatcher rings agent 1001 (its Originate, not ours): this
    process's board follows that leg, so its own dispatcher offers the caller to 1002."""
    w = world(["1001", "1002"], answer_after=2.0, follow_other_legs=True)
    w.lease.set(True)
    await w.center.start()
    agent = w.center.board["1001"]
    handle = await w.sim.originate(OriginateRequest(
        endpoint="PJSIP/1001", context="agent-connect", exten="s", timeout_s=10.0))
    assert agent.state is AgentState.RESERVED
    caller = w.caller("+14155550150")
    assert w.offered() == [(caller, "1002")]
    assert (await handle.outcome).answered
    await w.until(lambda: agent.state is AgentState.ON_CALL, what="on call elsewhere")
    await w.sim.hangup(handle.channel_id)
    await w.until(lambda: agent.state is AgentState.READY, what="wrap-up done")
    moves = [f"{e.previous}>{e.state}" for e in w.events
             if isinstance(e, ev.AgentStateChanged) and e.agent_id == "1001"]
    assert moves == ["offline>ready", "ready>reserved", "reserved>on_call", "on_call>wrap_up",
                     "wrap_up>ready"]


async def test_without_following_other_legs_a_foreign_ring_changes_nothing(
        world: Any) -> None:
    """One process alone (the default): a call on an agent's phone the server did not
    place does not move the agent — exactly as before leases existed."""
    w = world(["1001"], follow_other_legs=False)
    w.lease.set(True)
    await w.center.start()
    await w.sim.originate(OriginateRequest(
        endpoint="PJSIP/1001", context="agent-connect", exten="s", timeout_s=10.0))
    assert w.center.board["1001"].state is AgentState.READY


@dataclass
class _Leg:
    channel_id: str
    name: str
    hungup_at: float | None = None


@dataclass
class _Pbx:
    """Just enough PBX for the connector's bridge watch: channels by id, hang-ups recorded."""

    legs: dict[str, _Leg]
    hung_up: list[str] = field(default_factory=list)

    @property
    def calls(self) -> Any:
        return self

    def channel(self, channel_id: str) -> _Leg | None:
        return self.legs.get(channel_id)

    async def hangup(self, channel_id: str) -> None:
        self.hung_up.append(channel_id)


@pytest.mark.parametrize("watch", [True, False])
async def test_a_pair_another_process_bridged_is_ended_here_when_one_side_leaves(
        watch: bool) -> None:
    """The process that bridged a caller with agent 1001 died: when the caller hangs up, this
    one hangs the agent's leg up (with ``end_other_pairs``; alone, the owner does)."""
    from callcenter.acd.connect import AgentConnector
    from callcenter.acd.identity import AgentEndpoints

    bus = EventBus()
    pbx = _Pbx({"caller": _Leg("caller", "Local/5550101@inbound-0001;2"),
                "leg": _Leg("leg", "PJSIP/1001-00000007")})
    connector = AgentConnector(pbx, bus, None, AgentEndpoints(  # type: ignore[arg-type]
        "PJSIP/{agent}", is_agent=lambda agent: agent == "1001"), end_other_pairs=watch)
    for channel in ("caller", "leg"):
        bus.publish(ev.ChannelBridged(at=1.0, call_id="c", channel_id=channel, bridge_id="b"))
    bus.publish(ev.ChannelUnbridged(at=2.0, call_id="c", channel_id="caller", bridge_id="b"))
    del pbx.legs["caller"]
    bus.publish(ev.ChannelHungUp(at=2.0, call_id="c", channel_id="caller",
                                 name="Local/5550101@inbound-0001;2", cause=16,
                                 cause_text="Normal Clearing"))
    for _ in range(3):
        await asyncio.sleep(0)  # the hang-up runs as a task
    await connector.close()
    assert pbx.hung_up == (["leg"] if watch else [])


async def test_a_closed_queue_no_longer_hears_its_lease(world: Any) -> None:
    """A queue redefined at run time closes its old ACD: only the new one adopts callers."""
    w = world(["1001"])
    assert len(w.lease.listeners) == 1
    await w.acd.close()
    assert w.lease.listeners == []
