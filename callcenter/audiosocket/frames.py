"""The AudioSocket wire format (Asterisk's app_audiosocket / chan_audiosocket), pure.

A frame is a 3-byte header (1 byte type, big-endian uint16 payload length) and its payload:
``0x00`` hang-up, ``0x01`` the call's 16-byte UUID (always first), ``0x03`` one DTMF digit
(ASCII), ``0x10`` audio (signed 16-bit little-endian, 8 kHz mono; Asterisk sends 320 bytes per
20 ms), ``0xff`` an error (one byte code). Kept apart from the socket so that every rule about
malformed input is tested without a network: a stream that breaks them raises
:class:`FrameError` with what was wrong, and the session ends instead of guessing.
"""

from __future__ import annotations

import struct
import uuid
from dataclasses import dataclass
from enum import IntEnum

HEADER = struct.Struct(">BH")
SAMPLE_RATE = 8000
FRAME_BYTES = 320  # 20 ms of 16-bit mono audio at 8 kHz
FRAME_SECONDS = 0.02
#: the largest payload accepted: a few hundred ms of audio; anything bigger is not AudioSocket
MAX_PAYLOAD = 16_000


class FrameType(IntEnum):
    HANGUP = 0x00
    UUID = 0x01
    DTMF = 0x03
    AUDIO = 0x10
    ERROR = 0xFF


class FrameError(ValueError):
    """The byte stream is not AudioSocket (unknown type, bad length, bad UUID or digit)."""


@dataclass(frozen=True, slots=True)
class Frame:
    kind: FrameType
    payload: bytes = b""

    @property
    def digit(self) -> str:
        return self.payload.decode("ascii")

    @property
    def call_uuid(self) -> str:
        return str(uuid.UUID(bytes=self.payload))


_DIGITS = frozenset("0123456789*#ABCD")


def encode(kind: FrameType, payload: bytes = b"") -> bytes:
    if len(payload) > 0xFFFF:
        raise FrameError(f"payload of {len(payload)} bytes does not fit a frame")
    return HEADER.pack(kind, len(payload)) + payload


def audio_frame(pcm: bytes) -> bytes:
    return encode(FrameType.AUDIO, pcm)


def hangup_frame() -> bytes:
    return encode(FrameType.HANGUP)


def uuid_frame(call_uuid: str) -> bytes:
    return encode(FrameType.UUID, uuid.UUID(call_uuid).bytes)


def dtmf_frame(digit: str) -> bytes:
    return encode(FrameType.DTMF, digit.encode("ascii"))


def check(frame: Frame) -> Frame:
    """``frame`` if its payload suits its type, else :class:`FrameError` saying why."""
    size = len(frame.payload)
    if frame.kind is FrameType.UUID and size != 16:
        raise FrameError(f"UUID frame of {size} bytes (16 expected)")
    if frame.kind is FrameType.DTMF and (size != 1 or chr(frame.payload[0]) not in _DIGITS):
        raise FrameError(f"DTMF frame with payload {frame.payload!r} (one of 0-9*#A-D expected)")
    if frame.kind is FrameType.AUDIO and size % 2:
        raise FrameError(f"audio frame of {size} bytes (16-bit samples: an even count)")
    return frame


class FrameDecoder:
    """Incremental decoder: :meth:`feed` any chunk of bytes, get the complete frames."""

    def __init__(self) -> None:
        self._buffer = bytearray()

    def feed(self, data: bytes) -> list[Frame]:
        self._buffer.extend(data)
        frames: list[Frame] = []
        while len(self._buffer) >= HEADER.size:
            kind_byte, length = HEADER.unpack_from(self._buffer)
            try:
                kind = FrameType(kind_byte)
            except ValueError:
                raise FrameError(f"unknown frame type 0x{kind_byte:02x}") from None
            if length > MAX_PAYLOAD:
                raise FrameError(f"{kind.name} frame announces {length} bytes "
                                 f"(at most {MAX_PAYLOAD})")
            end = HEADER.size + length
            if len(self._buffer) < end:
                break
            frames.append(check(Frame(kind, bytes(self._buffer[HEADER.size:end]))))
            del self._buffer[:end]
        return frames

    @property
    def pending(self) -> int:
        """Bytes of an incomplete frame still waiting for the rest."""
        return len(self._buffer)
