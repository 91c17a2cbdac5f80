"""Simulated staffing on a virtual clock, and the per-bin logged/busy seconds."""

from __future__ import annotations

import pytest

from callcenter.acd.agents import AgentBoard, AgentState
from callcenter.acd.dispatcher import Dispatcher, WaitingCall
from callcenter.acd.routing import LongestIdle
from callcenter.sim.clock import VirtualClock
from callcenter.sim.staffing import Staffing, StateTimes

S = AgentState


def _states(board: AgentBoard) -> dict[str, AgentState]:
    return {a.agent_id: a.state for a in board}


# --- Staffing -------------------------------------------------------------------------------------


def test_log_in_and_out_on_schedule_busy_agents_leave_after_their_work() -> None:
    clock = VirtualClock()
    board = AgentBoard()
    Staffing(clock, board, [(0.0, 3), (100.0, 1), (200.0, 0)])

    clock.run(until=0.0)
    assert _states(board) == {"agent-1": S.READY, "agent-2": S.READY, "agent-3": S.READY}
    assert all(a.since == 0.0 and a.idle_since == 0.0 for a in board)
    assert board.working == 3

    # agent-1 takes a call before the first step down
    agent1 = board["agent-1"]
    clock.call_at(50.0, board.reserve, agent1, "c1", 50.0)
    clock.call_at(55.0, board.answer, agent1, 55.0)
    clock.run(until=100.0)
    # the two ready agents leave; the one on a call stays (and is not leaving: 1 is wanted)
    assert _states(board) == {"agent-1": S.ON_CALL, "agent-2": S.OFFLINE,
                              "agent-3": S.OFFLINE}
    assert board["agent-2"].since == 100.0 and board["agent-3"].since == 100.0
    assert not agent1.leaving
    assert board.working == 1

    # still on the call at the end of the day: asked to leave, stays until the work is done
    clock.call_at(230.0, board.end_call, agent1, 230.0)
    clock.call_at(245.0, board.finish_work, agent1, 245.0)
    clock.run(until=200.0)
    assert agent1.state is S.ON_CALL and agent1.leaving
    clock.run(until=240.0)
    assert agent1.state is S.WRAP_UP and agent1.leaving
    clock.run()
    assert agent1.state is S.OFFLINE and not agent1.leaving
    assert agent1.since == 245.0
    assert agent1.calls_handled == 1
    assert board.working == 0
    assert len(board) == 3  # nobody added beyond the three


def test_the_most_recently_idle_ready_agent_leaves_first_busy_ones_last() -> None:
    clock = VirtualClock()
    board = AgentBoard()
    Staffing(clock, board, [(0.0, 4), (100.0, 1)])
    clock.run(until=0.0)
    a1, a2, a3, a4 = (board[f"agent-{i}"] for i in range(1, 5))
    # a2 ended a call at 60 (idle since 60), a4 at 40; a1 ended one at 30 and is on another
    # call at 100, a3 is on its first call
    for agent, start, end in ((a1, 10.0, 30.0), (a2, 10.0, 60.0), (a4, 20.0, 40.0)):
        board.reserve(agent, "c", start)
        board.answer(agent, start)
        board.end_call(agent, end, wrap_up=False)
    board.reserve(a1, "c1", 80.0)
    board.answer(a1, 85.0)
    board.reserve(a3, "c3", 90.0)
    board.answer(a3, 91.0)
    assert [a.idle_since for a in (a1, a2, a3, a4)] == [30.0, 60.0, 0.0, 40.0]

    clock.run(until=100.0)
    # 3 must go: the ready ones, most recently idle first (a2, a4), then the busy a1 (idle
    # since 30, more recently than a3)
    assert _states(board) == {"agent-1": S.ON_CALL, "agent-2": S.OFFLINE,
                              "agent-3": S.ON_CALL, "agent-4": S.OFFLINE}
    assert a1.leaving and not a3.leaving
    assert board.working == 2
    board.end_call(a1, 150.0, wrap_up=False)
    assert a1.state is S.OFFLINE and a1.calls_handled == 2
    assert board.working == 1


def test_staffing_up_again_cancels_a_leave_then_reuses_logged_out_agents() -> None:
    clock = VirtualClock()
    board = AgentBoard()
    Staffing(clock, board, [(0.0, 2), (100.0, 0), (200.0, 3), (300.0, 0)])
    clock.run(until=0.0)
    a1, a2 = board["agent-1"], board["agent-2"]
    board.reserve(a1, "c1", 90.0)
    board.answer(a1, 95.0)
    clock.run(until=100.0)
    assert a1.state is S.ON_CALL and a1.leaving
    assert a2.state is S.OFFLINE

    clock.run(until=200.0)
    # a1 is kept (no longer leaving), a2 logs in again, one new agent is added
    assert not a1.leaving and a1.state is S.ON_CALL
    assert a2.state is S.READY and a2.since == 200.0 and a2.idle_since == 200.0
    assert [a.agent_id for a in board] == ["agent-1", "agent-2", "agent-3"]
    assert board["agent-3"].state is S.READY
    assert board.working == 3

    board.end_call(a1, 250.0)
    board.finish_work(a1, 260.0)
    assert a1.state is S.READY  # not leaving any more
    clock.run()
    assert all(a.state is S.OFFLINE for a in board)


def test_the_last_step_waits_while_draining() -> None:
    clock = VirtualClock()
    board = AgentBoard()
    Staffing(clock, board, [(0.0, 2), (100.0, 0)], prefix="bot",
             drain=lambda: clock.now() < 103.5)
    clock.run(until=103.0)
    assert _states(board) == {"bot-1": S.READY, "bot-2": S.READY}
    clock.run()
    assert _states(board) == {"bot-1": S.OFFLINE, "bot-2": S.OFFLINE}
    assert board["bot-1"].since == 104.0  # checked again every second: 101, 102, 103, 104


def test_paused_agents_count_as_staffed() -> None:
    clock = VirtualClock()
    board = AgentBoard()
    Staffing(clock, board, [(0.0, 2), (50.0, 2), (100.0, 1)])
    clock.run(until=0.0)
    board.move(board["agent-1"], S.PAUSED, 10.0, reason="break")
    clock.run(until=50.0)
    assert len(board) == 2  # nobody added for the paused agent
    clock.run(until=100.0)
    # ready agents leave first: the paused one stays logged in
    assert _states(board) == {"agent-1": S.PAUSED, "agent-2": S.OFFLINE}


# --- StateTimes -----------------------------------------------------------------------------------


def test_state_times_credit_logged_and_busy_seconds_per_bin() -> None:
    board = AgentBoard()
    times = StateTimes(board, bin_s=100.0, end=250.0)
    assert times.logged == [0.0, 0.0, 0.0] and times.busy == [0.0, 0.0, 0.0]
    a, b = board.add("a"), board.add("b")

    board.log_in(b, 0.0)
    board.log_out(b, 50.0)  # b: 0-50 logged, idle

    board.log_in(a, 30.0)  # ready 30-120
    board.reserve(a, "c1", 120.0)  # reserved 120-125: busy
    board.answer(a, 125.0)  # on call 125-180
    board.end_call(a, 180.0)  # wrap-up 180-190
    board.finish_work(a, 190.0)  # ready 190-200
    board.move(a, S.PAUSED, 200.0, reason="break")  # paused 200-220: not counted
    board.move(a, S.READY, 220.0)  # ready 220-240
    board.reserve(a, "c2", 240.0)  # reserved 240-245
    board.answer(a, 245.0)  # on call from 245, past the end (250)

    board.log_in(b, 260.0)  # after the end: never counted
    times.close(board, 300.0)

    assert times.logged == pytest.approx([50.0 + 70.0, 20 + 5 + 55 + 10 + 10, 20 + 5 + 5])
    assert times.busy == pytest.approx([0.0, 5 + 55 + 10, 5 + 5])
    assert times.occupancy == pytest.approx(80 / 250)


def test_state_times_split_a_long_stretch_over_bins_and_clip_at_end() -> None:
    board = AgentBoard()
    times = StateTimes(board, bin_s=60.0, end=200.0)
    assert len(times.logged) == 4  # 60, 60, 60 and a last 20
    agent = board.add("a")
    board.log_in(agent, 10.0)
    board.reserve(agent, "c", 10.0)
    board.answer(agent, 10.0)
    board.end_call(agent, 500.0)  # one call from 10 to 500: clipped at 200
    assert times.logged == pytest.approx([50.0, 60.0, 60.0, 20.0])
    assert times.busy == pytest.approx([50.0, 60.0, 60.0, 20.0])
    board.finish_work(agent, 600.0)
    times.close(board, 700.0)
    assert sum(times.logged) == pytest.approx(190.0)
    assert times.occupancy == pytest.approx(1.0)


def test_state_times_bins_for_an_exact_multiple() -> None:
    board = AgentBoard()
    times = StateTimes(board, bin_s=50.0, end=200.0)
    assert len(times.logged) == 4
    agent = board.add("a")
    board.log_in(agent, 0.0)
    times.close(board, 200.0)
    assert times.logged == [50.0, 50.0, 50.0, 50.0]
    assert times.busy == [0.0] * 4
    assert times.occupancy == 0.0


def test_state_times_close_twice_does_not_double_count() -> None:
    board = AgentBoard()
    times = StateTimes(board, bin_s=100.0, end=100.0)
    agent = board.add("a")
    board.log_in(agent, 0.0)
    board.reserve(agent, "c", 20.0)
    times.close(board, 40.0)
    times.close(board, 40.0)
    times.close(board, 60.0)
    assert times.logged == [60.0]
    assert times.busy == [40.0]
    assert StateTimes(AgentBoard(), 10.0, 10.0).occupancy == 0.0


def test_wrap_up_counts_as_busy_even_when_registered_after_a_dispatcher() -> None:
    board = AgentBoard()
    dispatcher = Dispatcher(board, LongestIdle(), lambda call, agent, now, decision: None)
    times = StateTimes(board, bin_s=100.0, end=100.0)  # after the dispatcher
    agent = board.add("a")
    board.log_in(agent, 0.0)  # ready 0-10
    dispatcher.offer(WaitingCall("c1", 10.0), 10.0)  # reserved 10-12
    board.answer(agent, 12.0)  # on call 12-40
    board.end_call(agent, 40.0)  # wrap-up 40-50
    dispatcher.offer(WaitingCall("c2", 45.0), 45.0)  # waits
    board.finish_work(agent, 50.0)  # READY, and at once RESERVED for c2 (50-60)
    times.close(board, 60.0)
    assert times.logged == [60.0]
    assert times.busy == [50.0]  # 10-50 and 50-60
