"""Routing strategies: which ready agent gets the call, in which order callers are served, and
why (each choice comes with a short human-readable reason).

A strategy only chooses among candidates the dispatcher already filtered (ready, eligible, with
every skill the call needs); it never changes state. Names as in ``callcenter simulate
--routing`` and the ``acd.routing`` setting:

- ``fifo-longest-idle`` (Asterisk app_queue ``leastrecent``, mod_callcenter
  ``longest-idle-agent``), ``fewest-calls`` (app_queue ``fewestcalls``), ``random``: the
  baselines, serving callers in strict priority order;
- ``ring-all`` (app_queue ``ringall``): every ready qualified agent, longest idle first; the
  first to answer wins. A driver that rings one phone per call (the server's connector today)
  gets only the first of them — the longest idle — so until it rings several, ``ring-all``
  behaves as ``fifo-longest-idle``; see :class:`RingAll` for how several rings map;
- ``skills-level``: the agent with the best level in the call's skills, then the longest idle;
- ``vip-priority``: longest idle, but callers served by priority with bounded aging
  (:class:`~callcenter.acd.queueing.AgedPriority`): a VIP jumps ahead, nobody starves.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import NamedTuple, Protocol

from callcenter.acd.agents import Agent
from callcenter.acd.calls import WaitingCall
from callcenter.acd.queueing import STRICT_PRIORITY, AgedPriority, QueueOrder

#: the level of a skill an agent has without a level given (levels are an opt-in ranking: an
#: ungraded agent counts as the least skilled, so a graded expert always goes first)
DEFAULT_LEVEL = 1


def skill_level(agent: Agent, skill: str) -> int:
    """``agent``'s level in ``skill`` (0: not skilled)."""
    if skill not in agent.skills:
        return 0
    return agent.skill_levels.get(skill, DEFAULT_LEVEL)


def call_level(agent: Agent, skills: frozenset[str]) -> int:
    """How well ``agent`` fits a call needing ``skills``: the weakest of them (a billing expert
    who barely speaks French is a poor fit for a French billing call). 0 if none needed."""
    if not skills:
        return 0
    levels = agent.skill_levels
    return min(levels.get(skill, DEFAULT_LEVEL) if skill in agent.skills else 0
               for skill in skills)


def meets_levels(agent: Agent, levels: tuple[tuple[str, int], ...]) -> bool:
    """Whether ``agent`` has every skill of ``levels`` at least at its level (a skill without
    a level counts as :data:`DEFAULT_LEVEL`)."""
    agent_levels = agent.skill_levels
    skills = agent.skills
    return all(skill in skills and agent_levels.get(skill, DEFAULT_LEVEL) >= level
               for skill, level in levels)


def _idle(agent: Agent, now: float) -> str:
    return f"idle {now - agent.idle_since:.0f} s"


class Choice(NamedTuple):
    """A strategy's answer: the agents to offer the call to, best first (one for every
    strategy but ring-all), and why."""

    agents: tuple[Agent, ...]
    reason: str


@dataclass(frozen=True, slots=True)
class RoutingDecision:
    """Why this agent got this call: what the dispatcher hands the driver (``on_assign``) and
    the server publishes as ``queue.offered``'s ``reason`` (:attr:`summary`).

    ``trigger`` is ``"call"`` when a caller arrived and a ready agent was chosen for it, or
    ``"agent"`` when an agent became ready and took the next caller in line (then the reason
    says why that caller). ``ring`` lists every agent reserved for the call (several only for
    ring-all on a dispatcher allowed to ring several phones), ``agent_id`` first;
    ``candidates`` is how many ready qualified agents were considered."""

    call_id: str
    agent_id: str
    strategy: str
    reason: str
    candidates: int
    trigger: str
    at: float
    ring: tuple[str, ...] = ()

    @property
    def summary(self) -> str:
        """One line for people and the ``queue.offered`` event: strategy, then why."""
        return f"{self.strategy}: {self.reason}"


class RoutingStrategy(Protocol):
    name: str
    #: in which order waiting callers are served
    order: QueueOrder

    def choose(self, call: WaitingCall, candidates: Sequence[Agent], now: float) -> Choice:
        """Rank ``candidates`` (never empty) for ``call``; at least one agent, with a reason."""
        ...


class LongestIdle:
    """The agent idle the longest since the end of their last call (ties: first candidate)."""

    name = "fifo-longest-idle"
    order: QueueOrder = STRICT_PRIORITY

    def pick(self, candidates: Sequence[Agent]) -> Agent:
        best = candidates[0]
        for agent in candidates:
            if agent.idle_since < best.idle_since:
                best = agent
        return best

    def choose(self, call: WaitingCall, candidates: Sequence[Agent], now: float) -> Choice:
        agent = self.pick(candidates)
        return Choice((agent,), f"{_idle(agent, now)}, the longest of {len(candidates)} "
                                "ready")


class FewestCalls:
    """The agent who handled the fewest calls so far; ties go to the longest idle."""

    name = "fewest-calls"
    order: QueueOrder = STRICT_PRIORITY

    def pick(self, candidates: Sequence[Agent]) -> Agent:
        return min(candidates, key=lambda a: (a.calls_handled, a.idle_since))

    def choose(self, call: WaitingCall, candidates: Sequence[Agent], now: float) -> Choice:
        agent = self.pick(candidates)
        return Choice((agent,), f"fewest calls: {agent.calls_handled} (of {len(candidates)} "
                                f"ready), {_idle(agent, now)}")


class RandomAgent:
    """Any candidate, uniformly (seeded, so simulations stay reproducible)."""

    name = "random"
    order: QueueOrder = STRICT_PRIORITY

    def __init__(self, rng: random.Random | None = None) -> None:
        self.rng = rng or random.Random()

    def pick(self, candidates: Sequence[Agent]) -> Agent:
        return candidates[self.rng.randrange(len(candidates))]

    def choose(self, call: WaitingCall, candidates: Sequence[Agent], now: float) -> Choice:
        agent = self.pick(candidates)
        return Choice((agent,), f"random (of {len(candidates)} ready), {_idle(agent, now)}")


class RingAll:
    """Offer the call to every ready qualified agent at once; the first to answer wins.

    In the pure core this is a choice of *several* agents, longest idle first. How it maps:
    the dispatcher reserves as many of them as its ``max_ring`` allows (the driver says how
    many phones it can ring for one call) and hands them all to ``on_assign`` in the decision's
    ``ring``; the driver rings them, and when one answers calls
    :meth:`~callcenter.acd.dispatcher.Dispatcher.release_others` to put the rest back to ready
    (they keep their idle time and take the next caller at once). With ``max_ring=1`` — the
    server's connector today rings one agent — only the longest idle is rung."""

    name = "ring-all"
    order: QueueOrder = STRICT_PRIORITY

    def choose(self, call: WaitingCall, candidates: Sequence[Agent], now: float) -> Choice:
        ranked = tuple(sorted(candidates, key=lambda a: a.idle_since))
        return Choice(ranked, f"ring all {len(ranked)} ready, first to answer wins "
                              f"(longest {_idle(ranked[0], now)})")


class SkillsLevel:
    """Best level in the call's skills first (the weakest required skill counts), then the
    longest idle. A call that needs no skill goes to the longest idle."""

    name = "skills-level"
    order: QueueOrder = STRICT_PRIORITY

    def choose(self, call: WaitingCall, candidates: Sequence[Agent], now: float) -> Choice:
        skills = call.skills
        best = candidates[0]
        best_level = call_level(best, skills)
        at_best = 1
        for agent in candidates[1:]:
            level = call_level(agent, skills)
            if level > best_level:
                best, best_level, at_best = agent, level, 1
            elif level == best_level:
                at_best += 1
                if agent.idle_since < best.idle_since:
                    best = agent
        if not skills:
            return Choice((best,), f"no skill needed: {_idle(best, now)}, the longest "
                                   f"of {len(candidates)} ready")
        names = " ".join(sorted(skills))
        what = f"skill {names}" if len(skills) == 1 else f"skills {names}"
        tie = f", longest idle of {at_best} at that level" if at_best > 1 else ""
        return Choice((best,), f"{what} level {best_level} (best of {len(candidates)} ready"
                               f"{tie}), {_idle(best, now)}")


class VipPriority(LongestIdle):
    """Longest idle agent, callers in priority order with bounded aging: see
    :class:`~callcenter.acd.queueing.AgedPriority` for the rule and why."""

    name = "vip-priority"

    def __init__(self, order: AgedPriority | None = None) -> None:
        self.order = order or AgedPriority()


ROUTING_STRATEGIES: dict[str, Callable[[random.Random], RoutingStrategy]] = {
    LongestIdle.name: lambda rng: LongestIdle(),
    FewestCalls.name: lambda rng: FewestCalls(),
    RandomAgent.name: lambda rng: RandomAgent(rng),
    RingAll.name: lambda rng: RingAll(),
    SkillsLevel.name: lambda rng: SkillsLevel(),
    VipPriority.name: lambda rng: VipPriority(),
}


def make_routing(name: str, rng: random.Random | None = None) -> RoutingStrategy:
    """Build a strategy by its name; ``ValueError`` lists the known names."""
    try:
        factory = ROUTING_STRATEGIES[name]
    except KeyError:
        known = ", ".join(sorted(ROUTING_STRATEGIES))
        raise ValueError(f"unknown routing {name!r} (known: {known})") from None
    return factory(rng or random.Random())
