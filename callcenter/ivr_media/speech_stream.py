"""The caller's speech from one listen into a recogniser, off the event loop.

Audio arrives in 20 ms frames on the loop; a recogniser is CPU-bound C code. Frames are put on
a queue and one task per stream hands them to the recogniser on the shared
:class:`~callcenter.speech.workers.SpeechWorkers` in batches of at least ``BATCH_MS`` (or what
has piled up, if more), so a busy machine does fewer, larger calls rather than falling behind;
the decode that ends an utterance goes ahead of the calls still speaking.
Nothing is decoded before the caller starts speaking: the last ``preroll_ms`` of audio are kept
so that the first syllable, which the energy endpointer needs a few frames to notice, is still
heard. :meth:`SpeechStream.finish` drains the queue and asks for the result; :meth:`close`
cancels whatever is left (a caller who hung up mid-sentence leaves no task behind).
"""

from __future__ import annotations

import asyncio
import collections
import functools
from collections.abc import Callable

from callcenter.speech.backend import Recognition, Recognizer
from callcenter.speech.utterance import BYTES_PER_MS
from callcenter.speech.workers import FINISH, LIVE, SpeechWorkers

PREROLL_MS = 300
#: audio handed to the recogniser in one call while the caller speaks: fewer, larger calls
#: keep the shared worker threads' queue short (20 calls each sending a frame every 20 ms
#: would be 1,000 hand-offs a second); the rest is decoded when the utterance ends
BATCH_MS = 250


class SpeechStream:
    def __init__(self, make_recognizer: Callable[[], Recognizer], workers: SpeechWorkers,
                 preroll_ms: int = PREROLL_MS) -> None:
        self._workers = workers
        self._loop = asyncio.get_running_loop()
        self._recognizer = workers.run(LIVE, make_recognizer)
        self._preroll: collections.deque[bytes] = collections.deque()
        self._preroll_bytes = 0
        self._preroll_max = preroll_ms * BYTES_PER_MS
        self._queue: asyncio.Queue[bytes | None] = asyncio.Queue()
        self._speaking = False
        self._pump: asyncio.Task[bytes] | None = None
        self.bytes_decoded = 0

    def feed(self, pcm: bytes) -> None:
        """Audio of the caller (before speech starts it is only kept as pre-roll)."""
        if self._speaking:
            self._queue.put_nowait(pcm)
            return
        self._preroll.append(pcm)
        self._preroll_bytes += len(pcm)
        while self._preroll_bytes - len(self._preroll[0]) >= self._preroll_max:
            self._preroll_bytes -= len(self._preroll.popleft())

    def speech_started(self) -> None:
        """From now on everything is decoded, starting with the pre-roll."""
        if self._speaking:
            return
        self._speaking = True
        for chunk in self._preroll:
            self._queue.put_nowait(chunk)
        self._preroll.clear()
        self._pump = self._loop.create_task(self._run(), name="speech-stream")

    async def finish(self) -> Recognition:
        """Decode what is left and return the recognition (nothing heard: empty text); the
        last decode goes ahead of the calls still speaking."""
        if self._pump is None:
            return Recognition("", 0.0)
        self._queue.put_nowait(None)
        rest = await self._pump
        recognizer = await self._recognizer

        def last() -> Recognition:
            if rest:
                recognizer.accept(rest)
            return recognizer.result()

        self.bytes_decoded += len(rest)
        return await self._workers.run(FINISH, last)

    async def close(self) -> None:
        if self._pump is not None and not self._pump.done():
            self._pump.cancel()
            await asyncio.gather(self._pump, return_exceptions=True)
        if not self._recognizer.done():
            self._recognizer.cancel()
        await asyncio.gather(self._recognizer, return_exceptions=True)

    async def _run(self) -> bytes:
        """Decode batches while the caller speaks; return what was left at the end."""
        recognizer = await self._recognizer
        batch_bytes = BATCH_MS * BYTES_PER_MS
        while True:
            batch: list[bytes] = []
            size = 0
            ended = False
            while not ended and (size < batch_bytes or not self._queue.empty()):
                chunk = await self._queue.get()
                if chunk is None:
                    ended = True
                else:
                    batch.append(chunk)
                    size += len(chunk)
            pcm = b"".join(batch)
            if ended:
                return pcm
            await self._workers.run(LIVE, functools.partial(recognizer.accept, pcm))
            self.bytes_decoded += len(pcm)
