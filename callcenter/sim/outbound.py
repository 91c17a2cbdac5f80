"""One simulated outbound day: the server's :class:`~callcenter.dialer.loop.DialerLoop`, pacer,
dispatcher and agent state machine, against simulated callees and agents in virtual time.

Every list record's fate (answer or not, delays, what AMD will say, talk time) is drawn from
its own random stream in list order, so two pacing methods run on the same seed dial the same
people: comparisons are paired (common random numbers) and differences are not noise.

Counting (the workload README's rule): a person who answered is *abandoned* when no agent took
the call within the connect limit, or when AMD wrongly called them a machine; the rate divides
by every person who answered. A machine that AMD let through costs an agent ``machine_talk_s``.
"""

from __future__ import annotations

import random
from collections import deque
from dataclasses import dataclass, field

from callcenter.acd.agents import Agent, AgentBoard
from callcenter.acd.routing import make_routing
from callcenter.dialer.compliance import MIN_RING_S
from callcenter.dialer.loop import DialerLoop, Line
from callcenter.dialer.pacing import LineOutcome, Pacer
from callcenter.sim.clock import VirtualClock
from callcenter.sim.staffing import (
    Staffing,
    StateTimes,
    bin_count,
    hang_up_agent,
    ratios,
)
from callcenter.sim.workload import OutboundWorkload, Sampler

NO_ANSWER, BUSY, HUMAN, MACHINE = 0, 1, 2, 3


@dataclass(slots=True)
class Fate:
    """A list record's destiny, drawn before it is dialled."""

    u_outcome: float
    answer_delay: float
    decision: float
    u_amd: float
    talk: float
    wrapup: float
    busy_delay: float
    machine_talk: float
    kind: int = -1  # set when dialled (the hit rate may depend on the time of day)


@dataclass(slots=True)
class OutboundDay:
    """Counts of one simulated day (ground truth, not what the dialer saw)."""

    dials: int = 0
    humans: int = 0
    dropped: int = 0  # people not connected within the limit
    amd_hangups: int = 0  # people AMD called machines
    cancelled: int = 0  # lines the pacer hung up still ringing (after the minimum ring)
    connected: int = 0
    machines_connected: int = 0
    talk_s: float = 0.0
    humans_by_bin: list[int] = field(default_factory=list)
    abandoned_by_bin: list[int] = field(default_factory=list)

    @property
    def abandoned(self) -> int:
        return self.dropped + self.amd_hangups


class OutboundSimulation:
    """Build with a workload, a pacer and a seed; :meth:`run` returns the metrics."""

    def __init__(self, workload: OutboundWorkload, pacer: Pacer | None, seed: int, *,
                 routing: str = "fifo-longest-idle", bin_s: float = 900.0,
                 base_seed: int = 1) -> None:
        self.w = workload
        self.seed = seed
        self.clock = VirtualClock()
        self.board = AgentBoard()
        self.bin_s = bin_s
        bins = bin_count(workload.duration_s, bin_s)
        self.day = OutboundDay(humans_by_bin=[0] * bins, abandoned_by_bin=[0] * bins)
        self._record_rng = random.Random(f"{base_seed}:{seed}:records")
        self._draws = self._fate_samplers(self._record_rng)
        self._upcoming: deque[Fate] = deque()
        self.times = StateTimes(self.board, bin_s, workload.duration_s)
        #: when each busy agent will be free again (known to the clairvoyant bound only)
        self.free_at: dict[str, float] = {}
        # the last shift ends once every line already placed has been answered or dropped
        self.staffing = Staffing(self.clock, self.board, workload.staffing(),
                                 drain=lambda: self.loop.dialing + self.loop.waiting > 0)
        if pacer is None:  # the clairvoyant bound needs this world as its oracle
            from callcenter.sim.clairvoyant import Clairvoyant

            pacer = Clairvoyant(self)
        self.pacer = pacer
        routing_rng = random.Random(f"{base_seed}:{seed}:routing")
        self.loop = DialerLoop(self.clock, pacer, self.board, make_routing(routing, routing_rng),
                               self, self._next_record, stop_at=workload.duration_s,
                               min_ring_s=MIN_RING_S)

    # --- the call list -----------------------------------------------------------------------

    def _fate_samplers(self, rng: random.Random) -> tuple[
        Sampler, Sampler, Sampler, Sampler, Sampler, Sampler, Sampler
    ]:
        w = self.w
        return (rng.random, w.answer_delay_s.sampler(rng), w.amd.decision_s.sampler(rng),
                w.talk_s.sampler(rng), w.wrapup_s.sampler(rng), w.busy_delay_s.sampler(rng),
                w.machine_talk_s.sampler(rng))

    def _draw(self) -> Fate:
        uniform, answer, decision, talk, wrapup, busy, machine = self._draws
        return Fate(uniform(), answer(), decision(), uniform(), talk(), wrapup(), busy(),
                    machine())

    def peek(self, index: int) -> Fate:
        """The ``index``-th record still to be dialled (the clairvoyant's oracle)."""
        while len(self._upcoming) <= index:
            self._upcoming.append(self._draw())
        return self._upcoming[index]

    def _next_record(self) -> Fate:
        return self._upcoming.popleft() if self._upcoming else self._draw()

    def classify(self, fate: Fate, now: float) -> int:
        outcome = self.w.outcome
        human = outcome.human * self.w.human_multiplier(now) if self.w.hit_rate_profile \
            else outcome.human
        u = fate.u_outcome
        if u < human:
            kind = HUMAN
        elif u < human + outcome.machine:
            kind = MACHINE
        elif u < human + outcome.machine + outcome.busy:
            return BUSY
        else:
            return NO_ANSWER
        return kind if fate.answer_delay <= self.w.ring_timeout_s else NO_ANSWER

    def verdict_human(self, fate: Fate, kind: int) -> bool:
        amd = self.w.amd
        if kind == HUMAN:
            return fate.u_amd >= amd.human_as_machine
        return fate.u_amd < amd.machine_as_human

    # --- LinePort: the simulated telephone network ---------------------------------------

    def place(self, line: Line) -> None:
        fate: Fate = line.record
        now = self.clock.now()
        kind = fate.kind = self.classify(fate, now)
        self.day.dials += 1
        if kind == BUSY:
            self.clock.call_at(now + fate.busy_delay, self.loop.line_failed, line,
                               LineOutcome.BUSY)
        elif kind == NO_ANSWER:
            line.port_data = self.clock.call_at(now + self.w.ring_timeout_s,
                                                self.loop.line_failed, line,
                                                LineOutcome.NO_ANSWER)
        else:
            if kind == HUMAN:
                self.day.humans += 1
                self.day.humans_by_bin[self._bin(now)] += 1
            line.port_data = self.clock.call_at(now + fate.answer_delay + fate.decision,
                                                self._verdict, line)

    def cancel(self, line: Line) -> bool:
        fate: Fate = line.record
        now = self.clock.now()
        if fate.kind == BUSY or line.port_data is None:
            return False
        if fate.kind != NO_ANSWER and now - line.placed_at >= fate.answer_delay:
            return False  # answered: AMD is listening, too late to hang up unanswered
        line.port_data.cancel()
        line.port_data = None
        self.day.cancelled += 1
        if fate.kind == HUMAN:  # they never answered: not a person who answered
            self.day.humans -= 1
            self.day.humans_by_bin[self._bin(line.placed_at)] -= 1
        self.loop.line_failed(line, LineOutcome.CANCELLED)
        return True

    def _bin(self, now: float) -> int:
        return min(int(now // self.bin_s), len(self.day.humans_by_bin) - 1)

    def _verdict(self, line: Line) -> None:
        fate: Fate = line.record
        line.port_data = None
        if not self.verdict_human(fate, fate.kind):
            if fate.kind == HUMAN:
                self.day.amd_hangups += 1
                self.day.abandoned_by_bin[self._bin(line.placed_at)] += 1
            self.loop.line_failed(line, LineOutcome.MACHINE)
            return
        self.loop.line_human(line)
        if line.stage == "waiting":
            line.port_data = self.clock.call_at(self.clock.now() + self.w.connect_limit_s,
                                                self._drop, line)

    def _drop(self, line: Line) -> None:
        fate: Fate = line.record
        if fate.kind == HUMAN:
            self.day.dropped += 1
            self.day.abandoned_by_bin[self._bin(line.placed_at)] += 1
        self.loop.line_dropped(line)

    def connect(self, line: Line, agent: Agent) -> None:
        if line.port_data is not None:
            line.port_data.cancel()
        fate: Fate = line.record
        now = self.clock.now()
        self.board.answer(agent, now)
        self.loop.line_bridged(line)  # simulated agents answer at once
        if fate.kind == HUMAN:
            talk = fate.talk
            self.day.connected += 1
            self.day.talk_s += max(0.0, min(talk, self.w.duration_s - now))
        else:
            talk = fate.machine_talk
            self.day.machines_connected += 1
        self.free_at[agent.agent_id] = now + talk + fate.wrapup
        self.clock.call_at(now + talk, self._hangup, line, agent, fate.wrapup)

    def _hangup(self, line: Line, agent: Agent, wrapup: float) -> None:
        self.loop.line_ended(line)
        hang_up_agent(self.clock, self.board, agent, wrapup)

    # --- run -----------------------------------------------------------------------------------

    def run(self) -> dict[str, object]:
        self.loop.start()
        self.clock.run()
        self.times.close(self.board, self.clock.now())
        return self.metrics()

    def metrics(self) -> dict[str, object]:
        day, w = self.day, self.w
        staffed_h = w.staffed_seconds() / 3600.0
        times = self.times
        return {
            "seed": self.seed,
            "talk_min_per_agent_hour": day.talk_s / 60.0 / staffed_h if staffed_h else 0.0,
            "occupancy": times.occupancy,
            "abandon_rate": day.abandoned / day.humans if day.humans else 0.0,
            "dials_per_agent_hour": day.dials / staffed_h if staffed_h else 0.0,
            "dials": day.dials,
            "humans": day.humans,
            "connected": day.connected,
            "dropped": day.dropped,
            "amd_hangups": day.amd_hangups,
            "machines_connected": day.machines_connected,
            "cancelled": day.cancelled,
            "events": self.clock.events_run,
            "series": {
                "bin_s": self.bin_s,
                "occupancy": times.occupancy_series(),
                "abandon_rate": ratios(day.abandoned_by_bin, day.humans_by_bin),
            },
        }
