"""AudioSocket: the IVR's media link with Asterisk (wire format, sessions, the listener)."""

from callcenter.audiosocket.frames import Frame, FrameDecoder, FrameError, FrameType
from callcenter.audiosocket.server import AudioSocketServer
from callcenter.audiosocket.session import AudioSocketSession

__all__ = ["AudioSocketServer", "AudioSocketSession", "Frame", "FrameDecoder", "FrameError",
           "FrameType"]
