"""What to do when a component a test needs is missing: skip locally, fail in CI."""

from __future__ import annotations

import os
import shutil
from typing import NoReturn

import pytest


def in_ci() -> bool:
    return os.environ.get("CI") == "true"


def require(component: str, reason: str) -> NoReturn:
    """Call when ``component`` is missing: ``pytest.fail`` if ``CI=true``, else ``pytest.skip``.

    ``reason`` says what is wrong and how to fix it (the install hint). In CI every component is
    installed by ``scripts/test.sh``, so a missing one is a broken set-up, never a skip.
    """
    message = f"{component} is not available: {reason}"
    if in_ci():
        pytest.fail(f"{message} (CI=true: a missing component is a failure)", pytrace=False)
    pytest.skip(f"{message} (run `bash scripts/test.sh` to install everything)")


def require_binary(name: str, component: str, hint: str) -> str:
    """Absolute path of executable ``name`` on PATH, or :func:`require` with ``hint``."""
    path = shutil.which(name)
    if path is None:
        require(component, f"`{name}` is not installed; {hint}")
    return path
