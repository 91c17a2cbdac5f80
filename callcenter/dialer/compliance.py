"""Compliance at dial time: may this lead be dialled now? Pure, and every answer says why.

:func:`decide_dial` is the one gate every campaign line passes (:mod:`callcenter.dialer.leads`
asks it for each lead before the dialer loop places a line; preview dials ask it too), in
``callcenter serve`` and in ``callcenter demo`` alike (the demo's campaign is data too:
:mod:`callcenter.sim.demo_campaign`). It reads nothing but its
arguments: the lead's number and consent flag, the instant, the campaign's rules and the two
do-not-call lists. It returns a :class:`DialDecision` carrying the verdict, a stable reason
code, the callee's time zones and local times, and when a lead refused for the hour may be
tried again. The adapter publishes every decision as a ``dial.decision`` event and stores it
(``dial_decisions``), so each dial and each refusal can be explained afterwards.

Rules, in the order they are checked (the first that refuses decides):

1. the number must be a valid phone number (``invalid_number``, never dialled);
2. not on the global do-not-call list (``dnc_global``), nor the campaign's (``dnc_campaign``);
3. the customer's consent flag must be set (``no_consent``);
4. the campaign must ring at least 15 s before giving up (``ring_too_short``);
5. the callee's local time, from the number (``phonenumbers`` time zones, ``zoneinfo``), must be
   inside the calling window (default 08:00-21:00) and not a holiday. A number whose prefix
   spans several zones (a toll-free or country-wide number) is dialled only when it is inside
   the window in ALL of them (``outside_window``, ``holiday``); a number with no known zone is
   not dialled unless the campaign names a fallback zone (``zone_unknown``).

:class:`AbandonmentLedger` keeps a campaign's answered persons and abandoned calls per day
(the campaign's time zone) and says whether predictive dialing may go on: abandonment must stay
within the limit (3 %) over the rolling 30 days and over today, counting NOTSURE verdicts that
get the message and the AMD false positives (people AMD called machines) as abandoned. When one
more abandoned call would break either limit the budget is spent and the campaign dials
progressively (:class:`CompliantPacer`) until answered calls bring it back within.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers
from phonenumbers import timezone as pn_timezone

from callcenter.dialer.pacing import DetailedPacer, DialerSnapshot, LineOutcome, Pacer, Progressive

__all__ = [
    "MIN_RING_S",
    "AbandonmentLedger",
    "CallingWindow",
    "CompliantPacer",
    "DialDecision",
    "DialRules",
    "Verdict",
    "decide_dial",
    "number_zones",
]

#: the shortest ring before a dial may be given up (FTC TSR: at least 15 s or four rings)
MIN_RING_S = 15.0
_UNKNOWN_ZONE = "Etc/Unknown"
_SEARCH_DAYS = 14  # how far ahead a window's next opening is looked for


class Verdict(StrEnum):
    DIAL = "dial"
    #: not now: try again at ``retry_at`` (or when the campaign's settings change)
    LATER = "later"
    #: never in this campaign (do-not-call, no consent, not a phone number)
    NEVER = "never"


@dataclass(frozen=True, slots=True)
class CallingWindow:
    """Local clock times a callee may be called (``start`` inclusive, ``end`` exclusive, same
    day) and days on which nobody is called."""

    start: dt.time = dt.time(8, 0)
    end: dt.time = dt.time(21, 0)
    holidays: frozenset[dt.date] = frozenset()

    def __post_init__(self) -> None:
        if not self.start < self.end:
            raise ValueError(f"calling window start {self.start:%H:%M} must be before its end "
                             f"{self.end:%H:%M} (one span within a day)")

    def allows(self, local: dt.datetime) -> str | None:
        """None when ``local`` (a callee's wall-clock time) is inside; else why not."""
        if local.date() in self.holidays:
            return "holiday"
        if not self.start <= local.time().replace(tzinfo=None) < self.end:
            return "outside_window"
        return None

    def next_openings(self, after: dt.datetime, zone: ZoneInfo) -> list[dt.datetime]:
        """Window starts in ``zone`` (as UTC instants) after ``after``, over the next days."""
        local = after.astimezone(zone)
        out = []
        for days in range(_SEARCH_DAYS + 1):
            day = local.date() + dt.timedelta(days=days)
            if day in self.holidays:
                continue
            opening = dt.datetime.combine(day, self.start, tzinfo=zone).astimezone(dt.UTC)
            if opening > after:
                out.append(opening)
        return out


@dataclass(frozen=True, slots=True)
class DialRules:
    """A campaign's dial-time rules."""

    window: CallingWindow = field(default_factory=CallingWindow)
    ring_timeout_s: float = 25.0
    #: region for numbers written without a country code
    default_region: str = "US"
    #: zone used when a number's own zone is unknown; None: such numbers are not dialled
    fallback_zone: str | None = None


@dataclass(frozen=True, slots=True)
class DialDecision:
    """One answer of :func:`decide_dial` (what the audit stores)."""

    at: dt.datetime
    lead_id: str
    number: str
    verdict: Verdict
    reason: str
    zones: tuple[str, ...] = ()
    #: the callee's wall-clock time in each zone, ``YYYY-MM-DD HH:MM`` (same order as zones)
    local_times: tuple[str, ...] = ()
    #: when a lead refused for now may be tried again (UTC); None: not known / never
    retry_at: dt.datetime | None = None

    @property
    def dial(self) -> bool:
        return self.verdict is Verdict.DIAL

    def as_dict(self) -> dict[str, Any]:
        return {"at": self.at.isoformat(), "lead_id": self.lead_id, "number": self.number,
                "verdict": self.verdict.value, "reason": self.reason, "zones": list(self.zones),
                "local_times": list(self.local_times),
                "retry_at": self.retry_at.isoformat() if self.retry_at else None}


@lru_cache(maxsize=4096)
def _parse(number: str, region: str) -> tuple[str, tuple[str, ...]] | None:
    try:
        parsed = phonenumbers.parse(number, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(parsed):
        return None
    e164 = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
    zones = tuple(z for z in pn_timezone.time_zones_for_number(parsed) if z != _UNKNOWN_ZONE)
    return e164, zones


def number_zones(number: str, region: str = "US") -> tuple[str, ...] | None:
    """The IANA time zones a number may ring in (several for a number spanning zones; empty
    when unknown); None when it is not a valid phone number."""
    parsed = _parse(number, region)
    return None if parsed is None else parsed[1]


@lru_cache(maxsize=512)
def _zone(name: str) -> ZoneInfo | None:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def decide_dial(lead_id: str, number: str, consent: bool, at: dt.datetime, rules: DialRules,
                global_dnc: Collection[str], campaign_dnc: Collection[str]) -> DialDecision:
    """May ``number`` (lead ``lead_id``) be dialled at ``at`` (an aware datetime)? See the
    module docstring for the rules and their order. The do-not-call lists hold E.164 numbers."""
    if at.tzinfo is None:
        raise ValueError("decide_dial needs an aware datetime (the instant of the dial)")
    at = at.astimezone(dt.UTC)

    def no(verdict: Verdict, reason: str, e164: str = number, zones: tuple[str, ...] = (),
           local: tuple[str, ...] = (), retry_at: dt.datetime | None = None) -> DialDecision:
        return DialDecision(at, lead_id, e164, verdict, reason, zones, local, retry_at)

    parsed = _parse(number, rules.default_region)
    if parsed is None:
        return no(Verdict.NEVER, "invalid_number")
    e164, zones = parsed
    if e164 in global_dnc:
        return no(Verdict.NEVER, "dnc_global", e164, zones)
    if e164 in campaign_dnc:
        return no(Verdict.NEVER, "dnc_campaign", e164, zones)
    if not consent:
        return no(Verdict.NEVER, "no_consent", e164, zones)
    if not rules.ring_timeout_s >= MIN_RING_S:
        return no(Verdict.LATER, "ring_too_short", e164, zones)
    if not zones:
        if rules.fallback_zone is None:
            return no(Verdict.LATER, "zone_unknown", e164)
        zones = (rules.fallback_zone,)
    infos = [_zone(name) for name in zones]
    known = [info for info in infos if info is not None]
    if len(known) != len(infos):
        return no(Verdict.LATER, "zone_unknown", e164, zones)
    local_times = tuple(at.astimezone(info) for info in known)
    shown = tuple(t.strftime("%Y-%m-%d %H:%M") for t in local_times)
    refusals = [rules.window.allows(t) for t in local_times]
    refused = next((r for r in refusals if r is not None), None)
    if refused is None:
        return DialDecision(at, lead_id, e164, Verdict.DIAL, "allowed", zones, shown)
    return no(Verdict.LATER, refused, e164, zones, shown, _next_open(at, known, rules.window))


def _next_open(at: dt.datetime, zones: list[ZoneInfo], window: CallingWindow
               ) -> dt.datetime | None:
    """The first instant after ``at`` at which the window is open in every zone."""
    candidates = sorted({t for zone in zones for t in window.next_openings(at, zone)})
    for instant in candidates:
        if all(window.allows(instant.astimezone(zone)) is None for zone in zones):
            return instant
    return None


# --- abandonment ------------------------------------------------------------------------------


@dataclass(slots=True)
class _Day:
    answered: int = 0  # persons: HUMAN verdicts, NOTSURE, AMD false positives
    abandoned: int = 0  # dropped (no agent within 2 s), NOTSURE messages, AMD false positives
    dropped: int = 0
    notsure: int = 0
    notsure_message: int = 0
    machines: int = 0
    false_positives: int = 0


@dataclass(frozen=True, slots=True)
class AbandonmentFigures:
    answered_30d: int
    abandoned_30d: float
    answered_today: int
    abandoned_today: float
    limit_pct: float

    @staticmethod
    def _pct(abandoned: float, answered: int) -> float:
        return 100.0 * abandoned / answered if answered else 0.0

    @property
    def rate_30d_pct(self) -> float:
        return self._pct(self.abandoned_30d, self.answered_30d)

    @property
    def rate_today_pct(self) -> float:
        return self._pct(self.abandoned_today, self.answered_today)

    @property
    def budget_30d(self) -> float:
        """Abandoned calls still allowed over 30 days before the limit is passed."""
        return self.limit_pct / 100.0 * self.answered_30d - self.abandoned_30d

    @property
    def budget_today(self) -> float:
        return self.limit_pct / 100.0 * self.answered_today - self.abandoned_today

    @property
    def predictive_allowed(self) -> bool:
        """One more abandoned call keeps both the 30-day and the day's rate within the limit
        (``(abandoned + 1) / answered <= limit``)."""
        return self.budget_30d >= 1.0 and self.budget_today >= 1.0

    def as_dict(self) -> dict[str, Any]:
        return {"answered_30d": self.answered_30d, "abandoned_30d": self.abandoned_30d,
                "rate_30d_pct": round(self.rate_30d_pct, 3),
                "answered_today": self.answered_today, "abandoned_today": self.abandoned_today,
                "rate_today_pct": round(self.rate_today_pct, 3), "limit_pct": self.limit_pct,
                "budget_30d": round(self.budget_30d, 3),
                "budget_today": round(self.budget_today, 3),
                "predictive_allowed": self.predictive_allowed}


class AbandonmentLedger:
    """A campaign's answered and abandoned calls per calendar day of ``zone``.

    ``amd_false_positive_rate`` is the share of MACHINE verdicts that were people (measured on
    a reviewed sample): each machine verdict adds that fraction of a person answered and
    abandoned. A reviewed call known to be a false positive (:meth:`false_positive`) counts
    one whole; the estimate still stands for the calls nobody reviewed.
    """

    def __init__(self, *, limit_pct: float = 3.0, days: int = 30, zone: str = "UTC",
                 amd_false_positive_rate: float = 0.0,
                 history: Mapping[dt.date, Mapping[str, int]] | None = None) -> None:
        if not 0.0 < limit_pct <= 100.0:
            raise ValueError(f"abandonment limit must be in (0, 100] %, got {limit_pct!r}")
        if not 0.0 <= amd_false_positive_rate < 1.0:
            raise ValueError("amd_false_positive_rate must be in [0, 1), got "
                             f"{amd_false_positive_rate!r}")
        if days < 1:
            raise ValueError(f"days must be >= 1, got {days!r}")
        info = _zone(zone)
        if info is None:
            raise ValueError(f"unknown time zone {zone!r}")
        self.limit_pct = limit_pct
        self.days = days
        self.zone = info
        self.fp_rate = amd_false_positive_rate
        self._days: dict[dt.date, _Day] = {}
        for day, counts in (history or {}).items():
            self._days[day] = _Day(**dict(counts))

    def _day(self, at: float) -> _Day:
        day = dt.datetime.fromtimestamp(at, self.zone).date()
        entry = self._days.get(day)
        if entry is None:
            entry = self._days[day] = _Day()
            horizon = day - dt.timedelta(days=self.days)
            for old in [d for d in self._days if d <= horizon]:
                del self._days[old]
        return entry

    def record(self, outcome: LineOutcome | str, at: float) -> None:
        """A line's outcome (``LineOutcome`` values, plus ``notsure`` for a NOTSURE verdict
        sent to an agent, ``notsure_message`` for one that got the message, and
        ``cancel_answered`` for a line hung up as somebody answered it)."""
        day = self._day(at)
        if outcome == LineOutcome.HUMAN:
            day.answered += 1
        elif outcome == LineOutcome.DROPPED:
            day.abandoned += 1
            day.dropped += 1
        elif outcome == LineOutcome.MACHINE:
            day.machines += 1
        elif outcome == "notsure":
            day.notsure += 1  # the HUMAN that follows counts it as answered
        elif outcome == "notsure_message":
            day.notsure += 1
            day.notsure_message += 1
            day.answered += 1
            day.abandoned += 1
        elif outcome == "cancel_answered":
            day.answered += 1
            day.abandoned += 1
            day.dropped += 1

    def false_positive(self, at: float) -> None:
        """A call AMD called a machine is known to have been a person (a review, a complaint)."""
        day = self._day(at)
        day.false_positives += 1
        day.answered += 1
        day.abandoned += 1

    def figures(self, at: float) -> AbandonmentFigures:
        today = dt.datetime.fromtimestamp(at, self.zone).date()
        horizon = today - dt.timedelta(days=self.days)
        answered = abandoned = 0.0
        for day, entry in self._days.items():
            if horizon < day <= today:
                estimate = self._estimate(entry)
                answered += entry.answered + estimate
                abandoned += entry.abandoned + estimate
        entry = self._days.get(today, _Day())
        estimate = self._estimate(entry)
        return AbandonmentFigures(
            answered_30d=math.floor(answered), abandoned_30d=round(abandoned, 3),
            answered_today=math.floor(entry.answered + estimate),
            abandoned_today=round(entry.abandoned + estimate, 3), limit_pct=self.limit_pct)

    def _estimate(self, entry: _Day) -> float:
        """People among the machine verdicts not already reviewed as such."""
        return max(0.0, self.fp_rate * entry.machines - entry.false_positives)

    def counts(self) -> dict[dt.date, dict[str, int]]:
        """Per-day counters (to store and to restore with ``history``)."""
        return {day: {"answered": e.answered, "abandoned": e.abandoned, "dropped": e.dropped,
                      "notsure": e.notsure, "notsure_message": e.notsure_message,
                      "machines": e.machines, "false_positives": e.false_positives}
                for day, e in sorted(self._days.items())}


class CompliantPacer:
    """A campaign's pacer: its predictive pacer while the abandonment budget lasts, else
    progressive (one line per ready agent). ``mode`` is the supervisor's choice
    (``predictive`` or ``progressive``; ``preview`` places nothing by itself). ``effective`` is
    what ran at the last decision and ``reason`` why."""

    def __init__(self, predictive: Pacer, ledger: AbandonmentLedger, mode: str = "predictive"
                 ) -> None:
        self.predictive = predictive
        self.progressive = Progressive()
        self.ledger = ledger
        self.mode = mode
        self.effective = mode
        self.reason = "chosen"
        self.name = f"compliant({predictive.name})"
        #: a pacer that models each line (``predictive``) gets the loop's detail through this
        #: wrapper too, or it would pace blind (DetailedPacer)
        self.wants_detail = bool(getattr(predictive, "wants_detail", False))

    def explain(self, now: float) -> tuple[str, str]:
        """What dials at ``now`` and why: (effective mode, reason)."""
        if self.mode == "predictive" and not self.ledger.figures(now).predictive_allowed:
            return "progressive", "abandonment_budget_spent"
        return self.mode, "chosen"

    def decide(self, snapshot: DialerSnapshot) -> int:
        self.effective, self.reason = self.explain(snapshot.now)
        if self.effective == "preview":
            return 0
        if self.effective == "predictive":
            return self.predictive.decide(snapshot)
        if self.mode == "predictive":
            # keep the predictive pacer's samples going, but place only progressive lines
            self.predictive.decide(snapshot)
        return self.progressive.decide(snapshot)

    def record(self, outcome: LineOutcome, now: float) -> None:
        self.predictive.record(outcome, now)

    def record_line(self, outcome: LineOutcome, placed_at: float, now: float) -> None:
        if isinstance(self.predictive, DetailedPacer):
            self.predictive.record_line(outcome, placed_at, now)

    def cancel_lines(self, snapshot: DialerSnapshot, min_ring_s: float) -> list[int]:
        """The predictive pacer's hang-ups of late ringing lines, while it is the one
        dialling (a progressive line is meant for an agent already free: it rings on)."""
        chooser = getattr(self.predictive, "cancel_lines", None)
        if self.effective != "predictive" or chooser is None:
            return []
        lines: list[int] = chooser(snapshot, min_ring_s)
        return lines

    def next_decision_at(self, now: float) -> float:
        return now + 1.0
