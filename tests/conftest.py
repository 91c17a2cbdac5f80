"""Shared fixtures: REAL components on loopback, started once per session, stopped at the end.

- ``redis_server`` / ``redis_url``: a private ``redis-server`` (``redis_server.restart()`` for
  reconnect tests).
- ``postgres_server`` / ``postgres_url``: a private PostgreSQL cluster with a password user;
  ``postgres_url`` is ``postgresql+asyncpg://user:pw@127.0.0.1:PORT/db``.
- ``asterisk_sandbox``: the real Asterisk 22 sandbox (``callcenter.sandbox.Sandbox``). When
  ``scripts/test.sh`` has brought it up it sets ``CALLCENTER_SANDBOX_EXTERNAL=1`` and the
  fixture only checks that it runs; otherwise the fixture brings it up and down itself (a
  sandbox that was already running is left running).

A missing component skips the tests that need it, except with ``CI=true`` where it fails them
(see ``tests.harness.require``). Tests are marked by folder: tests/unit -> ``unit``,
tests/integration -> ``integration``, tests/system -> ``system``, tests/browser -> ``browser``.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.harness import (
    PostgresServer,
    RedisServer,
    find_pg_bindir,
    require,
    require_binary,
    sandbox_is_running,
)
from tests.harness.sandbox import EXTERNAL_ENV

TESTS_DIR = Path(__file__).resolve().parent

CATEGORIES = ("unit", "integration", "system", "browser")


def _terminate_like_ctrl_c(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def pytest_configure(config: pytest.Config) -> None:
    """SIGTERM (a cancelled CI job, ``kill``) tears down like Ctrl-C: the session fixtures stop
    Redis, PostgreSQL and the sandbox instead of leaving them running."""
    if (
        threading.current_thread() is threading.main_thread()
        and signal.getsignal(signal.SIGTERM) == signal.SIG_DFL
    ):
        signal.signal(signal.SIGTERM, _terminate_like_ctrl_c)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark each test by the folder it lives in, unless it already carries a category marker."""
    for item in items:
        try:
            parts = item.path.resolve().relative_to(TESTS_DIR).parts
        except ValueError:
            continue
        if not parts or parts[0] not in CATEGORIES:
            continue
        if any(item.get_closest_marker(name) for name in CATEGORIES):
            continue
        item.add_marker(getattr(pytest.mark, parts[0]))


_TIMINGS: list[str] = []


def _timing(config: pytest.Config, text: str) -> None:
    """Note how long a component took to start; printed in the terminal summary."""
    _TIMINGS.append(text)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if _TIMINGS:
        terminalreporter.section("harness: components started")
        for line in _TIMINGS:
            terminalreporter.write_line(line)


# --- Redis ----------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def redis_server(pytestconfig: pytest.Config) -> Iterator[RedisServer]:
    """A private redis-server (no persistence) on a free loopback port."""
    binary = require_binary(
        "redis-server", "Redis", "install it with `apt-get install -y redis-server`"
    )
    server = RedisServer(binary)
    try:
        server.start()
    except Exception as exc:
        server.cleanup()
        require("Redis", f"redis-server did not start: {exc}")
    except BaseException:  # interrupted (Ctrl-C, SIGTERM) half-way: no finalizer would run
        server.cleanup()
        raise
    _timing(pytestconfig, f"redis-server on port {server.port} ready in {server.startup_s:.2f} s")
    try:
        yield server
    finally:
        server.cleanup()


@pytest.fixture(scope="session")
def redis_url(redis_server: RedisServer) -> str:
    """``redis://127.0.0.1:PORT/0`` of the session's private Redis."""
    return redis_server.url


# --- PostgreSQL -----------------------------------------------------------------------------


@pytest.fixture(scope="session")
def postgres_server(pytestconfig: pytest.Config) -> Iterator[PostgresServer]:
    """A private PostgreSQL cluster on a free loopback port, with one password user + database."""
    bindir = find_pg_bindir()
    if bindir is None:
        require("PostgreSQL", "initdb/pg_ctl not found; `apt-get install -y postgresql`")
    if os.geteuid() == 0 and not _user_exists("postgres"):
        require("PostgreSQL", "running as root needs the `postgres` system user (Debian's "
                "postgresql package creates it)")
    server = PostgresServer(bindir)
    try:
        server.start()
    except Exception as exc:
        server.cleanup()
        require("PostgreSQL", f"the cluster did not start: {exc}")
    except BaseException:  # interrupted (Ctrl-C, SIGTERM) half-way: no finalizer would run
        server.cleanup()
        raise
    _timing(
        pytestconfig,
        f"postgres on port {server.port} ready in {server.startup_s:.2f} s "
        f"(initdb {server.initdb_s:.2f} s)",
    )
    try:
        yield server
    finally:
        server.cleanup()


@pytest.fixture(scope="session")
def postgres_url(postgres_server: PostgresServer) -> str:
    """``postgresql+asyncpg://user:pw@127.0.0.1:PORT/db`` of the session's private cluster."""
    return postgres_server.url


def _user_exists(name: str) -> bool:
    import pwd

    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


# --- the Asterisk sandbox -------------------------------------------------------------------


@pytest.fixture(scope="session")
def asterisk_sandbox(pytestconfig: pytest.Config) -> Iterator[Any]:
    """The running :class:`callcenter.sandbox.Sandbox` (real Asterisk 22 on loopback)."""
    from callcenter.config import Settings

    try:
        from callcenter.sandbox import Sandbox
    except ImportError as exc:
        require("Asterisk sandbox", f"callcenter.sandbox cannot be imported: {exc}")
    box = Sandbox(Settings().sandbox)

    if os.environ.get(EXTERNAL_ENV) == "1":
        status = box.status()
        if not sandbox_is_running(status):
            require(
                "Asterisk sandbox",
                f"{EXTERNAL_ENV}=1 but it is not running (status: {status}); "
                "`callcenter sandbox up` failed or it stopped",
            )
        # someone else runs it (and brings it down), but this checkout's configs are the ones
        # under test: up() is a no-op when they are already applied, else it restarts Asterisk
        # with them (the sandbox is shared between checkouts)
        box.up()
        _timing(pytestconfig, f"asterisk sandbox: external, pid {box.status().get('pid')}")
        yield box
        return

    if os.geteuid() != 0:
        require("Asterisk sandbox", "building and running the chroot needs root")
    was_running = sandbox_is_running(box.status())  # then it is left running at the end
    began = time.monotonic()
    try:
        box.up()
    except Exception as exc:
        try:
            if not was_running:
                box.down()
        finally:
            require(
                "Asterisk sandbox",
                f"`Sandbox.up()` failed: {exc}; try `callcenter sandbox up` as root "
                "(needs debootstrap and the Debian mirror)",
            )
    _timing(pytestconfig, f"asterisk sandbox: up in {time.monotonic() - began:.1f} s (fixture)")
    try:
        yield box
    finally:
        if not was_running:
            box.down()
