"""Where the caller's speech starts and ends, from the audio's energy (pure).

The start stops a prompt (barge-in) and cancels the no-input timer; the end is when the
recogniser is asked for its result. vosk's own endpointer waits 0.5 s of silence (its model's
``rule2``), which alone would exceed the 300 ms the IVR allows between the end of speech and
the answer, so the end is found here: speech is ``start_ms`` of frames louder than
``threshold`` (RMS of 16-bit samples), and it has ended after ``end_silence_ms`` quieter.
Telephone audio from Asterisk is 20 ms frames; any chunk size works.
"""

from __future__ import annotations

import math
from array import array
from dataclasses import dataclass
from enum import Enum

BYTES_PER_MS = 16  # 8 kHz, 16-bit


class Boundary(Enum):
    STARTED = "started"
    ENDED = "ended"


@dataclass(frozen=True, slots=True)
class EndpointSettings:
    threshold: float = 400.0
    start_ms: int = 60
    end_silence_ms: int = 200


def rms(pcm: bytes) -> float:
    """Root mean square of 16-bit little-endian samples (0 for no samples)."""
    samples = array("h", pcm[: len(pcm) - len(pcm) % 2])
    if not samples:
        return 0.0
    return math.sqrt(sum(s * s for s in samples) / len(samples))


class UtteranceDetector:
    """Feed audio with :meth:`push`; it reports the start and the end of one utterance."""

    def __init__(self, settings: EndpointSettings = EndpointSettings()) -> None:
        self.settings = settings
        self.started = False
        self.ended = False
        self._loud_ms = 0.0
        self._quiet_ms = 0.0
        #: milliseconds of audio seen, and where the last loud audio ended
        self.position_ms = 0.0
        self.speech_end_ms = 0.0

    def push(self, pcm: bytes) -> Boundary | None:
        if self.ended:
            return None
        duration = len(pcm) / BYTES_PER_MS
        self.position_ms += duration
        loud = rms(pcm) >= self.settings.threshold
        if not self.started:
            self._loud_ms = self._loud_ms + duration if loud else 0.0
            if self._loud_ms >= self.settings.start_ms:
                self.started = True
                self.speech_end_ms = self.position_ms
                return Boundary.STARTED
            return None
        if loud:
            self._quiet_ms = 0.0
            self.speech_end_ms = self.position_ms
            return None
        self._quiet_ms += duration
        if self._quiet_ms >= self.settings.end_silence_ms:
            self.ended = True
            return Boundary.ENDED
        return None
