"""Queue figures recomputed from the queue-event log: pure functions over entries.

Given the ``queue_log`` rows of a time range (``crm_bridge.queue_log.read_entries``), or the
entries a live tracker makes, :func:`queue_figures` gives per queue and per interval (15 min by
default) the figures a wallboard and a report show. Nothing else is counted anywhere, so any
figure can be recomputed later, for any interval, and explained row by row.

**Which interval a caller counts in.** Each row counts in the interval where it happened:
``offered`` where the caller entered, ``answered`` / ``abandoned`` (and their waits) where the
caller was answered or hung up. So intervals add up (a day's counts are the sum of its
intervals'), and an interval's figures are final once it is over, whatever happens to a caller
still waiting. A caller entering before ``start`` and answered inside counts as answered, not
as offered; one still waiting at ``end`` counts as offered only.

**Formulas** (``T`` = the queue's service-level threshold, 20 s by default; ``wait`` = from
the caller's first entry to its answer or hang-up, ringing included, kept across requeues):

- ``offered``: callers who entered (``enter`` rows; an ``enter`` of a caller already entered in
  the rows given — a caller re-adopted after a restart — is not counted twice).
- ``answered``: ``answer`` rows. ``abandoned``: ``abandon`` rows, split into
  ``abandoned_waiting`` (in line, including ``parked``: waiting for the PBX link) and
  ``abandoned_ringing`` (an agent's phone was ringing for them).
- ``service_level`` = answered with wait <= T / (answered + abandoned with wait > T).
  Callers who hang up within T are left out: the center had no fair chance to answer them
  (misdials, callers who hang up at the greeting), and counting them against it would make the
  figure punish short abandons the staff cannot influence; callers who waited longer than T and
  gave up are failures and count. (The other common forms: within T / answered, which hides
  every abandon, and within T / offered, which counts callers still waiting.) ``None`` when the
  denominator is 0. A fraction from 0 to 1.
- ``asa_s`` (average speed of answer) = sum of the answered callers' waits / answered.
- ``average_wait_s`` = sum of the waits of answered and abandoned callers / their number (every
  caller who left the line); ``longest_wait_s`` = the longest of those waits;
  ``average_abandon_s`` = the abandoned callers' average wait.
- ``requeued``: ``requeue`` rows (a caller back at its place after a ring-no-answer or a ring
  that could not be sent); ``ring_no_answer``: ``not_connected`` rows whose result is
  ``not_answered``; ``agent_offers``: ``offer`` rows (rings of an agent's phone).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from crm_bridge.queue_log import QueueLogEntry

#: the service-level threshold when the queue names none (the classic "80 % in 20 s")
DEFAULT_THRESHOLD_S = 20.0
#: the report interval when none is asked for
DEFAULT_INTERVAL_S = 900.0
#: stages of an abandon that count as "while ringing" (the others: while waiting in line)
RINGING_STAGES = frozenset({"ringing"})


@dataclass(slots=True)
class Tally:
    """Running sums of one queue over one interval; :meth:`figures` turns them into the
    figures (see the module docstring for the formulas)."""

    threshold_s: float
    offered: int = 0
    answered: int = 0
    answered_within: int = 0
    abandoned: int = 0
    abandoned_within: int = 0
    abandoned_ringing: int = 0
    requeued: int = 0
    ring_no_answer: int = 0
    agent_offers: int = 0
    answered_wait_s: float = 0.0
    abandoned_wait_s: float = 0.0
    longest_wait_s: float | None = None

    def add(self, entry: QueueLogEntry, first_entry: bool = True) -> None:
        kind = entry.kind
        wait = entry.wait_s
        if kind == "enter":
            self.offered += first_entry
        elif kind == "requeue":
            self.requeued += 1
        elif kind == "offer":
            self.agent_offers += 1
        elif kind == "not_connected":
            self.ring_no_answer += entry.detail == "not_answered"
        elif kind == "answer":
            wait = wait or 0.0
            self.answered += 1
            self.answered_within += wait <= self.threshold_s
            self.answered_wait_s += wait
            self._longest(wait)
        elif kind == "abandon":
            wait = wait or 0.0
            self.abandoned += 1
            self.abandoned_within += wait <= self.threshold_s
            self.abandoned_ringing += entry.detail in RINGING_STAGES
            self.abandoned_wait_s += wait
            self._longest(wait)

    def _longest(self, wait: float) -> None:
        if self.longest_wait_s is None or wait > self.longest_wait_s:
            self.longest_wait_s = wait

    def figures(self) -> dict[str, Any]:
        left = self.answered + self.abandoned
        judged = self.answered + self.abandoned - self.abandoned_within
        return {
            "offered": self.offered,
            "answered": self.answered,
            "answered_within_threshold": self.answered_within,
            "abandoned": self.abandoned,
            "abandoned_waiting": self.abandoned - self.abandoned_ringing,
            "abandoned_ringing": self.abandoned_ringing,
            "abandoned_within_threshold": self.abandoned_within,
            "service_level": _ratio(self.answered_within, judged, 4),
            "threshold_s": self.threshold_s,
            "asa_s": _ratio(self.answered_wait_s, self.answered),
            "average_wait_s": _ratio(self.answered_wait_s + self.abandoned_wait_s, left),
            "longest_wait_s": (None if self.longest_wait_s is None
                               else round(self.longest_wait_s, 3)),
            "average_abandon_s": _ratio(self.abandoned_wait_s, self.abandoned),
            "requeued": self.requeued,
            "ring_no_answer": self.ring_no_answer,
            "agent_offers": self.agent_offers,
        }


def _ratio(part: float, whole: int, digits: int = 3) -> float | None:
    return None if whole == 0 else round(part / whole, digits)


@dataclass(slots=True)
class QueueReport:
    """One queue over ``[start, end)``: the whole range and each interval (epoch seconds)."""

    queue: str
    total: Tally
    intervals: list[tuple[float, float, Tally]] = field(default_factory=list)

    def to_dict(self, when: Callable[[float], Any] = float) -> dict[str, Any]:
        return {"queue": self.queue, "total": self.total.figures(),
                "intervals": [{"start": when(lo), "end": when(hi), **tally.figures()}
                              for lo, hi, tally in self.intervals]}


def interval_bounds(start: float, end: float, interval_s: float) -> list[tuple[float, float]]:
    """``[start, end)`` cut into intervals of ``interval_s`` from ``start``; the last one is
    cut at ``end``."""
    if interval_s <= 0:
        raise ValueError(f"interval must be positive, got {interval_s}")
    count = max(0, math.ceil((end - start) / interval_s))
    return [(start + i * interval_s, min(start + (i + 1) * interval_s, end))
            for i in range(count)]


def queue_figures(entries: Iterable[QueueLogEntry], start: float, end: float, *,
                  interval_s: float = DEFAULT_INTERVAL_S,
                  threshold_s: float | Callable[[str], float] = DEFAULT_THRESHOLD_S,
                  queues: Iterable[str] = ()) -> dict[str, QueueReport]:
    """Per queue, the figures of ``[start, end)`` and of each interval in it.

    ``entries`` in time order (rows outside the range are ignored); ``threshold_s`` a number
    or the threshold of each queue by name; ``queues`` are reported even without rows (all
    zeros), so a wallboard shows every configured queue.
    """
    bounds = interval_bounds(start, end, interval_s)
    threshold_of = threshold_s if callable(threshold_s) else (lambda _q: float(threshold_s))
    reports: dict[str, QueueReport] = {}

    def report(queue: str) -> QueueReport:
        found = reports.get(queue)
        if found is None:
            threshold = threshold_of(queue)
            found = reports[queue] = QueueReport(queue, Tally(threshold), [
                (lo, hi, Tally(threshold)) for lo, hi in bounds])
        return found

    for queue in queues:
        report(queue)
    entered: set[tuple[str, str]] = set()
    for entry in entries:
        if not start <= entry.at < end:
            continue
        first = True
        if entry.kind == "enter":
            key = (entry.queue, entry.channel_id)
            first = key not in entered
            entered.add(key)
        found = report(entry.queue)
        found.total.add(entry, first)
        index = int((entry.at - start) // interval_s)
        found.intervals[index][2].add(entry, first)
    return dict(sorted(reports.items()))
