"""The speech-recognition seam of the IVR: what a recogniser must do, whatever the engine.

The runner opens one :class:`Recognizer` per listen, built for the node's phrases (a grammar:
the caller can only be heard saying one of them, which is what makes a small model fast and
accurate enough for menus), feeds it the caller's audio and asks for the :class:`Recognition`
when the caller stopped speaking. The engine decides what a confidence means (below the node's
``min_confidence`` it asks for a key instead). Engines: :mod:`callcenter.speech.vosk_backend`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class Recognition:
    """What was heard (one of the phrases, or empty) and how sure the engine is (0..1)."""

    text: str
    confidence: float


class SpeechUnavailable(RuntimeError):
    """No model for that language, or the engine is not installed: the caller uses keys."""


class Recognizer(Protocol):
    def accept(self, pcm: bytes) -> None:
        """More of the caller's audio (16-bit little-endian, 8 kHz mono)."""

    def result(self) -> Recognition:
        """The recognition of everything accepted so far (the utterance is over)."""


class SpeechBackend(Protocol):
    name: str

    def languages(self) -> frozenset[str]:
        """The languages there is a model for."""

    def load(self, language: str) -> None:
        """Load the model of ``language`` now (slow: call off the event loop at start-up)."""

    def recognizer(self, language: str, phrases: Sequence[str]) -> Recognizer:
        """A recogniser restricted to ``phrases``; :class:`SpeechUnavailable` without a model."""

    def unknown_words(self, language: str, phrases: Sequence[str]) -> list[str]:
        """Words of ``phrases`` the model does not know (they can never be recognised)."""
