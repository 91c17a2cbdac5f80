"""Small fakes shared by unit tests."""

from __future__ import annotations

from typing import Any


class NoCalls:
    """A call view with no calls (for web tests that are not about calls)."""

    calls: dict[str, Any] = {}
    channels: dict[str, Any] = {}
    bridges: dict[str, Any] = {}

    def snapshot(self) -> dict[str, Any]:
        return {"calls": [], "channels": [], "bridges": []}

    def get_call(self, call_id: str) -> None:
        return None
