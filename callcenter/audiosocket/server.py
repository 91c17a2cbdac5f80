"""The asyncio AudioSocket listener: one :class:`AudioSocketSession` per call.

The dialplan's ``AudioSocket(${CC_IVR_UUID},host:port)`` connects here; the first frame must
be the call's UUID (anything else is not AudioSocket and the connection is closed with a log
line naming the problem). The handler gets the started session and owns the call until it
returns; the server then closes the session (a hang-up frame, so the dialplan continues) —
whatever the handler did, even when it failed — so no connection is ever left open.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from callcenter.audiosocket.frames import Frame, FrameDecoder, FrameError, FrameType
from callcenter.audiosocket.session import AudioSocketSession

log = logging.getLogger(__name__)

SessionHandler = Callable[[AudioSocketSession], Awaitable[None]]

#: how long a new connection may take to name its call
UUID_TIMEOUT_S = 5.0


class AudioSocketServer:
    def __init__(self, handler: SessionHandler, host: str = "127.0.0.1", port: int = 9092
                 ) -> None:
        self.handler = handler
        self.host = host
        self.requested_port = port
        self.sessions: dict[str, AudioSocketSession] = {}
        self.rejected = 0
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.Task[None]] = set()

    @property
    def port(self) -> int:
        """The port listened on (the real one when 0 was asked for)."""
        if self._server is None or not self._server.sockets:
            return self.requested_port
        return int(self._server.sockets[0].getsockname()[1])

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._connected, self.host,
                                                  self.requested_port, reuse_address=True)
        log.info("audiosocket listening on %s:%d", self.host, self.port)

    async def stop(self) -> None:
        """Stop listening and end every call's session (their handlers are cancelled)."""
        if self._server is not None:
            self._server.close()
        tasks = list(self._connections)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2.0)
            self._server = None

    async def _connected(self, reader: asyncio.StreamReader,
                         writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        try:
            await self._serve(reader, writer)
        finally:
            self._connections.discard(task)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        decoder = FrameDecoder()
        try:
            frames = await asyncio.wait_for(_first_frames(reader, decoder), UUID_TIMEOUT_S)
            if frames[0].kind is not FrameType.UUID:
                raise FrameError(f"first frame is {frames[0].kind.name}, not the call's UUID")
            call_uuid = frames[0].call_uuid
            rest = frames[1:]
        except (FrameError, TimeoutError, ConnectionError, OSError) as exc:
            self.rejected += 1
            log.warning("audiosocket: connection from %s rejected: %s",
                        writer.get_extra_info("peername"), exc or type(exc).__name__)
            writer.close()
            with contextlib.suppress(OSError, ConnectionError):
                await writer.wait_closed()
            return
        session = AudioSocketSession(call_uuid, reader, writer, decoder)
        self.sessions[call_uuid] = session
        session.start(rest)
        try:
            await self.handler(session)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("audiosocket %s: the call's handler failed", call_uuid)
        finally:
            self.sessions.pop(call_uuid, None)
            await session.close()


async def _first_frames(reader: asyncio.StreamReader, decoder: FrameDecoder) -> list[Frame]:
    while True:
        data = await reader.read(4096)
        if not data:
            raise ConnectionError("closed before naming its call")
        frames = decoder.feed(data)
        if frames:
            return frames
