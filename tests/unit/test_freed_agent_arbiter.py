"""A freed agent shared by several dispatchers (one per queue, the dialer's) takes the caller
who waited longest across all of them, the dialer's answered customers first — not whatever the
first dispatcher built can give it (which starved the later queues: the demo's billing line)."""

from __future__ import annotations

from callcenter.acd.agents import Agent, AgentBoard, AgentState
from callcenter.acd.dispatcher import Dispatcher, FreedAgentArbiter, RoutingDecision, WaitingCall
from callcenter.acd.routing import make_routing


def _world(*precedences: int) -> tuple[AgentBoard, list[Dispatcher], list[tuple[str, str]]]:
    board = AgentBoard()
    assigned: list[tuple[str, str]] = []

    def on_assign(call: WaitingCall, agent: Agent, now: float, d: RoutingDecision) -> None:
        assigned.append((call.call_id, agent.agent_id))

    dispatchers = [Dispatcher(board, make_routing("fifo-longest-idle"), on_assign, precedence=p)
                   for p in precedences]
    return board, dispatchers, assigned


def _busy_agent(board: AgentBoard, skills: frozenset[str]) -> Agent:
    agent = board.add("a1", skills)
    board.log_in(agent, 0.0)
    board.reserve(agent, "busy", 0.0)
    board.answer(agent, 0.0)
    return agent


def test_the_caller_who_waited_longest_is_taken_whichever_queue_was_built_first() -> None:
    board, (support, billing), assigned = _world(0, 0)
    agent = _busy_agent(board, frozenset({"en", "billing"}))
    billing.offer(WaitingCall("bill-early", 10.0, skills=frozenset({"billing"})), 10.0)
    support.offer(WaitingCall("support-late", 20.0, skills=frozenset({"en"})), 20.0)
    board.end_call(agent, 30.0, wrap_up=False)
    assert assigned == [("bill-early", "a1")]
    assert billing.queue_length == 0 and support.queue_length == 1
    board.answer(agent, 31.0)
    board.end_call(agent, 40.0, wrap_up=False)
    assert assigned[-1] == ("support-late", "a1")
    assert agent.state is AgentState.RESERVED


def test_priority_counts_across_queues_as_a_bounded_head_start() -> None:
    board, (support, billing), assigned = _world(0, 0)
    agent = _busy_agent(board, frozenset({"en", "billing"}))
    billing.offer(WaitingCall("regular", 10.0, skills=frozenset({"billing"})), 10.0)
    # a VIP who came 20 s later is served first (head start 60 s) ...
    support.offer(WaitingCall("vip", 30.0, priority=10, skills=frozenset({"en"})), 30.0)
    board.end_call(agent, 40.0, wrap_up=False)
    assert assigned == [("vip", "a1")]
    # ... but not one who came more than 60 s after the regular caller
    support.offer(WaitingCall("vip-late", 75.0, priority=10, skills=frozenset({"en"})), 75.0)
    board.answer(agent, 76.0)
    board.end_call(agent, 80.0, wrap_up=False)
    assert assigned[-1] == ("regular", "a1")


def test_the_dialers_answered_customer_goes_before_any_inbound_caller() -> None:
    board, (inbound, dialer), assigned = _world(0, 1)
    agent = _busy_agent(board, frozenset({"en"}))
    inbound.offer(WaitingCall("inbound", 0.0, priority=10), 0.0)
    dialer.offer(WaitingCall("customer", 50.0), 50.0)
    board.end_call(agent, 51.0, wrap_up=False)
    assert assigned == [("customer", "a1")]


def test_a_closed_dispatcher_no_longer_takes_agents() -> None:
    board, (old, new), assigned = _world(0, 0)
    agent = _busy_agent(board, frozenset())
    old.offer(WaitingCall("stranded", 0.0), 0.0)
    new.offer(WaitingCall("kept", 5.0), 5.0)
    old.close()
    assert old not in FreedAgentArbiter.of(board).dispatchers
    board.end_call(agent, 10.0, wrap_up=False)
    assert assigned == [("kept", "a1")]
