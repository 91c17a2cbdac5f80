"""VICIdial's adaptive dial level, reimplemented as a :class:`~callcenter.dialer.pacing.Pacer`.

Source: VICIdial ``bin/AST_VDadapt.pl`` version 2.4 (subroutine ``calculate_dial_level``) and the
goal-calls rule of ``bin/AST_VDauto_dial.pl``, as described in ``shared/PACING_BASELINES.md``.
This is our own code written from that description; no VICIdial (AGPL) code is copied. See
docs/PACING.md for the formulas and settings.

Algorithm
---------
* Every :meth:`VicidialAdaptive.decide` call is one 1-second sample: ready agents, customer
  calls waiting for an agent (``snapshot.waiting``) and agents (``snapshot.working``, i.e.
  READY + INCALL, or ``snapshot.ready`` alone with ``available_only_tally``) go into 15-sample
  moving averages. ``differential = avg_ready - avg_waiting``.
* Every 15 s of ``snapshot.now`` (grid anchored at the first ``decide``):
  ``target = differential + diff_target``; ``mul = target / avg_agents`` (0 when either is 0);
  with ``im = intensity / 100``, ``mul' = mul * |im - 1|`` when ``mul < 0`` else
  ``mul * (im + 1)``; ``level *= 1 + mul'``; then cap at ``max_level`` and floor at 1.0.
* Every 60 s (same grid, the first one minute after the first ``decide``) the drop figures
  are refreshed from what :meth:`VicidialAdaptive.record` heard (VICIdial's
  ``calculate_drops``): calls and drops of the last minute, today's calls, answers and drops.
* At every 15-s update, right after the level update (VICIdial runs its "drop percentage
  rules to lower dial_level" inside ``calculate_dial_level``), the drop rules, from the last
  refreshed figures (none before the first refresh):

  - last minute: more than 20 calls in the last 60 s and drops / calls > 50 % -> ``level /= 2``;
  - today: more than 50 calls today and today's drops / today's answers (in %) >
    ``drop_target_pct`` -> hard-limit: ``level = 1.0``; average: ``level /= 2``; tapered:
    ``left = hhmm(day_end_s) - hhmm(now)`` (HHMM integers, plain subtraction), ``level = 1.0``
    if ``left < 0``, unchanged if ``left > 1000``, else ``level *= left / 1000``.

  Then the level is capped at ``max_level`` and floored at 1.0 again.
* :meth:`VicidialAdaptive.decide` returns
  ``max(0, round_half_up(level * agents_now) - snapshot.lines_in_use)`` where ``agents_now`` is
  the current (not averaged) ``snapshot.working`` (``snapshot.ready`` with
  ``available_only_tally``).

Interpretations (the description leaves these open)
---------------------------------------------------
* "calls" (both drop rules) = lines placed: :attr:`LineOutcome.DIALED` events. "Calls in the
  last minute" are DIALED events at ``t`` with ``now - 60 < t <= now``; the minute's drops are
  DROPPED events in the same window (a drop may belong to a call placed just before it).
* "answered" (day rule) = :attr:`LineOutcome.HUMAN` events (answered by a person per AMD and
  handed to the agent queue); a machine is not an answer. "drops" = DROPPED events.
  With no answers today the day's drop percentage is 0.
* "today" = since the day start: counters reset at ``day_start_s + k * 86400``. Events before
  ``day_start_s`` are forgotten when the day starts.
* The drop rules are applied at every 15-s update from figures refreshed once a minute, as
  AST_VDadapt.pl 2.4 does: a day over its drop target is cut four times a minute until the
  figures improve (the average method can halve the level four times in a minute). An earlier
  version applied them once a minute, which made the baseline too generous.
* HHMM clock: simulated time ``day_start_s`` is clock time ``day_start_hhmm``;
  ``hhmm(t)`` = that clock plus ``floor((t - day_start_s) / 60)`` minutes, written as the
  integer ``HH*100 + MM`` (hours mod 24). The tapered ``left`` subtracts two such integers, as
  VICIdial does, so 17:00 - 16:59 is 41, not 1 minute; ``left > 1000`` means "more than ten
  (clock) hours to go".
* The 15-sample averages use the samples held so far before the 15th second.
* Agents in wrap-up count as INCALL (VICIdial keeps them INCALL until the disposition is saved);
  reserved (QUEUE) agents count too: ``snapshot.working``.
* Rounding of the goal is half up (``int(x + 0.5)``), like :class:`~callcenter.dialer.pacing.Ratio`.
* If ``decide`` is called less often than every 15 s / 60 s, a late tick does one update and the
  grid skips the missed ticks (no catch-up updates).
* VICIdial's optional agent-count dial-level thresholds (forcing 1.0) are not implemented (they
  are off by default).
"""

from __future__ import annotations

import math
from collections import deque
from enum import StrEnum

from callcenter.dialer.pacing import DialerSnapshot, LineOutcome

__all__ = ["AdaptiveMethod", "VicidialAdaptive"]

_SAMPLES = 15  # moving-average window, 1-second samples
_ADAPT_EVERY = 15.0  # seconds between level updates
_DROPS_EVERY = 60.0  # seconds between drop-rule checks
_MINUTE = 60.0
_DAY = 86400.0
_MINUTE_CALLS = 20  # last-minute rule: more than this many calls...
_MINUTE_DROP_FRACTION = 0.5  # ...and more than this fraction dropped
_DAY_CALLS = 50  # day rule: more than this many calls today


class AdaptiveMethod(StrEnum):
    """VICIdial's ADAPT_HARD_LIMIT, ADAPT_TAPERED and ADAPT_AVERAGE dial methods."""

    HARD_LIMIT = "hard-limit"
    TAPERED = "tapered"
    AVERAGE = "average"


def _number(name: str, value: float) -> float:
    try:
        out = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number, got {value!r}") from None
    if not math.isfinite(out):
        raise ValueError(f"{name} must be finite, got {value!r}")
    return out


class VicidialAdaptive:
    """VICIdial's adaptive dial level (``vicidial-hard-limit`` / ``-tapered`` / ``-average``).

    ``level`` is the current dial level (lines per agent). See the module docstring for the
    algorithm and its interpretations.
    """

    __slots__ = (
        "_adapt_factor_neg",
        "_adapt_factor_pos",
        "_available_only",
        "_day_start_minutes",
        "_end_hhmm",
        "_figures",
        "_minute_dials",
        "_minute_drops",
        "_next_adapt",
        "_next_day_at",
        "_next_drops",
        "_samples",
        "_started",
        "_sum_agents",
        "_sum_ready",
        "_sum_waiting",
        "answered_today",
        "available_only_tally",
        "day_end_s",
        "day_start_hhmm",
        "day_start_s",
        "dialed_today",
        "diff_target",
        "drop_target_pct",
        "dropped_today",
        "intensity",
        "level",
        "max_level",
        "method",
        "name",
    )

    def __init__(
        self,
        method: AdaptiveMethod | str,
        max_level: float = 3.0,
        intensity: float = 0.0,
        diff_target: float = 0.0,
        drop_target_pct: float = 3.0,
        initial_level: float = 1.0,
        day_start_s: float = 0.0,
        day_end_s: float = 28800.0,
        day_start_hhmm: int = 900,
        available_only_tally: bool = False,
    ) -> None:
        try:
            self.method = AdaptiveMethod(method)
        except ValueError:
            known = ", ".join(m.value for m in AdaptiveMethod)
            raise ValueError(f"unknown adaptive method {method!r} (known: {known})") from None
        self.max_level = _number("max_level", max_level)
        if self.max_level < 1.0:
            raise ValueError(f"max_level must be >= 1.0, got {max_level!r}")
        self.intensity = _number("intensity", intensity)
        if not -40.0 <= self.intensity <= 40.0:
            raise ValueError(f"intensity must be in [-40, 40], got {intensity!r}")
        self.diff_target = _number("diff_target", diff_target)
        self.drop_target_pct = _number("drop_target_pct", drop_target_pct)
        if not 0.0 < self.drop_target_pct <= 100.0:
            raise ValueError(f"drop_target_pct must be in (0, 100], got {drop_target_pct!r}")
        level = _number("initial_level", initial_level)
        if not 1.0 <= level <= self.max_level:
            raise ValueError(
                f"initial_level must be in [1.0, max_level={self.max_level:g}], "
                f"got {initial_level!r}"
            )
        self.level = level
        self.day_start_s = _number("day_start_s", day_start_s)
        self.day_end_s = _number("day_end_s", day_end_s)
        if not self.day_start_s < self.day_end_s <= self.day_start_s + _DAY:
            raise ValueError(
                "day_end_s must be after day_start_s and at most 24 h later, got "
                f"day_start_s={day_start_s!r}, day_end_s={day_end_s!r}"
            )
        hhmm = _number("day_start_hhmm", day_start_hhmm)
        if hhmm != int(hhmm) or not 0 <= hhmm <= 2359 or int(hhmm) % 100 >= 60:
            raise ValueError(f"day_start_hhmm must be a clock time HHMM (0..2359), got "
                             f"{day_start_hhmm!r}")
        self.day_start_hhmm = int(hhmm)
        self.available_only_tally = bool(available_only_tally)
        self.name = f"vicidial-{self.method.value}"

        im = self.intensity / 100.0
        self._adapt_factor_pos = im + 1.0
        self._adapt_factor_neg = abs(im - 1.0)
        self._available_only = self.available_only_tally
        self._day_start_minutes = (self.day_start_hhmm // 100) * 60 + self.day_start_hhmm % 100
        self._end_hhmm = self.clock_hhmm(self.day_end_s)

        # 15 one-second samples (ready, waiting, agents) and their running sums
        self._samples: deque[tuple[int, int, int]] = deque()
        self._sum_ready = 0
        self._sum_waiting = 0
        self._sum_agents = 0
        # schedule: the first decide() anchors the 15-s and 60-s grids
        self._started = False
        self._next_adapt = -math.inf
        self._next_drops = math.inf
        #: the drop figures of the last refresh: minute calls, minute drops, today's calls,
        #: answers and drops (None before the first)
        self._figures: tuple[int, int, int, int, int] | None = None
        # the last minute: times of DIALED and DROPPED events (pruned by time)
        self._minute_dials: deque[float] = deque()
        self._minute_drops: deque[float] = deque()
        # today (since day start): running counters
        self._next_day_at = self.day_start_s
        self.dialed_today = 0
        self.answered_today = 0
        self.dropped_today = 0

    # -- Pacer protocol ---------------------------------------------------------------------

    def decide(self, snapshot: DialerSnapshot) -> int:
        now = snapshot.now
        ready = snapshot.ready
        waiting = snapshot.waiting
        working = ready + snapshot.reserved + snapshot.on_call + snapshot.wrap_up
        agents = ready if self._available_only else working

        samples = self._samples
        samples.append((ready, waiting, agents))
        self._sum_ready += ready
        self._sum_waiting += waiting
        self._sum_agents += agents
        if len(samples) > _SAMPLES:
            old_ready, old_waiting, old_agents = samples.popleft()
            self._sum_ready -= old_ready
            self._sum_waiting -= old_waiting
            self._sum_agents -= old_agents

        if now >= self._next_drops:
            self._refresh_drop_figures(now)
        if now >= self._next_adapt:
            if self._adapt(now):
                self._apply_drop_rules(now)

        goal = int(self.level * agents + 0.5)
        new = goal - (snapshot.dialing + snapshot.waiting + snapshot.connected)
        return new if new > 0 else 0

    def record(self, outcome: LineOutcome, now: float) -> None:
        if now >= self._next_day_at:
            self._new_day(now)
        if outcome == LineOutcome.DIALED:
            self.dialed_today += 1
            self._minute_dials.append(now)
        elif outcome == LineOutcome.HUMAN:
            self.answered_today += 1
        elif outcome == LineOutcome.DROPPED:
            self.dropped_today += 1
            self._minute_drops.append(now)
        else:
            return
        self._prune_minute(now)

    def next_decision_at(self, now: float) -> float:
        return now + 1.0

    # -- helpers ----------------------------------------------------------------------------

    def clock_hhmm(self, t: float) -> int:
        """Clock time at simulated time ``t`` as an HHMM integer (``day_start_s`` is
        ``day_start_hhmm``; whole minutes; hours wrap at 24)."""
        minutes = self._day_start_minutes + math.floor((t - self.day_start_s) / 60.0)
        return ((minutes // 60) % 24) * 100 + minutes % 60

    def tapered_left(self, now: float) -> int:
        """``hhmm(day end) - hhmm(now)`` in plain HHMM integer arithmetic (ADAPT_TAPERED)."""
        return self._end_hhmm - self.clock_hhmm(now)

    @property
    def averages(self) -> tuple[float, float, float]:
        """Current moving averages ``(ready, waiting, agents)`` (zeros before any sample)."""
        n = len(self._samples)
        if n == 0:
            return (0.0, 0.0, 0.0)
        return (self._sum_ready / n, self._sum_waiting / n, self._sum_agents / n)

    def _clamp(self) -> None:
        if self.level > self.max_level:
            self.level = self.max_level
        if self.level < 1.0:
            self.level = 1.0

    def _adapt(self, now: float) -> bool:
        """The 15-s level update; False on the first call (it only anchors the grids)."""
        if not self._started:  # first decide(): anchor the grids, no update yet
            self._started = True
            self._next_adapt = now + _ADAPT_EVERY
            self._next_drops = now + _DROPS_EVERY
            return False
        late = now - self._next_adapt
        self._next_adapt += _ADAPT_EVERY * (math.floor(late / _ADAPT_EVERY) + 1)

        n = len(self._samples)
        avg_agents = self._sum_agents / n
        target = (self._sum_ready - self._sum_waiting) / n + self.diff_target
        if avg_agents == 0 or target == 0:
            return True  # mul = 0: level unchanged
        mul = target / avg_agents
        if mul < 0:
            mul *= self._adapt_factor_neg
        else:
            mul *= self._adapt_factor_pos
        self.level *= 1.0 + mul
        self._clamp()
        return True

    def _refresh_drop_figures(self, now: float) -> None:
        """VICIdial's ``calculate_drops``, once a minute: the figures the drop rules read."""
        late = now - self._next_drops
        self._next_drops += _DROPS_EVERY * (math.floor(late / _DROPS_EVERY) + 1)
        if now >= self._next_day_at:
            self._new_day(now)
        self._prune_minute(now)
        self._figures = (len(self._minute_dials), len(self._minute_drops), self.dialed_today,
                         self.answered_today, self.dropped_today)

    def _apply_drop_rules(self, now: float) -> None:
        """The drop rules on the last refreshed figures (at every 15-s update)."""
        if self._figures is None:
            return
        calls, minute_drops, dialed_today, answered_today, dropped_today = self._figures
        if calls > _MINUTE_CALLS and minute_drops / calls > _MINUTE_DROP_FRACTION:
            self.level /= 2.0

        if dialed_today > _DAY_CALLS and answered_today > 0:
            drop_pct = 100.0 * dropped_today / answered_today
            if drop_pct > self.drop_target_pct:
                if self.method is AdaptiveMethod.HARD_LIMIT:
                    self.level = 1.0
                elif self.method is AdaptiveMethod.AVERAGE:
                    self.level /= 2.0
                else:
                    left = self.tapered_left(now)
                    if left < 0:
                        self.level = 1.0
                    elif left <= 1000:
                        self.level *= left / 1000.0
        self._clamp()

    def _prune_minute(self, now: float) -> None:
        horizon = now - _MINUTE
        dials = self._minute_dials
        while dials and dials[0] <= horizon:
            dials.popleft()
        drops = self._minute_drops
        while drops and drops[0] <= horizon:
            drops.popleft()

    def _new_day(self, now: float) -> None:
        days = math.floor((now - self.day_start_s) / _DAY)
        self._next_day_at = self.day_start_s + (days + 1) * _DAY
        self.dialed_today = 0
        self.answered_today = 0
        self.dropped_today = 0
