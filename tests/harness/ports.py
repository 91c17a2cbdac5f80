"""Free loopback ports, polling, and the components' temporary directories."""

from __future__ import annotations

import os
import socket
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

TMPDIR_ENV = "CALLCENTER_TEST_TMPDIR"


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now (the kernel's choice of an ephemeral port)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def wait_for(
    condition: Callable[[], bool], timeout: float, interval: float = 0.02, what: str = "condition"
) -> float:
    """Poll ``condition`` until it is true; return the seconds waited, raise TimeoutError."""
    start = time.monotonic()
    while True:
        if condition():
            return time.monotonic() - start
        if time.monotonic() - start > timeout:
            raise TimeoutError(f"{what} not met after {timeout:.1f} s")
        time.sleep(interval)


def make_workdir(prefix: str) -> Path:
    """A new directory for one component's files (data, socket, log, pid file).

    Under ``$CALLCENTER_TEST_TMPDIR`` when set: ``scripts/test.sh`` makes one per run and, at
    the end, stops whatever is still running from it (a pytest killed hard cannot clean up).
    """
    base = os.environ.get(TMPDIR_ENV) or None
    return Path(tempfile.mkdtemp(prefix=prefix, dir=base))
