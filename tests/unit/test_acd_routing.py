"""Routing strategies with reasons, skill levels, ring-all and priority with bounded aging, on
hand-worked cases (issue 10)."""

from __future__ import annotations

import random

import pytest

from callcenter.acd.agents import Agent, AgentBoard, AgentState
from callcenter.acd.calls import min_levels
from callcenter.acd.dispatcher import Dispatcher, RoutingDecision, WaitingCall
from callcenter.acd.queueing import AgedPriority, StrictPriority
from callcenter.acd.routing import (
    FewestCalls,
    LongestIdle,
    RingAll,
    RoutingStrategy,
    SkillsLevel,
    VipPriority,
    call_level,
    meets_levels,
    skill_level,
)

S = AgentState


class Log:
    def __init__(self) -> None:
        self.decisions: list[RoutingDecision] = []

    def __call__(self, call: WaitingCall, agent: Agent, now: float,
                 decision: RoutingDecision) -> None:
        assert agent.state is S.RESERVED and agent.call_id == call.call_id
        self.decisions.append(decision)

    @property
    def pairs(self) -> list[tuple[str, str]]:
        return [(d.call_id, d.agent_id) for d in self.decisions]


def _ready(board: AgentBoard, agent_id: str, idle_since: float,
           levels: dict[str, int] | None = None) -> Agent:
    agent = board.add(agent_id, skill_levels=levels)
    board.log_in(agent, idle_since)
    return agent


def _dispatcher(board: AgentBoard, routing: RoutingStrategy,
                max_ring: int = 1) -> tuple[Dispatcher, Log]:
    log = Log()
    return Dispatcher(board, routing, log, max_ring=max_ring), log


# --- skill levels --------------------------------------------------------------------------------


def test_levels_grant_skills_and_unlevelled_skills_count_as_level_one() -> None:
    board = AgentBoard()
    agent = board.add("a", frozenset({"fr"}), skill_levels={"billing": 8})
    assert agent.skills == {"fr", "billing"}
    assert skill_level(agent, "billing") == 8
    assert skill_level(agent, "fr") == 1
    assert skill_level(agent, "de") == 0
    assert call_level(agent, frozenset({"billing", "fr"})) == 1  # the weakest counts
    assert call_level(agent, frozenset({"billing", "de"})) == 0
    assert call_level(agent, frozenset()) == 0


@pytest.mark.parametrize("level", [0, 11, -3])
def test_a_level_outside_one_to_ten_is_refused(level: int) -> None:
    with pytest.raises(ValueError, match=f"level {level} is not within 1..10"):
        AgentBoard().add("a", skill_levels={"billing": level})


def test_best_level_first_then_longest_idle_with_the_reason() -> None:
    board = AgentBoard()
    _ready(board, "a", 10.0, {"billing": 8})
    _ready(board, "b", 0.0, {"billing": 5})  # idle longest, but a lower level
    _ready(board, "c", 5.0, {"billing": 8})  # same level as a, idle longer
    _ready(board, "d", 1.0, {"fr": 9})  # not qualified
    dispatcher, log = _dispatcher(board, SkillsLevel())
    assert dispatcher.offer(WaitingCall("k1", 50.0, skill="billing"), 50.0) is board["c"]
    (decision,) = log.decisions
    assert decision == RoutingDecision(
        "k1", "c", "skills-level",
        "skill billing level 8 (best of 3 ready, longest idle of 2 at that level), idle 45 s",
        candidates=3, trigger="call", at=50.0, ring=("c",))
    assert decision.summary == ("skills-level: skill billing level 8 (best of 3 ready, longest "
                                "idle of 2 at that level), idle 45 s")
    # next: a (level 8) beats b (5) although b has been idle longer
    assert dispatcher.offer(WaitingCall("k2", 51.0, skill="billing"), 51.0) is board["a"]
    assert log.decisions[1].reason == "skill billing level 8 (best of 2 ready), idle 41 s"
    assert dispatcher.offer(WaitingCall("k3", 52.0, skill="billing"), 52.0) is board["b"]


def test_a_call_needing_two_skills_goes_to_the_best_weakest_skill() -> None:
    board = AgentBoard()
    _ready(board, "expert", 0.0, {"billing": 9, "fr": 2})
    _ready(board, "allround", 20.0, {"billing": 6, "fr": 6})
    _ready(board, "billing-only", 0.0, {"billing": 10})
    dispatcher, log = _dispatcher(board, SkillsLevel())
    call = WaitingCall("k1", 30.0, skills=frozenset({"billing", "fr"}))
    assert dispatcher.offer(call, 30.0) is board["allround"]
    assert log.decisions[0].reason == "skills billing fr level 6 (best of 2 ready), idle 10 s"


def test_skills_level_without_a_required_skill_is_longest_idle() -> None:
    board = AgentBoard()
    _ready(board, "a", 3.0, {"billing": 9})
    _ready(board, "b", 1.0)
    dispatcher, log = _dispatcher(board, SkillsLevel())
    assert dispatcher.offer(WaitingCall("k1", 10.0), 10.0) is board["b"]
    assert log.decisions[0].reason == "no skill needed: idle 9 s, the longest of 2 ready"


def test_the_other_strategies_say_why() -> None:
    board = AgentBoard()
    a = _ready(board, "a", 0.0)
    b = _ready(board, "b", 4.0)
    a.calls_handled, b.calls_handled = 7, 2
    dispatcher, log = _dispatcher(board, FewestCalls())
    dispatcher.offer(WaitingCall("k1", 10.0), 10.0)
    assert log.decisions[0].summary == "fewest-calls: fewest calls: 2 (of 2 ready), idle 6 s"
    board2 = AgentBoard()
    _ready(board2, "a", 0.0)
    _ready(board2, "b", 4.0)
    dispatcher2, log2 = _dispatcher(board2, LongestIdle())
    dispatcher2.offer(WaitingCall("k1", 10.0), 10.0)
    assert log2.decisions[0].summary == "fifo-longest-idle: idle 10 s, the longest of 2 ready"


# --- ring-all ------------------------------------------------------------------------------------


def test_ring_all_ranks_every_ready_agent_longest_idle_first() -> None:
    board = AgentBoard()
    agents = [_ready(board, name, t) for name, t in (("a", 3.0), ("b", 1.0), ("c", 2.0))]
    choice = RingAll().choose(WaitingCall("k", 5.0), agents, 5.0)
    assert [x.agent_id for x in choice.agents] == ["b", "c", "a"]
    assert choice.reason == "ring all 3 ready, first to answer wins (longest idle 4 s)"


def test_ring_all_on_a_one_phone_driver_reserves_only_the_longest_idle() -> None:
    board = AgentBoard()
    for name, t in (("a", 3.0), ("b", 1.0), ("c", 2.0)):
        _ready(board, name, t)
    dispatcher, log = _dispatcher(board, RingAll())
    assert dispatcher.offer(WaitingCall("k1", 5.0), 5.0) is board["b"]
    assert log.decisions[0].ring == ("b",) and log.decisions[0].candidates == 3
    assert [board[x].state for x in "ac"] == [S.READY, S.READY]


def test_ring_all_rings_several_and_the_losers_take_the_next_caller() -> None:
    board = AgentBoard()
    for name, t in (("a", 3.0), ("b", 1.0), ("c", 2.0)):
        _ready(board, name, t)
    dispatcher, log = _dispatcher(board, RingAll(), max_ring=5)
    assert dispatcher.offer(WaitingCall("k1", 5.0), 5.0) is board["b"]
    (decision,) = log.decisions
    assert decision.ring == ("b", "c", "a")
    assert all(board[x].state is S.RESERVED and board[x].call_id == "k1" for x in "abc")
    assert dispatcher.ready_agents == 0
    assert dispatcher.offer(WaitingCall("k2", 6.0), 6.0) is None  # everybody is ringing
    board.answer(board["a"], 7.0)  # a answered first: a wins
    dispatcher.release_others(decision, "a", 7.0)
    # b was released first (ring order) and took k2 at once; c stays ready
    assert log.pairs == [("k1", "b"), ("k2", "b")]
    assert log.decisions[1].trigger == "agent"
    assert board["b"].state is S.RESERVED and board["b"].call_id == "k2"
    assert board["c"].state is S.READY and board["c"].idle_since == 2.0  # kept its idle time
    assert board["a"].state is S.ON_CALL


# --- queue orders --------------------------------------------------------------------------------


def test_aged_priority_head_start_is_bounded() -> None:
    order = AgedPriority(seconds_per_point=6.0, max_head_start_s=60.0)
    assert [order.head_start(p) for p in (-2, 0, 1, 3, 10, 50)] == [0, 0, 6, 18, 60, 60]
    with pytest.raises(ValueError):
        AgedPriority(seconds_per_point=-1)


#: (call, arrival, priority), offered while nobody is ready
ARRIVALS = [("r1", 0.0, 0), ("r2", 5.0, 0), ("v1", 50.0, 10), ("g1", 55.0, 3),
            ("v2", 70.0, 10)]


def _served(strategy: RoutingStrategy) -> tuple[list[str], list[RoutingDecision]]:
    board = AgentBoard()
    agent = board.add("a")
    dispatcher, log = _dispatcher(board, strategy)
    for call_id, t, priority in ARRIVALS:
        dispatcher.offer(WaitingCall(call_id, t, priority=priority), t)
    now = 100.0
    board.log_in(agent, now)
    while agent.state is S.RESERVED:
        board.answer(agent, now)
        now += 10
        board.end_call(agent, now, wrap_up=False)
    return [d.call_id for d in log.decisions], log.decisions


def test_strict_priority_serves_every_vip_first() -> None:
    order, _ = _served(LongestIdle())
    assert order == ["v1", "v2", "g1", "r1", "r2"]


def test_aged_priority_by_hand() -> None:
    # keys (arrival - head start): r1 0, r2 5, v1 50-60=-10, g1 55-18=37, v2 70-60=10
    order, decisions = _served(VipPriority())
    assert order == ["v1", "r1", "r2", "v2", "g1"]
    assert decisions[0].summary == (
        "vip-priority: agent ready, 0 s idle; next caller it can take (aged priority, "
        "5 waiting): priority 10 (head start 60 s of max 60 s), waited 50 s")
    assert decisions[1].reason.endswith("(aged priority, 4 waiting): priority 0 (head start "
                                        "0 s of max 60 s), waited 110 s")
    assert all(d.trigger == "agent" and d.candidates == 1 for d in decisions)


@pytest.mark.parametrize("seed", range(5))
def test_nobody_waits_behind_a_caller_who_came_more_than_the_bound_later(seed: int) -> None:
    rng = random.Random(seed)
    order = AgedPriority(seconds_per_point=4.0, max_head_start_s=30.0)
    calls = [WaitingCall(f"c{i}", rng.uniform(0, 600), priority=rng.choice([0, 0, 2, 5, 10]))
             for i in range(300)]
    served = sorted(calls, key=order.key)
    latest_before = -1.0
    for call in served:
        # everything served before ``call`` arrived at most 30 s after it
        latest_before = max(latest_before, call.arrived)
        assert latest_before - call.arrived <= 30.0 + 1e-9
    strict = sorted(calls, key=StrictPriority().key)
    assert any(later.arrived - earlier.arrived > 30.0
               for i, later in enumerate(strict) for earlier in strict[i + 1:i + 40])


# --- the dispatcher's lines ----------------------------------------------------------------------


def test_a_freed_agent_takes_the_oldest_head_among_the_lines_it_can_serve() -> None:
    board = AgentBoard()
    both = board.add("both", skill_levels={"fr": 5, "de": 5})
    fr_only = board.add("fr", skill_levels={"fr": 5})
    dispatcher, log = _dispatcher(board, LongestIdle())
    for call_id, t, skills in (("de1", 1.0, {"de"}), ("fr1", 2.0, {"fr"}),
                               ("frde1", 0.5, {"fr", "de"}), ("any1", 3.0, set())):
        dispatcher.offer(WaitingCall(call_id, t, skills=frozenset(skills)), t)
    board.log_in(fr_only, 10.0)  # may take fr1 and any1 only: fr1 is older
    board.log_in(both, 11.0)  # everything: frde1 is the oldest
    assert log.pairs == [("fr1", "fr"), ("frde1", "both")]
    assert set(dispatcher.waiting) == {"de1", "any1"}


def test_eligibility_is_one_place_for_both_directions() -> None:
    class NotB(Dispatcher):
        def _eligible(self, agent: Agent) -> bool:
            return agent.agent_id != "b" and super()._eligible(agent)

    board = AgentBoard()
    log = Log()
    dispatcher = NotB(board, LongestIdle(), log)
    _ready(board, "b", 0.0)
    assert dispatcher.offer(WaitingCall("k1", 1.0), 1.0) is None  # b is ready, not eligible
    _ready(board, "a", 2.0)
    assert log.pairs == [("k1", "a")]
    assert dispatcher.offer(WaitingCall("k2", 3.0), 3.0) is None
    assert board["b"].state is S.READY


# --- minimum levels (a queue's required_skills {skill: level}) ------------------------------------


def test_min_levels_keep_only_the_levels_above_the_basic_one() -> None:
    assert min_levels({"fr": 1, "billing": 4, "de": 2}) == (("billing", 4), ("de", 2))
    call = WaitingCall("k", 0.0, min_levels=(("billing", 4),))
    assert call.skills == {"billing"}  # a level implies the skill


def test_an_offered_call_skips_ready_agents_below_its_level() -> None:
    board = AgentBoard()
    _ready(board, "novice", 0.0, {"billing": 3})  # idle the longest, not good enough
    _ready(board, "expert", 5.0, {"billing": 4})
    dispatcher, log = _dispatcher(board, LongestIdle())
    dispatcher.offer(WaitingCall("k1", 10.0, skills=frozenset({"billing"}),
                                 min_levels=(("billing", 4),)), 10.0)
    assert log.pairs == [("k1", "expert")]
    assert "1 ready" in log.decisions[0].reason  # the novice was never a candidate
    # nobody else is good enough: the next such caller waits, the novice stays ready
    assert dispatcher.offer(WaitingCall("k2", 11.0, skills=frozenset({"billing"}),
                                        min_levels=(("billing", 4),)), 11.0) is None
    assert board["novice"].state is S.READY and set(dispatcher.waiting) == {"k2"}


def test_a_freed_agent_below_a_lines_level_takes_the_next_line_it_is_good_enough_for() -> None:
    board = AgentBoard()
    novice = board.add("novice", skill_levels={"billing": 2})
    dispatcher, log = _dispatcher(board, LongestIdle())
    dispatcher.offer(WaitingCall("hard", 1.0, min_levels=(("billing", 5),)), 1.0)
    dispatcher.offer(WaitingCall("easy", 2.0, skills=frozenset({"billing"})), 2.0)
    board.log_in(novice, 3.0)  # "hard" is older, but needs level 5
    assert log.pairs == [("easy", "novice")]
    expert = board.add("expert", skill_levels={"billing": 7})
    board.log_in(expert, 4.0)
    assert log.pairs[-1] == ("hard", "expert") and not dispatcher.waiting


def test_an_unlevelled_skill_counts_as_level_one_against_a_minimum() -> None:
    board = AgentBoard()
    plain = board.add("plain", frozenset({"fr"}))
    assert meets_levels(plain, (("fr", 1),)) and not meets_levels(plain, (("fr", 2),))
    assert not meets_levels(plain, (("de", 1),))
