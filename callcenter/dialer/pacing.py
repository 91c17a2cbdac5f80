"""Pacing: how many new lines the dialer places now.

A pacer is pure: it sees a :class:`DialerSnapshot` (agents and lines right now) when asked to
:meth:`Pacer.decide`, and hears every line's fate through :meth:`Pacer.record`. The dialer loop
(:mod:`callcenter.dialer.loop`) asks it again at :meth:`Pacer.next_decision_at` (every second by
default, like VICIdial's auto-dial loop). The same pacer object runs in the simulator and in
the server.

Baselines (``callcenter simulate --pacing``): ``progressive`` (one line per ready agent),
``ratio:X`` (VICIdial's RATIO method), VICIdial's adaptive dial levels
``vicidial-hard-limit`` / ``vicidial-tapered`` / ``vicidial-average``
(:mod:`callcenter.dialer.vicidial`), and the simulator-only ``clairvoyant`` bound
(:mod:`callcenter.sim.clairvoyant`). See docs/PACING.md for sources and interpretations.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol, runtime_checkable


@dataclass(slots=True)
class DialerSnapshot:
    """What a pacer may know at one instant (one campaign)."""

    now: float
    ready: int = 0
    reserved: int = 0
    on_call: int = 0
    wrap_up: int = 0
    paused: int = 0
    #: lines placed and not yet classified: ringing, or answered and awaiting the AMD verdict
    dialing: int = 0
    #: answered by (what AMD calls) a person and waiting for an agent
    waiting: int = 0
    #: bridged to an agent
    connected: int = 0
    #: detail for pacers that model each agent and line (filled only for a pacer whose
    #: ``wants_detail`` is true; see :class:`DetailedPacer`): when each line still dialing was
    #: placed, and when each agent not leaving at a shift's end started its call (reserved or
    #: on call) or its wrap-up
    dialing_since: tuple[float, ...] = ()
    talking_since: tuple[float, ...] = ()
    wrap_up_since: tuple[float, ...] = ()

    @property
    def working(self) -> int:
        """Agents logged in and not paused (VICIdial counts READY, QUEUE, INCALL; an agent
        in wrap-up is still INCALL there until the disposition is saved)."""
        return self.ready + self.reserved + self.on_call + self.wrap_up

    @property
    def lines_in_use(self) -> int:
        """VICIdial's active lines: the campaign's calls in progress (ringing, answered and
        waiting, connected)."""
        return self.dialing + self.waiting + self.connected


class LineOutcome(StrEnum):
    """What happened to a line, as the system (not the simulator's ground truth) sees it."""

    DIALED = "dialed"  # a line was placed
    NO_ANSWER = "no_answer"
    BUSY = "busy"
    MACHINE = "machine"  # AMD said machine: hung up (or a message left)
    HUMAN = "human"  # AMD said human: the call now waits for an agent ("answered")
    CONNECTED = "connected"  # bridged to an agent within the connect limit
    DROPPED = "dropped"  # no agent within the connect limit: abandoned, message played
    #: not dialled (PBX link down), or the dial's outcome is unknown and no channel ever
    #: showed: not a no-answer, and never counted as a contact attempt's result
    FAILED = "failed"
    #: hung up still ringing by the pacer, after the minimum ring time (too many people were
    #: on their way for the agents about to be free): not answered, retried like a no-answer
    CANCELLED = "cancelled"


class Pacer(Protocol):
    name: str

    def decide(self, snapshot: DialerSnapshot) -> int:
        """How many new lines to place now (>= 0)."""
        ...

    def record(self, outcome: LineOutcome, now: float) -> None:
        """A line's fate (every placed line reports DIALED, then one or two more outcomes)."""
        ...

    def next_decision_at(self, now: float) -> float:
        """When :meth:`decide` should run next."""
        ...


@runtime_checkable
class DetailedPacer(Protocol):
    """A pacer that models each line and agent (``predictive``): the loop fills the
    snapshot's ``*_since`` fields for it and tells it when each resolved line was placed."""

    wants_detail: bool

    def record_line(self, outcome: LineOutcome, placed_at: float, now: float) -> None:
        """A line placed at ``placed_at`` ended dialing with ``outcome`` (NO_ANSWER, BUSY,
        MACHINE, or HUMAN: AMD's person verdict, the call now needs an agent)."""
        ...


class Progressive:
    """One line per ready agent not already covered by a line being dialled or waiting:
    ``ready - dialing - waiting``. No abandonment beyond AMD errors and races."""

    name = "progressive"

    def decide(self, snapshot: DialerSnapshot) -> int:
        return max(0, snapshot.ready - snapshot.dialing - snapshot.waiting)

    def record(self, outcome: LineOutcome, now: float) -> None:
        pass

    def next_decision_at(self, now: float) -> float:
        return now + 1.0


class Ratio:
    """VICIdial's RATIO method: ``round(X * non-paused agents) - lines in use``."""

    name = "ratio"

    def __init__(self, level: float) -> None:
        if not 0 < level <= 10:
            raise ValueError(f"ratio must be in (0, 10], got {level}")
        self.level = level
        self.name = f"ratio:{level:g}"

    def decide(self, snapshot: DialerSnapshot) -> int:
        return max(0, _round_half_up(self.level * snapshot.working) - snapshot.lines_in_use)

    def record(self, outcome: LineOutcome, now: float) -> None:
        pass

    def next_decision_at(self, now: float) -> float:
        return now + 1.0


def _round_half_up(value: float) -> int:
    """Perl's ``sprintf("%.0f")`` is banker's-ish; VICIdial documents plain rounding, so .5
    goes up (Python's ``round`` would send 2.5 to 2)."""
    return int(value + 0.5)


PacerFactory = Callable[[str | None], Pacer]


def parse_pacing(spec: str, **options: float) -> Pacer:
    """Build a pacer from ``--pacing`` text: ``progressive``, ``ratio:2.5``,
    ``vicidial-hard-limit`` (options: max_level, intensity, diff_target, drop_target_pct)...

    ``clairvoyant`` needs the simulator's oracle and is built by :mod:`callcenter.sim`.
    """
    name, _, arg = spec.partition(":")
    if name == "progressive":
        return Progressive()
    if name == "ratio":
        try:
            return Ratio(float(arg or "1"))
        except ValueError as exc:
            raise ValueError(f"bad ratio {spec!r}: {exc}") from None
    if name == "predictive":
        from callcenter.dialer.predictive import Predictive

        if arg:
            raise ValueError(f"bad pacing {spec!r}: predictive takes no argument")
        return Predictive.from_options(options)
    if name == "clairvoyant":
        raise ValueError("clairvoyant knows every call's outcome in advance: it runs only in "
                         "callcenter simulate, never against a PBX")
    if name.startswith("vicidial-"):
        from callcenter.dialer.vicidial import AdaptiveMethod, VicidialAdaptive

        try:
            method = AdaptiveMethod(name.removeprefix("vicidial-"))
        except ValueError:
            raise ValueError(f"unknown pacing {spec!r}") from None
        return VicidialAdaptive(method, **options)  # type: ignore[arg-type]
    raise ValueError(f"unknown pacing {spec!r} (known: progressive, ratio:X, predictive, "
                     "vicidial-hard-limit, vicidial-tapered, vicidial-average, clairvoyant)")
