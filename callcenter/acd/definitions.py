"""What a queue and an agent *are*, as data: the ACD's configuration, independent of where it is
stored (the database tables, a YAML seed file, the server's settings) and of who reads it (the
server's assembly, the simulator, the wallboard).

Pure and frozen: the stores (``crm_bridge.acd_config``) turn rows into these, the assembly
turns these into running :class:`~callcenter.acd.service.InboundAcd` objects. Validation lives
here so that every source rejects the same mistakes with the same words.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from callcenter.acd.routing import ROUTING_STRATEGIES

#: queue names, agent ids, skills and pause reasons: safe in URLs, channel variables and file
#: names (the dialplan puts a queue's name in ``CC_QUEUE``)
NAME_PATTERN = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
#: a skill level: 1 (knows the basics) .. 10 (the best)
MIN_LEVEL, MAX_LEVEL = 1, 10
#: an agent's PBX endpoint when it overrides the template: ``TECH/resource`` (``PJSIP/alice``,
#: ``Local/2001@agents-local``), nothing Asterisk would read as a second argument or option
ENDPOINT_PATTERN = re.compile(r"^[A-Za-z][A-Za-z0-9]*/[A-Za-z0-9_.@+-]{1,120}$")
#: the longest display name or label (what the database keeps)
MAX_LABEL = 200


class DefinitionError(ValueError):
    """A queue or agent definition that cannot run (the message names the field)."""


def check_name(kind: str, value: str) -> str:
    if not isinstance(value, str) or not NAME_PATTERN.match(value):
        raise DefinitionError(
            f"{kind} {value!r}: 1-64 characters of letters, digits, '_', '.', '-'")
    return value


@dataclass(frozen=True, slots=True)
class QueueDefinition:
    """One inbound queue. Times are seconds; ``None`` means "not used" (or: the center's
    default, for ``wrap_up_s`` and ``ring_timeout_s``)."""

    name: str
    #: a routing strategy name (:data:`callcenter.acd.routing.ROUTING_STRATEGIES`)
    strategy: str = "fifo-longest-idle"
    #: skill -> minimum level an agent needs to take this queue's calls (every one of them)
    required_skills: Mapping[str, int] = field(default_factory=dict)
    #: service level: ``service_level_target`` of calls answered within this many seconds
    service_level_s: float = 20.0
    service_level_target: float = 0.8
    #: a caller waiting this long leaves the queue: to ``overflow_queue`` if set, else the
    #: dialplan's ``[queue-timeout]`` (message, voicemail or hang-up)
    max_wait_s: float | None = None
    #: after ``overflow_after_s`` in line, the caller is *also* offered to this queue's agents
    #: (keeping its place: its arrival time and priority)
    overflow_queue: str | None = None
    overflow_after_s: float | None = None
    #: after this long in line the caller is offered a callback (keeps its place in line)
    callback_after_s: float | None = None
    wrap_up_s: float | None = None
    ring_timeout_s: float | None = None
    #: Asterisk music-on-hold class the caller hears while waiting
    music_class: str = "default"
    #: tell the caller their position / expected wait every this many seconds (None: never)
    announce_every_s: float | None = None
    #: record conversations (MixMonitor), both sides mixed
    record: bool = False

    def __post_init__(self) -> None:
        check_name("queue", self.name)
        for skill, level in self.required_skills.items():
            check_name("skill", skill)
            if not MIN_LEVEL <= level <= MAX_LEVEL:
                raise DefinitionError(f"queue {self.name}: required_skills: level of {skill!r} "
                                      f"must be {MIN_LEVEL}..{MAX_LEVEL}, not {level}")
        for name in ("service_level_s", "max_wait_s", "overflow_after_s", "callback_after_s",
                     "ring_timeout_s", "announce_every_s"):
            value = getattr(self, name)
            if value is not None and not value > 0:
                raise DefinitionError(f"queue {self.name}: {name} must be > 0, not {value}")
        if self.wrap_up_s is not None and self.wrap_up_s < 0:
            raise DefinitionError(f"queue {self.name}: wrap_up_s must be >= 0")
        if not 0 < self.service_level_target <= 1:
            raise DefinitionError(f"queue {self.name}: service_level_target must be in (0, 1]")
        if (self.overflow_queue is None) != (self.overflow_after_s is None):
            raise DefinitionError(f"queue {self.name}: overflow_queue and overflow_after_s "
                                  "go together")
        if self.overflow_queue is not None:
            check_name("overflow queue", self.overflow_queue)
            if self.overflow_queue == self.name:
                raise DefinitionError(f"queue {self.name}: overflows to itself")
        if not self.music_class or not NAME_PATTERN.match(self.music_class):
            raise DefinitionError(f"queue {self.name}: music_class {self.music_class!r}")
        if self.strategy not in ROUTING_STRATEGIES:
            raise DefinitionError(f"queue {self.name}: strategy: unknown {self.strategy!r} "
                                  f"(known: {', '.join(sorted(ROUTING_STRATEGIES))})")

    @property
    def skills(self) -> frozenset[str]:
        return frozenset(self.required_skills)


@dataclass(frozen=True, slots=True)
class AgentDefinition:
    """One agent: who they are to the ACD. ``endpoint`` overrides the center's
    ``acd.agent_endpoint`` template (e.g. ``PJSIP/alice``)."""

    agent_id: str
    name: str = ""
    #: skill -> level 1..10
    skills: Mapping[str, int] = field(default_factory=dict)
    endpoint: str | None = None
    #: ready as soon as the server starts (the demo's bots, unattended test agents)
    logged_in: bool = False

    def __post_init__(self) -> None:
        check_name("agent", self.agent_id)
        if not isinstance(self.name, str) or len(self.name) > MAX_LABEL or "\x00" in self.name:
            raise DefinitionError(f"agent {self.agent_id}: name must be text of at most "
                                  f"{MAX_LABEL} characters, without NUL")
        if self.endpoint is not None and not ENDPOINT_PATTERN.match(self.endpoint):
            raise DefinitionError(f"agent {self.agent_id}: endpoint {self.endpoint!r} must "
                                  "look like TECH/resource (e.g. PJSIP/alice)")
        for skill, level in self.skills.items():
            check_name("skill", skill)
            if not MIN_LEVEL <= level <= MAX_LEVEL:
                raise DefinitionError(f"agent {self.agent_id}: skills: level of {skill!r} must be "
                                      f"{MIN_LEVEL}..{MAX_LEVEL}, not {level}")

    def serves(self, queue: QueueDefinition) -> bool:
        """Whether this agent may take ``queue``'s calls: every required skill at its level."""
        return all(self.skills.get(skill, 0) >= level
                   for skill, level in queue.required_skills.items())


@dataclass(frozen=True, slots=True)
class PauseReason:
    """A reason an agent may pause with; ``productive`` pauses (coaching, training) count as
    work time in reports. ``no_answer`` is the ACD's own and cannot be defined."""

    code: str
    label: str = ""
    productive: bool = False
    #: longest this pause should last (the wallboard flags an agent over it); None: no limit
    max_s: float | None = None

    def __post_init__(self) -> None:
        check_name("pause reason", self.code)
        if not isinstance(self.label, str) or len(self.label) > MAX_LABEL or "\x00" in self.label:
            raise DefinitionError(f"pause reason {self.code}: label must be text of at most "
                                  f"{MAX_LABEL} characters, without NUL")
        if self.code == "no_answer":
            raise DefinitionError("pause reason 'no_answer' is the ACD's own")
        if self.max_s is not None and not self.max_s > 0:
            raise DefinitionError(f"pause reason {self.code}: max_s must be > 0")


@dataclass(frozen=True, slots=True)
class AcdDefinitions:
    """The whole ACD configuration: checked as a whole (overflow targets exist, ids unique)."""

    queues: tuple[QueueDefinition, ...] = ()
    agents: tuple[AgentDefinition, ...] = ()
    pause_reasons: tuple[PauseReason, ...] = ()

    def __post_init__(self) -> None:
        for kind, names in (("queue", [q.name for q in self.queues]),
                            ("agent", [a.agent_id for a in self.agents]),
                            ("pause reason", [p.code for p in self.pause_reasons])):
            seen: set[str] = set()
            for name in names:
                if name in seen:
                    raise DefinitionError(f"{kind} {name!r} defined twice")
                seen.add(name)
        known = {q.name for q in self.queues}
        for queue in self.queues:
            if queue.overflow_queue is not None and queue.overflow_queue not in known:
                raise DefinitionError(f"queue {queue.name}: overflow queue "
                                      f"{queue.overflow_queue!r} is not defined")

    def queue(self, name: str) -> QueueDefinition:
        for queue in self.queues:
            if queue.name == name:
                return queue
        raise KeyError(name)
