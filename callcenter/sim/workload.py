"""Workload files (``bench/workloads/*.json``, format in bench/workloads/README.md): a day of
traffic for ``callcenter simulate``.

Parsed with pydantic so a broken file gets an error naming the field, never a crash deep in
the simulation. Unknown fields are refused (a typo such as ``talk_sec`` must not silently fall
back to a default). Optional fields this project adds are documented in the README.
"""

from __future__ import annotations

import json
import math
import random
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

Sampler = Callable[[], float]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Constant(_Strict):
    dist: Literal["constant"]
    value: float = Field(ge=0)

    @property
    def mean(self) -> float:
        return self.value

    def sampler(self, rng: random.Random) -> Sampler:
        value = self.value
        return lambda: value


class Uniform(_Strict):
    dist: Literal["uniform"]
    low: float = Field(ge=0)
    high: float = Field(ge=0)

    @model_validator(mode="after")
    def _ordered(self) -> Uniform:
        if self.high < self.low:
            raise ValueError("uniform: high must be >= low")
        return self

    @property
    def mean(self) -> float:
        return (self.low + self.high) / 2

    def sampler(self, rng: random.Random) -> Sampler:
        low, span, draw = self.low, self.high - self.low, rng.random
        return lambda: low + span * draw()


class Exponential(_Strict):
    dist: Literal["exponential"]
    mean: float = Field(gt=0)

    def sampler(self, rng: random.Random) -> Sampler:
        rate, draw = 1.0 / self.mean, rng.expovariate
        return lambda: draw(rate)


class Lognormal(_Strict):
    """Given by its mean and coefficient of variation (how call-center data is reported)."""

    dist: Literal["lognormal"]
    mean: float = Field(gt=0)
    cv: float = Field(gt=0)

    def sampler(self, rng: random.Random) -> Sampler:
        sigma2 = math.log(1.0 + self.cv * self.cv)
        mu, sigma = math.log(self.mean) - sigma2 / 2.0, math.sqrt(sigma2)
        draw = rng.lognormvariate
        return lambda: draw(mu, sigma)


Distribution = Annotated[Constant | Uniform | Exponential | Lognormal,
                         Field(discriminator="dist")]


class Shift(_Strict):
    from_s: float = Field(ge=0)
    to_s: float = Field(gt=0)
    count: int = Field(ge=0)

    @model_validator(mode="after")
    def _ordered(self) -> Shift:
        if self.to_s <= self.from_s:
            raise ValueError("a shift must end after it starts (to_s > from_s)")
        return self


class Outcome(_Strict):
    human: float = Field(ge=0, le=1)
    machine: float = Field(ge=0, le=1)
    busy: float = Field(ge=0, le=1)

    @model_validator(mode="after")
    def _sum(self) -> Outcome:
        if self.human + self.machine + self.busy > 1 + 1e-9:
            raise ValueError("human + machine + busy must not exceed 1 (the rest is no answer)")
        return self


class HitRateStep(_Strict):
    from_s: float = Field(ge=0)
    multiplier: float = Field(ge=0)


class Amd(_Strict):
    decision_s: Distribution
    human_as_machine: float = Field(ge=0, le=1)
    machine_as_human: float = Field(ge=0, le=1)


class _Day(_Strict):
    name: str = ""
    duration_s: float = Field(gt=0)
    seeds: int = Field(default=10, ge=1)
    agents: list[Shift] | None = None

    def staffing(self) -> list[tuple[float, int]]:
        """Staffing changes ``(time, agents)`` in time order, from 0 to the end of the day."""
        assert self.agents is not None
        times = sorted({0.0, *(s.from_s for s in self.agents), *(s.to_s for s in self.agents)})
        steps: list[tuple[float, int]] = []
        for t in times:
            if t >= self.duration_s:
                continue
            count = sum(s.count for s in self.agents if s.from_s <= t < s.to_s)
            if not steps or steps[-1][1] != count:
                steps.append((t, count))
        steps.append((self.duration_s, 0))
        return steps

    def staffed_seconds(self) -> float:
        steps = self.staffing()
        return sum(count * (steps[i + 1][0] - t) for i, (t, count) in enumerate(steps[:-1]))


class OutboundWorkload(_Day):
    kind: Literal["outbound"]
    agents: list[Shift]
    outcome: Outcome
    hit_rate_profile: list[HitRateStep] = []
    answer_delay_s: Distribution
    ring_timeout_s: float = Field(ge=15, description="rules require at least 15 s of ringing")
    amd: Amd
    talk_s: Distribution
    wrapup_s: Distribution
    connect_limit_s: float = Field(gt=0)
    abandon_limit: float = Field(gt=0, le=1)
    # --- optional fields added by this project ---
    #: time to learn a line is busy
    busy_delay_s: Distribution = Constant(dist="constant", value=3.0)
    #: agent time spent on an answering machine that AMD let through as a person
    machine_talk_s: Distribution = Constant(dist="constant", value=8.0)

    def human_multiplier(self, t: float) -> float:
        multiplier = 1.0
        for step in self.hit_rate_profile:
            if step.from_s <= t:
                multiplier = step.multiplier
        return multiplier


class CustomerClass(_Strict):
    name: str = Field(min_length=1)
    share: float = Field(gt=0, le=1)
    priority: int = 0
    # --- optional field added by this project ---
    #: skills an agent must have (all of them) to take this class's calls
    skills: list[str] = []
    #: after this long in line the caller is also offered to every agent, skilled or not (a
    #: queue's overflow to a general queue), keeping its place; None: never
    overflow_after_s: float | None = Field(default=None, gt=0)


class AgentGroup(_Strict):
    """Optional (this project): a kind of agent. Agents are dealt to groups by ``share`` as
    they log in, interleaved, so every staffing level of the day has the mix (a fixed count
    could not hold while the schedule goes from 8 to 20 agents)."""

    name: str = ""
    share: float = Field(gt=0, le=1)
    #: skill -> level 1..10 (10 best)
    skills: dict[str, int] = {}
    #: scales the caller's drawn service time when this group's agent serves it
    handle_time_multiplier: float = Field(default=1.0, gt=0)

    @model_validator(mode="after")
    def _levels(self) -> AgentGroup:
        for skill, level in self.skills.items():
            if not 1 <= level <= 10:
                raise ValueError(f"skill {skill!r}: level {level} is not within 1..10")
        return self


class InboundWorkload(_Day):
    kind: Literal["inbound"]
    interval_s: float = Field(gt=0)
    arrivals_per_interval: list[float] = Field(min_length=1)
    agents_per_interval: list[int] | None = None
    service_s: Distribution
    patience_s: Distribution | None = None
    classes: list[CustomerClass] = []
    sl_threshold_s: float = Field(default=20.0, ge=0)
    # --- optional fields added by this project ---
    wrapup_s: Distribution | None = None
    agent_groups: list[AgentGroup] | None = None
    #: a caller still in line this long leaves it (the queue's max wait: a message, voicemail),
    #: counted as ``timed_out``, not as an abandon; None: callers wait until served or gone
    max_wait_s: float | None = Field(default=None, gt=0)

    @model_validator(mode="after")
    def _staffing_given(self) -> InboundWorkload:
        if (self.agents is None) == (self.agents_per_interval is None):
            raise ValueError("give exactly one of agents or agents_per_interval")
        if any(a < 0 for a in self.arrivals_per_interval):
            raise ValueError("arrivals_per_interval must not be negative")
        if self.agents_per_interval is not None and any(
                n < 0 for n in self.agents_per_interval):
            raise ValueError("agents_per_interval must not be negative")
        if self.classes and abs(sum(c.share for c in self.classes) - 1.0) > 1e-6:
            raise ValueError("class shares must add up to 1")
        names = [c.name for c in self.classes]
        if len(set(names)) != len(names):
            raise ValueError("class names must be unique")
        groups = self.agent_groups or []
        if groups and abs(sum(g.share for g in groups) - 1.0) > 1e-6:
            raise ValueError("agent group shares must add up to 1")
        for klass in self.classes:
            needed = set(klass.skills)
            if needed and not any(needed <= set(g.skills) for g in groups):
                raise ValueError(f"class {klass.name!r} needs skills {sorted(needed)} that no "
                                 "agent group has all of (its callers would never be served)")
        return self

    @property
    def agents_identical(self) -> bool:
        """True when every agent has the same skills, levels and speed: then which ready agent
        takes a call cannot change the service, only the queue order can."""
        groups = self.agent_groups or []
        return len({(tuple(sorted(g.skills.items())), g.handle_time_multiplier)
                    for g in groups}) <= 1

    def rate_at(self, t: float) -> float:
        """Arrivals per second at time ``t`` (the last interval repeats if the day is longer)."""
        index = min(int(t // self.interval_s), len(self.arrivals_per_interval) - 1)
        return self.arrivals_per_interval[index] / self.interval_s

    def staffing(self) -> list[tuple[float, int]]:
        if self.agents_per_interval is None:
            return super().staffing()
        steps: list[tuple[float, int]] = []
        for i, count in enumerate(self.agents_per_interval):
            t = i * self.interval_s
            if t >= self.duration_s:
                break
            if not steps or steps[-1][1] != count:
                steps.append((t, count))
        steps.append((self.duration_s, 0))
        return steps


Workload = Annotated[OutboundWorkload | InboundWorkload, Field(discriminator="kind")]


class _File(BaseModel):
    workload: Workload


class WorkloadError(ValueError):
    """A workload file is missing, not JSON, or not a valid workload (the message says why)."""


def parse_workload(data: object, source: str = "workload") -> OutboundWorkload | InboundWorkload:
    try:
        return _File.model_validate({"workload": data}).workload
    except ValidationError as exc:
        lines = []
        for error in exc.errors():
            where = ".".join(str(p) for p in error["loc"][1:]) or "(top level)"
            lines.append(f"  {where}: {error['msg']}")
        raise WorkloadError(f"{source} is not a valid workload:\n" + "\n".join(lines)) from None


def load_workload(path: str | Path) -> OutboundWorkload | InboundWorkload:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise WorkloadError(f"cannot read workload {path}: {exc.strerror}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise WorkloadError(f"{path} is not JSON: {exc.msg} at line {exc.lineno} "
                            f"column {exc.colno}") from None
    return parse_workload(data, str(path))
