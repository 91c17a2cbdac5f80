"""Queue behaviour (issue 10): the pure policy (overflow, max wait, announcements, expected
wait), minimum skill levels, and the inbound ACD acting on them over the simulated PBX in fast
real time: overflow keeps the caller's place and rings it once, max wait hands it over or sends
it to ``[queue-timeout]``, transfers keep priority and arrival, each step a queue-log row."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from callcenter import events as ev
from callcenter.acd.agents import AgentBoard, AgentState
from callcenter.acd.callbacks import RETRY_AFTER_S, Callback, MemoryCallbacks, retry_after_s
from callcenter.acd.calls import WaitingCall
from callcenter.acd.definitions import AcdDefinitions, AgentDefinition, QueueDefinition
from callcenter.acd.dispatcher import Dispatcher
from callcenter.acd.queue_policy import Due, Step, Timeline, expected_wait_s, next_due
from callcenter.acd.routing import make_routing
from callcenter.config import AcdSettings, Settings
from callcenter.contact_center import ContactCenter, build_contact_center
from callcenter.core.clock import RealtimeClock
from callcenter.cti.model import CallModel
from callcenter.metrics import Metrics
from callcenter.sim.pbx import Behaviour, Delay, SimulatedPbx
from callcenter.web import create_app
from crm_bridge.queue_log import entries_of
from tests.accounts import sign_in

pytestmark = pytest.mark.unit

SPEED = 50.0


# --- the pure policy -------------------------------------------------------------------------

def test_nothing_is_due_for_a_plain_queue() -> None:
    assert next_due(QueueDefinition("q"), Timeline(joined=100.0)) is None


def test_steps_come_in_time_order_and_each_once() -> None:
    queue = QueueDefinition("q", overflow_queue="o", overflow_after_s=30, max_wait_s=120,
                            announce_every_s=45)
    timeline = Timeline(joined=1000.0)
    assert next_due(queue, timeline) == Due(1030.0, Step.OVERFLOW)
    timeline.overflowed = True
    assert next_due(queue, timeline) == Due(1045.0, Step.ANNOUNCE)
    timeline.announced_at = 1045.0
    assert next_due(queue, timeline) == Due(1090.0, Step.ANNOUNCE)
    timeline.announced_at = 1090.0
    assert next_due(queue, timeline) == Due(1120.0, Step.MAX_WAIT)


def test_max_wait_wins_a_tie_with_overflow() -> None:
    queue = QueueDefinition("q", overflow_queue="o", overflow_after_s=60, max_wait_s=60)
    assert next_due(queue, Timeline(joined=0.0)) == Due(60.0, Step.MAX_WAIT)


def test_expected_wait_is_the_position_times_the_answer_gap() -> None:
    assert expected_wait_s(1, []) is None
    assert expected_wait_s(3, [100.0]) is None
    assert expected_wait_s(3, [100.0, 110.0, 130.0]) == pytest.approx(45.0)
    with pytest.raises(ValueError, match="position"):
        expected_wait_s(0, [1.0, 2.0])


# --- minimum skill levels --------------------------------------------------------------------

def test_an_agent_below_the_queues_level_is_not_offered_the_call() -> None:
    board = AgentBoard()
    novice = board.add("novice", now=0.0, skill_levels={"billing": 2})
    assigned: list[str] = []
    dispatcher = Dispatcher(board, make_routing("skills-level", random.Random(1)),
                            lambda call, agent, now, decision: assigned.append(agent.agent_id))
    board.log_in(novice, 0.0)
    call = WaitingCall("c1", 0.0, skills=frozenset({"billing"}), min_levels=(("billing", 5),))
    assert dispatcher.offer(call, 1.0) is None  # the novice is ready but below level 5
    expert = board.add("expert", now=0.0, skill_levels={"billing": 7})
    board.log_in(expert, 2.0)  # becomes ready: takes the waiting call
    assert assigned == ["expert"]
    assert novice.state is AgentState.READY


# --- the inbound ACD on the simulated PBX ----------------------------------------------------

class World:
    def __init__(self, queues: list[QueueDefinition], agents: dict[str, dict[str, int]],
                 *, agent_answers: bool = True) -> None:
        self.clock = RealtimeClock(speed=SPEED)
        self.bus = ev.EventBus()
        self.events: list[ev.DomainEvent] = []
        self.bus.add_handler(self.events.append)
        self.model = CallModel(emit=self.bus.publish)
        behaviour = Behaviour(human=1.0, machine=0.0, busy=0.0, answer_after=Delay.fixed(2.0),
                              amd_human_after=Delay.fixed(1.0), amd_false_machine=0.0,
                              talk=Delay.fixed(30.0),
                              agent_answer_after=Delay.fixed(1.0 if agent_answers else 999.0))
        self.sim = SimulatedPbx(self.clock, self.model, random.Random(3), behaviour)
        for agent in agents:
            self.sim.register_endpoint(f"PJSIP/{agent}")
        definitions = AcdDefinitions(
            queues=tuple(queues),
            agents=tuple(AgentDefinition(agent, skills=skills) for agent, skills in
                         agents.items()))
        self.center: ContactCenter = build_contact_center(
            self.sim, self.bus, self.clock,
            AcdSettings(wrap_up_s=2.0, ring_timeout_s=10.0), definitions=definitions)

    def caller(self, number: str, queue: str, priority: int = 0) -> str:
        return self.sim.inject_inbound_call(number, "8005550100", patience_s=600.0,
                                            variables={"CC_QUEUE": queue,
                                                       "CC_PRIORITY": str(priority)})

    def log_in(self, *agents: str) -> None:
        for agent in agents:
            self.center.board.log_in(self.center.board[agent], self.clock.now())

    async def until(self, predicate: Callable[[], bool], simulated_s: float = 120.0,
                    what: str = "") -> None:
        for _ in range(int(simulated_s / SPEED / 0.005) + 1):
            if predicate():
                return
            await asyncio.sleep(0.005)
        raise AssertionError(f"timed out: {what or predicate}")

    def of(self, kind: type[ev.DomainEvent]) -> list[Any]:
        return [e for e in self.events if isinstance(e, kind)]


@pytest.fixture
async def world_factory() -> Any:
    made: list[World] = []

    def make(*args: Any, **kwargs: Any) -> World:
        made.append(World(*args, **kwargs))
        return made[-1]

    yield make
    for world in made:
        await world.center.close()


async def test_an_overflowed_caller_is_offered_to_the_other_queues_agents_once(
        world_factory: Any) -> None:
    world = world_factory(
        [QueueDefinition("sales", required_skills={"sales": 1}, overflow_queue="support",
                         overflow_after_s=20),
         QueueDefinition("support", required_skills={"support": 1})],
        {"s1": {"sales": 1}, "h1": {"support": 1}})
    caller = world.caller("5551001", "sales")  # nobody in sales: served only by overflowing
    await world.until(lambda: world.of(ev.CallOverflowed), what="overflow")
    overflowed = world.of(ev.CallOverflowed)[0]
    assert (overflowed.queue, overflowed.to_queue, overflowed.channel_id) == \
        ("sales", "support", caller)
    assert overflowed.waited_s >= 19.0
    assert world.center.queues["sales"].waiting == 1  # counted in its own queue only
    assert world.center.queues["support"].waiting == 0
    world.log_in("h1")
    await world.until(lambda: world.of(ev.CallConnected), what="connected")
    connected = world.of(ev.CallConnected)
    assert [(c.queue, c.agent_id) for c in connected] == [("sales", "h1")]
    offers = world.of(ev.CallOffered)
    assert len(offers) == 1 and offers[0].reason.startswith("overflow to support")
    assert world.center.queues["sales"].waiting == 0
    kinds = [e.kind for e in entries_of(world.events)]
    assert kinds == ["enter", "overflow", "offer", "answer"]


async def test_an_overflowed_caller_taken_at_home_leaves_the_other_line(
        world_factory: Any) -> None:
    world = world_factory(
        [QueueDefinition("sales", overflow_queue="support", overflow_after_s=5),
         QueueDefinition("support")],
        {"s1": {}})
    caller = world.caller("5551002", "sales")
    await world.until(lambda: world.of(ev.CallOverflowed), what="overflow")
    world.log_in("s1")  # takes the caller from either line: rung once
    await world.until(lambda: world.of(ev.CallConnected), what="connected")
    assert len(world.of(ev.CallOffered)) == 1
    support = world.center.queues["support"]
    assert caller not in support.dispatcher.waiting and support.waiting == 0


async def test_max_wait_hands_the_caller_over_keeping_priority_and_arrival(
        world_factory: Any) -> None:
    world = world_factory(
        [QueueDefinition("sales", max_wait_s=15, overflow_queue="support",
                         overflow_after_s=60),
         QueueDefinition("support")],
        {"h1": {}})
    early = world.caller("5551003", "sales", priority=5)
    await world.until(lambda: world.of(ev.CallTransferred), what="max wait")
    moved = world.of(ev.CallTransferred)[0]
    assert (moved.queue, moved.to_queue, moved.reason) == ("sales", "support", "max_wait")
    support = world.center.queues["support"]
    assert support.waiting == 1 and world.center.queues["sales"].waiting == 0
    waiting = support.dispatcher.waiting[early]
    assert waiting.priority == 5
    assert world.clock.now() - waiting.arrived >= 14.0  # its wait goes on, not restarted
    await world.until(lambda: world.sim.calls.channel(early) is not None
                      and world.sim.calls.channel(early).variables.get("CC_QUEUE")
                      == "support", what="CC_QUEUE set")
    entered = [e for e in world.of(ev.CallQueued) if e.queue == "support"]
    assert len(entered) == 1 and not entered[0].requeued
    world.log_in("h1")
    await world.until(lambda: world.of(ev.CallConnected), what="connected")
    assert world.of(ev.CallConnected)[0].queue == "support"
    assert world.of(ev.CallConnected)[0].waited_s >= 15.0
    rows = [(e.queue, e.kind) for e in entries_of(world.events)]
    assert rows[:3] == [("sales", "enter"), ("sales", "transfer"), ("support", "enter")]


async def test_max_wait_without_overflow_sends_the_caller_to_queue_timeout(
        world_factory: Any) -> None:
    world = world_factory([QueueDefinition("sales", max_wait_s=10)], {"s1": {}})
    caller = world.caller("5551004", "sales")
    await world.until(lambda: world.of(ev.CallTransferred), what="time-out")
    moved = world.of(ev.CallTransferred)[0]
    assert (moved.to_queue, moved.reason) == ("queue-timeout", "max_wait")
    await world.until(lambda: world.sim.calls.channel(caller) is None
                      or "CC_TIMED_OUT" in world.sim.calls.channel(caller).variables,
                      what="in [queue-timeout]")
    # the caller hears the message and hangs up: not an abandon, the queue let it go
    await world.until(lambda: any(isinstance(e, ev.ChannelHungUp) and e.channel_id == caller
                                  for e in world.events), what="hang-up")
    assert world.of(ev.CallAbandoned) == []
    assert world.center.queues["sales"].waiting == 0
    detail = [e.detail for e in entries_of(world.events) if e.kind == "transfer"]
    assert detail == ["max_wait -> queue-timeout"]


async def test_a_transfer_keeps_priority_and_arrival_and_the_order_follows(
        world_factory: Any) -> None:
    world = world_factory([QueueDefinition("sales"), QueueDefinition("support")], {"h1": {}})
    moved = world.caller("5551005", "sales", priority=0)
    await world.until(lambda: world.center.queues["sales"].waiting == 1)
    await asyncio.sleep(10 / SPEED)
    later = world.caller("5551006", "support", priority=0)
    await world.until(lambda: world.center.queues["support"].waiting == 1)
    world.center.queues["sales"].transfer(moved, world.center.queues["support"])
    support = world.center.queues["support"]
    assert support.waiting == 2
    assert support.position(moved) == 1 and support.position(later) == 2  # it came first
    with pytest.raises(LookupError):
        world.center.queues["sales"].transfer(moved, support)
    world.log_in("h1")
    await world.until(lambda: world.of(ev.CallConnected), what="connected")
    assert world.of(ev.CallConnected)[0].channel_id == moved
    transfer = world.of(ev.CallTransferred)[0]
    assert (transfer.queue, transfer.to_queue, transfer.reason) == \
        ("sales", "support", "transfer")


async def test_a_caller_hears_its_position_every_announce_period(world_factory: Any) -> None:
    world = world_factory([QueueDefinition("sales", announce_every_s=10)], {"s1": {}})
    first = world.caller("5551007", "sales")
    second = world.caller("5551008", "sales")

    def announced(channel: str) -> str | None:
        info = world.sim.calls.channel(channel)
        return info.variables.get("CC_POSITION") if info is not None else None

    await world.until(lambda: announced(second) is not None, what="announcement")
    assert announced(first) == "1" and announced(second) == "2"
    # after the announcement the caller is back on hold music, still waiting at its place
    await world.until(lambda: world.sim.calls.channel(second) is not None
                      and world.sim._channels[second].exten == "moh", what="music again")
    assert world.center.queues["sales"].position(second) == 2
    assert world.of(ev.CallAbandoned) == []


async def test_a_queues_music_class_is_set_on_its_callers(world_factory: Any) -> None:
    world = world_factory([QueueDefinition("vip", music_class="calm")], {"s1": {}})
    caller = world.caller("5551009", "vip")
    await world.until(lambda: world.sim._channels[caller].exten == "moh", what="music restart")
    assert world.sim.calls.channel(caller).variables["CC_MUSIC_CLASS"] == "calm"
    assert world.center.queues["vip"].waiting == 1


async def test_the_agent_wraps_up_for_the_time_of_the_calls_queue(world_factory: Any) -> None:
    """One agent in two queues, one wrap-up: the length of the queue whose call ended (the
    center's 2 s when the queue sets none)."""
    world = world_factory([QueueDefinition("slow", wrap_up_s=9.0), QueueDefinition("plain")],
                          {"a1": {}})
    world.log_in("a1")
    first = world.caller("5551010", "slow")
    await world.until(lambda: world.of(ev.CallConnected), what="connected")
    await world.sim.hangup(first)
    await world.until(lambda: len(world.of(ev.AgentWrapUp)) == 1, what="wrap-up")
    await world.until(lambda: world.center.board["a1"].state is AgentState.READY, 30,
                      "ready again")
    second = world.caller("5551011", "plain")
    await world.until(lambda: len(world.of(ev.CallConnected)) == 2, what="connected again")
    await world.sim.hangup(second)
    await world.until(lambda: len(world.of(ev.AgentWrapUp)) == 2, what="second wrap-up")
    lengths = [e.until - e.at for e in world.of(ev.AgentWrapUp)]
    assert lengths == [pytest.approx(9.0, abs=0.3), pytest.approx(2.0, abs=0.3)]


async def test_the_transfer_route_moves_a_waiting_caller_and_refuses_the_rest(
        world_factory: Any) -> None:
    world = world_factory([QueueDefinition("sales"), QueueDefinition("support")], {"h1": {}})
    app = create_app(settings=Settings(), bus=world.bus, calls=world.model, metrics=Metrics(),
                     agent_controls=world.center.controls, acd_runtime=world.center)
    caller = world.caller("5551012", "sales", priority=3)
    await world.until(lambda: world.center.queues["sales"].waiting == 1)
    call_id = world.sim.calls.channel(caller).call_id
    async with TestClient(TestServer(app)) as client:
        await sign_in(client, "supervisor")

        async def post(path: str, body: Any) -> tuple[int, Any]:
            response = await client.post(path, json=body)
            return response.status, await response.json()

        assert (await post(f"/api/calls/{call_id}/transfer", {"queue": "nowhere"}))[0] == 404
        status, answer = await post(f"/api/calls/{call_id}/transfer", {"queue": "sales"})
        assert (status, answer["error"]["code"]) == (409, "same_queue")
        status, answer = await post(f"/api/calls/{call_id}/transfer", {"queue": "b a d"})
        assert status == 400
        status, answer = await post(f"/api/calls/{call_id}/transfer", {"queue": "support"})
        assert status == 200, answer
        assert answer == {"call_id": call_id, "channel_id": caller, "from_queue": "sales",
                          "queue": "support"}
        assert world.center.queues["support"].dispatcher.waiting[caller].priority == 3
        status, answer = await post("/api/calls/nobody/transfer", {"queue": "sales"})
        assert (status, answer["error"]["code"]) == (409, "not_waiting")


# --- callbacks ---------------------------------------------------------------------------------

def test_a_callback_is_retried_then_given_up() -> None:
    callback = Callback("ch1", "sales", "call1", "+14155550100", 100.0, priority=2)
    assert retry_after_s(callback.failed_once()) == RETRY_AFTER_S
    assert retry_after_s(callback.failed_once().failed_once()) == RETRY_AFTER_S
    assert retry_after_s(callback.failed_once().failed_once().failed_once()) is None


def test_the_callback_offer_is_due_once() -> None:
    queue = QueueDefinition("q", callback_after_s=30)
    timeline = Timeline(joined=10.0)
    assert next_due(queue, timeline) == Due(40.0, Step.CALLBACK)
    timeline.callback_offered = True
    assert next_due(queue, timeline) is None


async def test_a_caller_who_asks_for_a_callback_keeps_its_place_and_is_called_back(
        world_factory: Any) -> None:
    world = world_factory([QueueDefinition("sales", callback_after_s=10)], {"a1": {}})
    first = world.caller("5551020", "sales")
    await asyncio.sleep(2 / SPEED)
    second = world.caller("5551021", "sales")
    await world.until(lambda: world.sim._channels[first].context == "queue-callback-offer",
                      30, "callback offered")
    await world.sim.set_variable(first, "CC_CALLBACK", "1")  # the caller pressed 1
    await world.sim.hangup(first)
    await world.until(lambda: world.of(ev.CallbackRequested), 10, "requested")
    acd = world.center.queues["sales"]
    assert acd.waiting == 2 and world.of(ev.CallAbandoned) == []
    assert acd.position(first) == 1 and acd.position(second) == 2  # its place is kept
    store = acd.callbacks
    assert isinstance(store, MemoryCallbacks)
    await world.until(lambda: bool(store.callbacks), 5, "stored")
    assert [(c.callback_id, c.number) for c in store.callbacks.values()] == [(first, "5551020")]
    world.log_in("a1")
    await world.until(lambda: world.of(ev.CallbackConnected), 60, "called back")
    started = world.of(ev.CallbackStarted)[0]
    assert (started.channel_id, started.agent_id, started.attempt) == (first, "a1", 1)
    connected = [e for e in world.of(ev.CallConnected)]
    assert connected[0].channel_id == first and connected[0].queue == "sales"
    await world.until(lambda: not store.callbacks, 5, "forgotten once connected")


async def test_a_caller_talking_to_an_agent_is_transferred_keeping_its_wait(
        world_factory: Any) -> None:
    world = world_factory([QueueDefinition("sales", required_skills={"sales": 1}),
                           QueueDefinition("support", required_skills={"support": 1})],
                          {"a1": {"sales": 1}, "h1": {"support": 1}})
    world.log_in("a1")
    caller = world.caller("5551030", "sales", priority=4)
    await world.until(lambda: world.of(ev.CallConnected), 30, "talking to a1")
    arrived = world.center.queues["sales"]._callers[caller][1]
    await asyncio.sleep(5 / SPEED)
    moved = world.center.transfer(caller, "support")
    assert moved["from_queue"] == "sales"
    support = world.center.queues["support"]
    await world.until(lambda: caller in support.dispatcher.waiting, 10, "in support's line")
    waiting = support.dispatcher.waiting[caller]
    assert waiting.priority == 4 and abs(waiting.arrived - arrived) < 1.0  # its first arrival
    a1 = world.center.board["a1"]
    await world.until(lambda: a1.state in (AgentState.WRAP_UP, AgentState.READY), 10,
                      "a1's leg hung up, the caller not")
    assert world.sim.calls.channel(caller) is not None
    world.log_in("h1")
    await world.until(lambda: len(world.of(ev.CallConnected)) == 2, 30, "answered in support")
    second = world.of(ev.CallConnected)[1]
    assert (second.queue, second.agent_id, second.channel_id) == ("support", "h1", caller)
    assert world.of(ev.CallTransferred)[0].reason == "transfer"
