"""The IVR on the real Asterisk 22: callers (Local channels in [cc-test]) speak a synthetic
Korean utterance or press keys into [ivr]; AudioSocket carries them to the server, which runs
the sample flows and hands the call on. Checked: the spoken choice and the same choice by key
land in the right queue with the right intent; a customer code keyed in pops that customer's
card on the ringing agent's console; a survey answer is stored as a rating; a caller hanging
up in the middle of an utterance leaves no IVR call, socket, task or open row behind."""

from __future__ import annotations

import asyncio
import math
import tempfile
import time
import wave
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select

from callcenter.app import Services, build_app, build_services
from callcenter.config import Settings
from callcenter.core.pbx import OriginateRequest
from callcenter.events import DomainEvent
from crm_bridge.db import make_engine, session_factory, upgrade_database
from crm_bridge.models import Customer, Interaction, Phone, SatisfactionRating
from tests.accounts import sign_in
from tests.harness import require_binary

from .conftest import next_pop, wait_no_channels
from .sipp_agent import SippAgent

pytestmark = pytest.mark.system

SOUNDS = "/var/lib/asterisk/sounds/cc-ivr"
CUSTOMER_CODE = "482913"
CUSTOMER_PHONE = "+821055501234"
STRANGER = "+821055509999"
#: prompts rendered once for every run (the cache is keyed by voice and text)
PROMPT_CACHE = Path(tempfile.gettempdir()) / "cc-test-prompts"


@dataclass
class Center:
    services: Services
    client: TestClient
    sandbox: Any
    url: str
    events: list[DomainEvent]

    @property
    def ivr(self) -> Any:
        assert self.services.ivr is not None
        return self.services.ivr

    async def utterance(self, name: str, text: str, lead_s: float, cut: float = 1.0) -> str:
        """A WAV in the sandbox: ``lead_s`` of silence, then ``text`` spoken in Korean (its
        first ``cut`` share), then a second of silence. Returns the Playback() path."""
        speech = await self.ivr.prompts.speech(text, "ko")
        speech = speech[: int(len(speech) * cut) // 2 * 2]
        pcm = bytes(int(lead_s * 8000) * 2) + speech + bytes(16000 if cut == 1.0 else 0)
        target = self.sandbox.path(f"{SOUNDS}/{name}.wav")
        target.parent.mkdir(parents=True, exist_ok=True)
        with wave.open(str(target), "wb") as out:
            out.setnchannels(1)
            out.setsampwidth(2)
            out.setframerate(8000)
            out.writeframes(pcm)
        target.chmod(0o644)
        return f"{SOUNDS}/{name}"

    async def welcome_s(self) -> float:
        """How long the main flow's welcome (unknown caller, Korean) plays."""
        flow = self.ivr.registry.get("main")
        text = flow.nodes["welcome"].prompt.parts["ko"].text
        return len(await self.ivr.prompts.speech(text, "ko")) / 16000

    async def call(self, exten: str, number: str, **variables: str) -> str:
        handle = await self.services.pbx.originate(OriginateRequest(
            endpoint=f"Local/{exten}@cc-test", context="ivr", exten="s",
            caller_id=f'"Caller" <{number}>', timeout_s=10, variables=variables))
        outcome = await asyncio.wait_for(handle.outcome, 15)
        assert outcome.answered, outcome
        return handle.channel_id

    async def wait_for(self, predicate: Any, timeout: float, what: str) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = predicate()
            if found:
                return found
            await asyncio.sleep(0.05)
        trail = [(round(e.at % 100, 2), e.type, getattr(e, "node", ""), getattr(e, "result", ""),
                  getattr(e, "text", ""), getattr(e, "outcome", ""))
                 for e in self.events if e.type.startswith(("ivr.", "queue."))]
        raise AssertionError(f"timed out waiting for {what}; IVR/queue events: {trail}")

    def exit_of(self, channel_id: str) -> Any:
        call_id = self.call_id(channel_id)
        return next((e for e in self.events if e.type == "ivr.exit"
                     and e.call_id == call_id), None)  # type: ignore[attr-defined]

    def call_id(self, channel_id: str) -> str:
        channel = self.services.model.channels.get(channel_id)
        return channel.call_id if channel is not None else channel_id


async def seed(url: str) -> int:
    await upgrade_database(url)
    engine = make_engine(url)
    async with session_factory(engine)() as session, session.begin():
        customer = Customer(customer_code=CUSTOMER_CODE, name="김민수", company="Example",
                            consent=True, do_not_call=False)
        session.add(customer)
        await session.flush()
        session.add(Phone(customer_id=customer.id, e164=CUSTOMER_PHONE, raw="010-5550-1234",
                          kind="mobile"))
        customer_id = customer.id
    await engine.dispose()
    return customer_id


@pytest.fixture
async def center(asterisk_sandbox: Any, tmp_path: Path) -> AsyncIterator[Center]:
    require_binary("espeak-ng", "espeak-ng", "apt-get install espeak-ng")
    require_binary("sox", "sox", "apt-get install sox")
    await wait_no_channels(asterisk_sandbox)
    url = f"sqlite+aiosqlite:///{tmp_path / 'crm.db'}"
    customer_id = await seed(url)
    settings = Settings(
        database_url=url, crm_default_region="KR",
        ami={"port": asterisk_sandbox.settings.ami_port},
        audiosocket={"port": asterisk_sandbox.settings.audiosocket_port},
        speech={"prompt_cache": PROMPT_CACHE},
        acd={"queues": ["billing", "support", "complaints", "default"], "agents": ["2001"]})
    services = build_services(settings)
    events: list[DomainEvent] = []
    services.bus.add_handler(events.append)
    client = TestClient(TestServer(build_app(services)))
    await client.start_server()
    await sign_in(client, "supervisor")
    assert services.ami is not None
    await services.ami.wait_ready(10)
    center = Center(services, client, asterisk_sandbox, url, events)
    center.customer_id = customer_id  # type: ignore[attr-defined]
    try:
        yield center
    finally:
        asterisk_sandbox.cli("channel request hangup all")
        await client.close()
        await wait_no_channels(asterisk_sandbox)


def queue_entry(center: Center, channel_id: str) -> Any:
    return next((e for e in center.events if e.type == "queue.entered"
                 and e.channel_id == channel_id), None)  # type: ignore[attr-defined]


async def test_spoken_choice_lands_in_the_right_queue_with_its_intent(center: Center) -> None:
    lead = await center.welcome_s() + 1.5
    file = await center.utterance("agent", "상담원", lead)
    channel = await center.call("caller", STRANGER, CC_LANGUAGE="ko", _CC_FILE=file)
    entry = await center.wait_for(lambda: queue_entry(center, channel), 30, "queue entry")
    assert entry.queue == "support"
    recognition = next(e for e in center.events if e.type == "ivr.recognition")
    assert recognition.text == "상담원" and recognition.accepted  # type: ignore[attr-defined]
    print(f"recognised {recognition.text!r} confidence "  # type: ignore[attr-defined]
          f"{recognition.confidence}")  # type: ignore[attr-defined]
    variables = center.services.model.channels[channel].variables
    assert variables["CC_QUEUE"] == "support" and variables["CC_INTENT"] == "agent"
    assert variables["CC_LANGUAGE"] == "ko"
    assert variables["CC_IVR_PATH"].startswith("identify>welcome>hours>main_menu>to_agent")
    exit_event = center.exit_of(channel)
    assert exit_event.outcome == "queue" and exit_event.intent == "agent"
    # the path through the flow is stored on the call's interaction
    call_id = center.call_id(channel)
    engine = make_engine(center.url)
    try:
        deadline = time.monotonic() + 10
        while True:
            async with session_factory(engine)() as session:
                row = (await session.execute(select(Interaction).where(
                    Interaction.call_id == call_id))).scalar_one_or_none()
            if row is not None and row.ivr_path:
                break
            assert time.monotonic() < deadline, "no interaction with the IVR path"
            await asyncio.sleep(0.2)
    finally:
        await engine.dispose()
    assert row.ivr_path == variables["CC_IVR_PATH"] and row.queue == "support"


async def test_the_same_choice_by_key(center: Center) -> None:
    waits = "W" * math.ceil(await center.welcome_s() + 1.0)  # SendDTMF: W = 1 s
    channel = await center.call("dtmf", STRANGER, CC_LANGUAGE="ko", _CC_DTMF=f"{waits}1")
    entry = await center.wait_for(lambda: queue_entry(center, channel), 30, "queue entry")
    assert entry.queue == "billing"
    variables = center.services.model.channels[channel].variables
    assert variables["CC_INTENT"] == "billing" and variables["CC_SKILLS"] == "billing"
    keys = [e for e in center.events if e.type == "ivr.input"]
    assert [(k.via, k.value, k.result) for k in keys] == [  # type: ignore[attr-defined]
        ("dtmf", "1", "matched")]


async def test_customer_code_by_keys_pops_that_customers_card(center: Center) -> None:
    agent = SippAgent(center.sandbox, "2001", port=25_311, ring_ms=3000)
    await agent.start()
    try:
        console = await center.client.ws_connect("/ws/agents/2001")
        assert (await console.receive_json(timeout=5))["type"] == "hello"
        channel = await center.call("dtmf", STRANGER, CC_IVR_FLOW="customer-code",
                                    _CC_DTMF=f"W{CUSTOMER_CODE}#")
        pop = await next_pop(console, 30)
        assert pop["type"] == "screen_pop", pop
        assert pop["card"]["customer_code"] == CUSTOMER_CODE and pop["card"]["name"] == "김민수"
        variables = center.services.model.channels[channel].variables
        assert variables["CC_CUSTOMER_CODE"] == CUSTOMER_CODE
        assert variables["CC_CUSTOMER_ID"] == str(center.customer_id)  # type: ignore[attr-defined]
        await console.close()
    finally:
        await agent.stop()


async def test_survey_answer_is_stored_as_a_rating(center: Center) -> None:
    channel = await center.call("dtmf", CUSTOMER_PHONE, CC_IVR_FLOW="survey", _CC_DTMF="W4")
    await center.wait_for(lambda: center.exit_of(channel), 30, "the survey's end")
    assert center.exit_of(channel).outcome == "completed"
    engine = make_engine(center.url)
    try:
        async with session_factory(engine)() as session:
            ratings = (await session.execute(select(SatisfactionRating))).scalars().all()
    finally:
        await engine.dispose()
    assert [(r.customer_id, r.score) for r in ratings] == [
        (center.customer_id, 4)]  # type: ignore[attr-defined]
    # the flow hung the caller up: the channel is gone
    await center.wait_for(lambda: channel not in {
        c.channel_id for c in center.services.model.live_channels()}, 10, "hang-up")


async def test_caller_hanging_up_mid_recognition_leaves_nothing_behind(
        center: Center) -> None:
    lead = await center.welcome_s() + 1.5
    file = await center.utterance("gone", "상담원 연결해 주세요", lead, cut=0.5)
    channel = await center.call("caller", STRANGER, CC_LANGUAGE="ko", _CC_FILE=file,
                                _CC_TALK_S="0")
    await center.wait_for(lambda: center.exit_of(channel), 30, "the IVR's end")
    assert center.exit_of(channel).outcome == "hung_up"
    # the caller was speaking when it left: the recogniser had started
    assert any(e.type == "ivr.node" and e.node == "main_menu"  # type: ignore[attr-defined]
               for e in center.events)
    await asyncio.sleep(0.5)
    assert center.ivr.calls == {} and center.ivr.server.sessions == {}
    leftovers = [t.get_name() for t in asyncio.all_tasks()
                 if t.get_name().startswith(("speech-stream", "audiosocket-"))]
    assert leftovers == []
    assert queue_entry(center, channel) is None
    engine = make_engine(center.url)
    try:
        deadline = time.monotonic() + 15
        while True:
            async with session_factory(engine)() as session:
                rows = (await session.execute(select(Interaction))).scalars().all()
                ratings = (await session.execute(select(SatisfactionRating))).scalars().all()
            if rows and all(r.ended_at is not None for r in rows):
                break
            assert time.monotonic() < deadline, [(r.call_id, r.ended_at) for r in rows]
            await asyncio.sleep(0.2)
    finally:
        await engine.dispose()
    assert ratings == []
    assert all(r.queue is None for r in rows)
