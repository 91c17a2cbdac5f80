"""Issue 12's must-show for the agent console, in real Chromium against the real Asterisk:

``callcenter serve`` (a subprocess) runs the IVR and the ACD on the sandbox. An agent signs in
on ``/console/``; its JsSIP softphone (bundled from npm) registers over SIP-over-WebSocket to
PJSIP endpoint 1001 with the credentials the server handed to that agent alone. A caller from
a CRM customer's number comes in through ``[inbound]`` and the IVR (key 1: billing) into the
queue; the console shows that customer's screen pop (profile, tier, orders, past interactions,
open complaint) while the phone rings; the agent answers in the page and audio flows both ways
(the browser's RTP counters, and Asterisk bridges the agent's WebRTC leg with the caller);
after hang-up the agent sets a disposition and notes, and the CRM interaction of that call
holds them. Screenshots in English and Chinese go to docs/screenshots/.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from callcenter.acd.connect import hang_up_if_alive
from callcenter.core.pbx import OriginateRequest
from crm_bridge.db import make_engine, session_factory, upgrade_database
from crm_bridge.models import Complaint, Customer, Interaction, Order, Phone
from tests.harness.chromium import FAKE_MEDIA, DevTools, chromium_page, sign_in_page, wait_for
from tests.harness.require import require_binary

from .conftest import Link
from .serve_process import PASSWORD, add_account, free_port, start_serve, wait_healthy
from .sipp_agent import SippAgent

pytestmark = pytest.mark.system

ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "docs" / "screenshots"
SOFTPHONE = ROOT / "agent_ui" / "console" / "softphone.js"
CALLER = "+8613800138000"
AGENT = "1001"  # docker/asterisk/pjsip.conf: a WebRTC endpoint on transport-ws


async def seed_crm(url: str) -> int:
    await upgrade_database(url)
    engine = make_engine(url)
    now = dt.datetime.now(dt.UTC)
    async with session_factory(engine)() as session, session.begin():
        customer = Customer(customer_code="C-000042", name="王伟", company="Acme 贸易",
                            consent=True, do_not_call=False, email="wang.wei@example.com")
        session.add(customer)
        await session.flush()
        session.add_all([
            Phone(customer_id=customer.id, e164=CALLER, raw="138 0013 8000", kind="mobile"),
            Order(customer_id=customer.id, product="Router AX3000", amount=2899,
                  currency="CNY", ordered_at=now - dt.timedelta(days=20)),
            Order(customer_id=customer.id, product="Mesh extender", amount=899,
                  currency="CNY", ordered_at=now - dt.timedelta(days=90)),
            Interaction(customer_id=customer.id, call_id="earlier-call-1",
                        direction="inbound", caller_number=CALLER, queue="support",
                        agent="1002", disposition="follow_up",
                        notes="Wi-Fi drops every evening; asked to reboot.",
                        started_at=now - dt.timedelta(days=7),
                        ended_at=now - dt.timedelta(days=7) + dt.timedelta(minutes=4)),
            Complaint(customer_id=customer.id, status="open", category="delivery",
                      summary="Extender arrived damaged", opened_at=now - dt.timedelta(days=6)),
        ])
        customer_id = customer.id
    await engine.dispose()
    return customer_id


async def interaction_of(url: str, call_id: str) -> Interaction | None:
    engine = make_engine(url)
    try:
        async with session_factory(engine)() as session:
            found: Interaction | None = (await session.execute(select(Interaction).where(
                Interaction.call_id == call_id))).scalar_one_or_none()
            return found
    finally:
        await engine.dispose()


def run_cli(env: dict[str, str], *args: str, stdin: str = "") -> None:
    done = subprocess.run([sys.executable, "-m", "callcenter", *args], env=env, input=stdin,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr


async def text_of(page: DevTools, element_id: str) -> str:
    return str(await page.evaluate(f"document.getElementById({json.dumps(element_id)})"
                                   ".textContent"))


async def no_overlap(page: DevTools) -> None:
    """The three panels and the header do not overlap, and no text spills out of a button."""
    found = await page.evaluate("""(() => {
      const boxes = [...document.querySelectorAll('.top, main > .panel')]
        .map(e => e.getBoundingClientRect());
      const hit = (a, b) => a.left < b.right - 1 && b.left < a.right - 1 &&
                            a.top < b.bottom - 1 && b.top < a.bottom - 1;
      const overlaps = [];
      for (let i = 0; i < boxes.length; i++)
        for (let j = i + 1; j < boxes.length; j++)
          if (hit(boxes[i], boxes[j])) overlaps.push([i, j]);
      const spilled = [...document.querySelectorAll('button')]
        .filter(b => b.offsetParent && b.scrollWidth > b.clientWidth + 1)
        .map(b => b.id || b.textContent);
      return JSON.stringify({overlaps, spilled});
    })()""")
    assert json.loads(found) == {"overlaps": [], "spilled": []}, found


@contextlib.asynccontextmanager
async def served(sandbox: Any, tmp_path: Path) -> AsyncIterator[dict[str, Any]]:
    """``callcenter serve`` on the sandbox with the IVR, queues, agent 1001 (logged out) with
    its SIP account and login, a seeded CRM; yields base URL, database URL, customer id."""
    assert SOFTPHONE.is_file(), "run scripts/build-ui.sh (npm ci + esbuild) first"
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    db = tmp_path / "cc.db"
    url = f"sqlite+aiosqlite:///{db}"
    customer_id = await seed_crm(url)
    env = {k: v for k, v in os.environ.items() if not k.startswith("CALLCENTER_")}
    env.update({
        "CALLCENTER_AMI__PORT": str(sandbox.settings.ami_port),
        "CALLCENTER_AMI__PING_INTERVAL_S": "1",
        "CALLCENTER_AUDIOSOCKET__ENABLED": "true",  # this test's callers go through the IVR
        "CALLCENTER_AUDIOSOCKET__PORT": str(sandbox.settings.audiosocket_port),
        "CALLCENTER_DATABASE_URL": f"sqlite:///{db}",
        "CALLCENTER_CRM_DEFAULT_REGION": "CN",
        "CALLCENTER_HTTP__PORT": str(port),
        "CALLCENTER_ACD__QUEUES": json.dumps(["billing", "support", "complaints", "default"]),
        "CALLCENTER_ACD__AGENTS": json.dumps([{"agent_id": AGENT, "logged_in": False}]),
        "CALLCENTER_ACD__WRAP_UP_S": "120",
        "CALLCENTER_SIP__WS_URL": f"ws://127.0.0.1:{sandbox.settings.http_port}/ws",
        "CALLCENTER_LOG_JSON": "true",
    })
    await asyncio.to_thread(add_account, env, "wang.agent", "agent", AGENT)
    await asyncio.to_thread(run_cli, env, "analytics", "refresh")  # value tiers for the card
    # the sandbox's endpoint 1001 (pjsip.conf: password secret1001) is this agent's phone
    await asyncio.to_thread(run_cli, env, "sip", "set", AGENT, "--password-stdin",
                            stdin="secret1001\n")
    log = tmp_path / "serve.log"
    process = start_serve(env, log)
    try:
        await wait_healthy(base, process, log)
        yield {"base": base, "url": url, "customer_id": customer_id}
    finally:
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
    text = await asyncio.to_thread(log.read_text)
    assert "Traceback" not in text, text[-3000:]


async def ready_console(page: DevTools, sandbox: Any) -> None:
    """Sign in as the agent, wait for the phone to register over ws, press Ready."""
    await sign_in_page(page, "wang.agent", PASSWORD)
    await wait_for(page, "document.getElementById('main').hidden === false")
    await wait_for(page, "document.getElementById('sip-light').dataset.on === 'true'", 20)
    contacts = sandbox.cli(f"pjsip show contacts like {AGENT}")
    assert re.search(rf"{AGENT}/sip:\S+transport=ws", contacts, re.IGNORECASE), contacts
    await wait_for(page, "document.getElementById('ws-light').dataset.on === 'true'")
    await page.evaluate("document.getElementById('ready').click()")
    await wait_for(page, "document.getElementById('agent-state').dataset.state === 'ready'")
    # a pause with a configured reason (Alt+P), then ready again
    reason = await page.evaluate("document.getElementById('pause-reason').options[0].value")
    assert reason, "no pause reasons offered"
    await page.evaluate(alt("p"))
    await wait_for(page, "document.getElementById('agent-state').dataset.state === 'paused'")
    assert reason in await text_of(page, "state-detail")
    await page.evaluate(alt("r"))
    await wait_for(page, "document.getElementById('agent-state').dataset.state === 'ready'")


async def ivr_caller(link: Link) -> str:
    """A caller from the customer's number through [inbound] and the IVR (key 1: billing)."""
    handle = await link.pbx.originate(OriginateRequest(
        endpoint="Local/dtmf@cc-test", context="inbound", exten="4008001234",
        caller_id=f'"Caller" <{CALLER}>', timeout_s=10,
        variables={"CC_LANGUAGE": "en", "_CC_DTMF": "WW" + "1W" * 25}))
    assert (await asyncio.wait_for(handle.outcome, 15)).answered
    return handle.channel_id


async def answered(page: DevTools) -> None:
    await wait_for(page, "document.getElementById('call-state').dataset.call === 'ringing'", 60)
    await page.evaluate("document.getElementById('answer').click()")
    await wait_for(page, "document.getElementById('call-state').dataset.call === 'talking'", 20)
    await wait_for(page, "window.consoleApp.media && "
                         "window.consoleApp.media.packetsReceived > 50 && "
                         "window.consoleApp.media.packetsSent > 50", 20)


@contextlib.asynccontextmanager
async def on_a_call_with_2002(link: Link, sandbox: Any, tmp_path: Path,
                              phone_port: int) -> AsyncIterator[tuple[DevTools, str]]:
    """SIP phone 2002 (SIPp) up, the served console registered as 1001, an IVR caller
    answered on it: the page and the caller's channel; afterwards the caller is hung up if
    still there and the phone stopped."""
    chromium = require_binary("chromium", "chromium", "apt-get install chromium")
    phone = SippAgent(sandbox, "2002", port=phone_port, ring_ms=300)
    await phone.start()
    caller: str | None = None
    async with served(sandbox, tmp_path) as server:
        try:
            async with chromium_page(chromium, f"{server['base']}/console/?lang=en",
                                     tmp_path / "profile", "en-US", FAKE_MEDIA) as page:
                await ready_console(page, sandbox)
                caller = await ivr_caller(link)
                await answered(page)
                yield page, caller
        finally:
            if caller is not None:
                await hang_up_if_alive(link.pbx, caller)
            await phone.stop()


async def until_caller_bridged_with_2002(link: Link, caller: str, story: Any) -> None:
    """Poll Asterisk until the caller's channel shares a bridge with a PJSIP/2002 leg; on
    timeout (20 s) fail with ``await story()``."""
    deadline = time.monotonic() + 20
    while True:
        channels = await link.asterisk_channels()
        bridges = {c.get("BridgeId") for c in channels.values()
                   if str(c["Channel"]).startswith("PJSIP/2002-") and c.get("BridgeId")}
        if any(c["Uniqueid"] == caller and c.get("BridgeId") in bridges
               for c in channels.values()):
            return
        assert time.monotonic() < deadline, await story()
        await asyncio.sleep(0.3)


def alt(key: str) -> str:
    return (f"document.dispatchEvent(new KeyboardEvent('keydown', "
            f"{{key: '{key}', code: 'Key{key.upper()}', altKey: true}}))")


async def test_console_registers_takes_an_ivr_queue_call_and_wraps_up_into_the_crm(
        link: Link, asterisk_sandbox: Any, tmp_path: Path) -> None:
    chromium = require_binary("chromium", "chromium", "apt-get install chromium")
    caller: str | None = None
    async with served(asterisk_sandbox, tmp_path) as server:
        try:
            async with chromium_page(chromium, f"{server['base']}/console/?lang=en",
                                     tmp_path / "profile", "en-US", FAKE_MEDIA) as page:
                await ready_console(page, asterisk_sandbox)
                caller = await ivr_caller(link)
                # the phone rings in the page and the pop shows this customer
                await wait_for(page, "document.getElementById('call-state').dataset.call "
                                     "=== 'ringing'", 60)
                await wait_for(page, "document.getElementById('c-name').textContent "
                                     "=== '王伟'")
                pop = json.loads(await page.evaluate("JSON.stringify(window.consoleApp.pop)"))
                assert pop["card"]["customer_id"] == server["customer_id"]
                assert pop["caller_number"] == CALLER
                assert "Router AX3000" in await text_of(page, "c-orders")
                assert "Wi-Fi drops every evening" in await text_of(page, "c-history")
                assert "Extender arrived damaged" in await text_of(page, "c-complaints")
                # the tier `callcenter analytics refresh` stored (the only customer: the top 1 %)
                assert (await text_of(page, "c-tier")) == "VIP"

                # answer in the page: audio both ways, bridged in Asterisk
                await answered(page)
                channels = await link.asterisk_channels()
                agent_leg = next(c for c in channels.values()
                                 if str(c["Channel"]).startswith(f"PJSIP/{AGENT}-"))
                assert agent_leg["ChannelState"] == "6" and agent_leg.get("BridgeId")
                bridged = [c["Channel"] for c in channels.values()
                           if c.get("BridgeId") == agent_leg["BridgeId"]]
                assert len(bridged) == 2, bridged
                stats = asterisk_sandbox.cli("pjsip show channelstats")
                print("console media:",
                      await page.evaluate("JSON.stringify(window.consoleApp.media)"))
                print(stats)
                await page.evaluate(
                    "document.getElementById('notes').value = "
                    "'Router reset over the phone; works again.';"
                    "document.getElementById('notes').dispatchEvent(new Event('input'));"
                    "document.getElementById('disposition').value = 'resolved';"
                    "document.getElementById('disposition').dispatchEvent(new Event('change'));")
                await asyncio.sleep(1.5)  # the talk timer and media counters tick
                await no_overlap(page)
                await page.screenshot(SHOTS / "console-en.png")

                # hang up (Alt+H), wrap-up, save (the form's button): ready again
                await page.evaluate(alt("h"))
                await wait_for(page, "document.getElementById('call-state').dataset.call "
                                     "=== 'idle'", 15)
                await wait_for(page, "document.getElementById('agent-state').dataset.state "
                                     "=== 'wrap_up'", 15)
                await page.evaluate("document.getElementById('lang').click()")  # to Chinese
                await wait_for(page, "document.documentElement.lang === 'zh-CN'")
                await asyncio.sleep(0.5)
                await no_overlap(page)
                await page.screenshot(SHOTS / "console-zh-CN.png")
                await page.evaluate("document.getElementById('wrap-save').click()")
                await wait_for(page, "document.getElementById('agent-state').dataset.state "
                                     "=== 'ready'", 15)
                assert "已保存" in await text_of(page, "wrap-status")

            row = await interaction_of(server["url"], pop["call_id"])
            assert row is not None, pop["call_id"]
            assert row.customer_id == server["customer_id"] and row.agent == AGENT
            assert row.disposition == "resolved"
            assert row.notes == "Router reset over the phone; works again."
            assert row.answered_at is not None and row.queue == "billing"
            # it came through the IVR's menu (key 1 = billing), as the server recorded
            assert "main_menu" in (row.ivr_path or ""), row.ivr_path
        finally:
            if caller is not None:
                await hang_up_if_alive(link.pbx, caller)


async def test_console_hold_mute_tones_and_blind_transfer_on_asterisk(
        link: Link, asterisk_sandbox: Any, tmp_path: Path) -> None:
    """On a live call: hold and resume (each confirmed by Asterisk's answer to the re-INVITE),
    mute, DTMF from
    the dial pad and the keyboard reaching Asterisk (our call model's ``channel.dtmf`` on the
    agent's leg), then Alt+T: a blind transfer (REFER) to SIP phone 2002, which Asterisk
    bridges with the caller; the console is free again and the agent in wrap-up."""
    async with on_a_call_with_2002(link, asterisk_sandbox, tmp_path, 25_452) as (page, caller):
        await page.evaluate(alt("o"))  # hold
        answered_hold = ("window.consoleApp.phone.status().reinviting === false && "
                         "window.consoleApp.phone.status().held === ")
        await wait_for(page, answered_hold + "true", 10)
        assert "on hold" in await text_of(page, "call-state")
        await page.evaluate("document.getElementById('hold').click()")  # resume
        await wait_for(page, answered_hold + "false", 10)
        await page.evaluate(alt("m"))
        await wait_for(page, "window.consoleApp.phone.status().muted === true", 5)
        await page.evaluate("document.getElementById('mute').click()")
        await wait_for(page, "window.consoleApp.phone.status().muted === false", 5)
        # tones: a dial-pad key and a typed key (no field has the focus)
        await page.evaluate("document.activeElement.blur();"
                            "[...document.querySelectorAll('#dialpad button')]"
                            ".find(b => b.textContent === '5').click()")
        await asyncio.sleep(0.6)
        await page.evaluate("document.dispatchEvent(new KeyboardEvent('keydown', "
                            "{key: '#'}))")

        def tones() -> list[str]:
            legs = {e.channel_id for e in link.of_type("channel.created")  # type: ignore[attr-defined]
                    if e.name.startswith(f"PJSIP/{AGENT}-")}  # type: ignore[attr-defined]
            return [e.digit for e in link.of_type("channel.dtmf")  # type: ignore[attr-defined]
                    if e.channel_id in legs  # type: ignore[attr-defined]
                    and e.direction.lower() == "received"]  # type: ignore[attr-defined]

        await link.wait_for(lambda: tones()[-2:] == ["5", "#"], 10,
                            "DTMF 5 and # on the agent's leg")
        # blind transfer to 2002 (Alt+T with the number typed)
        await page.evaluate("document.getElementById('transfer-to').value = '2002'")
        await page.evaluate(alt("t"))
        try:
            await wait_for(page, "document.getElementById('call-state').dataset.call "
                                 "=== 'idle'", 20)
        except AssertionError:
            raise AssertionError(await page.evaluate(
                "JSON.stringify(window.consoleApp.phone.status())")) from None

        await until_caller_bridged_with_2002(link, caller, link.asterisk_channels)
        await wait_for(page, "document.getElementById('agent-state').dataset.state "
                             "=== 'wrap_up'", 15)


async def test_console_attended_transfer_on_asterisk(
        link: Link, asterisk_sandbox: Any, tmp_path: Path) -> None:
    """Consult then complete: the customer is held, the console calls SIP phone 2002, and
    Complete (REFER with Replaces) leaves the customer bridged with 2002; both of the
    console's calls end and the agent goes to wrap-up."""
    async with on_a_call_with_2002(link, asterisk_sandbox, tmp_path, 25_462) as (page, caller):
        await page.evaluate("document.getElementById('transfer-to').value = '2002';"
                            "document.getElementById('consult').click()")
        await wait_for(page, "window.consoleApp.phone.consult && "
                             "window.consoleApp.phone.consult.isEstablished() && "
                             "window.consoleApp.phone.status().held === true", 20)
        await wait_for(page, "document.getElementById('complete').disabled === false")
        await page.evaluate("document.getElementById('complete').click()")

        async def story() -> Any:
            return (await page.evaluate("JSON.stringify(window.consoleApp.phone.status())"),
                    await link.asterisk_channels())

        await until_caller_bridged_with_2002(link, caller, story)
        await wait_for(page, "document.getElementById('call-state').dataset.call "
                             "=== 'idle' && !window.consoleApp.phone.status().consulting",
                       20)
        await wait_for(page, "document.getElementById('agent-state').dataset.state "
                             "=== 'wrap_up'", 15)
        assert not [c for c in (await link.asterisk_channels()).values()
                    if str(c["Channel"]).startswith(f"PJSIP/{AGENT}-")]
