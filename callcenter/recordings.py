"""Recording retention: files older than ``recordings.retention_days`` are deleted.

Recordings are written by the PBX (Asterisk's MixMonitor into its monitor spool); the server
sees them where that directory is shared with its host (``recordings.dir``). The clean-up runs
once an hour inside ``callcenter serve`` and on demand (``callcenter recordings purge``).
A file's age is its modification time: MixMonitor writes until the call ends, so that is the
end of the conversation. Interactions keep their ``recording_ref`` after a purge: the history
still says the call was recorded; the file is gone by policy.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

from callcenter.config import RecordingsSettings

log = logging.getLogger(__name__)

#: how often ``serve`` looks for expired recordings
PURGE_EVERY_S = 3600.0


@dataclass(slots=True)
class PurgeResult:
    deleted: list[Path] = field(default_factory=list)
    bytes: int = 0
    failed: list[tuple[Path, str]] = field(default_factory=list)


def expired(directory: Path, retention_s: float, now: float) -> list[Path]:
    """Files under ``directory`` last written more than ``retention_s`` before ``now``."""
    found: list[Path] = []
    for path in sorted(directory.rglob("*")):
        try:
            if path.is_file() and not path.is_symlink() and \
                    now - path.stat().st_mtime > retention_s:
                found.append(path)
        except OSError:  # vanished meanwhile
            continue
    return found


def purge(directory: Path, retention_days: float, *, now: float | None = None,
          dry_run: bool = False) -> PurgeResult:
    """Delete expired recordings (and the folders they leave empty)."""
    result = PurgeResult()
    if not directory.is_dir():
        raise FileNotFoundError(f"recordings directory {directory} does not exist")
    for path in expired(directory, retention_days * 86400.0, now or time.time()):
        try:
            size = path.stat().st_size
            if not dry_run:
                path.unlink()
        except OSError as exc:
            result.failed.append((path, exc.strerror or str(exc)))
            continue
        result.deleted.append(path)
        result.bytes += size
    if not dry_run:
        for folder in sorted((p for p in directory.rglob("*") if p.is_dir()), reverse=True):
            with contextlib.suppress(OSError):  # not empty: kept
                folder.rmdir()
    return result


async def retention_task(settings: RecordingsSettings) -> AsyncIterator[None]:
    """``cleanup_ctx`` of ``serve``: purge now and every hour while the server runs."""
    if settings.dir is None or settings.retention_days is None:
        yield
        return
    directory, days = settings.dir, settings.retention_days

    async def loop() -> None:
        while True:
            try:
                result = await asyncio.to_thread(purge, directory, days)
                if result.deleted or result.failed:
                    log.info("recordings purged", extra={
                        "deleted": len(result.deleted), "bytes": result.bytes,
                        "failed": [f"{p}: {why}" for p, why in result.failed][:10]})
            except OSError as exc:
                log.warning("recordings clean-up failed: %s", exc)
            await asyncio.sleep(PURGE_EVERY_S)

    task = asyncio.create_task(loop(), name="recordings-retention")
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
