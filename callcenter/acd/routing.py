"""Routing strategies: which ready agent gets the call.

A strategy only chooses among candidates the dispatcher already filtered (ready, with the
skills the call needs); it never changes state. Baselines named as in ``callcenter simulate
--routing``: ``fifo-longest-idle`` (Asterisk app_queue ``leastrecent``, mod_callcenter
``longest-idle-agent``), ``fewest-calls`` (app_queue ``fewestcalls``), ``random``.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from typing import Protocol

from callcenter.acd.agents import Agent


class RoutingStrategy(Protocol):
    name: str

    def pick(self, candidates: Sequence[Agent]) -> Agent:
        """Choose one of ``candidates`` (never empty)."""
        ...


class LongestIdle:
    """The agent idle the longest since the end of their last call (ties: first logged in)."""

    name = "fifo-longest-idle"

    def pick(self, candidates: Sequence[Agent]) -> Agent:
        best = candidates[0]
        for agent in candidates:
            if agent.idle_since < best.idle_since:
                best = agent
        return best


class FewestCalls:
    """The agent who handled the fewest calls so far; ties go to the longest idle."""

    name = "fewest-calls"

    def pick(self, candidates: Sequence[Agent]) -> Agent:
        return min(candidates, key=lambda a: (a.calls_handled, a.idle_since))


class RandomAgent:
    """Any candidate, uniformly (seeded, so simulations stay reproducible)."""

    name = "random"

    def __init__(self, rng: random.Random | None = None) -> None:
        self.rng = rng or random.Random()

    def pick(self, candidates: Sequence[Agent]) -> Agent:
        return candidates[self.rng.randrange(len(candidates))]


ROUTING_STRATEGIES: dict[str, Callable[[random.Random], RoutingStrategy]] = {
    LongestIdle.name: lambda rng: LongestIdle(),
    FewestCalls.name: lambda rng: FewestCalls(),
    RandomAgent.name: lambda rng: RandomAgent(rng),
}


def make_routing(name: str, rng: random.Random | None = None) -> RoutingStrategy:
    """Build a strategy by its name; ``ValueError`` lists the known names."""
    try:
        factory = ROUTING_STRATEGIES[name]
    except KeyError:
        known = ", ".join(sorted(ROUTING_STRATEGIES))
        raise ValueError(f"unknown routing {name!r} (known: {known})") from None
    return factory(rng or random.Random())
