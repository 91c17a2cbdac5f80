"""``predictive`` pacing: dial what the agents about to be free can take, within a drop budget.

Pure and typed: it sees what any pacer sees (:class:`~callcenter.dialer.pacing.DialerSnapshot`
and each line's fate) plus, as a :class:`~callcenter.dialer.pacing.DetailedPacer`, when each
line still ringing was placed and when each agent started their call or wrap-up. Everything it
knows about the campaign it learns online from those; it has one set of defaults for every
campaign (docs/PACING.md, "predictive").

Each decision (every second):

1. **Supply**: for every time ``y`` seconds ahead, the expected number of agents free by then
   and its variance. A ready agent is free now; an agent in wrap-up is free when the wrap-up
   ends, an agent on a call when the call and the wrap-up after it end, each drawn from the
   learned duration distributions *given the time already spent* (talk times are
   Kaplan-Meier estimates that count calls still running as censored, so long calls are not
   forgotten early in the day).
2. **Demand**: for every time ``x`` ahead, the expected number of people (AMD "person"
   verdicts) that will have asked for an agent: those waiting now, plus each line still
   ringing, whose chance of a person verdict in the next ``x`` seconds is its learned hazard
   given its age, plus ``n`` new lines.
3. **Drops**: a person is dropped when no agent is free within the connect limit ``L`` of the
   verdict. People cannot wait but agents can, so the people dropped over the horizon are
   ``max_x (M(x) - A(x + L))^+`` (a reflection); with normal approximations of ``M`` and ``A``
   the pacer takes ``max_x E[(M(x) - A(x + L))^+]`` as the expected drops.
4. **Decision**: the largest ``n`` whose expected drops stay within ``theta`` times the
   expected people in the pipeline. ``theta`` is the drop target, corrected by a feedback on
   the drops actually seen today (the model's approximations are not exact; the law counts
   what happens).

While data is thin (few resolved lines, person verdicts or finished calls), it paces
progressively: lines for the ready agents only, with a pessimistic (upper-bound) person rate,
so that it starts at one line per ready agent and dials more as the evidence comes in. The
estimate of the person rate comes with its own uncertainty, which widens the variance and keeps
the pacer careful until the rate is well known.
"""

from __future__ import annotations

import math
from collections import Counter, deque
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np
from numpy.typing import NDArray

from callcenter.dialer.pacing import DialerSnapshot, LineOutcome

FloatArray = NDArray[np.float64]

#: talk ages beyond this many seconds share the last row of the tables
_MAX_TALK_AGE = 4 * 3600
#: quantiles of the wrap-up time used in the free-time convolution
_WRAP_QUANTILES = 16
_SQRT2 = math.sqrt(2.0)
#: numbers of new lines weighed at once
_CHUNK = 12
#: the window of line outcomes (ages of every kind) is this many times ``sample_window``
_OUTCOME_WINDOW = 5


@dataclass(frozen=True, slots=True)
class PredictiveSettings:
    """The pacer's settings: one set of defaults for every campaign (nothing per workload)."""

    #: people dropped (no agent within the connect limit) per person AMD hands to the agents;
    #: the rule's 3% also counts AMD's false "machine" verdicts on people, which the pacer
    #: cannot see: the rest of the budget is left for them
    drop_target: float = 0.01
    #: seconds a person may wait for an agent after the verdict (the rule's 2 s)
    connect_limit_s: float = 2.0
    #: evidence needed before the model paces (before: progressive with a pessimistic rate)
    min_resolved: int = 150
    min_humans: int = 25
    min_talks: int = 15
    #: the person rate is an exponentially weighted mean over about this many resolved lines
    rate_window: int = 800
    #: ages and durations kept for the distributions (the most recent)
    sample_window: int = 2000
    #: seconds between refits of the distributions
    refit_s: float = 60.0
    #: never more lines in progress than this many per agent (trunks are finite)
    max_lines_per_agent: float = 10.0
    #: people dropped do not take agents from the people after them
    reflect_drops: bool = True
    #: hang up a line still ringing after the law's minimum ring when it would remove more
    #: than this many expected drops per person it could still bring (0: never)
    hang_up_ratio: float = 0.3
    #: feedback on today's drops: pseudo-count of people at the target rate before any is seen
    feedback_prior: float = 300.0
    #: the feedback factor is (target / seen) ** feedback_gain ...
    feedback_gain: float = 1.0
    #: ... within [1 / feedback_range, feedback_range]
    feedback_range: float = 3.0

    def __post_init__(self) -> None:
        if not 0.0 < self.drop_target < 1.0:
            raise ValueError(f"drop_target must be in (0, 1), got {self.drop_target}")
        if self.connect_limit_s < 0:
            raise ValueError(f"connect_limit_s must be >= 0, got {self.connect_limit_s}")
        if self.max_lines_per_agent <= 0:
            raise ValueError("max_lines_per_agent must be > 0")
        if self.feedback_range < 1.0:
            raise ValueError("feedback_range must be >= 1")
        for name in ("min_resolved", "min_humans", "min_talks", "feedback_prior",
                     "feedback_gain"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.rate_window < 1 or self.sample_window < 10:
            raise ValueError("rate_window must be >= 1 and sample_window >= 10")
        if self.refit_s <= 0:
            raise ValueError(f"refit_s must be > 0, got {self.refit_s}")


def normal_cdf(z: FloatArray) -> FloatArray:
    """Standard normal CDF (Abramowitz & Stegun 7.1.26 for erf, error < 1.5e-7)."""
    x = np.abs(z) / math.sqrt(2.0)
    t = 1.0 / (1.0 + 0.3275911 * x)
    poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027
                                                                         + t * 1.061405429))))
    erf = 1.0 - poly * np.exp(-x * x)
    return np.asarray(0.5 * (1.0 + np.sign(z) * erf), dtype=np.float64)


def expected_excess(mean: FloatArray, var: FloatArray) -> FloatArray:
    """``E[Y^+]`` for ``Y ~ N(mean, var)``."""
    sd = np.sqrt(np.maximum(var, 1e-12))
    z = mean / sd
    pdf = np.exp(-0.5 * z * z) / math.sqrt(2.0 * math.pi)
    return np.asarray(mean * normal_cdf(z) + sd * pdf, dtype=np.float64)


@dataclass(slots=True)
class PacingModel:
    """The learned campaign, as tables on a 1-second grid (built by :meth:`fit`).

    - ``person_rate``: share of resolved lines that end with a person verdict (needs an agent),
      with ``rate_var`` the variance of that estimate;
    - ``line_table[e, x]``: chance that a line still ringing at age ``e`` gets a person verdict
      within ``x`` seconds; ``new_line[x]`` the same for a line placed now;
    - ``talk_table[a, y]``: chance that an agent ``a`` seconds into a call is free (call and
      wrap-up over) within ``y`` seconds; ``wrap_table[b, y]`` the same ``b`` seconds into a
      wrap-up.
    """

    person_rate: float
    rate_var: float
    horizon: int
    limit: int
    line_table: FloatArray
    new_line: FloatArray
    talk_table: FloatArray
    wrap_table: FloatArray
    #: take people expected to be dropped off the people ahead (see :meth:`expected_drops`)
    reflect: bool = True

    @classmethod
    def fit(cls, *, person_rate: float, rate_samples: float, person_ages: list[float],
            other_ages: list[float], talk_s: list[float], talk_censored: list[float],
            wrap_s: list[float], connect_limit_s: float,
            hung_up_ages: list[float] | None = None) -> PacingModel:
        """Tables from the samples: ages (dial to verdict) of person verdicts and of other
        outcomes, finished talk times, ages of calls still running (censored), wrap-up
        times, and the ages at which lines were hung up still ringing (censored: what they
        would have become is unknown, so the late verdicts are not under-counted)."""
        rate = min(max(person_rate, 1e-4), 1.0 - 1e-4)
        rate_var = rate * (1.0 - rate) / max(rate_samples, 1.0)
        limit = math.floor(connect_limit_s + 1e-9)
        longest = max(max(person_ages, default=1.0), 1.0)
        horizon = min(max(math.ceil(longest) + 1, 5), 180)
        # --- lines: person verdict within x given still ringing at age e ---
        ages_max = math.ceil(max(longest, max(other_ages, default=1.0))) + 2
        grid = np.arange(ages_max + horizon + 1, dtype=np.float64)
        c_person, c_other = _incidence(person_ages, other_ages, hung_up_ages or [], grid)
        alive = 1.0 - rate * c_person - (1.0 - rate) * c_other  # P(still ringing at age a)
        e = np.arange(ages_max + 1)
        x = np.arange(horizon + 1)
        gained = rate * (c_person[e[:, None] + x[None, :]] - c_person[e][:, None])
        with np.errstate(divide="ignore", invalid="ignore"):
            line_table = np.where(alive[e][:, None] > 1e-9, gained / alive[e][:, None], 0.0)
        line_table = np.clip(line_table, 0.0, 1.0)
        new_line = rate * c_person[x]
        # --- agents: free within y given a seconds into the call / b into the wrap-up ---
        span = horizon + limit + 1
        wraps = np.asarray(wrap_s if wrap_s else [0.0], dtype=np.float64)
        quantiles = np.quantile(wraps, (np.arange(_WRAP_QUANTILES) + 0.5) / _WRAP_QUANTILES)
        wrap_steps, weights = np.unique(np.maximum(np.rint(quantiles), 0).astype(np.int64),
                                        return_counts=True)
        talk_max = int(min(max(max(talk_s, default=1.0), max(talk_censored, default=1.0)) + 2,
                           _MAX_TALK_AGE))
        survival = _kaplan_meier(talk_s, talk_censored, talk_max + span + 1)
        y = np.arange(span)
        # not free within y, times S(a): sum over wrap-ups w of S(a + max(y - w, 0)) p(w),
        # a matrix product of the sliding windows of S with a (span x span) kernel
        kernel = np.zeros((span, span))
        for w, weight in zip(wrap_steps, weights, strict=True):
            kernel[np.maximum(y - int(w), 0), y] += weight / float(weights.sum())
        windows = np.lib.stride_tricks.sliding_window_view(survival, span)[:talk_max + 1]
        base = windows[:, :1]
        mean_talk = float(np.mean(talk_s)) if talk_s else 180.0
        with np.errstate(divide="ignore", invalid="ignore"):
            talk_table = np.where(
                base > 1e-12, 1.0 - (windows @ kernel) / base,
                # past every call seen: assume the mean talk time is still ahead
                (1.0 - np.exp(-np.maximum(y[None, :] - float(np.mean(wraps)), 0) / mean_talk)))
        wrap_max = int(np.max(wraps)) + 2
        wrap_grid = np.arange(wrap_max + span + 1, dtype=np.float64)
        wrap_cdf = _ecdf(list(wraps), wrap_grid)
        b = np.arange(wrap_max + 1)
        wrap_alive = 1.0 - wrap_cdf[b]
        with np.errstate(divide="ignore", invalid="ignore"):
            wrap_table = np.where(
                wrap_alive[:, None] > 1e-12,
                (wrap_cdf[b[:, None] + y[None, :]] - wrap_cdf[b][:, None]) / wrap_alive[:, None],
                np.where(y[None, :] >= 1, 1.0, 0.0))
        return cls(rate, rate_var, horizon, limit, line_table, new_line,
                   np.clip(talk_table, 0.0, 1.0), np.clip(wrap_table, 0.0, 1.0))

    # --- the decision ----------------------------------------------------------------------

    def supply(self, snapshot: DialerSnapshot) -> tuple[FloatArray, FloatArray]:
        """Expected agents free within ``y`` seconds (y = 0..horizon + limit) and variance."""
        now = snapshot.now
        span = self.horizon + self.limit + 1
        mean = np.full(span, float(snapshot.ready))
        var = np.zeros(span)
        if snapshot.talking_since:
            ages = np.minimum(np.floor(now - np.asarray(snapshot.talking_since)),
                              len(self.talk_table) - 1).astype(np.int64)
            rows = self.talk_table[np.maximum(ages, 0)]
            mean += rows.sum(axis=0)
            var += (rows * (1.0 - rows)).sum(axis=0)
        if snapshot.wrap_up_since:
            ages = np.minimum(np.floor(now - np.asarray(snapshot.wrap_up_since)),
                              len(self.wrap_table) - 1).astype(np.int64)
            rows = self.wrap_table[np.maximum(ages, 0)]
            mean += rows.sum(axis=0)
            var += (rows * (1.0 - rows)).sum(axis=0)
        return mean, var

    def demand(self, snapshot: DialerSnapshot, skip: frozenset[int] = frozenset(),
               ) -> tuple[FloatArray, FloatArray]:
        """Expected people asking for an agent within ``x`` seconds (x = 0..horizon) from the
        people waiting and the lines ringing now (but those at the indices in ``skip``), and
        variance."""
        mean = np.full(self.horizon + 1, float(snapshot.waiting))
        var = np.zeros(self.horizon + 1)
        if snapshot.dialing_since:
            ages = np.floor(snapshot.now - np.asarray(snapshot.dialing_since)).astype(np.int64)
            keep = ages < len(self.line_table)
            if skip:
                keep[list(skip)] = False
            rows = self.line_table[np.maximum(ages[keep], 0)]
            mean += rows.sum(axis=0)
            var += (rows * (1.0 - rows)).sum(axis=0)
        return mean, var

    def expected_drops(self, snapshot: DialerSnapshot, counts: NDArray[np.int64],
                       skip: frozenset[int] = frozenset()) -> tuple[FloatArray, FloatArray]:
        """For each number of new lines in ``counts``: expected people who will find no agent
        free within the connect limit over the horizon, and expected people in the pipeline
        (waiting, ringing but the lines at the indices in ``skip``, new).

        A person asking at ``x`` finds no agent when fewer agents are free by ``x + L`` than
        people asked before them and including them: ``A(x + L) - M(x-) < 1``. People dropped
        earlier are still counted as served here, so this errs on the side of more drops."""
        n = counts.astype(np.float64)[:, None]
        p = self.new_line[None, :]
        return self._drops(snapshot, n * p, n * p * (1.0 - p), skip)

    def drops_without(self, snapshot: DialerSnapshot, lines: list[int],
                      skip: frozenset[int] = frozenset()) -> FloatArray:
        """Expected drops (no new line) with each of ``lines`` (indices into
        ``snapshot.dialing_since``) hung up now, besides those in ``skip``."""
        rows = self.line_table[self._line_ages(snapshot)[lines]]
        return self._drops(snapshot, -rows, -rows * (1.0 - rows), skip)[0]

    def _line_ages(self, snapshot: DialerSnapshot) -> NDArray[np.int64]:
        ages = np.floor(snapshot.now - np.asarray(snapshot.dialing_since)).astype(np.int64)
        return np.minimum(np.maximum(ages, 0), len(self.line_table) - 1)

    def _drops(self, snapshot: DialerSnapshot, extra: FloatArray, extra_var: FloatArray,
               skip: frozenset[int]) -> tuple[FloatArray, FloatArray]:
        """Expected drops for each row of people added to (or, negative, taken from) the
        pipeline: ``extra[k, x]`` people by ``x`` with variance ``extra_var[k, x]``."""
        supply, supply_var = self.supply(snapshot)
        demand, demand_var = self.demand(snapshot, skip)
        h = self.horizon
        available = supply[self.limit + 1:self.limit + h + 1]  # A(x + L), x = 1..h
        available_var = supply_var[self.limit + 1:self.limit + h + 1]
        people = demand[None, :] + extra  # M(x), x = 0..h
        before = people[:, :-1]  # M(x-), x = 1..h
        arriving = people[:, 1:] - before
        lines_before = before - float(snapshot.waiting)
        # the person rate is an estimate: its error moves every line's chance together
        rate_var = (lines_before / self.person_rate) ** 2 * self.rate_var
        var = (available_var[None, :] + demand_var[None, :-1] + extra_var[:, :-1] + rate_var)
        sd = np.sqrt(np.maximum(var, 1e-12))
        # the people waiting now are at risk too (asked at x = 0)
        waiting_risk = 0.0
        if snapshot.waiting:
            z = ((snapshot.waiting - 0.5 - float(supply[self.limit]))
                 / math.sqrt(max(float(supply_var[self.limit]), 0.25)))
            waiting_risk = snapshot.waiting * 0.5 * math.erfc(-z / _SQRT2)
        if self.reflect:
            # people dropped do not take an agent later: take the drops expected before x
            # (of the first row: without new lines) off the people ahead of a person asking at x
            dropped = waiting_risk
            ahead = np.empty(h)
            free, asked, coming, spread = (available.tolist(), before[0].tolist(),
                                           arriving[0].tolist(), sd[0].tolist())
            for i in range(h):
                ahead[i] = dropped
                gap = free[i] - (asked[i] - dropped) - 0.5
                dropped += coming[i] * 0.5 * math.erfc(gap / (spread[i] * _SQRT2))
            before = before - ahead[None, :]
        margin = available[None, :] - before - 0.5  # continuity correction: fewer than 1
        no_agent = normal_cdf(-margin / sd)
        drops = (arriving * no_agent).sum(axis=1) + waiting_risk
        return drops, people[:, -1]

    def hang_ups(self, snapshot: DialerSnapshot, min_ring_s: float, ratio: float,
                 most: int = 8) -> list[int]:
        """Ringing lines (indices into ``snapshot.dialing_since``) that rang ``min_ring_s``
        and are worth hanging up: each takes more than ``ratio`` expected drops off per person
        it could still bring. Greedy, the best first."""
        if not snapshot.dialing_since:
            return []
        ages = self._line_ages(snapshot)
        rang = snapshot.now - np.asarray(snapshot.dialing_since)
        chance = self.line_table[ages, -1]
        eligible = np.flatnonzero((rang >= min_ring_s) & (chance > 1e-6)).tolist()
        if not eligible:
            return []
        chosen: set[int] = set()
        zero = np.zeros(1, dtype=np.int64)
        base = float(self.expected_drops(snapshot, zero)[0][0])
        # a hang-up takes off at most the drops there are: when even the least likely line
        # could not gain ``ratio``, none can (most seconds, as the pacer keeps drops rare)
        if base <= ratio * float(chance[eligible].min()):
            return []
        while eligible and len(chosen) < most:
            drops = self.drops_without(snapshot, eligible, frozenset(chosen))
            gains = (base - drops) / chance[eligible]
            best = int(np.argmax(gains))
            if gains[best] <= ratio:
                break
            chosen.add(eligible.pop(best))
            base = float(drops[best])
        return sorted(chosen)

    def plan(self, snapshot: DialerSnapshot, theta: float, cap: int) -> int:
        """The most new lines (at most ``cap``) such that the last one adds at most ``theta``
        times the people it brings (``person_rate``) to the expected drops: each line is
        worth placing only if the drops it causes, its own and those of the people already on
        their way whom it would take an agent from, stay within the budget."""
        if cap <= 0:
            return 0
        budget = theta * self.person_rate
        start = 0
        while True:  # in chunks: the answer is nearly always in the first one
            stop = min(cap, start + _CHUNK)
            counts = np.arange(start, stop + 1, dtype=np.int64)
            drops, _ = self.expected_drops(snapshot, counts)
            bad = np.flatnonzero(np.diff(drops) > budget)
            if len(bad):
                return start + int(bad[0])
            if stop >= cap:
                return cap
            start = stop


def _incidence(person: list[float], other: list[float], censored: list[float],
               grid: FloatArray) -> tuple[FloatArray, FloatArray]:
    """The distributions of the age at a person verdict and at any other outcome (share of
    each kind by each grid age), from one sample of lines in which some were hung up still
    ringing (right-censored): the Aalen-Johansen estimator of cumulative incidence, divided
    by each kind's total. Without censoring it is each kind's empirical CDF."""
    size = len(grid)

    def counts(ages: list[float]) -> NDArray[np.int64]:
        # ceil: an age x is counted at the first grid point g with x <= g, as the ECDF does
        at = np.minimum(np.ceil(np.asarray(ages, dtype=np.float64)), size - 1).astype(np.int64)
        return np.bincount(np.maximum(at, 0), minlength=size)[:size]

    if not censored:
        return _ecdf(person, grid), _ecdf(other, grid)
    d_person, d_other, d_cut = counts(person), counts(other), counts(censored)
    at_risk = np.cumsum((d_person + d_other + d_cut)[::-1])[::-1].astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        h_person = np.where(at_risk > 0, d_person / at_risk, 0.0)
        h_other = np.where(at_risk > 0, d_other / at_risk, 0.0)
    alive_before = np.concatenate(([1.0], np.cumprod(1.0 - h_person - h_other)[:-1]))
    f_person = np.cumsum(alive_before * h_person)
    f_other = np.cumsum(alive_before * h_other)
    return (f_person / f_person[-1] if f_person[-1] > 0 else f_person,
            f_other / f_other[-1] if f_other[-1] > 0 else f_other)


def _ecdf(samples: list[float], grid: FloatArray) -> FloatArray:
    """Share of ``samples`` <= each grid point (0 everywhere with no samples)."""
    if not samples:
        return np.zeros(len(grid))
    ordered = np.sort(np.asarray(samples, dtype=np.float64))
    return np.asarray(np.searchsorted(ordered, grid, side="right") / len(ordered),
                      dtype=np.float64)


def _kaplan_meier(events: list[float], censored: list[float], size: int) -> FloatArray:
    """``S(t) = P(T > t)`` for t = 0..size-1 from finished durations and durations still
    running (right-censored); flat after the last observation."""
    done = np.bincount(np.minimum(np.floor(np.asarray(events, dtype=np.float64)),
                                  size - 1).astype(np.int64), minlength=size)[:size]
    running = np.bincount(np.minimum(np.floor(np.asarray(censored, dtype=np.float64)),
                                     size - 1).astype(np.int64), minlength=size)[:size]
    at_risk = np.cumsum((done + running)[::-1])[::-1].astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        hazard = np.where(at_risk > 0, done / at_risk, 0.0)
    return np.asarray(np.cumprod(1.0 - hazard), dtype=np.float64)


@dataclass(slots=True)
class _Learner:
    """What the pacer has seen: resolved lines, ages, durations (bounded memory)."""

    settings: PredictiveSettings
    resolved: int = 0
    humans: int = 0
    rate: float = 0.0
    rate_weight: float = 0.0
    #: the last lines resolved or hung up, one sample: (age, 0 person / 1 other / 2 hung up)
    outcomes: deque[tuple[float, int]] = field(default_factory=deque)
    talks: deque[float] = field(default_factory=deque)
    wraps: deque[float] = field(default_factory=deque)
    talks_seen: int = 0
    previous_now: float | None = None
    previous_talking: Counter[float] = field(default_factory=Counter)
    previous_wrap: Counter[float] = field(default_factory=Counter)

    def __post_init__(self) -> None:
        size = self.settings.sample_window
        # one window for every kind, so hung-up lines censor the others in proportion
        self.outcomes = deque(maxlen=_OUTCOME_WINDOW * size)
        self.talks = deque(maxlen=size)
        self.wraps = deque(maxlen=size)

    def line(self, outcome: LineOutcome, age: float) -> None:
        person = outcome == LineOutcome.HUMAN
        self.resolved += 1
        # exponentially weighted mean over ~rate_window lines (a plain mean until then)
        window = self.settings.rate_window
        self.rate_weight = min(self.rate_weight + 1.0, float(window))
        self.rate += ((1.0 if person else 0.0) - self.rate) / self.rate_weight
        if person:
            self.humans += 1
        self.outcomes.append((max(age, 0.0), 0 if person else 1))

    def ages(self, kind: int) -> list[float]:
        return [age for age, seen in self.outcomes if seen == kind]

    @property
    def person_ages(self) -> list[float]:
        return self.ages(0)

    @property
    def other_ages(self) -> list[float]:
        return self.ages(1)

    def hung_up(self, age: float, chance: float) -> None:
        """A line hung up still ringing at ``age``: in the person rate at ``chance``, what the
        model gave it still to bring, and a censored age for the distributions."""
        window = self.settings.rate_window
        self.rate_weight = min(self.rate_weight + 1.0, float(window))
        self.rate += (chance - self.rate) / self.rate_weight
        self.outcomes.append((max(age, 0.0), 2))

    def agents(self, snapshot: DialerSnapshot) -> None:
        """Finished calls and wrap-ups, from what left the ``*_since`` sets since the last
        snapshot (a call that ended with a new wrap-up; counts must agree, so an agent who
        logged out mid-call is not taken for a short call)."""
        now = snapshot.now
        talking = Counter(snapshot.talking_since)
        wrap = Counter(snapshot.wrap_up_since)
        if self.previous_now is not None:
            mid = 0.5 * (self.previous_now + now)
            ended_talks = self.previous_talking - talking
            new_wraps = wrap - self.previous_wrap
            if sum(ended_talks.values()) == sum(new_wraps.values()):
                for since, count in ended_talks.items():
                    for _ in range(count):
                        self.talks.append(max(mid - since, 0.0))
                        self.talks_seen += 1
            for since, count in (self.previous_wrap - wrap).items():
                for _ in range(count):
                    self.wraps.append(max(mid - since, 0.0))
        self.previous_now = now
        self.previous_talking = talking
        self.previous_wrap = wrap


class Predictive:
    """``--pacing predictive``: see the module docstring and docs/PACING.md."""

    name = "predictive"
    wants_detail = True

    def __init__(self, settings: PredictiveSettings | None = None) -> None:
        self.settings = settings = settings or PredictiveSettings()
        self._learn = _Learner(settings)
        self.model: PacingModel | None = None
        self._next_fit = -math.inf
        self.people_today = 0
        self.drops_today = 0

    @classmethod
    def from_options(cls, options: Mapping[str, float]) -> Predictive:
        """From ``--pacing predictive`` options (names of :class:`PredictiveSettings`)."""
        known = {f.name: f.type for f in fields(PredictiveSettings)}
        values: dict[str, Any] = {}
        for name, value in options.items():
            if name not in known:
                raise ValueError(f"predictive: unknown setting {name!r} (known: "
                                 f"{', '.join(sorted(known))})")
            values[name] = int(value) if known[name] == "int" else float(value)
        return cls(PredictiveSettings(**values))

    # --- Pacer protocol --------------------------------------------------------------------

    def record(self, outcome: LineOutcome, now: float) -> None:
        if outcome == LineOutcome.DROPPED:
            self.drops_today += 1
        elif outcome == LineOutcome.HUMAN:
            self.people_today += 1

    def record_line(self, outcome: LineOutcome, placed_at: float, now: float) -> None:
        if outcome == LineOutcome.CANCELLED:
            # hung up by us: it counts at what the model expected it still to bring
            model, age = self.model, now - placed_at
            chance = 0.0
            if model is not None:
                chance = float(model.line_table[min(int(age), len(model.line_table) - 1), -1])
            self._learn.hung_up(age, chance)
            return
        self._learn.line(outcome, now - placed_at)

    def cancel_lines(self, snapshot: DialerSnapshot, min_ring_s: float) -> list[int]:
        """Ringing lines to hang up now (indices into ``snapshot.dialing_since``)."""
        if self.settings.hang_up_ratio <= 0 or self.model is None or not self.trusted:
            return []
        return self.model.hang_ups(snapshot, min_ring_s, self.settings.hang_up_ratio)

    def next_decision_at(self, now: float) -> float:
        return now + 1.0

    def decide(self, snapshot: DialerSnapshot) -> int:
        learn = self._learn
        learn.agents(snapshot)
        working = snapshot.working
        cap = int(self.settings.max_lines_per_agent * working) - snapshot.lines_in_use
        if cap <= 0 or working == 0:
            return 0
        if not self.trusted:
            return min(cap, self._warm_up(snapshot))
        if snapshot.now >= self._next_fit or self.model is None:
            self._fit(snapshot)
        assert self.model is not None
        return self.model.plan(snapshot, self.theta, min(cap, 4 * working + 10))

    # --- parts -----------------------------------------------------------------------------

    @property
    def trusted(self) -> bool:
        """Enough evidence for the model (else: progressive with a pessimistic rate)."""
        s, learn = self.settings, self._learn
        return (learn.resolved >= s.min_resolved and learn.humans >= s.min_humans
                and learn.talks_seen >= s.min_talks)

    @property
    def theta(self) -> float:
        """Drops allowed per person in the pipeline: the target, corrected by today's drops
        (pseudo-counted at the target rate, so one early drop does not swing it)."""
        s = self.settings
        prior = s.feedback_prior
        seen = (self.drops_today + s.drop_target * prior) / (self.people_today + prior)
        factor: float = (s.drop_target / max(seen, 1e-9)) ** s.feedback_gain
        return s.drop_target * min(max(factor, 1.0 / s.feedback_range), s.feedback_range)

    def _warm_up(self, snapshot: DialerSnapshot) -> int:
        """Lines for the ready agents only, at an upper bound of the person rate: one per
        ready agent at first, more as the rate becomes known to be low."""
        learn = self._learn
        n = learn.resolved
        if n == 0:
            upper = 1.0
        else:
            p = learn.humans / n
            upper = min(1.0, p + 2.0 * math.sqrt(p * (1.0 - p) / n) + 2.0 / n)
        uncovered = snapshot.ready - snapshot.waiting
        if uncovered <= 0:
            return 0
        return max(0, int(uncovered / upper) - snapshot.dialing)

    def _fit(self, snapshot: DialerSnapshot) -> None:
        learn = self._learn
        now = snapshot.now
        self.model = PacingModel.fit(
            person_rate=learn.rate, rate_samples=learn.rate_weight,
            person_ages=learn.ages(0), other_ages=learn.ages(1), hung_up_ages=learn.ages(2),
            talk_s=list(learn.talks), talk_censored=[now - t for t in snapshot.talking_since],
            wrap_s=list(learn.wraps), connect_limit_s=self.settings.connect_limit_s)
        self.model.reflect = bool(self.settings.reflect_drops)
        self._next_fit = now + self.settings.refit_s
