"""The AudioSocket wire format: frames as Asterisk writes them, and malformed streams."""

from __future__ import annotations

import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

from callcenter.audiosocket.frames import (
    FRAME_BYTES,
    Frame,
    FrameDecoder,
    FrameError,
    FrameType,
    audio_frame,
    dtmf_frame,
    encode,
    hangup_frame,
    uuid_frame,
)

pytestmark = pytest.mark.unit

CALL = "0b7f2a4e-5c1d-4e8f-9a3b-2c6d7e8f9a0b"


def test_header_is_type_then_big_endian_length() -> None:
    assert audio_frame(b"\x01\x02") == b"\x10\x00\x02\x01\x02"
    assert hangup_frame() == b"\x00\x00\x00"
    assert dtmf_frame("#") == b"\x03\x00\x01#"
    assert uuid_frame(CALL) == b"\x01\x00\x10" + uuid.UUID(CALL).bytes
    assert len(audio_frame(bytes(FRAME_BYTES))) == 3 + 320


def test_decoder_reassembles_frames_split_anywhere() -> None:
    stream = uuid_frame(CALL) + audio_frame(bytes(range(200)) * 2) + dtmf_frame("7") + \
        hangup_frame()
    for cut in range(1, len(stream)):
        decoder = FrameDecoder()
        frames = decoder.feed(stream[:cut]) + decoder.feed(stream[cut:])
        assert [f.kind for f in frames] == [FrameType.UUID, FrameType.AUDIO, FrameType.DTMF,
                                            FrameType.HANGUP]
        assert frames[0].call_uuid == CALL
        assert frames[1].payload == bytes(range(200)) * 2
        assert frames[2].digit == "7"
        assert decoder.pending == 0


@given(st.lists(st.binary(max_size=640).map(lambda b: b[: len(b) // 2 * 2]), max_size=8),
       st.integers(min_value=1, max_value=50))
def test_any_audio_stream_round_trips_in_any_chunking(payloads: list[bytes], step: int) -> None:
    stream = b"".join(audio_frame(p) for p in payloads)
    decoder = FrameDecoder()
    frames: list[Frame] = []
    for i in range(0, len(stream), step):
        frames += decoder.feed(stream[i:i + step])
    assert [f.payload for f in frames] == payloads


@pytest.mark.parametrize(("data", "problem"), [
    (b"\x42\x00\x00", "unknown frame type 0x42"),
    (b"\x01\x00\x04abcd", "UUID frame of 4 bytes"),
    (b"\x03\x00\x01x", "DTMF frame"),
    (b"\x03\x00\x02" + b"12", "DTMF frame"),
    (b"\x10\x00\x03abc", "an even count"),
    (b"\x10\xff\xff", "at most"),
])
def test_malformed_frames_are_named(data: bytes, problem: str) -> None:
    with pytest.raises(FrameError, match=problem):
        FrameDecoder().feed(data)


def test_a_payload_too_big_for_the_header_is_refused() -> None:
    with pytest.raises(FrameError, match="does not fit"):
        encode(FrameType.AUDIO, bytes(70_000))
