"""A caller waiting for an agent, as the routing core sees it.

Its own module so that the queue orders, the strategies and the dispatcher can all name it
without importing each other.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(slots=True)
class WaitingCall:
    """``priority`` comes from the CRM (value tier, VIP flag); ``skills`` are what an agent
    must have to take the call (every one of them), ``min_levels`` how well. ``skill`` is the
    one-skill shorthand of the first release, folded into ``skills``."""

    call_id: str
    arrived: float
    priority: int = 0
    skill: str | None = None
    #: customer class (reporting only: ``vip``, ``regular`` ...)
    klass: str = ""
    seq: int = 0
    skills: frozenset[str] = frozenset()
    #: minimum levels above the basic one, ``((skill, level), ...)`` sorted by skill: an agent
    #: below any of them may not take the call (a skill in ``skills`` not named here needs
    #: level 1, which every agent with the skill has)
    min_levels: tuple[tuple[str, int], ...] = ()
    #: the agent who should take the call when it is free at the offer (a preview dial: the
    #: agent who pressed Dial); otherwise any agent who can, as for every call — a person who
    #: answered must not wait for one agent and be dropped
    preferred_agent: str | None = None

    def __post_init__(self) -> None:
        if self.skill is not None and self.skill not in self.skills:
            self.skills = self.skills | {self.skill}
        if self.min_levels:
            self.skills = self.skills | {skill for skill, _ in self.min_levels}


def min_levels(required: Mapping[str, int]) -> tuple[tuple[str, int], ...]:
    """A queue's ``{skill: minimum level}`` as :attr:`WaitingCall.min_levels` (level 1 is
    implied by the skill itself, so only higher levels are kept: a queue without them costs
    the dispatcher nothing more)."""
    return tuple(sorted((skill, level) for skill, level in required.items() if level > 1))
