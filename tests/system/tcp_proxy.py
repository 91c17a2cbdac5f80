"""A loopback TCP proxy that can cut or black-hole a connection, to test network failures."""

from __future__ import annotations

import asyncio
import contextlib


class TcpProxy:
    """Forwards 127.0.0.1:<port> to a target; ``cut`` closes, ``blackhole`` drops silently."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.server: asyncio.Server | None = None
        self.port = 0
        self.pipes: set[asyncio.Task[None]] = set()
        self.writers: set[asyncio.StreamWriter] = set()
        self.dropping = False

    async def start(self) -> TcpProxy:
        self.server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.dropping:
            writer.close()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.close()
            return
        self.writers.update({writer, up_writer})
        for src, dst in ((reader, up_writer), (up_reader, writer)):
            task = asyncio.create_task(self._pipe(src, dst))
            self.pipes.add(task)
            task.add_done_callback(self.pipes.discard)

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                if not self.dropping:
                    writer.write(data)
                    await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            with contextlib.suppress(Exception):
                writer.close()

    async def cut(self) -> None:
        """Close every proxied connection (like a router reset)."""
        for writer in list(self.writers):
            writer.transport.abort()
        self.writers.clear()

    def blackhole(self) -> None:
        """Keep sockets open but forward nothing, and refuse new connections."""
        self.dropping = True

    def heal(self) -> None:
        self.dropping = False
        for writer in list(self.writers):  # the half-dead sessions are gone for good
            writer.transport.abort()
        self.writers.clear()

    async def close(self) -> None:
        await self.cut()
        for task in list(self.pipes):
            task.cancel()
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()
