"""The sans-I/O dialer loop over a virtual clock, a scripted pacer and a recording line port;
and the virtual clock it runs on."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from callcenter.acd.agents import Agent, AgentBoard, AgentState
from callcenter.acd.routing import LongestIdle
from callcenter.dialer.loop import DialerLoop, Line
from callcenter.dialer.pacing import DialerSnapshot, LineOutcome
from callcenter.sim.clock import VirtualClock

S = AgentState
Out = LineOutcome


class ScriptedPacer:
    """Asks for ``script[i]`` lines at its i-th decision (then 0), every ``step`` seconds."""

    name = "scripted"

    def __init__(self, script: list[int], step: float = 1.0) -> None:
        self.script = list(script)
        self.step = step
        self.snapshots: list[DialerSnapshot] = []
        self.outcomes: list[tuple[LineOutcome, float]] = []

    def decide(self, snapshot: DialerSnapshot) -> int:
        i = len(self.snapshots)
        self.snapshots.append(snapshot)
        return self.script[i] if i < len(self.script) else 0

    def record(self, outcome: LineOutcome, now: float) -> None:
        self.outcomes.append((outcome, now))

    def next_decision_at(self, now: float) -> float:
        return now + self.step

    def count(self, outcome: LineOutcome) -> int:
        return sum(1 for o, _ in self.outcomes if o is outcome)


class RecordingPort:
    """Records what the loop asks; the agent answers at once (as the simulator's do)."""

    def __init__(self, clock: VirtualClock) -> None:
        self.clock = clock
        self.loop: DialerLoop | None = None
        self.placed: list[tuple[float, str, Any]] = []
        self.lines: list[Line] = []
        self.connects: list[tuple[float, str, str, AgentState, str | None]] = []
        self.hang_ups: list[str] = []
        self.refuse: set[str] = set()

    def place(self, line: Line) -> None:
        self.placed.append((self.clock.now(), line.line_id, line.record))
        self.lines.append(line)

    def connect(self, line: Line, agent: Agent) -> None:
        self.connects.append((self.clock.now(), line.line_id, agent.agent_id, agent.state,
                              agent.call_id))
        assert self.loop is not None
        self.loop.line_bridged(line)

    def cancel(self, line: Line) -> bool:
        """A hang-up is asked; the port reports its end later (or refuses: ``refuse``)."""
        self.hang_ups.append(line.line_id)
        return line.line_id not in self.refuse


def _records(n: int) -> Iterator[str]:
    return iter(f"555-{i:04d}" for i in range(1, n + 1))


def _loop(script: list[int], *, agents: int = 0, records: int = 1000,
          stop_at: float | None = 10.0, step: float = 1.0, pacer: ScriptedPacer | None = None,
          min_ring_s: float | None = None,
          ) -> tuple[DialerLoop, VirtualClock, ScriptedPacer, RecordingPort, AgentBoard]:
    clock = VirtualClock()
    board = AgentBoard()
    for i in range(1, agents + 1):
        board.log_in(board.add(f"a{i}"), 0.0)
    pacer = pacer or ScriptedPacer(script, step)
    port = RecordingPort(clock)
    source = _records(records)
    loop = DialerLoop(clock, pacer, board, LongestIdle(), port, lambda: next(source, None),
                      stop_at=stop_at, min_ring_s=min_ring_s)
    port.loop = loop
    return loop, clock, pacer, port, board


def _dial(script: list[int], **kwargs: Any
          ) -> tuple[DialerLoop, VirtualClock, ScriptedPacer, RecordingPort, AgentBoard]:
    """Start the loop and run its first decision only (time 0)."""
    loop, clock, pacer, port, board = _loop(script, **kwargs)
    loop.start()
    clock.run(until=0.0)
    return loop, clock, pacer, port, board


# --- pacing decisions become lines ----------------------------------------------------------------


def test_places_exactly_what_the_pacer_asks_until_stop_at() -> None:
    loop, clock, pacer, port, _ = _loop([2, 0, 3, 1, 5, 4], stop_at=4.0)
    loop.start()
    clock.run()
    # decisions at 0, 1, 2, 3; at 4 (stop_at) the loop stops without asking or placing
    assert [s.now for s in pacer.snapshots] == [0.0, 1.0, 2.0, 3.0]
    assert [(t, line_id) for t, line_id, _ in port.placed] == [
        (0.0, "line-1"), (0.0, "line-2"), (2.0, "line-3"), (2.0, "line-4"), (2.0, "line-5"),
        (3.0, "line-6")]
    assert [record for _, _, record in port.placed] == [
        "555-0001", "555-0002", "555-0003", "555-0004", "555-0005", "555-0006"]
    assert loop.placed == 6
    assert loop.dialing == 6
    assert sorted(loop.lines) == [f"line-{i}" for i in range(1, 7)]
    assert pacer.outcomes == [(Out.DIALED, 0.0), (Out.DIALED, 0.0), (Out.DIALED, 2.0),
                              (Out.DIALED, 2.0), (Out.DIALED, 2.0), (Out.DIALED, 3.0)]
    assert clock.now() == 4.0
    assert clock.pending == 0  # no further decision scheduled
    assert not loop.exhausted


def test_the_pacer_sees_the_lines_it_placed() -> None:
    loop, clock, pacer, _, _ = _loop([3, 1, 0], agents=2, stop_at=3.0)
    loop.start()
    clock.run()
    assert [(s.dialing, s.ready, s.working) for s in pacer.snapshots] == [
        (0, 2, 2), (3, 2, 2), (4, 2, 2)]
    assert loop.placed == 4


def test_decisions_follow_next_decision_at() -> None:
    loop, clock, pacer, port, _ = _loop([1, 1, 1, 1], step=2.5, stop_at=7.0)
    loop.start()
    clock.run()
    assert [s.now for s in pacer.snapshots] == [0.0, 2.5, 5.0]
    assert [t for t, _, _ in port.placed] == [0.0, 2.5, 5.0]


def test_stop_cancels_the_next_decision() -> None:
    loop, clock, pacer, port, _ = _loop([1, 1, 1, 1, 1], stop_at=None)
    loop.start()
    clock.run(until=1.5)
    assert loop.placed == 2
    loop.stop()
    clock.run(until=10.0)
    assert loop.placed == 2
    assert len(pacer.snapshots) == 2
    assert len(port.placed) == 2


def test_lines_in_progress_still_report_after_stop_at() -> None:
    loop, clock, pacer, port, _ = _loop([2], stop_at=1.0)
    loop.start()
    clock.run()
    first, second = port.lines
    loop.line_failed(first, Out.BUSY)
    clock.call_at(30.0, loop.line_human, second)
    clock.run()
    assert (loop.dialing, loop.waiting, loop.placed) == (0, 1, 2)
    assert pacer.outcomes[-2:] == [(Out.BUSY, 1.0), (Out.HUMAN, 30.0)]


def test_an_exhausted_list_stops_placing() -> None:
    loop, clock, pacer, port, _ = _loop([2, 2, 2, 2], records=3, stop_at=4.0)
    loop.start()
    clock.run(until=0.5)
    assert loop.placed == 2 and not loop.exhausted
    clock.run(until=1.5)
    assert loop.placed == 3  # the second decision wanted 2, the list had 1 left
    assert loop.exhausted
    clock.run()
    assert loop.placed == 3
    assert [line_id for _, line_id, _ in port.placed] == ["line-1", "line-2", "line-3"]
    assert pacer.count(Out.DIALED) == 3
    assert loop.dialing == 3


def test_an_empty_list_places_nothing() -> None:
    loop, _, _, port, _ = _dial([5], records=0)
    assert loop.exhausted
    assert loop.placed == 0 and port.placed == [] and loop.dialing == 0


# --- what the port reports ------------------------------------------------------------------------


def test_failed_dropped_and_ended_lines_update_the_counters() -> None:
    loop, clock, pacer, port, board = _dial([5], agents=1)
    agent = board["a1"]
    board.move(agent, S.PAUSED, 0.0, reason="briefing")  # nobody ready for now
    l1, l2, l3, l4, l5 = port.lines
    assert (loop.dialing, loop.waiting, loop.connected) == (5, 0, 0)

    clock.run(until=20.0)
    loop.line_failed(l1, Out.NO_ANSWER)
    loop.line_failed(l2, Out.MACHINE)
    assert (loop.dialing, loop.waiting, loop.connected) == (3, 0, 0)
    assert l1.stage == "ended" and "line-1" not in loop.lines

    clock.run(until=21.0)
    assert loop.line_human(l3) is None
    assert loop.line_human(l4) is None
    assert (loop.dialing, loop.waiting, loop.connected) == (1, 2, 0)
    assert l3.stage == "waiting" and l3.answered_at == 21.0
    assert loop.dispatcher.queue_length == 2

    clock.run(until=23.0)
    loop.line_dropped(l3)
    assert (loop.dialing, loop.waiting, loop.connected) == (1, 1, 0)
    assert loop.dispatcher.queue_length == 1 and "line-3" not in loop.dispatcher.waiting

    snap = loop.snapshot()
    assert (snap.now, snap.dialing, snap.waiting, snap.connected) == (23.0, 1, 1, 0)
    assert (snap.ready, snap.paused, snap.working, snap.lines_in_use) == (0, 1, 0, 2)

    clock.run(until=24.0)
    board.move(agent, S.READY, 24.0)  # back: takes the person still waiting on line 4
    assert port.connects == [(24.0, "line-4", "a1", S.RESERVED, "line-4")]
    assert (loop.dialing, loop.waiting, loop.connected) == (1, 0, 1)
    board.answer(agent, 24.5)
    snap = loop.snapshot()
    assert (snap.on_call, snap.connected, snap.lines_in_use) == (1, 1, 2)

    clock.run(until=90.0)
    loop.line_ended(l4)
    loop.line_failed(l5, Out.BUSY)
    assert (loop.dialing, loop.waiting, loop.connected) == (0, 0, 0)
    assert loop.lines == {}
    assert pacer.outcomes[5:] == [
        (Out.NO_ANSWER, 20.0), (Out.MACHINE, 20.0), (Out.HUMAN, 21.0), (Out.HUMAN, 21.0),
        (Out.DROPPED, 23.0), (Out.CONNECTED, 24.0), (Out.BUSY, 90.0)]
    assert [ln.stage for ln in (l1, l2, l3, l4, l5)] == ["ended"] * 5


def test_a_person_answering_with_an_agent_ready_is_connected_at_once() -> None:
    loop, clock, pacer, port, board = _loop([2], agents=0)
    a1, a2 = board.add("a1"), board.add("a2")
    board.log_in(a1, 0.0)
    board.log_in(a2, -5.0)  # idle the longest
    loop.start()
    clock.run(until=0.0)
    line = port.lines[0]
    clock.run(until=12.0)
    got = loop.line_human(line)
    assert got is a2
    assert a2.state is S.RESERVED and a2.call_id == "line-1"
    assert a1.state is S.READY
    assert port.connects == [(12.0, "line-1", "a2", S.RESERVED, "line-1")]
    assert line.stage == "connected" and line.agent_id == "a2" and line.answered_at == 12.0
    assert (loop.dialing, loop.waiting, loop.connected) == (1, 0, 1)
    assert pacer.outcomes[2:] == [(Out.HUMAN, 12.0), (Out.CONNECTED, 12.0)]
    assert loop.dispatcher.queue_length == 0


def test_a_person_waits_until_an_agent_finishes_work() -> None:
    loop, clock, pacer, port, board = _dial([2], agents=1)
    agent = board["a1"]
    first, second = port.lines
    clock.run(until=5.0)
    assert loop.line_human(first) is agent
    board.answer(agent, 5.0)
    clock.run(until=8.0)
    assert loop.line_human(second) is None  # the only agent is on the first call
    assert (loop.waiting, loop.connected) == (1, 1)
    assert len(port.connects) == 1
    assert second.stage == "waiting"

    clock.call_at(60.0, board.end_call, agent, 60.0)
    clock.call_at(70.0, board.finish_work, agent, 70.0)
    clock.call_at(60.0, loop.line_ended, first)
    clock.run(until=65.0)
    assert len(port.connects) == 1  # wrapping up: not yet
    clock.run(until=80.0)
    assert port.connects[1] == (70.0, "line-2", "a1", S.RESERVED, "line-2")
    assert second.stage == "connected" and second.agent_id == "a1"
    assert (loop.dialing, loop.waiting, loop.connected) == (0, 0, 1)
    assert pacer.outcomes[2:] == [(Out.HUMAN, 5.0), (Out.CONNECTED, 5.0), (Out.HUMAN, 8.0),
                                  (Out.CONNECTED, 70.0)]
    assert agent.calls_handled == 1


@pytest.mark.parametrize("report", ["failed", "human", "dropped", "ended"])
def test_an_outcome_in_the_wrong_stage_is_refused(report: str) -> None:
    loop, _, pacer, port, board = _dial([3], agents=1)
    dialing, waiting_line, connected_line = port.lines
    assert loop.line_human(connected_line) is board["a1"]
    assert loop.line_human(waiting_line) is None
    ended = Line("line-x", "555-9999", 0.0, stage="ended")
    wrong: dict[str, list[Any]] = {
        "failed": [lambda line: loop.line_failed(line, Out.BUSY), waiting_line, connected_line,
                   ended],
        "human": [loop.line_human, waiting_line, connected_line, ended],
        "dropped": [loop.line_dropped, dialing, connected_line, ended],
        "ended": [loop.line_ended, dialing, waiting_line, ended],
    }
    report_fn, *lines = wrong[report]
    before = (loop.dialing, loop.waiting, loop.connected, len(pacer.outcomes), len(loop.lines))
    for line in lines:
        stage = line.stage
        with pytest.raises(ValueError, match=f"{line.line_id}: .* stage {stage}"):
            report_fn(line)
        assert line.stage == stage
    assert (loop.dialing, loop.waiting, loop.connected, len(pacer.outcomes),
            len(loop.lines)) == before


def test_a_line_reported_twice_is_refused() -> None:
    loop, _, _, port, _ = _dial([1])
    line = port.lines[0]
    loop.line_failed(line, Out.NO_ANSWER)
    with pytest.raises(ValueError, match="line-1"):
        loop.line_failed(line, Out.NO_ANSWER)
    assert loop.dialing == 0


def test_snapshot_counts_agents_by_state() -> None:
    loop, _, _, _, board = _loop([], agents=5)
    a1, a2, a3, a4, a5 = (board[f"a{i}"] for i in range(1, 6))
    board.reserve(a2, "x", 1.0)
    board.reserve(a3, "y", 1.0)
    board.answer(a3, 2.0)
    board.reserve(a4, "z", 1.0)
    board.answer(a4, 2.0)
    board.end_call(a4, 3.0)
    board.move(a5, S.PAUSED, 1.0, reason="break")
    board.add("a6")
    snap = loop.snapshot()
    assert (snap.ready, snap.reserved, snap.on_call, snap.wrap_up, snap.paused) == (1, 1, 1, 1, 1)
    assert snap.working == 4
    assert a1.state is S.READY
    assert (snap.dialing, snap.waiting, snap.connected, snap.lines_in_use) == (0, 0, 0, 0)


# --- the virtual clock ----------------------------------------------------------------------------


def test_virtual_clock_runs_timers_in_time_order_and_ties_in_scheduling_order() -> None:
    clock = VirtualClock()
    ran: list[tuple[str, float]] = []

    def note(name: str) -> None:
        ran.append((name, clock.now()))

    clock.call_at(5.0, note, "e")
    clock.call_at(2.0, note, "b")
    clock.call_at(5.0, note, "f")
    clock.call_at(1.0, note, "a")
    clock.call_at(2.0, note, "c")
    clock.call_at(3.0, lambda: clock.call_at(3.0, note, "d"))  # same time, scheduled later
    clock.call_at(3.0, note, "c2")
    clock.run()
    assert ran == [("a", 1.0), ("b", 2.0), ("c", 2.0), ("c2", 3.0), ("d", 3.0), ("e", 5.0),
                   ("f", 5.0)]
    assert clock.events_run == 8
    assert clock.now() == 5.0


def test_virtual_clock_cancel_and_run_until() -> None:
    clock = VirtualClock(start=100.0)
    ran: list[float] = []
    clock.call_at(110.0, lambda: ran.append(clock.now()))
    cancelled = clock.call_at(120.0, lambda: ran.append(clock.now()))
    clock.call_later(30.0, lambda: ran.append(clock.now()))
    clock.call_at(50.0, lambda: ran.append(clock.now()))  # in the past: runs now
    cancelled.cancel()
    clock.run(until=115.0)
    assert ran == [100.0, 110.0]
    assert clock.now() == 115.0
    clock.run(until=125.0)
    assert ran == [100.0, 110.0]  # the 120 timer was cancelled
    assert clock.now() == 125.0
    clock.run(until=130.0)  # inclusive
    assert ran == [100.0, 110.0, 130.0]
    assert clock.now() == 130.0
    clock.run(until=200.0)  # nothing left: time still moves to ``until``
    assert clock.now() == 200.0
    assert clock.events_run == 3
    assert clock.pending == 0


def test_an_agent_reserved_but_never_bridged_makes_a_drop_not_a_connect() -> None:
    """Reserving an agent is not connecting the person: until the port reports the bridge
    the line is 'connecting', and a person lost then is an abandoned call for the law."""
    loop, clock, pacer, port, _ = _dial([1], agents=1)
    port.connect = lambda line, agent: port.connects.append(  # type: ignore[method-assign]
        (clock.now(), line.line_id, agent.agent_id, agent.state, agent.call_id))
    line = port.lines[0]
    loop.line_human(line)
    assert line.stage == "connecting" and loop.connected == 1
    assert pacer.count(Out.CONNECTED) == 0
    with pytest.raises(ValueError, match="end reported in stage connecting"):
        loop.line_ended(line)
    loop.line_dropped(line)
    assert [o for o, _ in pacer.outcomes] == [Out.DIALED, Out.HUMAN, Out.DROPPED]
    assert (loop.connected, loop.waiting, loop.dialing) == (0, 0, 0)


# --- a preview dial goes to the agent who asked for it -----------------------------------------


def test_a_preview_line_goes_to_the_agent_who_dialled_when_free() -> None:
    """LongestIdle would pick a1 (idle since 0, like the others, first in order); the line an
    agent dialled goes to that agent (a3) instead."""
    loop, _clock, _, port, board = _loop([], agents=3, stop_at=None)
    loop.place_now("555-9999", agent_id="a3")
    line = port.lines[-1]
    assert line.preferred_agent == "a3"
    loop.line_human(line)
    assert [agent for _, _, agent, _, _ in port.connects] == ["a3"]
    assert board["a3"].state is S.RESERVED
    loop.place_now("555-9998")  # no dialler: the routing's own pick
    loop.line_human(port.lines[-1])
    assert [agent for _, _, agent, _, _ in port.connects] == ["a3", "a1"]


def test_a_preview_line_goes_to_another_agent_when_the_dialler_is_taken() -> None:
    """The person already answered: waiting for one busy agent would drop the call (an
    abandoned call for the law), so any free agent takes it."""
    loop, _clock, _, port, board = _loop([], agents=2, stop_at=None)
    loop.place_now("555-9999", agent_id="a2")
    board.move(board["a2"], S.PAUSED, 0.5, reason="lunch")
    loop.line_human(port.lines[-1])
    assert [agent for _, _, agent, _, _ in port.connects] == ["a1"]


def test_a_preview_line_goes_to_another_agent_when_the_dialler_was_rung_meanwhile() -> None:
    """Another server process rang the held agent for an inbound caller before it heard of the
    hold: the agent's phone rings for that call (``hold_broken``), so the person who answers
    goes to a free agent, and no let-go of the hold frees the busy agent."""
    loop, _clock, _, port, board = _loop([], agents=2, stop_at=None)
    loop.place_now("555-9999", agent_id="a2")
    assert board["a2"].held_for == port.lines[-1].line_id
    board.hold_broken(board["a2"], "inbound-call-4")
    loop.line_human(port.lines[-1])
    assert [agent for _, _, agent, _, _ in port.connects] == ["a1"]
    assert board["a2"].state is S.RESERVED and board["a2"].call_id == "inbound-call-4"


class HangUpAll(ScriptedPacer):
    """A detailed pacer that asks, at every decision, to hang up every line still ringing."""

    wants_detail = True

    def record_line(self, outcome: LineOutcome, placed_at: float, now: float) -> None:
        pass

    def cancel_lines(self, snapshot: DialerSnapshot, min_ring_s: float) -> list[int]:
        return list(range(len(snapshot.dialing_since)))


def test_the_loop_keeps_the_minimum_ring_whatever_the_pacer_asks() -> None:
    """The loop hangs up only lines that rang ``min_ring_s``, only through the port, and a
    refused hang-up leaves the line dialing; lines on their way down leave the detail."""
    loop, clock, _, port, _ = _loop([], stop_at=None, pacer=HangUpAll([3]), min_ring_s=15.0)
    port.refuse.add("line-2")
    loop.start()
    clock.run(until=14.5)
    assert port.hang_ups == []  # asked every second, too young every time
    clock.run(until=15.5)
    assert sorted(port.hang_ups) == ["line-1", "line-2", "line-3"]
    assert loop.cancelled == 2 and loop.dialing == 3  # the port ends them, not the loop
    assert loop.snapshot().dialing_since == (0.0,)  # only line-2 still counts as ringing
    never, *_ = _loop([], stop_at=None, pacer=HangUpAll([3]))
    assert never.min_ring_s is None  # without a minimum ring set, nothing is ever hung up


def test_a_preview_dial_holds_its_agent_while_the_line_rings() -> None:
    """The agent who dials a preview is reserved for that line: an inbound caller arriving
    meanwhile goes elsewhere, the person who answers comes to that agent, and a line that ends
    without a person gives the agent back."""
    from callcenter.acd.dispatcher import Dispatcher, WaitingCall

    loop, _, _, port, board = _loop([], agents=2, stop_at=None)
    inbound: list[tuple[str, str]] = []
    queue = Dispatcher(board, LongestIdle(),
                       lambda call, agent, now, d: inbound.append((call.call_id, agent.agent_id)))
    loop.place_now("lead-a", "a1")
    first = port.lines[-1]
    assert board["a1"].state is S.RESERVED and first.holds_agent
    # an inbound caller meanwhile: not to the agent holding the preview line
    queue.offer(WaitingCall("in-1", 1.0), 1.0)
    assert inbound == [("in-1", "a2")]
    # the person answers: straight to the agent who dialled
    assert loop.line_human(first) is board["a1"]
    assert [(line_id, agent) for _, line_id, agent, _, _ in port.connects] == [
        (first.line_id, "a1")]
    # a second preview that nobody answers gives its agent back, ready
    board.move(board["a2"], S.READY, 2.0)
    loop.place_now("lead-b", "a2")
    assert board["a2"].state is S.RESERVED
    loop.line_failed(port.lines[-1], Out.NO_ANSWER)
    assert board["a2"].state is S.READY
