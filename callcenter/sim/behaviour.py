"""How the simulated world behaves: who answers, after how long, what AMD says, how long people
talk. :class:`Behaviour` is what :class:`~callcenter.sim.pbx.SimulatedPbx` asks when a customer is
dialled or answers; subclass it (or give other :class:`Delay` values) to script a world, e.g.
the demo's shorter calls or outcomes per number in tests.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from enum import StrEnum


@dataclass(frozen=True, slots=True)
class Delay:
    """A duration in seconds: fixed, uniform, or exponential with a floor.

    ``Delay.fixed(3)``, ``Delay.uniform(2, 5)``, ``Delay.exponential(180, minimum=20)``.
    A fixed delay draws nothing from the random generator.
    """

    kind: str
    a: float
    b: float = 0.0

    @classmethod
    def fixed(cls, seconds: float) -> Delay:
        return cls("fixed", float(seconds))

    @classmethod
    def uniform(cls, low: float, high: float) -> Delay:
        if high < low:
            raise ValueError("uniform delay: high < low")
        return cls("uniform", float(low), float(high))

    @classmethod
    def exponential(cls, mean: float, minimum: float = 0.0) -> Delay:
        if mean <= 0:
            raise ValueError("exponential delay: mean must be positive")
        return cls("exponential", float(mean), float(minimum))

    def __post_init__(self) -> None:
        if self.kind not in ("fixed", "uniform", "exponential"):
            raise ValueError(f"unknown delay kind {self.kind!r}")
        if self.a < 0 or self.b < 0:
            raise ValueError("delays cannot be negative")

    def sample(self, rng: random.Random) -> float:
        if self.kind == "fixed":
            return self.a
        if self.kind == "uniform":
            return rng.uniform(self.a, self.b)
        return max(self.b, rng.expovariate(1.0 / self.a))


class CustomerOutcome(StrEnum):
    """What a dialled customer's line does."""

    HUMAN = "human"
    MACHINE = "machine"
    BUSY = "busy"
    CONGESTION = "congestion"
    NO_ANSWER = "no_answer"


@dataclass(frozen=True, slots=True)
class CustomerPlan:
    """The fate of one dialled customer: ``outcome`` after ``after_s`` seconds of ringing
    (ignored for NO_ANSWER: it rings until the timeout)."""

    outcome: CustomerOutcome
    after_s: float = 0.0


@dataclass(frozen=True, slots=True)
class AmdPlan:
    """The AMD step's verdict (``AMDSTATUS``: HUMAN, MACHINE, NOTSURE, HANGUP), its
    ``AMDCAUSE`` and how long detection takes."""

    status: str
    cause: str
    after_s: float


#: the default Behaviour's delays (Delay is frozen: sharing one instance is safe)
_ANSWER_AFTER = Delay.uniform(4.0, 15.0)
_BUSY_AFTER = Delay.uniform(1.0, 4.0)
_CONGESTION_AFTER = Delay.uniform(0.2, 1.0)
_AMD_HUMAN_AFTER = Delay.uniform(1.0, 2.5)
_AMD_MACHINE_AFTER = Delay.uniform(2.5, 4.5)
_TALK = Delay.exponential(180.0, minimum=20.0)
_MACHINE_TALK = Delay.uniform(5.0, 20.0)
_ABANDON_MESSAGE = Delay.fixed(4.0)
_MACHINE_MESSAGE = Delay.uniform(8.0, 20.0)
_AGENT_ANSWER_AFTER = Delay.uniform(1.0, 3.0)


@dataclass(frozen=True, slots=True)
class Behaviour:
    """How the simulated world answers. Probabilities are per dialled customer; what they
    leave over rings until the timeout (no answer). Subclass and override the methods to
    script outcomes (e.g. per number)."""

    human: float = 0.55
    machine: float = 0.20
    busy: float = 0.08
    congestion: float = 0.0
    #: ringing until a customer (person or machine) answers
    answer_after: Delay = _ANSWER_AFTER
    busy_after: Delay = _BUSY_AFTER
    congestion_after: Delay = _CONGESTION_AFTER
    #: how long AMD takes to decide on a person / on a machine
    amd_human_after: Delay = _AMD_HUMAN_AFTER
    amd_machine_after: Delay = _AMD_MACHINE_AFTER
    #: AMD errors: a person judged MACHINE (dropped), a machine judged HUMAN (sent on)
    amd_false_machine: float = 0.02
    amd_false_human: float = 0.10
    #: a person talking to an agent, until the customer hangs up
    talk: Delay = _TALK
    #: a machine (judged HUMAN) bridged to an agent, until the line drops
    machine_talk: Delay = _MACHINE_TALK
    #: the abandonment message of ``outbound-abandon``
    abandon_message: Delay = _ABANDON_MESSAGE
    #: waiting for the beep and leaving ``CC_MACHINE_FILE`` on a machine
    machine_message: Delay = _MACHINE_MESSAGE
    #: ring time of a registered agent bot registered without its own delay
    agent_answer_after: Delay = _AGENT_ANSWER_AFTER

    def __post_init__(self) -> None:
        probabilities = (self.human, self.machine, self.busy, self.congestion,
                         self.amd_false_machine, self.amd_false_human)
        if any(p < 0 or p > 1 for p in probabilities):
            raise ValueError("probabilities must be within [0, 1]")
        if self.human + self.machine + self.busy + self.congestion > 1 + 1e-9:
            raise ValueError("human + machine + busy + congestion must not exceed 1")

    def dial_customer(self, number: str, rng: random.Random) -> CustomerPlan:
        """What happens when ``number`` is dialled."""
        draw = rng.random()
        for outcome, p, delay in (
            (CustomerOutcome.HUMAN, self.human, self.answer_after),
            (CustomerOutcome.MACHINE, self.machine, self.answer_after),
            (CustomerOutcome.BUSY, self.busy, self.busy_after),
            (CustomerOutcome.CONGESTION, self.congestion, self.congestion_after),
        ):
            if draw < p:
                return CustomerPlan(outcome, delay.sample(rng))
            draw -= p
        return CustomerPlan(CustomerOutcome.NO_ANSWER)

    def amd(self, outcome: CustomerOutcome, rng: random.Random) -> AmdPlan:
        """The AMD verdict on an answered line (``outcome`` is HUMAN or MACHINE)."""
        if outcome is CustomerOutcome.MACHINE:
            after = self.amd_machine_after.sample(rng)
            if rng.random() < self.amd_false_human:
                return AmdPlan("HUMAN", "HUMAN-500-500", after)
            return AmdPlan("MACHINE", "LONGGREETING-1500-1500", after)
        after = self.amd_human_after.sample(rng)
        if rng.random() < self.amd_false_machine:
            return AmdPlan("MACHINE", "MAXWORDS-4-3", after)
        return AmdPlan("HUMAN", "HUMAN-300-300", after)

    def talk_time_s(self, outcome: CustomerOutcome, rng: random.Random) -> float:
        """How long a customer (``HUMAN``, or a ``MACHINE`` taken for one) stays bridged
        to an agent before hanging up."""
        if outcome is CustomerOutcome.MACHINE:
            return self.machine_talk.sample(rng)
        return self.talk.sample(rng)


# --- the simulated switch ---------------------------------------------------------------------
