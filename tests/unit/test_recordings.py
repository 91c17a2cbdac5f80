"""Recording retention: what is old enough goes, nothing else; the CLI says what it did."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from callcenter.cli import cli
from callcenter.recordings import purge

pytestmark = pytest.mark.unit

DAY = 86400.0
NOW = 1_800_000_000.0


def _file(root: Path, name: str, age_days: float, size: int = 10) -> Path:
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x" * size)
    os.utime(path, (NOW - age_days * DAY, NOW - age_days * DAY))
    return path


def test_only_recordings_past_the_retention_are_deleted(tmp_path: Path) -> None:
    old = _file(tmp_path, "support/2026-01-01/a.wav", 31, size=100)
    older = _file(tmp_path, "support/2025-12-01/b.wav", 60, size=50)
    fresh = _file(tmp_path, "support/2026-01-30/c.wav", 29.9)
    result = purge(tmp_path, 30, now=NOW)
    assert sorted(result.deleted) == sorted([old, older])
    assert result.bytes == 150 and not result.failed
    assert fresh.exists() and not old.exists() and not older.exists()
    assert not (tmp_path / "support/2026-01-01").exists()  # emptied folders go too
    assert (tmp_path / "support/2026-01-30").exists()


def test_a_dry_run_deletes_nothing(tmp_path: Path) -> None:
    old = _file(tmp_path, "q/a.wav", 40)
    result = purge(tmp_path, 30, now=NOW, dry_run=True)
    assert result.deleted == [old] and old.exists()


def test_a_missing_directory_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="does not exist"):
        purge(tmp_path / "nope", 30, now=NOW)


def test_the_cli_purges_with_the_configured_retention(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    _file(tmp_path, "q/old.wav", 400 * 365)  # far older than any retention
    keep = tmp_path / "q" / "new.wav"
    keep.write_bytes(b"y")
    runner = CliRunner()
    result = runner.invoke(cli, ["recordings", "purge"], obj={})
    assert result.exit_code == 1 and "CALLCENTER_RECORDINGS__DIR" in result.output
    monkeypatch.setenv("CALLCENTER_RECORDINGS__DIR", str(tmp_path))
    monkeypatch.setenv("CALLCENTER_RECORDINGS__RETENTION_DAYS", "30")
    result = runner.invoke(cli, ["recordings", "purge", "--dry-run"], obj={})
    assert result.exit_code == 0 and "would delete" in result.output
    assert (tmp_path / "q" / "old.wav").exists()
    result = runner.invoke(cli, ["recordings", "purge"], obj={})
    assert result.exit_code == 0, result.output
    assert "1 recordings" in result.output
    assert not (tmp_path / "q" / "old.wav").exists() and keep.exists()


async def test_the_server_purges_at_start_and_stops_cleanly(tmp_path: Path) -> None:
    import asyncio

    from callcenter.config import RecordingsSettings
    from callcenter.recordings import retention_task

    old = _file(tmp_path, "q/old.wav", 400 * 365)
    steps = retention_task(RecordingsSettings(dir=tmp_path, retention_days=30))
    await steps.__anext__()  # the server is up
    for _ in range(100):
        if not old.exists():
            break
        await asyncio.sleep(0.01)
    assert not old.exists()
    with pytest.raises(StopAsyncIteration):
        await steps.__anext__()  # shutdown: the hourly task is cancelled
