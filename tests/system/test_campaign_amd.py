"""Issue 13's must-show on the real Asterisk: a campaign's lines go out THROUGH A TRUNK
(``customers-trunk``, a SIP loop back into the sandbox) to scripted "customers" (the
``[customers]`` dialplan) that answer with a short hello (a person) or a long greeting (a
machine), both spoken by espeak-ng, send silence, ring out or are busy. app_amd classifies the
answered ones in ``[outbound-amd]``, its verdict reaches the server as channel variables
(``CC_AMD_STATUS``/``CC_AMD_CAUSE``); people reach a SIPp agent phone, machines never do,
NOTSURE follows the campaign's policy, and a person nobody takes within 2 s hears the
campaign's message (company and a number to call back) — heard and recorded at the customer's
end. Every lead passes the compliance gate first: a do-not-call number, a lead without consent
and a callee outside the calling window are never dialled, and each decision is on record."""

from __future__ import annotations

import asyncio
import datetime as dt
import random
import subprocess
import time
import wave
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from callcenter.acd.agents import AgentBoard, AgentState
from callcenter.acd.routing import make_routing
from callcenter.campaign_runner import CampaignRunner, pbx_path, render_message
from callcenter.config import AcdSettings
from callcenter.contact_center import ContactCenter, build_contact_center
from callcenter.core.clock import RealtimeClock
from callcenter.dialer.campaign import CampaignDefinition
from callcenter.dialer.compliance import AbandonmentLedger
from callcenter.dialer.leads import Lead
from callcenter.dialer.pacing import LineOutcome
from tests.fakes import HangUpEveryLine
from tests.harness import require_binary

from .conftest import Link
from .sipp_agent import SippAgent

pytestmark = pytest.mark.system

SOUNDS = "/var/lib/asterisk/sounds/cc-customers"
MESSAGES = "/var/lib/asterisk/sounds/cc-campaigns"
MONITOR = "/var/spool/asterisk/monitor"
HELLO = "Hello?"
GREETING = ("Hi, you have reached the Miller family. We cannot take your call right now. "
            "Please leave a message after the tone and we will call you back.")
#: numbers whose zone phonenumbers knows, around the globe (the last two digits, here 00, are
#: replaced by the customer's: 01 person, 02 machine, 03 silence, 04 busy, 05 no answer)
PREFIXES = {"America/New_York": "+1212555010", "America/Los_Angeles": "+1702555010",
            "Europe/London": "+44207946010", "Asia/Seoul": "+82105550120",
            "Australia/Sydney": "+6125550120", "Asia/Calcutta": "+91981234560",
            "America/Sao_Paulo": "+55113216540"}


def _local(zone: str) -> dt.datetime:
    return dt.datetime.now(ZoneInfo(zone))


def _zone_where(inside: bool) -> str:
    """A zone where it is now well inside (10:00-19:00) or well outside (22:00-06:00) the
    08:00-21:00 window."""
    for zone in PREFIXES:
        hour = _local(zone).hour
        if (inside and 10 <= hour < 19) or (not inside and (hour >= 22 or hour < 6)):
            return zone
    raise AssertionError("no zone fits (the list spans the globe: cannot happen)")


def _number(zone: str, customer: str) -> str:
    prefix = PREFIXES[zone]
    return prefix[: len(prefix) - 1] + customer if len(customer) == 2 else prefix + customer


async def _speak(text: str, target: Path) -> None:
    raw = target.with_suffix(".raw.wav")
    await asyncio.to_thread(subprocess.run, ["espeak-ng", "-v", "en-us", "-w", str(raw), text],
                            check=True, capture_output=True)
    await asyncio.to_thread(subprocess.run,
                            ["sox", str(raw), "-r", "8000", "-c", "1", "-b", "16", str(target)],
                            check=True, capture_output=True)
    raw.unlink()


@pytest.fixture
async def customers(asterisk_sandbox: Any) -> AsyncIterator[Any]:
    """The customers' recorded voices in the sandbox (espeak-ng, 8 kHz)."""
    require_binary("espeak-ng", "espeak-ng", "apt-get install espeak-ng")
    require_binary("sox", "sox", "apt-get install sox")
    folder = asterisk_sandbox.path(SOUNDS)
    folder.mkdir(parents=True, exist_ok=True)
    await _speak(HELLO, folder / "hello.wav")
    await _speak(GREETING, folder / "greeting.wav")
    yield asterisk_sandbox


def _voiced_seconds(path: Path) -> float:
    """Seconds of 20-ms frames louder than silence in a 16-bit mono WAV."""
    with wave.open(str(path)) as w:
        rate, width = w.getframerate(), w.getsampwidth()
        data = w.readframes(w.getnframes())
    assert width == 2
    frame = rate // 50
    samples = memoryview(data).cast("h")
    loud = 0
    for start in range(0, len(samples) - frame, frame):
        chunk = samples[start:start + frame]
        if sum(abs(x) for x in chunk) / frame > 300:
            loud += 1
    return loud / 50


class Rig:
    def __init__(self, link: Link, center: ContactCenter, runner: CampaignRunner,
                 board: AgentBoard) -> None:
        self.link = link
        self.center = center
        self.runner = runner
        self.board = board

    def lines(self, lead_id: str) -> list[str]:
        return [e.outcome for e in self.link.of_type("campaign.line")  # type: ignore[attr-defined]
                if e.lead_id == lead_id]  # type: ignore[attr-defined]

    def decisions(self, lead_id: str) -> list[tuple[str, str]]:
        return [(e.verdict, e.reason) for e in self.link.of_type("dial.decision")  # type: ignore[attr-defined]
                if e.lead_id == lead_id]  # type: ignore[attr-defined]

    def customer_channels(self, number: str) -> list[Any]:
        digits = number.lstrip("+")
        return [e for e in self.link.of_type("channel.created")
                if getattr(e, "name", "").startswith("Local/") and digits in e.name]  # type: ignore[attr-defined]

    def variable(self, lead_id: str, name: str) -> list[str]:
        channels = {e.channel_id for e in self.link.of_type("campaign.line")  # type: ignore[attr-defined]
                    if e.lead_id == lead_id and e.channel_id}  # type: ignore[attr-defined]
        return [e.value for e in self.link.of_type("channel.variable")  # type: ignore[attr-defined]
                if e.name == name and e.channel_id in channels]  # type: ignore[attr-defined]

    def agent_calls(self) -> set[str]:
        """Calls an agent's phone took part in."""
        return {e.call_id for e in self.link.of_type("channel.created")  # type: ignore[attr-defined]
                if getattr(e, "name", "").startswith("PJSIP/200")}

    def call_of(self, lead_id: str) -> set[str]:
        return {e.call_id for e in self.link.of_type("campaign.line")  # type: ignore[attr-defined]
                if e.lead_id == lead_id and e.call_id}  # type: ignore[attr-defined]


async def _rig(link: Link, sandbox: Any, definition: CampaignDefinition, leads: list[Lead],
               agents: list[str], *, dnc: frozenset[str] = frozenset(),
               pacer: Any = None, ledger: AbandonmentLedger | None = None) -> Rig:
    board = AgentBoard()
    now = RealtimeClock().now()
    for agent_id in agents:
        board.log_in(board.add(agent_id), now)
    clock = RealtimeClock()
    settings = AcdSettings(queues=[], wrap_up_s=0.5)
    center = build_contact_center(link.pbx, link.bus, clock, settings, board=board)
    await center.start()
    message = await render_message(definition, sandbox.path(MESSAGES))
    runner = CampaignRunner(
        definition, leads, pbx=link.pbx, bus=link.bus, board=board, connector=center.connector,
        clock=clock, routing=make_routing(settings.routing, random.Random(1)),
        campaign_dnc=dnc, abandon_file=pbx_path(message, sandbox.path(MESSAGES), MESSAGES),
        pacer=pacer, ledger=ledger)
    return Rig(link, center, runner, board)


def _story(rig: Rig) -> str:
    """What the campaign did so far: each lead's line outcomes and gate decisions, the agents'
    states and the channels Asterisk still has (for a failure message)."""
    leads = sorted({e.lead_id for e in rig.link.of_type("campaign.line")}  # type: ignore[attr-defined]
                   | {e.lead_id for e in rig.link.of_type("dial.decision")})  # type: ignore[attr-defined]
    lines = {lead: rig.lines(lead) for lead in leads}
    agents = {agent.agent_id: agent.state.value for agent in rig.board}
    channels = [e.name for e in rig.link.of_type("channel.created")  # type: ignore[attr-defined]
                if e.channel_id not in {h.channel_id for h in rig.link.of_type("channel.hangup")}]  # type: ignore[attr-defined]
    return f"lines {lines}; agents {agents}; channels still up {channels}"


def _definition(**changes: Any) -> CampaignDefinition:
    document: dict[str, Any] = {
        "name": "amd-test", "mode": "progressive", "caller_id": "+13125550199",
        "company": "Example Energy", "callback_number": "+13125550100",
        "trunk": "customers-trunk", "ring_timeout_s": 15,
        "busy": {"delay_s": 3600, "max_attempts": 3},
        "no_answer": {"delay_s": 3600, "max_attempts": 3},
        "machine": {"delay_s": 3600, "max_attempts": 2}}
    document.update(changes)
    return CampaignDefinition.parse(document)


async def test_people_reach_an_agent_machines_never_and_the_gate_refuses_before_dialling(
        link: Link, customers: Any) -> None:
    inside, outside = _zone_where(True), _zone_where(False)
    person, machine = _number(inside, "01"), _number(inside, "02")
    busy, no_answer = _number(inside, "04"), _number(inside, "05")
    blocked, night = _number(inside, "11"), _number(outside, "01")
    leads = [Lead("person", person, priority=9), Lead("machine", machine, priority=8),
             Lead("busy", busy, priority=7), Lead("no-answer", no_answer, priority=6),
             Lead("dnc", blocked, priority=20), Lead("no-consent", _number(inside, "12"),
                                                    priority=20, consent=False),
             Lead("night", night, priority=20)]
    phones = [SippAgent(customers, "2001", port=25_331, ring_ms=200),
              SippAgent(customers, "2002", port=25_341, ring_ms=200)]
    for phone in phones:
        await phone.start()
    rig = await _rig(link, customers, _definition(), leads, ["2001", "2002"],
                     dnc=frozenset({blocked}))
    try:
        rig.runner.start("test")
        await link.wait_for(lambda: {"person", "machine", "busy", "no-answer"} <= {
            e.lead_id for e in link.of_type("campaign.line")  # type: ignore[attr-defined]
            if e.outcome in ("ended", "dropped", "machine", "busy", "no_answer")}, 90,
            "every dialled lead settled", lambda: _story(rig))
        # the verdicts of app_amd on the answered calls, back as channel variables
        assert rig.variable("person", "CC_AMD_STATUS") == ["HUMAN"]
        assert rig.variable("machine", "CC_AMD_STATUS") == ["MACHINE"]
        assert rig.variable("machine", "CC_AMD_CAUSE")[0].startswith(("MAXWORDS", "LONGGREETING"))
        # the person reached an agent; the machine's call never touched an agent's phone
        assert rig.lines("person")[:3] == ["dialed", "human", "connected"], rig.lines("person")
        assert rig.call_of("person") & rig.agent_calls()
        assert rig.lines("machine") == ["dialed", "machine"]
        assert not rig.call_of("machine") & rig.agent_calls()
        assert rig.lines("busy") == ["dialed", "busy"]
        assert rig.lines("no-answer") == ["dialed", "no_answer"]
        # the no-answer rang at least the 15 s the rule asks
        rang = [e.at for e in link.of_type("campaign.line")  # type: ignore[attr-defined]
                if e.lead_id == "no-answer"]
        assert rang[1] - rang[0] >= 14.9, rang
        # the gate: every refused lead is on record with its reason and never dialled
        assert rig.decisions("dnc") == [("never", "dnc_campaign")]
        assert rig.decisions("no-consent") == [("never", "no_consent")]
        assert rig.decisions("night")[0] == ("later", "outside_window")
        for number in (blocked, night):
            assert not rig.customer_channels(number), number
        assert not rig.lines("dnc") and not rig.lines("night") and not rig.lines("no-consent")
        # every dialled lead was cleared first, with the callee's local time on record
        for lead_id in ("person", "machine", "busy", "no-answer"):
            assert rig.decisions(lead_id) == [("dial", "allowed")]
        decision = next(e for e in link.of_type("dial.decision")
                        if e.lead_id == "person")  # type: ignore[attr-defined]
        assert decision.zones == inside  # type: ignore[attr-defined]
        # the campaign's caller ID reached the customer through the trunk
        shown = [e.value for e in link.of_type("channel.variable")  # type: ignore[attr-defined]
                 if e.name == "CC_CUSTOMER_SAW"]  # type: ignore[attr-defined]
        assert shown and all(v.endswith("3125550199") for v in shown), shown
        # retries per the rules: busy and no answer come back in an hour, the person is done
        book = rig.runner.book.leads
        assert book["person"].result == "contacted"
        assert book["busy"].status == "waiting" and book["busy"].attempts == 1
        assert book["machine"].status == "waiting"
        assert book["dnc"].result == "dnc_campaign"
        figures = rig.runner.ledger.figures(RealtimeClock().now())
        assert (figures.answered_today, figures.abandoned_today) == (1, 0)
    finally:
        await rig.runner.close()
        await rig.center.close()
        for phone in phones:
            await phone.stop()


async def test_silence_is_notsure_and_goes_to_an_agent_when_the_campaign_says_so(
        link: Link, customers: Any) -> None:
    zone = _zone_where(True)
    # dead air is NOTSURE, not MACHINE: the initial silence allowed outlasts the analysis
    definition = _definition(amd={"notsure": "agent", "initial_silence_ms": 6000,
                                  "total_analysis_ms": 4000})
    phone = SippAgent(customers, "2001", port=25_351, ring_ms=200)
    await phone.start()
    rig = await _rig(link, customers, definition, [Lead("quiet", _number(zone, "03"))],
                     ["2001"])
    try:
        rig.runner.start()
        await link.wait_for(lambda: "connected" in rig.lines("quiet"), 20, "connected")
        assert rig.variable("quiet", "CC_AMD_STATUS") == ["NOTSURE"]
        assert rig.variable("quiet", "CC_AMD_CAUSE")[0].startswith("TOOLONG")
        assert rig.lines("quiet")[:4] == ["dialed", "notsure", "human", "connected"]
        assert rig.call_of("quiet") & rig.agent_calls()
        figures = rig.runner.ledger.figures(RealtimeClock().now())
        assert figures.answered_today == 1 and figures.abandoned_today == 0
        assert rig.runner.ledger.counts()[dt.datetime.now(dt.UTC).date()]["notsure"] == 1
    finally:
        await rig.runner.close()
        await rig.center.close()
        await phone.stop()


async def test_notsure_to_a_message_and_a_person_nobody_takes_in_2_s_hear_who_called(
        link: Link, customers: Any) -> None:
    """NOTSURE with the message policy, and a person whose only agent answers too late (its
    phone rings 5 s): both hear the campaign's message naming the company and the callback
    number, and both count as abandoned."""
    zone = _zone_where(True)
    definition = _definition(amd={"notsure": "message", "initial_silence_ms": 6000,
                                  "total_analysis_ms": 4000})
    quiet, person = _number(zone, "03"), _number(zone, "01")
    slow = SippAgent(customers, "2001", port=25_361, ring_ms=5000)
    await slow.start()
    for name in (quiet, person):
        customers.path(f"{MONITOR}/customer-{name.lstrip('+')}-heard.wav").unlink(missing_ok=True)
    rig = await _rig(link, customers, definition,
                     [Lead("quiet", quiet, priority=2), Lead("person", person, priority=1)],
                     ["2001"])
    try:
        rig.runner.start()
        await link.wait_for(lambda: "notsure_message" in rig.lines("quiet"), 20, "message")
        await link.wait_for(lambda: "dropped" in rig.lines("person"), 40, "dropped")
        assert rig.variable("quiet", "CC_AMD_STATUS") == ["NOTSURE"]
        assert rig.variable("quiet", "CC_ABANDONED") == ["1"]
        assert rig.variable("person", "CC_ABANDONED") == ["1"]
        assert not rig.call_of("quiet") & rig.agent_calls()  # no agent for the unsure one
        figures = rig.runner.ledger.figures(RealtimeClock().now())
        assert (figures.answered_today, figures.abandoned_today) == (2, 2)
        assert rig.runner.book.leads["quiet"].result == "abandoned"
        status = [e for e in link.of_type("campaign.status")
                  if e.campaign == "amd-test"]  # type: ignore[attr-defined]
        assert status[-1].rate_today_pct == 100.0  # type: ignore[attr-defined]
        # what each customer heard: the message (several seconds of speech)
        await link.wait_for(lambda: not link.model.channels, 30, "calls over")
        for number in (quiet, person):
            heard = customers.path(f"{MONITOR}/customer-{number.lstrip('+')}-heard.wav")
            voiced = await asyncio.to_thread(_voiced_seconds, heard)
            assert voiced >= 2.5, (number, voiced)
        assert rig.board["2001"].state is not AgentState.ON_CALL
    finally:
        await rig.runner.close()
        await rig.center.close()
        await slow.stop()


async def test_a_campaign_started_over_rest_on_the_server_reaches_the_crm(
        customers: Any, tmp_path: Path) -> None:
    """The whole server on Asterisk (``build_services`` + ``build_app`` as ``callcenter serve``):
    an admin defines a campaign and its list over REST, a supervisor starts it; the person's
    call reaches agent 2001 (a SIPp phone), the machine's does not; both interactions carry
    the campaign and their outcome, and the report counts one contact and its talk time."""
    from aiohttp.test_utils import TestClient, TestServer
    from sqlalchemy import select

    from callcenter.app import build_app, build_services
    from callcenter.config import Settings
    from crm_bridge.db import make_engine, session_factory
    from crm_bridge.models import Interaction
    from tests.accounts import sign_in

    from .conftest import wait_no_channels

    await wait_no_channels(customers)
    zone = _zone_where(True)
    person, machine = _number(zone, "01"), _number(zone, "02")
    url = f"sqlite+aiosqlite:///{tmp_path / 'crm.db'}"
    settings = Settings(
        database_url=url, ami={"port": customers.settings.ami_port},
        audiosocket={"enabled": False}, acd={"queues": [], "agents": ["2001"], "wrap_up_s": 0.5},
        campaigns={"message_dir": str(customers.path(MESSAGES)), "message_dir_pbx": MESSAGES})
    phone = SippAgent(customers, "2001", port=25_371, ring_ms=200)
    await phone.start()
    services = build_services(settings)
    client: TestClient[Any, Any] = TestClient(TestServer(build_app(services)))
    await client.start_server()
    try:
        assert services.ami is not None
        await services.ami.wait_ready(10)
        await sign_in(client, "admin")
        document = _definition(name="served").document()
        assert (await client.post("/api/campaigns", json=document)).status == 201
        imported = await (await client.post("/api/campaigns/served/leads", json={"rows": [
            {"number": person, "lead_id": "person", "priority": "2"},
            {"number": machine, "lead_id": "machine", "priority": "1"}]})).json()
        assert imported["imported"] == 2
        await sign_in(client, "supervisor")
        started = await client.post("/api/campaigns/served/control", json={"action": "start"})
        assert started.status == 200, await started.text()
        deadline = time.monotonic() + 40
        while True:
            leads = {lead["lead_id"]: lead for lead in (await (await client.get(
                "/api/campaigns/served/leads")).json())["leads"]}
            if leads["person"]["result"] == "contacted" and \
                    leads["machine"]["last_outcome"] == "machine":
                break
            assert time.monotonic() < deadline, leads
            await asyncio.sleep(0.3)
        # the person hangs up after 8 s of talk: then the interaction has its talk time
        engine = make_engine(url)
        try:
            while True:
                async with session_factory(engine)() as session:
                    rows = {r.outcome: r for r in (await session.execute(
                        select(Interaction).where(Interaction.campaign == "served")))
                        .scalars()}
                talked = rows.get("connected")
                if talked is not None and talked.talk_ended_at is not None and \
                        "machine" in rows:
                    break
                assert time.monotonic() < deadline + 20, rows
                await asyncio.sleep(0.3)
        finally:
            await engine.dispose()
        assert talked.agent == "2001" and talked.direction == "outbound"
        assert rows["machine"].agent is None and rows["machine"].talk_started_at is None
        report = await (await client.get("/api/campaigns/served/report")).json()
        assert (report["dials"], report["contacts"]) == (2, 1)
        assert report["talk_s"] >= 5 and report["outcomes"] == {"connected": 1, "machine": 1}
    finally:
        await client.close()
        await phone.stop()
        await wait_no_channels(customers)


async def test_a_ringing_line_the_pacer_gives_up_is_hung_up_after_15_s_and_retried(
        link: Link, customers: Any) -> None:
    """The predictive pacer may hang up a line still ringing once it rang the law's 15 s:
    Asterisk drops the dial to the customer (the far end stops ringing), the line is
    ``cancelled`` — no person, nothing for the abandonment figures — and the lead comes back
    like a no-answer."""
    zone = _zone_where(True)
    ringer = _number(zone, "05")  # rings and never answers
    ledger = AbandonmentLedger()
    now = RealtimeClock().now()
    for _ in range(100):  # enough people answered today for predictive dialling
        ledger.record(LineOutcome.HUMAN, now)
    pacer = HangUpEveryLine()
    definition = _definition(mode="predictive", ring_timeout_s=40, hang_up_after_s=15)
    rig = await _rig(link, customers, definition, [Lead("ringer", ringer)], ["2001"],
                     pacer=pacer, ledger=ledger)
    try:
        rig.runner.start()
        await link.wait_for(lambda: "cancelled" in rig.lines("ringer"), 30, "hung up",
                            lambda: _story(rig))
        assert rig.lines("ringer") == ["dialed", "cancelled"]
        told = [e.at for e in link.of_type("campaign.line")  # type: ignore[attr-defined]
                if e.lead_id == "ringer"]
        assert 15.0 <= told[1] - told[0] < 20.0, told  # not before 15 s, well before 40
        # Asterisk let go of the customer's phone too: no channel left of the dial
        await link.wait_for(lambda: not link.model.channels, 10, "the dial's channels gone",
                            lambda: _story(rig))
        assert await link.asterisk_channels() == {}
        lead = rig.runner.book.leads["ringer"]
        assert lead.status == "waiting" and lead.attempts == 1
        assert lead.last_outcome == "cancelled"
        figures = rig.runner.ledger.figures(RealtimeClock().now())
        assert (figures.answered_today, figures.abandoned_today) == (100, 0)
        assert rig.runner.port.cancelled == 1
    finally:
        await rig.runner.close()
        await rig.center.close()
