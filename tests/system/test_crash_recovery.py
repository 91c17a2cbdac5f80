"""``kill -9`` of ``callcenter serve`` with calls up, on the real Asterisk sandbox (issue 9).

The server runs as a subprocess with a plain ``sqlite:///`` URL (as users type it). Calls are
placed over this test's own AMI link (Local/answer@cc-test, answered, staying up). While the
server is dead some calls hang up and new ones start; after its restart and resync every call
has exactly one interaction row, the ones that ended unseen are closed with an inferred end,
the rows of calls that lived through the crash keep their start time, and the server's log has
no error and no traceback.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.harness.ports import free_port

from .conftest import Link, wait_no_channels

pytestmark = pytest.mark.system

CALLS_UP = 24
ENDED_DURING_OUTAGE = 8
NEW_DURING_OUTAGE = 5


class Server:
    """``callcenter serve`` as a child process, its output appended to one log file."""

    def __init__(self, workdir: Path, ami_port: int) -> None:
        self.workdir = workdir
        self.db = workdir / "cc.db"
        self.log = workdir / "server.log"
        self.port = free_port()
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("CALLCENTER_")}
        self.env.update({
            "CALLCENTER_DATABASE_URL": f"sqlite:///{self.db}",
            "CALLCENTER_AMI__PORT": str(ami_port),
            "CALLCENTER_AMI__PING_INTERVAL_S": "1",
            "CALLCENTER_HTTP__PORT": str(self.port),
            "CALLCENTER_LOG_JSON": "true",
        })
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "callcenter", "serve"], cwd=self.workdir, env=self.env,
                stdout=out, stderr=subprocess.STDOUT)

    def healthy(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            raise AssertionError(f"server exited with {self.process.returncode}:\n"
                                 f"{self.log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/health", timeout=2) as r:
                return bool(r.status == 200)
        except OSError:
            return False

    def kill9(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> int:
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)  # aiohttp's graceful shutdown
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        return self.process.returncode

    def rows(self) -> dict[str, dict[str, Any]]:
        """call_id -> row; raises on a second row of one call id."""
        if not self.db.exists():
            return {}
        with sqlite3.connect(f"file:{self.db}?mode=ro", uri=True, timeout=10) as conn:
            conn.row_factory = sqlite3.Row
            try:
                found = conn.execute("SELECT * FROM interactions").fetchall()
            except sqlite3.OperationalError:  # not migrated yet
                return {}
        rows: dict[str, dict[str, Any]] = {}
        for row in found:
            assert row["call_id"] not in rows, f"two rows for call {row['call_id']}"
            rows[row["call_id"]] = dict(row)
        return rows


@pytest.fixture
def server(asterisk_sandbox: Any, tmp_path: Path) -> Iterator[Server]:
    srv = Server(tmp_path, asterisk_sandbox.settings.ami_port)
    yield srv
    if srv.process is not None and srv.process.poll() is None:
        srv.stop()


async def _until(predicate: Any, timeout: float, what: str) -> float:
    """Poll ``predicate`` (sync, run in a thread) until true; the seconds it took."""
    began = time.monotonic()
    while not await asyncio.to_thread(predicate):
        if time.monotonic() - began > timeout:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        await asyncio.sleep(0.2)
    return time.monotonic() - began


async def _place_calls(link: Link, count: int, tag: str) -> list[str]:
    """``count`` answered calls that stay up; their call ids (linkedid = the ;1 half's id)."""
    ids = [f"crash-{tag}-{i}-{time.time_ns()}" for i in range(count)]
    pending = []
    for call_id in ids:
        _, outcome = await link.ami.send_async({
            "Action": "Originate", "Channel": "Local/answer@cc-test", "Async": "true",
            "Application": "Wait", "Data": "600", "Timeout": "10000",
            "ChannelId": call_id, "OtherChannelId": f"{call_id}-2",
            "Variable": "CC_TALK_S=600"})
        pending.append(outcome)
    for outcome in pending:
        await asyncio.wait_for(outcome, 20)
    await link.wait_for(lambda: all(
        (call := link.model.calls.get(c)) is not None and call.answered_at is not None
        for c in ids), what=f"{count} answered calls ({tag})")
    return ids


async def _hang_up(link: Link, call_ids: list[str]) -> None:
    for call_id in call_ids:
        await link.ami.send({"Action": "Hangup", "Channel": link.model.channels[call_id].name})
    await link.wait_for(lambda: not any(c in link.model.calls for c in call_ids),
                        what="hung-up calls to end")


async def test_kill_9_with_calls_up_loses_and_doubles_nothing(
        asterisk_sandbox: Any, link: Link, server: Server) -> None:
    server.start()
    await _until(server.healthy, 60, "the server's /health")
    first = await _place_calls(link, CALLS_UP, "up")
    await _until(lambda: set(first) <= set(server.rows()), 30, "the interaction rows")
    started = {c: row["started_at"] for c, row in server.rows().items()}

    server.kill9()
    outage_began = time.time()
    ended = first[:ENDED_DURING_OUTAGE]
    survivors = first[ENDED_DURING_OUTAGE:]
    await _hang_up(link, ended)
    new = await _place_calls(link, NEW_DURING_OUTAGE, "new")

    restarted = time.time()
    server.start()

    def recovered() -> bool:
        rows = server.rows()
        return (set(first + new) <= set(rows)
                and all(rows[c]["ended_at"] is not None for c in ended))

    recovery_s = await _until(recovered, 60, "adoption and the close of unseen ends")
    await _until(server.healthy, 30, "the restarted server's /health")
    rows = server.rows()
    assert all(rows[c]["ended_at"] is None for c in survivors + new)

    await wait_no_channels(asterisk_sandbox)  # end every call, the server watching
    await _until(lambda: all(r["ended_at"] is not None for r in server.rows().values()), 30,
                 "every row to end")
    server.stop()

    rows = server.rows()
    assert sorted(rows) == sorted(first + new)  # exactly one row per call, none missing
    for call_id in ended:
        row = rows[call_id]
        assert row["end_inferred"] == 1, row
        ended_at = _epoch(row["ended_at"])
        assert outage_began < ended_at < restarted + recovery_s + 1, row  # the resync's time
    for call_id in survivors + new:
        assert rows[call_id]["end_inferred"] == 0, rows[call_id]
        assert _epoch(rows[call_id]["ended_at"]) > restarted
    for call_id in survivors:
        assert rows[call_id]["started_at"] == started[call_id]  # continued, not rewritten
    lines = server.log.read_text().splitlines()
    errors = [line for line in lines if '"level": "ERROR"' in line or "Traceback" in line]
    assert not errors, "\n".join(errors[:5])
    resyncs = [json.loads(line) for line in lines if "AMI resync done" in line]
    print(f"\ncrash recovery: {CALLS_UP} calls up, {ENDED_DURING_OUTAGE} ended and "
          f"{NEW_DURING_OUTAGE} new during the outage, {len(rows)} rows; rows consistent "
          f"{recovery_s:.1f} s after the restart (resync {resyncs[-1].get('seconds', 0):.3f} s, "
          f"{resyncs[-1].get('channels')} channels)")


def _epoch(stored: str) -> float:
    """SQLite keeps UtcDateTime as naive UTC text."""
    from datetime import UTC, datetime

    return datetime.fromisoformat(stored).replace(tzinfo=UTC).timestamp()
