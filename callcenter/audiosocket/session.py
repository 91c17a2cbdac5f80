"""One call on an AudioSocket connection: audio in and out, keys in, and how it ended.

Asterisk ends the leg ("Reached timeout after 2000 ms of no activity") when the server sends
nothing, so a session always sends: the prompt being played, else silence, one 20 ms frame
every 20 ms, paced against the loop's monotonic clock (no drift over a long call, and never
faster than real time, which Asterisk would only queue up). What the caller sends is read by
one task: audio goes to whoever listens (:attr:`AudioSocketSession.audio_sink`), keys into
:attr:`AudioSocketSession.digits`. A hang-up frame, an error frame, the socket closing or a
malformed frame all end the session the same way — :attr:`AudioSocketSession.ended` is set
and :attr:`AudioSocketSession.end_reason` says which — so the runner has one thing to watch.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from callcenter.audiosocket.frames import (
    FRAME_BYTES,
    FRAME_SECONDS,
    Frame,
    FrameDecoder,
    FrameError,
    FrameType,
    audio_frame,
    hangup_frame,
)

log = logging.getLogger(__name__)

SILENCE = bytes(FRAME_BYTES)
#: frames sent ahead of real time, so a late wake-up of the loop never starves Asterisk
LEAD_FRAMES = 2


class AudioSocketSession:
    """The server's side of one AudioSocket connection, after its UUID frame."""

    def __init__(self, call_uuid: str, reader: asyncio.StreamReader,
                 writer: asyncio.StreamWriter, decoder: FrameDecoder) -> None:
        self.call_uuid = call_uuid
        self._reader = reader
        self._writer = writer
        self._decoder = decoder
        #: called with each chunk of the caller's audio (16-bit LE, 8 kHz) while set
        self.audio_sink: Callable[[bytes], None] | None = None
        self.digits: asyncio.Queue[str] = asyncio.Queue()
        self.ended = asyncio.Event()
        self.end_reason = ""
        self.frames_sent = 0
        self.frames_received = 0
        self._playing = bytearray()
        self._played: asyncio.Future[bool] | None = None
        self._tasks: list[asyncio.Task[None]] = []

    # --- lifecycle -------------------------------------------------------------------------

    def start(self, pending: list[Frame]) -> None:
        """Start reading and sending; ``pending``: frames that came with the UUID's."""
        for frame in pending:
            if not self._dispatch(frame):
                break
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._read(), name=f"audiosocket-read-{self.call_uuid}"),
                       loop.create_task(self._send(), name=f"audiosocket-send-{self.call_uuid}")]

    async def close(self, reason: str = "closed by server") -> None:
        """Stop sending, say goodbye with a hang-up frame (the dialplan continues after
        ``AudioSocket()``), close the socket and wait for the tasks."""
        if not self.ended.is_set():
            self._end(reason)
            with contextlib.suppress(OSError, RuntimeError):
                self._writer.write(hangup_frame())
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._stop_playing(False)
        self._writer.close()
        with contextlib.suppress(OSError, ConnectionError):
            await self._writer.wait_closed()

    @property
    def caller_gone(self) -> bool:
        """The far end ended the session (hang-up frame, error, socket closed, bad frames)."""
        return self.ended.is_set() and not self.end_reason.startswith("closed by server")

    def _end(self, reason: str) -> None:
        if not self.ended.is_set():
            self.end_reason = reason
            self.ended.set()
            self._stop_playing(False)

    # --- playing ---------------------------------------------------------------------------

    def play(self, pcm: bytes) -> asyncio.Future[bool]:
        """Queue ``pcm`` (16-bit LE, 8 kHz) after what is playing; the future is True when its
        last frame was sent, False when it was stopped (:meth:`stop_playing`, end of call)."""
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        if self.ended.is_set():
            future.set_result(False)
            return future
        if len(pcm) % FRAME_BYTES:
            pcm = pcm + bytes(FRAME_BYTES - len(pcm) % FRAME_BYTES)
        self._stop_playing(False)  # one prompt sequence at a time: the runner queues them
        self._playing = bytearray(pcm)
        self._played = future
        if not pcm:
            self._stop_playing(True)
        return future

    def stop_playing(self) -> None:
        """Barge-in: silence from the next frame on."""
        self._stop_playing(False)

    @property
    def playing(self) -> bool:
        return bool(self._playing)

    def _stop_playing(self, finished: bool) -> None:
        self._playing = bytearray()
        future, self._played = self._played, None
        if future is not None and not future.done():
            future.set_result(finished)

    async def _send(self) -> None:
        loop = asyncio.get_running_loop()
        started = loop.time()
        try:
            while not self.ended.is_set():
                due = started + (self.frames_sent - LEAD_FRAMES) * FRAME_SECONDS
                delay = due - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
                if self._playing:
                    chunk = bytes(self._playing[:FRAME_BYTES])
                    del self._playing[:FRAME_BYTES]
                    if not self._playing:
                        self._stop_playing(True)
                else:
                    chunk = SILENCE
                self._writer.write(audio_frame(chunk))
                self.frames_sent += 1
                if self._writer.transport.get_write_buffer_size() > 64 * FRAME_BYTES:
                    await self._writer.drain()
        except (OSError, ConnectionError) as exc:
            self._end(f"socket error: {exc}")

    # --- reading ---------------------------------------------------------------------------

    async def _read(self) -> None:
        try:
            while not self.ended.is_set():
                data = await self._reader.read(4096)
                if not data:
                    self._end("socket closed by the PBX")
                    return
                for frame in self._decoder.feed(data):
                    if not self._dispatch(frame):
                        return
        except FrameError as exc:
            log.warning("audiosocket %s: malformed stream, ending the session: %s",
                        self.call_uuid, exc)
            self._end(f"malformed: {exc}")
        except (OSError, ConnectionError) as exc:
            self._end(f"socket error: {exc}")

    def _dispatch(self, frame: Frame) -> bool:
        """Act on one frame from the PBX; False when it ended the session."""
        if frame.kind is FrameType.AUDIO:
            self._audio(frame.payload)
        elif frame.kind is FrameType.DTMF:
            self.digits.put_nowait(frame.digit)
        elif frame.kind is FrameType.HANGUP:
            self._end("hangup")
        elif frame.kind is FrameType.ERROR:
            self._end(f"error frame from the PBX: {frame.payload.hex() or 'no code'}")
        else:
            raise FrameError(f"a second {frame.kind.name} frame")
        return not self.ended.is_set()

    def _audio(self, payload: bytes) -> None:
        self.frames_received += 1
        sink = self.audio_sink
        if sink is not None and payload:
            sink(payload)
