"""One simulated inbound day: Poisson callers (piecewise-constant rates) with patience, queued
by the server's :class:`~callcenter.acd.dispatcher.Dispatcher` (priority from the customer's
class, then arrival order) and routed by the chosen strategy to agents on the schedule.

After the day ends no new caller arrives; agents stay until the queue is empty, so every
caller who arrived is either served, abandoned or (with a max wait) timed out. Occupancy counts
the day only.

With ``agent_groups`` in the workload, agents are dealt to groups as they are hired (skills
with levels, a handle-time multiplier applied to the caller's drawn service time) and a class's
``skills`` are required of the agent: then which agent a strategy picks changes the service.

A workload may also give the queue's rules the server applies (optional fields): ``max_wait_s``
(a caller still in line leaves it, ``timed_out``) and a class's ``overflow_after_s`` (its
caller is then offered to every agent, keeping its place: ``overflowed``). When each falls due
is decided by the server's own pure policy (:func:`callcenter.acd.queue_policy.next_due`), so a
what-if run answers for the rules the server would run.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from callcenter.acd.agents import Agent, AgentBoard
from callcenter.acd.definitions import QueueDefinition
from callcenter.acd.dispatcher import Dispatcher, RoutingDecision, WaitingCall
from callcenter.acd.queue_policy import Step, Timeline, next_due
from callcenter.acd.routing import make_routing
from callcenter.sim.clock import VirtualClock
from callcenter.sim.staffing import Staffing, StateTimes, bin_count, hang_up_agent, ratios
from callcenter.sim.workload import AgentGroup, InboundWorkload


def deal_groups(groups: list[AgentGroup], count: int) -> list[int]:
    """Group index of the 1st..``count``-th agent hired: each goes to the group furthest below
    its share so far (ties: the first listed), so any first ``n`` agents hold the mix."""
    dealt = [0] * len(groups)
    order = []
    for n in range(1, count + 1):
        best = max(range(len(groups)), key=lambda g: (groups[g].share * n - dealt[g], -g))
        dealt[best] += 1
        order.append(best)
    return order


@dataclass(slots=True)
class ClassCounts:
    offered: int = 0
    answered: int = 0
    abandoned: int = 0
    within_sl: int = 0
    waited: int = 0
    wait_s: float = 0.0
    #: sent away by the max wait (not served, not abandoned)
    timed_out: int = 0
    #: offered to every agent after the class's overflow time
    overflowed: int = 0

    def metrics(self) -> dict[str, float]:
        finished = self.answered + self.abandoned + self.timed_out
        return {
            "offered": self.offered,
            "answered": self.answered,
            "abandoned": self.abandoned,
            "timed_out": self.timed_out,
            "overflowed": self.overflowed,
            "service_level": self.within_sl / finished if finished else 0.0,
            "asa_s": self.wait_s / self.answered if self.answered else 0.0,
            "abandon_rate": self.abandoned / finished if finished else 0.0,
            "p_wait": self.waited / finished if finished else 0.0,
        }


def _rules(workload: InboundWorkload, overflow_after_s: float | None) -> QueueDefinition:
    """The queue a class's callers wait in, as far as its steps go: the workload's max wait,
    the class's overflow (to "any agent", which the simulation does by dropping the class's
    skills from the call)."""
    return QueueDefinition("simulated", max_wait_s=workload.max_wait_s,
                           overflow_queue="any-agent" if overflow_after_s else None,
                           overflow_after_s=overflow_after_s)


@dataclass(slots=True)
class _Caller:
    call: WaitingCall
    service: float
    patience_timer: object = None
    #: the queue's steps for this caller (max wait, overflow): the server's own policy
    timeline: Timeline | None = None
    step_timer: object = None


@dataclass(slots=True)
class InboundDay:
    total: ClassCounts = field(default_factory=ClassCounts)
    by_class: dict[str, ClassCounts] = field(default_factory=dict)
    offered_by_bin: list[int] = field(default_factory=list)
    abandoned_by_bin: list[int] = field(default_factory=list)


class InboundSimulation:
    def __init__(self, workload: InboundWorkload, seed: int, *,
                 routing: str = "fifo-longest-idle", bin_s: float = 900.0,
                 base_seed: int = 1) -> None:
        self.w = workload
        self.seed = seed
        self.bin_s = bin_s
        self.clock = VirtualClock()
        self.board = AgentBoard()
        bins = bin_count(workload.duration_s, bin_s)
        self.day = InboundDay(offered_by_bin=[0] * bins, abandoned_by_bin=[0] * bins)
        for klass in workload.classes:
            self.day.by_class[klass.name] = ClassCounts()
        arrivals_rng = random.Random(f"{base_seed}:{seed}:arrivals")
        self._gap = arrivals_rng.expovariate
        self._pick_class = arrivals_rng.random
        callers_rng = random.Random(f"{base_seed}:{seed}:callers")
        self._service = workload.service_s.sampler(callers_rng)
        self._patience = workload.patience_s.sampler(callers_rng) if workload.patience_s \
            else None
        self._wrapup = workload.wrapup_s.sampler(callers_rng) if workload.wrapup_s else None
        self.times = StateTimes(self.board, bin_s, workload.duration_s)
        routing_rng = random.Random(f"{base_seed}:{seed}:routing")
        self.dispatcher = Dispatcher(self.board, make_routing(routing, routing_rng),
                                     self._on_assign)
        self._groups = workload.agent_groups or []
        #: agent -> handle-time multiplier (agents of a group; none without groups)
        self._speed: dict[str, float] = {}
        self._class_skills = {k.name: frozenset(k.skills) for k in workload.classes}
        #: per class, the queue rules its callers live by (max wait, overflow), as the server's
        #: QueueDefinition so the pure queue policy decides when, exactly as in the server
        self._rules = {k.name: _rules(workload, k.overflow_after_s) for k in workload.classes}
        self._rules.setdefault("", _rules(workload, None))
        self.staffing = Staffing(self.clock, self.board, workload.staffing(),
                                 drain=lambda: self.dispatcher.queue_length > 0,
                                 new_agent=self._hire if self._groups else None)
        self._callers: dict[str, _Caller] = {}
        self._count = 0

    def _hire(self, agent_id: str, now: float) -> Agent:
        n = len(self.board) + 1
        group = self._groups[deal_groups(self._groups, n)[-1]]
        self._speed[agent_id] = group.handle_time_multiplier
        return self.board.add(agent_id, now=now, skill_levels=group.skills)

    # --- arrivals ------------------------------------------------------------------------------

    def _schedule_next_arrival(self, t: float) -> None:
        """Next Poisson arrival after ``t``; at an interval edge the rate changes, and since
        the process is memoryless the draw simply restarts there."""
        w = self.w
        while t < w.duration_s:
            rate = w.rate_at(t)
            edge = min((int(t // w.interval_s) + 1) * w.interval_s, w.duration_s)
            if rate > 0:
                arrival = t + self._gap(rate)
                if arrival < edge:
                    self.clock.call_at(arrival, self._arrive)
                    return
            t = edge

    def _klass(self) -> tuple[str, int]:
        classes = self.w.classes
        if not classes:
            return "", 0
        u = self._pick_class()
        acc = 0.0
        for klass in classes:
            acc += klass.share
            if u < acc:
                return klass.name, klass.priority
        return classes[-1].name, classes[-1].priority

    def _arrive(self) -> None:
        now = self.clock.now()
        self._count += 1
        name, priority = self._klass()
        call = WaitingCall(f"call-{self._count}", now, priority=priority, klass=name,
                           skills=self._class_skills.get(name, frozenset()))
        caller = _Caller(call, self._service())
        patience = self._patience() if self._patience is not None else None
        self._counts(name, "offered")
        self.day.offered_by_bin[self._bin(now)] += 1
        self._callers[call.call_id] = caller
        if self.dispatcher.offer(call, now) is None:
            if patience is not None:
                caller.patience_timer = self.clock.call_at(now + patience, self._abandon, call)
            caller.timeline = Timeline(joined=now)
            self._next_step(caller)
        self._schedule_next_arrival(now)

    # --- the queue's steps: max wait and overflow -----------------------------------------------

    def _next_step(self, caller: _Caller) -> None:
        assert caller.timeline is not None
        due = next_due(self._rules[caller.call.klass], caller.timeline)
        if due is not None:
            caller.step_timer = self.clock.call_at(due.at, self._step, caller, due.step)

    def _step(self, caller: _Caller, step: Step) -> None:
        call = caller.call
        if self._callers.get(call.call_id) is not caller:
            return  # served or gone
        if step is Step.MAX_WAIT:
            self.dispatcher.withdraw(call.call_id)
            self._drop(caller)
            for counts in self._class_counts(call.klass):
                counts.timed_out += 1
                counts.waited += 1
            return
        if step is Step.OVERFLOW:
            assert caller.timeline is not None
            caller.timeline.overflowed = True
            for counts in self._class_counts(call.klass):
                counts.overflowed += 1
            # the same caller, same arrival and priority (its place), any agent now
            self.dispatcher.withdraw(call.call_id)
            caller.call = WaitingCall(call.call_id, call.arrived, priority=call.priority,
                                      klass=call.klass)
            if self.dispatcher.offer(caller.call, self.clock.now()) is not None:
                return  # an agent was free: served (its timers went with it)
        self._next_step(caller)

    def _drop(self, caller: _Caller) -> None:
        """The caller leaves the simulation's line: its timers go with it."""
        del self._callers[caller.call.call_id]
        for timer in (caller.patience_timer, caller.step_timer):
            if timer is not None:
                timer.cancel()  # type: ignore[attr-defined]

    def _counts(self, klass: str, attribute: str) -> None:
        total = self.day.total
        setattr(total, attribute, getattr(total, attribute) + 1)
        if klass:
            per = self.day.by_class[klass]
            setattr(per, attribute, getattr(per, attribute) + 1)

    def _bin(self, now: float) -> int:
        return min(int(now // self.bin_s), len(self.day.offered_by_bin) - 1)

    def _abandon(self, call: WaitingCall) -> None:
        caller = self._callers.get(call.call_id)
        if caller is None or self.dispatcher.withdraw(call.call_id) is None:
            return
        call = caller.call
        self._drop(caller)
        for counts in self._class_counts(call.klass):
            counts.abandoned += 1
            counts.waited += 1
        self.day.abandoned_by_bin[self._bin(call.arrived)] += 1

    def _class_counts(self, klass: str) -> list[ClassCounts]:
        return [self.day.total, self.day.by_class[klass]] if klass else [self.day.total]

    # --- service -------------------------------------------------------------------------------

    def _on_assign(self, call: WaitingCall, agent: Agent, now: float,
                   decision: RoutingDecision) -> None:
        caller = self._callers[call.call_id]
        self._drop(caller)
        wait = now - call.arrived
        for counts in self._class_counts(call.klass):
            counts.answered += 1
            counts.wait_s += wait
            if wait > 0:
                counts.waited += 1
            if wait <= self.w.sl_threshold_s:
                counts.within_sl += 1
        self.board.answer(agent, now)
        service = caller.service
        if self._speed:
            service *= self._speed[agent.agent_id]
        self.clock.call_at(now + service, self._hangup, agent)

    def _hangup(self, agent: Agent) -> None:
        wrapup = self._wrapup() if self._wrapup is not None else 0.0
        hang_up_agent(self.clock, self.board, agent, wrapup)

    # --- run -----------------------------------------------------------------------------------

    def run(self) -> dict[str, object]:
        self._schedule_next_arrival(0.0)
        self.clock.run()
        self.times.close(self.board, self.clock.now())
        return self.metrics()

    def metrics(self) -> dict[str, object]:
        day = self.day
        result: dict[str, object] = {"seed": self.seed, **day.total.metrics(),
                                     "occupancy": self.times.occupancy,
                                     "events": self.clock.events_run}
        result["by_class"] = {name: counts.metrics() for name, counts in day.by_class.items()}
        times = self.times
        result["series"] = {
            "bin_s": self.bin_s,
            "occupancy": times.occupancy_series(),
            "abandon_rate": ratios(day.abandoned_by_bin, day.offered_by_bin),
        }
        return result
