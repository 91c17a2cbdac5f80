"""The AudioSocket listener over real loopback sockets, playing Asterisk's side of the wire."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from callcenter.audiosocket.frames import (
    FRAME_BYTES,
    FrameDecoder,
    FrameType,
    audio_frame,
    dtmf_frame,
    hangup_frame,
    uuid_frame,
)
from callcenter.audiosocket.server import AudioSocketServer
from callcenter.audiosocket.session import AudioSocketSession

pytestmark = pytest.mark.unit


class FakeAsterisk:
    """A connection doing what app_audiosocket does: UUID first, then frames."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.decoder = FrameDecoder()
        self.frames: list[tuple[float, FrameType, bytes]] = []

    @classmethod
    async def call(cls, port: int, call_uuid: str | None = None) -> FakeAsterisk:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        far = cls(reader, writer)
        if call_uuid is not None:
            far.send(uuid_frame(call_uuid))
        return far

    def send(self, data: bytes) -> None:
        self.writer.write(data)

    async def receive_until(self, kind: FrameType, timeout: float = 3.0) -> None:
        loop = asyncio.get_running_loop()
        async with asyncio.timeout(timeout):
            while not self.frames or self.frames[-1][1] is not kind:
                data = await self.reader.read(4096)
                if not data:
                    raise ConnectionError("closed")
                for frame in self.decoder.feed(data):
                    self.frames.append((loop.time(), frame.kind, frame.payload))

    async def receive_for(self, seconds: float) -> None:
        with pytest.raises(TimeoutError):
            await self.receive_until(FrameType.ERROR, timeout=seconds)

    async def closed(self) -> bool:
        try:
            async with asyncio.timeout(3):
                while True:
                    data = await self.reader.read(4096)
                    if not data:
                        return True
                    for frame in self.decoder.feed(data):
                        self.frames.append((0.0, frame.kind, frame.payload))
        except TimeoutError:
            return False


async def start(handler) -> AudioSocketServer:  # type: ignore[no-untyped-def]
    server = AudioSocketServer(handler, "127.0.0.1", 0)
    await server.start()
    return server


async def test_session_gets_uuid_audio_and_keys_and_keeps_sending_silence() -> None:
    call = str(uuid.uuid4())
    heard: list[bytes] = []
    seen: dict[str, AudioSocketSession] = {}
    digits: list[str] = []

    async def handler(session: AudioSocketSession) -> None:
        seen["session"] = session
        session.audio_sink = heard.append
        digits.append(await session.digits.get())
        digits.append(await session.digits.get())
        await session.ended.wait()

    server = await start(handler)
    far = await FakeAsterisk.call(server.port, call)
    far.send(dtmf_frame("4"))  # keys wait in the queue; audio goes to whoever listens now
    await far.receive_for(0.1)
    far.send(audio_frame(b"\x01\x00" * 160) + dtmf_frame("#"))
    await far.receive_for(0.4)
    audio = [f for f in far.frames if f[1] is FrameType.AUDIO]
    # 20 ms frames of silence, paced in real time (0.5 s: about 25, never a burst of 100)
    assert 20 <= len(audio) <= 30
    assert all(payload == bytes(FRAME_BYTES) for _, _, payload in audio)
    assert seen["session"].call_uuid == call
    assert digits == ["4", "#"]
    assert heard == [b"\x01\x00" * 160]
    far.send(hangup_frame())
    assert await far.closed()
    assert seen["session"].end_reason == "hangup"
    assert seen["session"].caller_gone
    assert server.sessions == {}
    await server.stop()


async def test_prompt_plays_in_real_time_then_silence_and_barge_in_stops_it() -> None:
    prompt = b"\x11\x22" * 160 * 10  # 200 ms
    results: list[bool] = []

    async def handler(session: AudioSocketSession) -> None:
        results.append(await session.play(prompt))
        long = session.play(b"\x33\x44" * 160 * 100)  # 2 s, stopped after ~100 ms
        await asyncio.sleep(0.1)
        session.stop_playing()
        results.append(await long)
        await asyncio.sleep(0.1)

    server = await start(handler)
    far = await FakeAsterisk.call(server.port, str(uuid.uuid4()))
    await far.receive_until(FrameType.HANGUP)
    payloads = [p for _, k, p in far.frames if k is FrameType.AUDIO]
    assert payloads[:10] == [b"\x11\x22" * 160] * 10
    stopped = [p for p in payloads if p == b"\x33\x44" * 160]
    assert 2 <= len(stopped) <= 10
    assert payloads[-1] == bytes(FRAME_BYTES)
    assert results == [True, False]
    await server.stop()


async def test_handler_returning_sends_hangup_so_the_dialplan_continues() -> None:
    async def handler(session: AudioSocketSession) -> None:
        await asyncio.sleep(0.05)

    server = await start(handler)
    far = await FakeAsterisk.call(server.port, str(uuid.uuid4()))
    await far.receive_until(FrameType.HANGUP)
    assert await far.closed()
    await server.stop()


async def test_a_failing_handler_still_closes_the_call() -> None:
    async def handler(session: AudioSocketSession) -> None:
        raise RuntimeError("bug")

    server = await start(handler)
    far = await FakeAsterisk.call(server.port, str(uuid.uuid4()))
    await far.receive_until(FrameType.HANGUP)
    assert await far.closed()
    assert server.sessions == {}
    await server.stop()


@pytest.mark.parametrize("first", [audio_frame(b"\0\0"), b"\x42\x00\x00", b"\x01\x00\x02ab"])
async def test_a_connection_that_does_not_start_with_a_uuid_is_rejected(first: bytes) -> None:
    called: list[str] = []

    async def handler(session: AudioSocketSession) -> None:
        called.append(session.call_uuid)

    server = await start(handler)
    far = await FakeAsterisk.call(server.port)
    far.send(first)
    assert await far.closed()
    assert called == []
    assert server.rejected == 1
    await server.stop()


async def test_malformed_frames_mid_call_end_the_session_cleanly() -> None:
    ended: list[str] = []

    async def handler(session: AudioSocketSession) -> None:
        await session.ended.wait()
        ended.append(session.end_reason)

    server = await start(handler)
    far = await FakeAsterisk.call(server.port, str(uuid.uuid4()))
    await far.receive_for(0.1)
    far.send(audio_frame(b"\0\0") + b"\x10\x00\x03abc")
    assert await far.closed()
    assert ended and ended[0].startswith("malformed: audio frame of 3 bytes")
    assert server.sessions == {}
    await server.stop()


@pytest.mark.parametrize(("frame", "reason"), [
    (bytes([0xFF, 0, 1, 4]), "error frame from the PBX: 04"),
    (b"", "socket"),  # closed, or reset while the server was writing
])
async def test_error_frame_or_closed_socket_ends_the_session(frame: bytes, reason: str) -> None:
    ended: list[str] = []

    async def handler(session: AudioSocketSession) -> None:
        await session.ended.wait()
        ended.append(session.end_reason)

    server = await start(handler)
    far = await FakeAsterisk.call(server.port, str(uuid.uuid4()))
    await far.receive_for(0.1)
    if frame:
        far.send(frame)
    else:
        far.writer.close()
    for _ in range(100):
        if ended:
            break
        await asyncio.sleep(0.02)
    assert len(ended) == 1 and ended[0].startswith(reason)
    await server.stop()


async def test_stopping_the_server_ends_calls_in_progress() -> None:
    cancelled: list[bool] = []

    async def handler(session: AudioSocketSession) -> None:
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            cancelled.append(True)
            raise

    server = await start(handler)
    far = await FakeAsterisk.call(server.port, str(uuid.uuid4()))
    await far.receive_for(0.1)
    await server.stop()
    assert await far.closed()
    assert cancelled == [True]
