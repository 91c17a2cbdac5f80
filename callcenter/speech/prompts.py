"""Prompts as 8 kHz telephone audio: rendered from text with espeak-ng, or recorded files.

Rendering takes espeak-ng a few hundred milliseconds, far too slow for a caller to wait on at
every menu, so each (voice, text) is rendered once and kept on disk as raw 16-bit 8 kHz mono
(what AudioSocket carries, no conversion at play time) under ``cache_dir/<voice>/<sha256>.raw``,
and in memory once played. A recorded prompt (``{file: ...}`` in a flow, relative to the
recordings folder) is converted by sox once the same way, keyed by its path and modification
time so that a re-recorded file is picked up. Files are written under a temporary name and
renamed: two calls rendering the same prompt never see half a file.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import shutil
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path

SOX_TO_TELEPHONE = ["-t", "raw", "-r", "8000", "-e", "signed-integer", "-b", "16", "-c", "1"]


#: writes one prompt's audio to the path given
_Maker = Callable[[Path], Awaitable[None]]


class PromptError(RuntimeError):
    """A prompt cannot be made (espeak-ng or sox missing or failing, file not found)."""


class PromptLibrary:
    def __init__(self, cache_dir: Path, recordings_dir: Path | None = None,
                 memory_items: int = 512) -> None:
        self.cache_dir = cache_dir
        self.recordings_dir = recordings_dir
        self.memory_items = memory_items
        self._memory: dict[str, bytes] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self.rendered = 0  # prompts synthesised (not found in the cache): for tests and logs

    async def speech(self, text: str, voice: str) -> bytes:
        """``text`` spoken by espeak-ng's ``voice`` (e.g. ``en-us``, ``ko``), as 8 kHz PCM."""
        if not text.strip():
            return b""
        digest = hashlib.sha256(f"{voice}\0{text}".encode()).hexdigest()
        path = self.cache_dir / _safe(voice) / f"{digest}.raw"
        return await self._cached(path, lambda out: self._synthesise(text, voice, out))

    async def recording(self, file: str) -> bytes:
        """A recorded prompt file (any format sox reads), as 8 kHz PCM."""
        if self.recordings_dir is None:
            raise PromptError(f"prompt file {file!r}: no recordings folder is configured")
        source = (self.recordings_dir / file).resolve()
        if self.recordings_dir.resolve() not in source.parents:
            raise PromptError(f"prompt file {file!r} is outside {self.recordings_dir}")
        try:
            stamp = source.stat().st_mtime_ns
        except OSError as exc:
            raise PromptError(f"prompt file {source}: {exc.strerror}") from exc
        digest = hashlib.sha256(f"{source}\0{stamp}".encode()).hexdigest()
        path = self.cache_dir / "files" / f"{digest}.raw"
        return await self._cached(path, lambda out: _run(
            ["sox", str(source), *SOX_TO_TELEPHONE, str(out)]))

    async def _cached(self, path: Path, make: _Maker) -> bytes:
        key = str(path)
        audio = self._memory.get(key)
        if audio is not None:
            return audio
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:
            audio = self._memory.get(key)
            if audio is None:
                audio = await asyncio.to_thread(_read_if_present, path)
                if audio is None:
                    tmp = await asyncio.to_thread(_temp_beside, path)
                    try:
                        await make(tmp)
                        audio = await asyncio.to_thread(_publish, tmp, path)
                    finally:
                        await asyncio.to_thread(tmp.unlink, missing_ok=True)
                    self.rendered += 1
                if len(self._memory) >= self.memory_items:
                    self._memory.pop(next(iter(self._memory)))
                self._memory[key] = audio
        self._locks.pop(key, None)
        return audio

    async def _synthesise(self, text: str, voice: str, out: Path) -> None:
        wav = out.with_suffix(".wav")
        try:
            await _run(["espeak-ng", "-v", voice, "-w", str(wav), "--stdin"], stdin=text)
            await _run(["sox", str(wav), *SOX_TO_TELEPHONE, str(out)])
        finally:
            wav.unlink(missing_ok=True)


async def _run(argv: list[str], stdin: str | None = None) -> None:
    if shutil.which(argv[0]) is None:
        raise PromptError(f"{argv[0]} is not installed (Debian package {argv[0]})")
    process = await asyncio.create_subprocess_exec(
        *argv, stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
    try:
        _, err = await process.communicate(stdin.encode() if stdin is not None else None)
    except asyncio.CancelledError:
        # the server stopping mid-render: end the child and reap it now, not when the
        # transport is collected after the loop has closed
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        await asyncio.shield(process.wait())
        raise
    if process.returncode != 0:
        raise PromptError(f"{argv[0]} failed ({process.returncode}): "
                          f"{err.decode(errors='replace').strip()[:300]}")


def _read_if_present(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None


def _temp_beside(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".part")
    os.close(fd)
    return Path(tmp)


def _publish(tmp: Path, path: Path) -> bytes:
    audio = tmp.read_bytes()
    os.replace(tmp, path)
    return audio


def _safe(voice: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in voice) or "default"
