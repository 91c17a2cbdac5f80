"""A caller waiting for an agent, as the routing core sees it.

Its own module so that the queue orders, the strategies and the dispatcher can all name it
without importing each other.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True)
class WaitingCall:
    """``priority`` comes from the CRM (value tier, VIP flag); ``skills`` are what an agent
    must have to take the call (every one of them). ``skill`` is the one-skill shorthand of
    the first release, folded into ``skills``."""

    call_id: str
    arrived: float
    priority: int = 0
    skill: str | None = None
    #: customer class (reporting only: ``vip``, ``regular`` ...)
    klass: str = ""
    seq: int = 0
    skills: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        if self.skill is not None and self.skill not in self.skills:
            self.skills = self.skills | {self.skill}
