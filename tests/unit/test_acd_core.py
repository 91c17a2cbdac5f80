"""The agent state machine, the routing strategies and the dispatcher, on hand-worked cases."""

from __future__ import annotations

import random
from itertools import product

import pytest

from callcenter.acd.agents import (
    TRANSITIONS,
    WORKING,
    Agent,
    AgentBoard,
    AgentState,
    IllegalTransition,
)
from callcenter.acd.dispatcher import Dispatcher, RoutingDecision, WaitingCall
from callcenter.acd.routing import FewestCalls, LongestIdle, RandomAgent, make_routing

S = AgentState

#: the state machine as specified (written out by hand, not copied from TRANSITIONS)
LEGAL = {
    (S.OFFLINE, S.READY), (S.OFFLINE, S.PAUSED),
    (S.READY, S.RESERVED), (S.READY, S.PAUSED), (S.READY, S.OFFLINE), (S.READY, S.ON_CALL),
    (S.RESERVED, S.ON_CALL), (S.RESERVED, S.READY), (S.RESERVED, S.PAUSED),
    (S.RESERVED, S.OFFLINE),
    (S.ON_CALL, S.WRAP_UP), (S.ON_CALL, S.READY), (S.ON_CALL, S.OFFLINE),
    (S.WRAP_UP, S.READY), (S.WRAP_UP, S.PAUSED), (S.WRAP_UP, S.OFFLINE), (S.WRAP_UP, S.RESERVED),
    (S.PAUSED, S.READY), (S.PAUSED, S.OFFLINE),
}

#: a legal way to bring a fresh (offline) agent into each state
PATH_TO = {
    S.OFFLINE: [],
    S.READY: [S.READY],
    S.RESERVED: [S.READY, S.RESERVED],
    S.ON_CALL: [S.READY, S.RESERVED, S.ON_CALL],
    S.WRAP_UP: [S.READY, S.RESERVED, S.ON_CALL, S.WRAP_UP],
    S.PAUSED: [S.PAUSED],
}


def _walk(board: AgentBoard, agent: Agent, states: list[AgentState], now: float = 0.0) -> None:
    for state in states:
        board.move(agent, state, now, reason="test" if state is S.PAUSED else "",
                   call_id="c0" if state is S.RESERVED else None)


def _board_with(*idle_since: float) -> tuple[AgentBoard, list[Agent]]:
    """Agents a1, a2, ... logged in (READY) at the given times."""
    board = AgentBoard()
    agents = []
    for i, t in enumerate(idle_since, start=1):
        agent = board.add(f"a{i}", now=0.0)
        board.log_in(agent, t)
        agents.append(agent)
    return board, agents


# --- the state machine ---------------------------------------------------------------------------


def test_transition_table_is_the_specified_one() -> None:
    assert set(TRANSITIONS) == set(AgentState)
    table = {(a, b) for a, targets in TRANSITIONS.items() for b in targets}
    assert table == LEGAL
    assert len(table) == 19
    assert WORKING == {S.READY, S.RESERVED, S.ON_CALL, S.WRAP_UP}


@pytest.mark.parametrize(("start", "target"), list(product(AgentState, AgentState)))
def test_every_move_is_checked(start: AgentState, target: AgentState) -> None:
    board = AgentBoard()
    agent = board.add("a1")
    _walk(board, agent, PATH_TO[start])
    assert agent.state is start
    before = dict(board.counts)
    if (start, target) in LEGAL:
        board.move(agent, target, 5.0, reason="lunch", call_id="c9")
        assert agent.state is target
        assert agent.since == 5.0
        assert board.counts[target] == 1
        assert sum(board.counts.values()) == 1
    else:
        with pytest.raises(IllegalTransition, match=f"a1: {start} -> {target}"):
            board.move(agent, target, 5.0, reason="lunch", call_id="c9")
        assert agent.state is start
        assert board.counts == before


def test_offline_agent_cannot_answer_and_nothing_changes() -> None:
    board = AgentBoard()
    heard: list[tuple[str, AgentState, float]] = []
    board.listeners.append(lambda t: heard.append((t.agent_id, t.previous, t.at)))
    agent = board.add("a1", now=3.0)
    with pytest.raises(IllegalTransition, match="offline -> on_call"):
        board.answer(agent, 10.0)
    assert isinstance(IllegalTransition("x"), ValueError)
    assert agent.state is S.OFFLINE
    assert agent.since == 3.0
    assert agent.calls_handled == 0
    assert board.count(S.OFFLINE) == 1 and board.count(S.ON_CALL) == 0
    assert heard == []


def test_a_pause_needs_a_reason() -> None:
    board, (agent,) = _board_with(10.0)
    with pytest.raises(IllegalTransition, match="reason"):
        board.move(agent, S.PAUSED, 20.0)
    assert agent.state is S.READY
    assert agent.since == 10.0
    board.move(agent, S.PAUSED, 20.0, reason="lunch")
    assert agent.state is S.PAUSED
    assert agent.pause_reason == "lunch"
    board.move(agent, S.READY, 50.0)
    assert agent.pause_reason == ""


def test_a_call_from_reservation_to_ready_again() -> None:
    board = AgentBoard()
    heard: list[tuple[str, AgentState, AgentState, float]] = []
    board.listeners.append(lambda t: heard.append((t.agent_id, t.previous, t.state, t.at)))
    agent = board.add("a1", frozenset({"fr"}), now=0.0)
    assert (agent.state, agent.since, agent.idle_since) == (S.OFFLINE, 0.0, 0.0)

    board.log_in(agent, 10.0)
    assert (agent.state, agent.since, agent.idle_since) == (S.READY, 10.0, 10.0)
    board.reserve(agent, "c1", 20.0)
    assert (agent.state, agent.call_id) == (S.RESERVED, "c1")
    board.answer(agent, 25.0)
    assert (agent.state, agent.call_id, agent.calls_handled) == (S.ON_CALL, "c1", 0)
    board.end_call(agent, 85.0)
    assert (agent.state, agent.call_id, agent.calls_handled) == (S.WRAP_UP, "c1", 1)
    assert agent.idle_since == 10.0  # wrap-up is still work
    board.finish_work(agent, 100.0)
    assert (agent.state, agent.call_id, agent.idle_since) == (S.READY, None, 100.0)
    assert agent.since == 100.0

    assert heard == [
        ("a1", S.OFFLINE, S.READY, 10.0),
        ("a1", S.READY, S.RESERVED, 20.0),
        ("a1", S.RESERVED, S.ON_CALL, 25.0),
        ("a1", S.ON_CALL, S.WRAP_UP, 85.0),
        ("a1", S.WRAP_UP, S.READY, 100.0),
    ]


def test_counts_and_working_after_a_sequence() -> None:
    board = AgentBoard()
    agents = [board.add(f"a{i}") for i in range(1, 8)]
    a1, a2, a3, a4, a5, a6, a7 = agents
    for agent in agents[:6]:
        board.log_in(agent, 1.0)
    # a1 ready; a2 reserved; a3 on call; a4 wrapping up; a5 paused; a6 logged out; a7 never in
    board.reserve(a2, "c2", 2.0)
    board.reserve(a3, "c3", 2.0)
    board.answer(a3, 3.0)
    board.reserve(a4, "c4", 2.0)
    board.answer(a4, 3.0)
    board.end_call(a4, 4.0)
    board.move(a5, S.PAUSED, 2.0, reason="break")
    board.log_out(a6, 2.0)

    assert {s: board.count(s) for s in AgentState} == {
        S.OFFLINE: 2, S.READY: 1, S.RESERVED: 1, S.ON_CALL: 1, S.WRAP_UP: 1, S.PAUSED: 1}
    assert board.working == 4
    assert a1.state is S.READY and a6.state is S.OFFLINE and a7.state is S.OFFLINE
    assert len(board) == 7
    assert [a.agent_id for a in board] == ["a1", "a2", "a3", "a4", "a5", "a6", "a7"]
    assert board["a4"] is a4

    # a failed move leaves every count alone
    with pytest.raises(IllegalTransition):
        board.answer(a5, 5.0)
    assert board.working == 4 and board.count(S.PAUSED) == 1

    board.end_call(a3, 6.0, wrap_up=False)  # straight back to ready
    board.move(a5, S.READY, 6.0)
    assert board.count(S.READY) == 3 and board.count(S.ON_CALL) == 0
    assert board.count(S.PAUSED) == 0
    assert board.working == 5
    assert a3.calls_handled == 1 and a4.calls_handled == 1 and a2.calls_handled == 0


def test_adding_the_same_agent_twice_is_refused() -> None:
    board = AgentBoard()
    board.add("a1")
    with pytest.raises(ValueError, match="a1"):
        board.add("a1")
    assert len(board) == 1
    assert board.count(S.OFFLINE) == 1


def test_idle_since_moves_only_at_log_in_and_end_of_work() -> None:
    board = AgentBoard()
    agent = board.add("a1", now=0.0)
    board.log_in(agent, 10.0)
    assert agent.idle_since == 10.0
    board.move(agent, S.PAUSED, 50.0, reason="coffee")
    board.move(agent, S.READY, 80.0)
    assert agent.idle_since == 10.0  # a pause keeps the agent's place
    board.reserve(agent, "c1", 90.0)
    board.move(agent, S.READY, 95.0)  # rang, not answered: no work done
    assert agent.idle_since == 10.0
    board.reserve(agent, "c2", 100.0)
    board.answer(agent, 105.0)
    assert agent.idle_since == 10.0
    board.end_call(agent, 160.0)
    assert agent.idle_since == 10.0
    board.move(agent, S.PAUSED, 170.0, reason="notes")  # a pause straight after wrap-up
    board.move(agent, S.READY, 200.0)
    assert agent.idle_since == 10.0
    board.reserve(agent, "c3", 210.0)
    board.answer(agent, 215.0)
    board.end_call(agent, 300.0, wrap_up=False)
    assert agent.state is S.READY
    assert agent.idle_since == 300.0
    board.reserve(agent, "c4", 310.0)
    board.answer(agent, 311.0)
    board.end_call(agent, 400.0)
    board.finish_work(agent, 415.0)
    assert agent.idle_since == 415.0
    board.log_out(agent, 500.0)
    assert agent.idle_since == 415.0
    board.log_in(agent, 600.0)
    assert agent.idle_since == 600.0
    assert agent.calls_handled == 3


def test_logging_in_paused_is_a_log_in_for_idle_since() -> None:
    board = AgentBoard()
    early, late = board.add("early"), board.add("late")
    board.log_in(early, 0.0)
    board.reserve(early, "c1", 10.0)
    board.answer(early, 10.0)
    board.end_call(early, 100.0, wrap_up=False)  # idle since 100
    board.log_out(early, 110.0)
    board.log_in(late, 400.0)  # idle since 400
    board.move(early, S.PAUSED, 1000.0, reason="briefing")  # logs in paused at 1000
    board.move(early, S.READY, 1010.0)
    # the log-in at 1000 is the start of early's idle time, not the call that ended at 100
    # in an earlier session: otherwise early jumps ahead of late, idle since 400
    assert early.idle_since == 1000.0
    assert LongestIdle().pick([early, late]) is late


def test_log_out_of_a_busy_agent_waits_for_the_end_of_work() -> None:
    board, (agent,) = _board_with(0.0)
    board.reserve(agent, "c1", 10.0)
    board.answer(agent, 12.0)
    board.log_out(agent, 20.0)
    assert agent.state is S.ON_CALL and agent.leaving
    board.end_call(agent, 30.0)
    assert agent.state is S.WRAP_UP and agent.leaving
    board.finish_work(agent, 40.0)
    assert agent.state is S.OFFLINE
    assert not agent.leaving
    assert agent.since == 40.0
    assert agent.calls_handled == 1
    assert board.count(S.OFFLINE) == 1 and board.working == 0


def test_log_out_of_a_ringing_agent_waits_too() -> None:
    board, (agent,) = _board_with(0.0)
    board.reserve(agent, "c1", 10.0)
    board.log_out(agent, 11.0)
    assert agent.state is S.RESERVED and agent.leaving
    board.finish_work(agent, 30.0)  # the ring was not answered
    assert agent.state is S.OFFLINE and not agent.leaving
    assert agent.calls_handled == 0


def test_log_out_of_ready_paused_and_offline_agents() -> None:
    board, (ready, paused) = _board_with(0.0, 0.0)
    board.move(paused, S.PAUSED, 5.0, reason="break")
    offline = board.add("a3")
    board.log_out(ready, 10.0)
    board.log_out(paused, 10.0)
    board.log_out(offline, 10.0)  # nothing to do, no error
    assert [a.state for a in board] == [S.OFFLINE, S.OFFLINE, S.OFFLINE]
    assert not any(a.leaving for a in board)
    assert paused.pause_reason == ""
    assert board.count(S.OFFLINE) == 3


def test_a_busy_agent_without_a_leave_request_goes_back_to_ready() -> None:
    board, (agent,) = _board_with(0.0)
    board.reserve(agent, "c1", 1.0)
    board.answer(agent, 2.0)
    board.end_call(agent, 3.0, wrap_up=False)
    assert agent.state is S.READY and agent.idle_since == 3.0


# --- routing -------------------------------------------------------------------------------------


def test_longest_idle_picks_the_smallest_idle_since() -> None:
    _, (a1, a2, a3, a4) = _board_with(50.0, 20.0, 70.0, 30.0)
    assert LongestIdle().pick([a1, a2, a3, a4]) is a2
    assert LongestIdle().pick([a3, a4, a1]) is a4
    assert LongestIdle().pick([a3]) is a3
    assert LongestIdle.name == "fifo-longest-idle"


def test_longest_idle_ties_go_to_the_first_candidate() -> None:
    _, (a1, a2, a3) = _board_with(40.0, 10.0, 10.0)
    assert LongestIdle().pick([a1, a2, a3]) is a2
    assert LongestIdle().pick([a3, a2, a1]) is a3


def test_fewest_calls_ties_are_broken_by_idle_time() -> None:
    _, (a1, a2, a3) = _board_with(10.0, 30.0, 20.0)
    a1.calls_handled, a2.calls_handled, a3.calls_handled = 4, 2, 2
    assert FewestCalls().pick([a1, a2, a3]) is a3  # 2 calls each: a3 idle since 20 < 30
    a3.calls_handled = 3
    assert FewestCalls().pick([a1, a2, a3]) is a2
    a1.calls_handled = 0
    assert FewestCalls().pick([a2, a3, a1]) is a1  # fewest calls beats longest idle
    assert FewestCalls.name == "fewest-calls"


def test_random_is_seeded_and_covers_every_candidate() -> None:
    _, agents = _board_with(1.0, 2.0, 3.0, 4.0)
    first = RandomAgent(random.Random(42))
    second = RandomAgent(random.Random(42))
    picks = [first.pick(agents).agent_id for _ in range(400)]
    assert picks == [second.pick(agents).agent_id for _ in range(400)]
    reference = random.Random(42)
    assert picks == [agents[reference.randrange(4)].agent_id for _ in range(400)]
    tally = {a.agent_id: picks.count(a.agent_id) for a in agents}
    assert set(tally) == {"a1", "a2", "a3", "a4"}
    assert all(60 <= n <= 140 for n in tally.values()), tally
    other = RandomAgent(random.Random(43))
    assert [other.pick(agents).agent_id for _ in range(400)] != picks


def test_make_routing_by_name() -> None:
    assert isinstance(make_routing("fifo-longest-idle"), LongestIdle)
    assert isinstance(make_routing("fewest-calls"), FewestCalls)
    rng = random.Random(5)
    strategy = make_routing("random", rng)
    assert isinstance(strategy, RandomAgent)
    assert strategy.rng is rng
    assert strategy.name == "random"


def test_make_routing_unknown_name_lists_the_known_ones() -> None:
    with pytest.raises(ValueError) as info:
        make_routing("round-robin")
    assert str(info.value) == (
        "unknown routing 'round-robin' (known: fewest-calls, fifo-longest-idle, random, "
        "ring-all, skills-level, vip-priority)")


# --- dispatcher ----------------------------------------------------------------------------------


class Assignments:
    def __init__(self) -> None:
        self.log: list[tuple[str, str, float, AgentState, str | None]] = []
        self.decisions: list[RoutingDecision] = []

    def __call__(self, call: WaitingCall, agent: Agent, now: float,
                 decision: RoutingDecision) -> None:
        # the agent is already reserved for the call when the driver hears of it
        assert (decision.call_id, decision.agent_id, decision.at) == (call.call_id,
                                                                      agent.agent_id, now)
        self.log.append((call.call_id, agent.agent_id, now, agent.state, agent.call_id))
        self.decisions.append(decision)

    @property
    def pairs(self) -> list[tuple[str, str]]:
        return [(c, a) for c, a, *_ in self.log]


def _dispatcher(board: AgentBoard) -> tuple[Dispatcher, Assignments]:
    assigned = Assignments()
    return Dispatcher(board, LongestIdle(), assigned), assigned


def _serve(board: AgentBoard, agent: Agent, answered: float, ended: float) -> None:
    """The reserved agent answers and hangs up; wrap-up until ``finish_work``."""
    board.answer(agent, answered)
    board.end_call(agent, ended)


def test_a_call_goes_to_the_longest_idle_ready_agent() -> None:
    board, (a1, a2) = _board_with(30.0, 10.0)
    dispatcher, assigned = _dispatcher(board)
    assert dispatcher.ready_agents == 2
    got = dispatcher.offer(WaitingCall("c1", 40.0), 40.0)
    assert got is a2
    assert assigned.log == [("c1", "a2", 40.0, S.RESERVED, "c1")]
    assert a2.state is S.RESERVED and a2.call_id == "c1" and a2.since == 40.0
    assert a1.state is S.READY
    assert dispatcher.ready_agents == 1
    assert dispatcher.queue_length == 0

    assert dispatcher.offer(WaitingCall("c2", 41.0), 41.0) is a1
    assert dispatcher.ready_agents == 0
    assert assigned.pairs == [("c1", "a2"), ("c2", "a1")]


def test_agents_ready_before_the_dispatcher_exists_are_known() -> None:
    board, (a1, a2) = _board_with(5.0, 1.0)
    board.move(a1, S.PAUSED, 6.0, reason="break")
    dispatcher, _ = _dispatcher(board)
    assert dispatcher.ready_agents == 1
    assert dispatcher.offer(WaitingCall("c1", 7.0), 7.0) is a2


def test_with_nobody_ready_the_call_waits() -> None:
    board, (a1,) = _board_with(0.0)
    dispatcher, assigned = _dispatcher(board)
    board.move(a1, S.PAUSED, 1.0, reason="lunch")
    assert dispatcher.ready_agents == 0
    assert dispatcher.offer(WaitingCall("c1", 10.0), 10.0) is None
    assert dispatcher.offer(WaitingCall("c2", 25.0), 25.0) is None
    assert assigned.log == []
    assert dispatcher.queue_length == 2
    assert set(dispatcher.waiting) == {"c1", "c2"}
    assert dispatcher.oldest_wait(40.0) == 30.0
    board.move(a1, S.READY, 50.0)  # back from lunch: takes the oldest call
    assert assigned.log == [("c1", "a1", 50.0, S.RESERVED, "c1")]
    assert dispatcher.queue_length == 1
    assert dispatcher.oldest_wait(60.0) == 35.0


def test_oldest_wait_of_an_empty_queue_is_zero() -> None:
    board = AgentBoard()
    dispatcher, _ = _dispatcher(board)
    assert dispatcher.queue_length == 0
    assert dispatcher.oldest_wait(123.0) == 0.0


def test_a_freed_agent_takes_the_highest_priority_then_the_oldest_call() -> None:
    board, (a1,) = _board_with(0.0)
    dispatcher, assigned = _dispatcher(board)
    assert dispatcher.offer(WaitingCall("c0", 1.0), 1.0) is a1  # a1 now busy
    _serve(board, a1, 2.0, 30.0)
    offered = [("r1", 0), ("v1", 10), ("r2", 0), ("g1", 5), ("v2", 10), ("r3", 0), ("g2", 5)]
    for i, (call_id, priority) in enumerate(offered):
        assert dispatcher.offer(WaitingCall(call_id, 3.0 + i, priority=priority), 3.0 + i) is None
    assert dispatcher.queue_length == 7

    served = []
    now = 40.0
    while dispatcher.queue_length:
        board.finish_work(a1, now)  # READY: the dispatcher reserves a1 at once
        assert a1.state is S.RESERVED
        served.append(a1.call_id)
        _serve(board, a1, now + 1, now + 10)
        now += 20
    assert served == ["v1", "v2", "g1", "g2", "r1", "r2", "r3"]
    assert [t for _, _, t, _, _ in assigned.log] == [1.0, 40.0, 60.0, 80.0, 100.0, 120.0,
                                                      140.0, 160.0]
    board.finish_work(a1, now)
    assert a1.state is S.READY and dispatcher.ready_agents == 1
    assert a1.calls_handled == 8


def test_withdraw_removes_a_waiting_call() -> None:
    board, (a1,) = _board_with(0.0)
    dispatcher, assigned = _dispatcher(board)
    board.move(a1, S.PAUSED, 1.0, reason="lunch")
    for i, call_id in enumerate(["c1", "c2", "c3"]):
        dispatcher.offer(WaitingCall(call_id, 10.0 + i), 10.0 + i)
    withdrawn = dispatcher.withdraw("c1")
    assert withdrawn is not None and withdrawn.call_id == "c1" and withdrawn.arrived == 10.0
    assert dispatcher.withdraw("c1") is None
    assert dispatcher.withdraw("never") is None
    assert dispatcher.queue_length == 2
    assert dispatcher.oldest_wait(20.0) == 9.0  # c2, arrived at 11
    board.move(a1, S.READY, 30.0)
    assert assigned.pairs == [("c2", "a1")]
    assert set(dispatcher.waiting) == {"c3"}


def test_a_skill_call_waits_for_a_skilled_agent() -> None:
    board = AgentBoard()
    plain = board.add("plain", now=0.0)
    french = board.add("french", frozenset({"fr"}), now=0.0)
    dispatcher, assigned = _dispatcher(board)

    # nobody logged in: a French call, then an ordinary one, wait (French first in line)
    assert dispatcher.offer(WaitingCall("fr1", 1.0, skill="fr"), 1.0) is None
    assert dispatcher.offer(WaitingCall("any1", 2.0), 2.0) is None
    board.log_in(plain, 5.0)  # cannot take fr1: takes any1
    assert assigned.pairs == [("any1", "plain")]
    assert set(dispatcher.waiting) == {"fr1"}
    assert plain.call_id == "any1"

    # ready again, the unskilled agent still does not get the skill call
    board.answer(plain, 5.5)
    board.end_call(plain, 6.0, wrap_up=False)
    assert plain.state is S.READY
    assert set(dispatcher.waiting) == {"fr1"}
    assert dispatcher.offer(WaitingCall("fr2", 7.0, skill="fr"), 7.0) is None
    assert dispatcher.queue_length == 2

    board.log_in(french, 8.0)
    assert assigned.pairs == [("any1", "plain"), ("fr1", "french")]
    assert set(dispatcher.waiting) == {"fr2"}
    # an ordinary call goes to the ready plain agent at once
    assert dispatcher.offer(WaitingCall("any2", 9.0), 9.0) is plain
    assert set(dispatcher.waiting) == {"fr2"}


def test_a_skill_call_offered_with_a_skilled_agent_ready_is_routed_to_them() -> None:
    board = AgentBoard()
    plain, french = board.add("plain"), board.add("french", frozenset({"fr", "de"}))
    board.log_in(plain, 0.0)  # idle longer than french
    board.log_in(french, 5.0)
    dispatcher, assigned = _dispatcher(board)
    assert dispatcher.offer(WaitingCall("fr1", 10.0, skill="fr"), 10.0) is french
    assert dispatcher.offer(WaitingCall("de1", 11.0, skill="de"), 11.0) is None
    assert assigned.pairs == [("fr1", "french")]
    assert plain.state is S.READY


def test_offering_a_waiting_call_again_is_refused() -> None:
    board = AgentBoard()
    dispatcher, _ = _dispatcher(board)
    dispatcher.offer(WaitingCall("c1", 1.0), 1.0)
    with pytest.raises(ValueError, match="'c1' is already waiting"):
        dispatcher.offer(WaitingCall("c1", 2.0, priority=9), 2.0)
    assert dispatcher.queue_length == 1
    assert dispatcher.waiting["c1"].arrived == 1.0


def test_a_call_withdrawn_and_offered_again_keeps_its_new_terms() -> None:
    board = AgentBoard()
    plain = board.add("plain")
    dispatcher, assigned = _dispatcher(board)
    dispatcher.offer(WaitingCall("c1", 1.0), 1.0)
    dispatcher.offer(WaitingCall("c2", 2.0), 2.0)
    dispatcher.withdraw("c1")
    # the same call comes back, now needing French
    dispatcher.offer(WaitingCall("c1", 3.0, skill="fr"), 3.0)
    board.log_in(plain, 10.0)
    # plain has no French: c2 is the only call plain may take
    assert assigned.pairs == [("c2", "plain")]
    assert set(dispatcher.waiting) == {"c1"}
