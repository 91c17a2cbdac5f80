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
