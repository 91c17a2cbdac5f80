"""The "AMI connection lost" log line and the link-down event say why *this* connection ended.

Before issue 9 the line repeated ``stats.last_error``, which still held the previous outage's
reason (or the last failed connect attempt's) when the peer simply closed the socket. A small
AMI server on loopback plays Asterisk: it answers the client's login and resync, then ends
each connection in a different way.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import struct
from collections.abc import AsyncIterator
from typing import Any

import pytest

from callcenter import events as ev
from callcenter.config import AmiSettings
from callcenter.cti.ami import AmiClient
from callcenter.cti.model import CallModel

pytestmark = pytest.mark.unit

BANNER = b"Asterisk Call Manager/11.0.0\r\n"


class FakeAsterisk:
    """Enough of AMI for the client's life cycle: Login, CoreSettings, an empty resync, Ping."""

    def __init__(self, port: int = 0, answer_pings: bool = True,
                 refuse_login: bool = False) -> None:
        self.port = port
        self.answer_pings = answer_pings
        self.refuse_login = refuse_login
        self.connections: asyncio.Queue[asyncio.StreamWriter] = asyncio.Queue()
        self.server: asyncio.Server | None = None

    async def start(self) -> FakeAsterisk:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", self.port,
                                                 reuse_address=True)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def close(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()
            self.server = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(BANNER)
        self.connections.put_nowait(writer)
        pending = b""
        try:
            while data := await reader.read(4096):
                pending += data
                while b"\r\n\r\n" in pending:
                    block, pending = pending.split(b"\r\n\r\n", 1)
                    headers = dict(line.split(": ", 1) for line in block.decode().split("\r\n")
                                   if ": " in line)
                    writer.write(self._answer(headers))
        except (ConnectionError, OSError):
            pass

    def _answer(self, action: dict[str, str]) -> bytes:
        name, action_id = action.get("Action", ""), action.get("ActionID", "")
        head = f"Response: Success\r\nActionID: {action_id}\r\n"
        if name == "Login" and self.refuse_login:
            return (f"Response: Error\r\nActionID: {action_id}\r\n"
                    "Message: Authentication failed\r\n\r\n").encode()
        if name == "Login":
            return f"{head}Message: Authentication accepted\r\n\r\n".encode()
        if name == "CoreSettings":
            return f"{head}AMIversion: 11.0.0\r\nAsteriskVersion: 22.0.0\r\n\r\n".encode()
        if name in ("CoreShowChannels", "BridgeList"):
            done = "CoreShowChannelsComplete" if name == "CoreShowChannels" else \
                "BridgeListComplete"
            return (f"{head}EventList: start\r\nMessage: will follow\r\n\r\n"
                    f"Event: {done}\r\nActionID: {action_id}\r\nEventList: Complete\r\n"
                    "ListItems: 0\r\n\r\n").encode()
        if name == "Ping":
            return f"{head}Ping: Pong\r\n\r\n".encode() if self.answer_pings else b""
        return f"{head}\r\n".encode()


def reset(writer: asyncio.StreamWriter) -> None:
    """Close with a TCP RST, as a crashed peer or a middlebox does."""
    sock = writer.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


class Watched:
    def __init__(self, port: int, **settings: Any) -> None:
        self.bus = ev.EventBus()
        self.down: list[str] = []
        self.bus.add_handler(lambda e: self.down.append(e.reason)  # type: ignore[attr-defined]
                             if e.type == "pbx.link_down" else None)
        values: dict[str, Any] = {"port": port, "reconnect_min_s": 0.05,
                                  "reconnect_max_s": 0.1, "ping_interval_s": 30.0,
                                  "connect_timeout_s": 2.0, "action_timeout_s": 2.0}
        values.update(settings)
        self.client = AmiClient(AmiSettings(**values), CallModel(), self.bus)

    async def until(self, predicate: Any, what: str, timeout: float = 5.0) -> None:
        deadline = asyncio.get_running_loop().time() + timeout
        while not predicate():
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"timed out waiting for {what}")
            await asyncio.sleep(0.01)


@pytest.fixture
async def asterisk() -> AsyncIterator[FakeAsterisk]:
    fake = await FakeAsterisk().start()
    yield fake
    await fake.close()


def lost_reasons(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.reason for r in caplog.records  # type: ignore[attr-defined]
            if r.getMessage() == "AMI connection lost"]


async def test_each_outage_logs_its_own_reason(asterisk: FakeAsterisk,
                                               caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="callcenter.cti.ami")
    watched = Watched(asterisk.port)
    client = watched.client
    await client.start()
    try:
        # 1. Asterisk says Shutdown, then closes
        await client.wait_ready(5)
        writer = await asyncio.wait_for(asterisk.connections.get(), 5)
        writer.write(b"Event: Shutdown\r\nShutdown: Cleanly\r\nRestart: True\r\n\r\n")
        await writer.drain()
        writer.close()
        await watched.until(lambda: len(watched.down) == 1, "first link down")
        # 2. the peer just closes: nothing to do with the Shutdown before
        await client.wait_ready(5)
        writer = await asyncio.wait_for(asterisk.connections.get(), 5)
        writer.close()
        await watched.until(lambda: len(watched.down) == 2, "second link down")
        # 3. a reset: the socket's own error
        await client.wait_ready(5)
        writer = await asyncio.wait_for(asterisk.connections.get(), 5)
        reset(writer)
        await watched.until(lambda: len(watched.down) == 3, "third link down")
        # 4. Asterisk away for a while (connect attempts refused), back, then closes
        port = asterisk.port
        await asterisk.close()
        await watched.until(lambda: client.stats.last_error.startswith("ConnectionRefused"),
                            "a refused connect attempt")
        back = await FakeAsterisk(port).start()
        try:
            await client.wait_ready(5)
            writer = await asyncio.wait_for(back.connections.get(), 5)
            writer.close()
            await watched.until(lambda: len(watched.down) == 4, "fourth link down")
        finally:
            await back.close()
    finally:
        await client.stop()
    reasons = lost_reasons(caplog)[:4]
    assert reasons[0] == "Asterisk shutting down"
    assert reasons[1] == "closed by peer (EOF)"
    assert reasons[2].startswith("ConnectionResetError")
    assert reasons[3] == "closed by peer (EOF)"
    assert watched.down == reasons  # /health and the event stream say the same


async def test_unanswered_ping_and_own_drop_are_named(asterisk: FakeAsterisk,
                                                      caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="callcenter.cti.ami")
    asterisk.answer_pings = False
    watched = Watched(asterisk.port, ping_interval_s=0.2)
    client = watched.client
    await client.start()
    try:
        await client.wait_ready(5)
        await watched.until(lambda: len(watched.down) == 1, "keep-alive drop", timeout=5)
        asterisk.answer_pings = True
        await client.wait_ready(5)
        client.drop_connection()
        await watched.until(lambda: len(watched.down) == 2, "requested drop")
    finally:
        await client.stop()
    assert lost_reasons(caplog)[:2] == ["keep-alive Ping unanswered",
                                        "connection dropped on request"]
    assert watched.down == lost_reasons(caplog)[:2]


async def test_a_refused_login_stays_the_reason_after_the_socket_closes(
        caplog: pytest.LogCaptureFixture) -> None:
    """The refusal, not the EOF that follows it, is what /health and the log say, whichever
    of the two the client notices first (CI once saw 'closed by peer (EOF)' here)."""
    caplog.set_level(logging.INFO, logger="callcenter.cti.ami")
    fake = await FakeAsterisk(refuse_login=True).start()
    watched = Watched(fake.port, reconnect_min_s=5.0, reconnect_max_s=5.0)
    client = watched.client
    await client.start()
    try:
        await watched.until(lambda: bool(lost_reasons(caplog)), "the connection's end")
        await asyncio.sleep(0.1)  # anything still queued has run
        assert client.stats.last_error == "Authentication failed"
        assert lost_reasons(caplog) == ["Authentication failed"]
        assert not client.connected
    finally:
        await client.stop()
        await fake.close()
