"""The test harness itself: the parts that need no external component."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from tests.harness import find_pg_bindir, free_port, in_ci, require, require_binary, wait_for
from tests.harness.postgres_server import BINDIR_ENV
from tests.harness.redis_server import RedisServer, redis_ping
from tests.harness.sandbox import sandbox_is_running


def test_require_fails_in_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")
    assert in_ci()
    with pytest.raises(pytest.fail.Exception, match=r"Redis is not available: gone.*CI=true"):
        require("Redis", "gone")


@pytest.mark.parametrize("ci", [None, "", "false", "1", "TRUE"])
def test_require_skips_outside_ci(monkeypatch: pytest.MonkeyPatch, ci: str | None) -> None:
    if ci is None:
        monkeypatch.delenv("CI", raising=False)
    else:
        monkeypatch.setenv("CI", ci)
    assert not in_ci()
    with pytest.raises(pytest.skip.Exception, match="Redis is not available: gone"):
        require("Redis", "gone")


def test_require_binary_gives_the_path_or_the_install_hint(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert Path(require_binary("sh", "a shell", "install one")).name == "sh"
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="apt-get install -y nothing-here"):
        require_binary("no-such-binary-cc", "Nothing", "apt-get install -y nothing-here")


def test_free_port_can_be_bound() -> None:
    port = free_port()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))


def test_wait_for_returns_or_times_out() -> None:
    calls = iter([False, False, True])
    assert wait_for(lambda: next(calls), timeout=1, interval=0) >= 0
    with pytest.raises(TimeoutError, match="never"):
        wait_for(lambda: False, timeout=0.05, interval=0.01, what="never")


def test_find_pg_bindir_prefers_the_newest_version(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(BINDIR_ENV, raising=False)
    for version in ("9.6", "15", "16", "17-broken"):
        bindir = tmp_path / version / "bin"
        bindir.mkdir(parents=True)
        if version != "17-broken":  # no pg_ctl: not a usable installation
            (bindir / "pg_ctl").touch()
        (bindir / "initdb").touch()
    assert find_pg_bindir([tmp_path]) == tmp_path / "16" / "bin"
    monkeypatch.setenv(BINDIR_ENV, str(tmp_path / "9.6" / "bin"))
    assert find_pg_bindir([tmp_path]) == tmp_path / "9.6" / "bin"
    monkeypatch.setenv(BINDIR_ENV, str(tmp_path / "nowhere"))
    assert find_pg_bindir([tmp_path]) is None


def test_redis_command_line_is_private_and_ephemeral(tmp_path: Path) -> None:
    server = RedisServer("/usr/bin/redis-server", port=6399, workdir=tmp_path)
    command = server.command()
    assert command[command.index("--bind") + 1] == "127.0.0.1"
    assert command[command.index("--save") + 1] == ""
    assert command[command.index("--appendonly") + 1] == "no"
    assert command[command.index("--dir") + 1] == str(tmp_path)
    assert server.url == "redis://127.0.0.1:6399/0"


def test_redis_ping_is_false_on_a_closed_port() -> None:
    assert redis_ping(free_port()) is False


@pytest.mark.parametrize(
    ("status", "running"),
    [({"running": True, "pid": 1}, True), ({"running": False}, False), ({}, False)],
)
def test_sandbox_status_is_read(status: dict[str, object], running: bool) -> None:
    assert sandbox_is_running(status) is running


def test_tests_are_marked_by_folder(request: pytest.FixtureRequest) -> None:
    assert request.node.get_closest_marker("unit") is not None
    assert request.node.get_closest_marker("integration") is None


@pytest.mark.integration
def test_an_explicit_category_marker_is_kept(request: pytest.FixtureRequest) -> None:
    assert request.node.get_closest_marker("unit") is None
