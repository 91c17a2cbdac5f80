"""Preview dialling from the agent console, in real Chromium against the real server
(``build_services`` / ``build_app``) on the simulated PBX, as the campaign tests run it:

a supervisor starts a campaign in preview mode; agent 1001's console shows it and its next
lead (name, number, the CRM customer's card; a hostile name stays text). Skip (Alt+K) passes
over a lead for this agent only (the lead stays new on the server); Dial on a lead the
compliance gate refuses (this campaign's do-not-call list) says why and shows the next lead;
Dial (Alt+D) on it places the call through the PBX interface and the person who answers is
connected to agent 1001 — the agent who dialled, though 1002 is free too."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from callcenter import events as ev
from callcenter.acd.agents import AgentState
from callcenter.sim.behaviour import Behaviour, Delay
from callcenter.web.routes.campaigns import CAMPAIGNS
from crm_bridge.db import make_engine, session_factory
from crm_bridge.models import Customer, Phone
from crm_bridge.sip_credentials import SipCredential, SipCredentials
from tests.accounts import PASSWORD, add_user, sign_in
from tests.campaign_server import NUMBERS, campaign_server, preview_campaign
from tests.harness.chromium import DevTools, chromium_page, sign_in_page, wait_for
from tests.harness.require import require_binary

pytestmark = pytest.mark.browser

HOSTILE = '<img src=x onerror="window.__xss=1">Skip Me'
SHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
async def text(page: DevTools, element: str) -> str:
    value: str = await page.evaluate(
        f"document.getElementById({json.dumps(element)}).textContent")
    return value


async def test_an_agent_previews_skips_and_dials_leads(tmp_path: Path) -> None:
    chromium = require_binary("chromium", "chromium", "apt-get install chromium")
    require_binary("espeak-ng", "espeak-ng", "apt-get install espeak-ng")
    require_binary("sox", "sox", "apt-get install sox")
    # every call is answered by a person after 2-3 s (AMD says so), talks 20-30 s
    people = Behaviour(human=1.0, machine=0.0, busy=0.0, amd_false_machine=0.0,
                       amd_false_human=0.0, answer_after=Delay.uniform(2, 3),
                       talk=Delay.uniform(20, 30))
    client, services = await campaign_server(
        tmp_path, people, speed=1.0, wrap_up_s=60.0,
        sip={"ws_url": "ws://127.0.0.1:9/ws"})  # no PBX for the browser: never registers
    lines: list[ev.CampaignLine] = []
    services.bus.add_handler(
        lambda e: lines.append(e) if isinstance(e, ev.CampaignLine) else None)
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'cc.db'}")
    try:
        db = session_factory(engine)
        async with db() as session, session.begin():
            customer = Customer(customer_code="C-77", name="Wang Fang", company="Example Energy",
                                consent=True, do_not_call=False)
            session.add(customer)
            await session.flush()
            session.add(Phone(customer_id=customer.id, e164=NUMBERS[2], raw=NUMBERS[2],
                              kind="mobile"))
        await SipCredentials(db).put(SipCredential("1001", "1001", "sip-pass-1001-preview"))
        await add_user(client, "agent", "1001", username="preview.agent")
        await sign_in(client, "admin")
        await preview_campaign(client, "renewals", [
            {"number": NUMBERS[0], "lead_id": "L1", "name": HOSTILE, "priority": "9"},
            {"number": NUMBERS[1], "lead_id": "L2", "name": "Refused Rita", "priority": "5"},
            {"number": NUMBERS[2], "lead_id": "L3", "priority": "1"}])
        # on the campaign's do-not-call list after the import: the gate refuses it at dial
        await client.post("/api/campaigns/renewals/dnc", json={"numbers": [NUMBERS[1]]})
        assert (await client.post("/api/campaigns/renewals/control",
                                  json={"action": "start"})).status == 200
        runner = client.app[CAMPAIGNS].runners["renewals"]
        base = str(client.make_url("")).rstrip("/")
        async with chromium_page(chromium, f"{base}/console/?lang=en", tmp_path / "profile",
                                 "en-US") as page:
            await sign_in_page(page, "preview.agent", PASSWORD)
            await wait_for(page, "document.getElementById('ws-light').dataset.on === 'true'")
            await wait_for(page, "document.getElementById('preview').hidden === false", 20)
            await wait_for(page, f"document.getElementById('lead-name').textContent "
                                 f"=== {json.dumps(HOSTILE)}")  # as text: inert
            assert await text(page, "lead-number") == NUMBERS[0]
            assert await page.evaluate("window.__xss === undefined && "
                                       "!document.querySelector('main img')")
            # Skip: the next lead for this agent; on the server L1 is still new
            await page.evaluate("document.dispatchEvent(new KeyboardEvent('keydown', "
                                "{key: 'k', code: 'KeyK', altKey: true}))")
            await wait_for(page, "document.getElementById('lead-name').textContent "
                                 "=== 'Refused Rita'")
            assert f"Skipped: {HOSTILE}" in await text(page, "lead-status")
            assert runner.book.leads["L1"].status == "new"
            # the agents log in ready at the server's start: Dial is on
            await wait_for(page, "document.getElementById('lead-dial').disabled === false")
            # Dial on a lead the gate refuses: why, and the next lead
            await page.evaluate("document.getElementById('lead-dial').click()")
            await wait_for(page, "document.getElementById('lead-status').textContent"
                                 ".includes('do-not-call')")
            assert "Not dialled (Refused Rita): on this campaign's do-not-call list" in \
                await text(page, "lead-status")
            assert runner.book.leads["L2"].result == "dnc_campaign"
            # the next lead: no name on the list, the CRM customer's card shows it
            await wait_for(page, f"document.getElementById('lead-number').textContent === "
                                 f"{json.dumps(NUMBERS[2])}")
            await wait_for(page, "document.getElementById('c-name').textContent "
                                 "=== 'Wang Fang'")
            assert await text(page, "lead-name") == "Wang Fang"  # the import took the CRM's
            await page.screenshot(SHOTS / "console-preview-en.png")
            assert runner.port.loop.placed == 0  # preview: nothing dialled by the pacer
            await page.evaluate("document.dispatchEvent(new KeyboardEvent('keydown', "
                                "{key: 'd', code: 'KeyD', altKey: true}))")
            await wait_for(page, "document.getElementById('lead-status').textContent"
                                 ".startsWith('Dialling')")
            assert runner.port.loop.placed == 1
            # 1001 is held for the line from the dial on (the console shows it reserved)
            await wait_for(page, "['reserved', 'on_call'].includes("
                                 "document.getElementById('agent-state').dataset.state)", 20)
            # the person answers (2-3 s) and is connected to 1001, who dialled
            for _ in range(200):
                connected = [e for e in lines if e.lead_id == "L3" and e.agent_id]
                if connected:
                    break
                await asyncio.sleep(0.1)
            assert connected and {e.agent_id for e in connected} == {"1001"}
            assert services.center.board["1002"].state is AgentState.READY  # free, not taken
            await asyncio.sleep(0.2)
            # while the call runs the dialled lead stays on screen, Dial and Skip are off
            assert await page.evaluate("document.getElementById('lead-skip').disabled") is True
        assert runner.book.leads["L1"].status == "new"
    finally:
        await engine.dispose()
        await client.close()
