"""The Asterisk sandbox as the tests see it (``callcenter.sandbox.Sandbox`` does the work)."""

from __future__ import annotations

from typing import Any

EXTERNAL_ENV = "CALLCENTER_SANDBOX_EXTERNAL"


def sandbox_is_running(status: Any) -> bool:
    """Read ``Sandbox.status()`` (a dict with ``"running"``) tolerantly."""
    if isinstance(status, dict):
        return bool(status.get("running"))
    return bool(getattr(status, "running", status))
