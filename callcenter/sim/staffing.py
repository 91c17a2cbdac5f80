"""Simulated agents logging in and out on the workload's schedule, and the time they spend in
each state (occupancy over the day)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from callcenter.acd.agents import Agent, AgentBoard, AgentState, AgentTransition
from callcenter.core.clock import Clock

_BUSY = (AgentState.RESERVED, AgentState.ON_CALL, AgentState.WRAP_UP)


def bin_count(end: float, bin_s: float) -> int:
    """How many ``bin_s`` bins cover ``[0, end)`` (the last one may be partial)."""
    return int(end // bin_s) + (1 if end % bin_s else 0)


def ratios(numerators: list[float] | list[int], denominators: list[float] | list[int]
           ) -> list[float]:
    """Per-bin ratios (0 where the denominator is 0)."""
    return [n / d if d else 0.0 for n, d in zip(numerators, denominators, strict=True)]


def hang_up_agent(clock: Clock, board: AgentBoard, agent: Agent, wrapup_s: float) -> None:
    """A simulated agent's call ended: wrap-up for ``wrapup_s`` then ready (or straight back)."""
    now = clock.now()
    board.end_call(agent, now, wrap_up=wrapup_s > 0)
    if wrapup_s > 0:
        clock.call_at(now + wrapup_s, _wrapped, clock, board, agent)


def _wrapped(clock: Clock, board: AgentBoard, agent: Agent) -> None:
    board.finish_work(agent, clock.now())


class Staffing:
    """Keeps the number of logged-in agents at the schedule's count. Extra agents leave at once
    when ready, else at the end of their current call and wrap-up (nobody hangs up on a
    customer because a shift ended)."""

    def __init__(self, clock: Clock, board: AgentBoard, steps: Sequence[tuple[float, int]],
                 *, prefix: str = "agent", drain: Callable[[], bool] | None = None,
                 new_agent: Callable[[str, float], Agent] | None = None) -> None:
        self.clock = clock
        self.board = board
        self.prefix = prefix
        #: builds the n-th agent hired (``(agent_id, now)``; default: no skills)
        self.new_agent = new_agent or (lambda agent_id, now: board.add(agent_id, now=now))
        #: at the last step (end of day): wait while ``drain()`` is true before logging out
        self.drain = drain
        last = len(steps) - 1
        for i, (t, count) in enumerate(steps):
            clock.call_at(t, self._closing if i == last else self.set_count, count)

    def _closing(self, count: int) -> None:
        if self.drain is not None and self.drain():
            self.clock.call_at(self.clock.now() + 1.0, self._closing, count)
        else:
            self.set_count(count)

    def set_count(self, count: int) -> None:
        now = self.clock.now()
        board = self.board
        staying = [a for a in board if a.state is not AgentState.OFFLINE and not a.leaving]
        missing = count - len(staying)
        if missing > 0:
            for agent in board:
                if missing and agent.leaving:
                    agent.leaving = False
                    missing -= 1
            for agent in board:
                if missing and agent.state is AgentState.OFFLINE:
                    board.log_in(agent, now)
                    missing -= 1
            while missing:
                agent = self.new_agent(f"{self.prefix}-{len(board) + 1}", now)
                board.log_in(agent, now)
                missing -= 1
        elif missing < 0:
            excess = -missing
            # ready agents first (nothing interrupted), the most recently idle among them
            order = sorted(staying, key=lambda a: (a.state is not AgentState.READY,
                                                   -a.idle_since))
            for agent in order[:excess]:
                board.log_out(agent, now)


class StateTimes:
    """Per time bin: seconds agents were logged in and seconds they were busy (reserved, on a
    call, wrapping up). A board listener; time past ``end`` is not counted."""

    def __init__(self, board: AgentBoard, bin_s: float, end: float) -> None:
        self.bin_s = bin_s
        self.end = end
        bins = bin_count(end, bin_s)
        self.logged = [0.0] * bins
        self.busy = [0.0] * bins
        #: agent -> (state, since) as this listener last saw it
        self._last: dict[str, tuple[AgentState, float]] = {}
        board.listeners.append(self._on_change)

    def _credit(self, series: list[float], start: float, stop: float) -> None:
        stop = min(stop, self.end)
        if stop <= start:
            return
        bin_s = self.bin_s
        i = int(start // bin_s)
        while start < stop:
            edge = min((i + 1) * bin_s, stop)
            series[i] += edge - start
            start = edge
            i += 1

    def _on_change(self, move: AgentTransition) -> None:
        now = move.at
        state = move.previous
        _, since = self._last.get(move.agent_id, (state, now))
        self._last[move.agent_id] = (move.state, now)
        if state is AgentState.OFFLINE or state is AgentState.PAUSED:
            return
        self._credit(self.logged, since, now)
        if state in _BUSY:
            self._credit(self.busy, since, now)

    def close(self, board: AgentBoard, now: float) -> None:
        """Credit the agents still logged in up to ``now``."""
        for agent in board:
            state, since = self._last.get(agent.agent_id, (agent.state, now))
            if state not in (AgentState.OFFLINE, AgentState.PAUSED):
                self._credit(self.logged, since, now)
                if state in _BUSY:
                    self._credit(self.busy, since, now)
            self._last[agent.agent_id] = (state, now)

    def occupancy_series(self) -> list[float]:
        return ratios(self.busy, self.logged)

    @property
    def occupancy(self) -> float:
        logged = sum(self.logged)
        return sum(self.busy) / logged if logged else 0.0
