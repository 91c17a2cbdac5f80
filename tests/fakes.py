"""Small fakes shared by the tests."""

from __future__ import annotations

from typing import Any

from callcenter.dialer.pacing import DialerSnapshot, LineOutcome


class NoCalls:
    """A call view with no calls (for web tests that are not about calls)."""

    calls: dict[str, Any] = {}
    channels: dict[str, Any] = {}
    bridges: dict[str, Any] = {}

    def snapshot(self) -> dict[str, Any]:
        return {"calls": [], "channels": [], "bridges": []}

    def get_call(self, call_id: str) -> None:
        return None


class OneLine:
    """A pacer that places exactly one line at the first decision (whatever the agents) and
    records every outcome the dialer reports."""

    name = "one-line"

    def __init__(self) -> None:
        self.placed = False
        self.outcomes: list[LineOutcome] = []

    def decide(self, snapshot: DialerSnapshot) -> int:
        if self.placed:
            return 0
        self.placed = True
        return 1

    def record(self, outcome: LineOutcome, now: float) -> None:
        self.outcomes.append(outcome)

    def next_decision_at(self, now: float) -> float:
        return now + 0.5


class HangUpEveryLine(OneLine):
    """One line, and asks to hang up every line still ringing at each decision (the loop
    keeps the minimum ring whatever a pacer asks); records what the loop tells it."""

    name = "hang-up-every-line"
    wants_detail = True

    def __init__(self) -> None:
        super().__init__()
        self.asked: list[tuple[float, int]] = []
        self.lines: list[tuple[LineOutcome, float]] = []

    def record_line(self, outcome: LineOutcome, placed_at: float, now: float) -> None:
        self.lines.append((outcome, now - placed_at))

    def cancel_lines(self, snapshot: DialerSnapshot, min_ring_s: float) -> list[int]:
        self.asked.append((snapshot.now, len(snapshot.dialing_since)))
        return list(range(len(snapshot.dialing_since)))
