"""The agent console in real Chromium without a PBX (issue 12 security must-shows):

- hostile text in a screen pop (customer name, company, complaint text, past notes, a product,
  the caller number) renders as text: no handler runs, no element is made;
- no secret (AMI secret, SIP passwords, password hashes) in the page, its storage or the
  stream's messages;
- a network blip loses no wrap-up notes: the stream drops and comes back, a save made while
  the browser is offline waits in the outbox (localStorage) and is sent once it is back
  online; a reload brings the unsent notes back.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select

from callcenter.acd.agents import AgentBoard
from callcenter.acd.controls import AgentControls
from callcenter.acd.phones import AgentEventPublisher, AgentPhones
from callcenter.complaints.service import ComplaintDesk
from callcenter.config import Settings
from callcenter.core.clock import RealtimeClock
from callcenter.events import EventBus
from callcenter.metrics import Metrics
from callcenter.screenpop.hub import AgentHub
from callcenter.web.app import create_app
from callcenter.web.state import WEBSOCKETS
from crm_bridge.complaints import ComplaintStore
from crm_bridge.db import make_engine, session_factory, upgrade_database
from crm_bridge.models import Complaint, Customer, Interaction
from crm_bridge.sip_credentials import SipCredential, SipCredentials
from tests.accounts import PASSWORD, add_user
from tests.fakes import NoCalls
from tests.harness.chromium import DevTools, chromium_page, sign_in_page, wait_for
from tests.harness.require import require_binary

pytestmark = pytest.mark.browser

AMI_SECRET = "ami-Secret-0816"
SIP_1001 = "sip-pass-1001-browser"
SIP_1002 = "sip-pass-1002-browser"
PAYLOADS = ['<img src=x onerror="window.__xss=1">', "<script>window.__xss=2</script>",
            '"><svg onload="window.__xss=3">']
HOSTILE = " ".join(PAYLOADS)
SHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
SHOT_OFFLINE = SHOTS / "console-offline-en.png"


def hostile_pop() -> dict[str, Any]:
    return {
        "type": "screen_pop", "agent_id": "1001", "call_id": "call-X", "channel_id": "ch-X",
        "caller_number": PAYLOADS[0], "customer_code": "C-1", "new_caller": False,
        "candidates": [], "error": None,
        "card": {
            "customer_id": 1, "customer_code": "C-1", "name": HOSTILE, "company": PAYLOADS[1],
            "region": "CN", "title": PAYLOADS[2], "email": PAYLOADS[0], "address": None,
            "industry": None, "birthday": None, "consent": True, "do_not_call": False,
            "phones": ["+8613800138000"], "tags": [PAYLOADS[1]], "value_tier": "major",
            "churn": {"at_risk": True, "as_of": "2026-12-01T00:00:00Z",
                      "reasons": [{"code": "complaints", "text": HOSTILE}]},
            "value_12m": {"total": "12000.00", "orders": 3, "since": "2025-12-04"},
            "recent_orders": [{"order_id": 1, "product": PAYLOADS[2], "amount": "1.00",
                               "currency": "CNY", "ordered_at": "2026-11-01T00:00:00Z"}],
            "recent_interactions": [{"interaction_id": 1, "call_id": "old", "queue": PAYLOADS[0],
                                     "agent": "1002", "disposition": "resolved",
                                     "notes": HOSTILE, "started_at": "2026-11-02T00:00:00Z"}],
            "open_complaints": [{"complaint_id": 1, "status": "open", "category": PAYLOADS[1],
                                 "summary": HOSTILE, "opened_at": "2026-11-03T00:00:00Z"}],
            "satisfaction": {"average": None, "count": 0},
        },
    }


class Server:
    def __init__(self, client: TestClient[Any, Any], hub: AgentHub, sessions: Any) -> None:
        self.client, self.hub, self.sessions = client, hub, sessions
        self.base = str(client.make_url("")).rstrip("/")

    async def interaction(self, call_id: str) -> Interaction:
        async with self.sessions() as session:
            row: Interaction = (await session.execute(select(Interaction).where(
                Interaction.call_id == call_id))).scalar_one()
            return row


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[Server]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'crm.db'}"
    await upgrade_database(url)
    engine = make_engine(url)
    sessions = session_factory(engine)
    await SipCredentials(sessions).put(SipCredential("1001", "1001", SIP_1001))
    await SipCredentials(sessions).put(SipCredential("1002", "1002", SIP_1002))
    async with sessions() as session, session.begin():
        customer = Customer(customer_code="C-1", name="Li Na", consent=True, do_not_call=False)
        session.add(customer)
        await session.flush()
        assert customer.id == 1  # the pops below name customer 1
        session.add(Interaction(call_id="call-X", direction="inbound", caller_number="+1",
                                agent="1001", started_at=dt.datetime.now(dt.UTC),
                                customer_id=customer.id))
    bus, board, clock, hub = EventBus(), AgentBoard(), RealtimeClock(), AgentHub()
    for agent_id in ("1001", "1002"):
        board.add(agent_id)
    phones = AgentPhones(board, bus, clock)
    publisher = AgentEventPublisher(board, bus)
    controls = AgentControls(board, phones, clock, pause_reasons=["lunch"], max_wrap_up_s=300)
    settings = Settings(ami={"secret": AMI_SECRET},
                        sip={"ws_url": "ws://127.0.0.1:9/ws"})  # no PBX here: never registers
    desk = ComplaintDesk(ComplaintStore(sessions), bus, clock, settings.complaints.policy())
    app = create_app(settings=settings, bus=bus, calls=NoCalls(), metrics=Metrics(),
                     agents=board, agent_controls=controls, crm_sessions=sessions,
                     agent_hub=hub, complaints=desk)
    try:
        async with TestClient(TestServer(app)) as client:
            await add_user(client, "agent", "1001", username="console.agent")
            yield Server(client, hub, sessions)
    finally:
        publisher.close()
        phones.close()
        await engine.dispose()


async def open_console(page: DevTools) -> None:
    await sign_in_page(page, "console.agent", PASSWORD)
    await wait_for(page, "document.getElementById('ws-light').dataset.on === 'true'")
    await wait_for(page, "document.getElementById('agent-state').dataset.state === 'offline'")


async def test_hostile_pop_renders_inert_and_no_secret_reaches_the_page(
        server: Server, tmp_path: Path) -> None:
    chromium = require_binary("chromium", "chromium", "apt-get install chromium")
    async with chromium_page(chromium, f"{server.base}/console/?lang=en",
                             tmp_path / "profile", "en-US") as page:
        await open_console(page)
        assert server.hub.push("1001", hostile_pop()) == 1
        await wait_for(page, f"document.getElementById('c-name').textContent === "
                             f"{json.dumps(HOSTILE)}")
        await asyncio.sleep(0.5)  # an injected handler would have run by now
        assert await page.evaluate("window.__xss === undefined")
        made = await page.evaluate("document.querySelectorAll('main img, main svg, "
                                   "main script, main iframe').length")
        assert made == 0
        assert HOSTILE in await page.evaluate("document.getElementById('c-churn').textContent")
        complaints = await page.evaluate("document.getElementById('c-complaints').textContent")
        assert HOSTILE in complaints
        notes = await page.evaluate("document.getElementById('c-history').textContent")
        assert HOSTILE in notes
        # the agent's own SIP password is in the page's memory (JsSIP), never in its markup,
        # storage or any other agent's; the AMI secret and hashes nowhere
        html = await page.evaluate("document.documentElement.outerHTML")
        stored = await page.evaluate("JSON.stringify([Object.entries(localStorage), "
                                     "Object.entries(sessionStorage)])")
        for text in (html, stored):
            for secret in (AMI_SECRET, SIP_1001, SIP_1002, "scrypt$"):
                assert secret not in text, secret
        assert SIP_1002 not in json.dumps(hostile_pop())


async def test_churn_reasons_are_worded_in_the_consoles_language(
        server: Server, tmp_path: Path) -> None:
    """The card's churn reasons carry their figures: the zh-CN console words them itself; a
    reason without figures (a row computed before) shows the server's wording."""
    chromium = require_binary("chromium", "chromium", "apt-get install chromium")
    pop = hostile_pop()
    pop["card"]["churn"]["reasons"] = [
        {"code": "complaints", "params": {"count": 2, "open": 1, "days": 90},
         "text": "2 complaints in the last 90 days (1 open)"},
        {"code": "falling_satisfaction", "params": {"now": 3.0, "before": 4.5},
         "text": "satisfaction fell from 4.5 to 3.0 of 5"},
        {"code": "falling_frequency", "text": "orders fell from 1.3 to 0 per 90 days"}]
    async with chromium_page(chromium, f"{server.base}/console/?lang=zh-CN",
                             tmp_path / "profile", "zh-CN") as page:
        await open_console(page)
        assert server.hub.push("1001", pop) == 1
        await wait_for(page, "document.getElementById('c-churn').hidden === false")
        shown = await page.evaluate("document.getElementById('c-churn').textContent")
        assert shown == ("流失风险：近 90 天投诉 2 次（1 次未结）；满意度从 4.5 降至 3（满分 5）；"  # noqa: RUF001
                         "orders fell from 1.3 to 0 per 90 days"), shown


async def test_notes_survive_a_blip_offline_save_and_a_reload(
        server: Server, tmp_path: Path) -> None:
    chromium = require_binary("chromium", "chromium", "apt-get install chromium")
    async with chromium_page(chromium, f"{server.base}/console/?lang=en",
                             tmp_path / "profile", "en-US") as page:
        await open_console(page)
        server.hub.push("1001", hostile_pop())
        await wait_for(page, "document.getElementById('notes').disabled === false")
        notes = "Customer asked for a callback at 5 pm.\nPrefers 中文."
        await page.evaluate(f"document.getElementById('notes').value = {json.dumps(notes)};"
                            "document.getElementById('notes').dispatchEvent(new Event('input'));"
                            "document.getElementById('disposition').value = 'follow_up';"
                            "document.getElementById('disposition').dispatchEvent("
                            "new Event('change'));")
        # the server drops the stream: the console says so, reconnects, keeps the notes
        for ws in list(server.client.app[WEBSOCKETS]):
            await ws.close()
        await wait_for(page, "document.getElementById('ws-light').dataset.on === 'false'")
        await wait_for(page, "document.getElementById('ws-light').dataset.on === 'true'", 20)
        assert await page.evaluate("document.getElementById('notes').value") == notes
        # a reload (the tab crashed, the agent pressed F5): the notes come back
        await page.call("Page.reload")
        await wait_for(page, "document.getElementById('ws-light') && "
                             "document.getElementById('ws-light').dataset.on === 'true'")
        await wait_for(page, f"document.getElementById('notes').value === {json.dumps(notes)}")
        # offline: the save waits in the outbox, then goes when the network is back
        await page.call("Network.enable")
        await page.call("Network.emulateNetworkConditions", offline=True, latency=0,
                        downloadThroughput=-1, uploadThroughput=-1)
        await page.evaluate("document.getElementById('wrap-save').click()")
        await wait_for(page, "document.getElementById('outbox').textContent"
                             ".includes('call-X')")
        await page.screenshot(SHOT_OFFLINE)
        assert (await server.interaction("call-X")).notes is None
        await page.call("Network.emulateNetworkConditions", offline=False, latency=0,
                        downloadThroughput=-1, uploadThroughput=-1)
        await wait_for(page, "document.getElementById('wrap-status').textContent"
                             ".startsWith('Saved')", 20)
        row = await server.interaction("call-X")
        assert (row.disposition, row.notes) == ("follow_up", notes)
        assert await page.evaluate("localStorage.getItem('cc.console.drafts.1001')") == "{}"


async def test_a_supervisor_gets_a_notice_not_a_console(server: Server, tmp_path: Path) -> None:
    """The console acts as one agent: an account without an agent id sees a pointer to the
    wallboard, no phone, no stream, no SIP account asked for."""
    chromium = require_binary("chromium", "chromium", "apt-get install chromium")
    await add_user(server.client, "supervisor", username="floor.boss")
    async with chromium_page(chromium, f"{server.base}/console/?lang=zh-CN",
                             tmp_path / "profile", "zh-CN") as page:
        await sign_in_page(page, "floor.boss", PASSWORD)
        await wait_for(page, "document.getElementById('not-agent').hidden === false")
        assert await page.evaluate("document.getElementById('main').hidden") is True
        assert "坐席" in await page.evaluate("document.getElementById('not-agent').textContent")
        asked = await page.evaluate("JSON.stringify(performance.getEntriesByType('resource')"
                                    ".map(e => e.name).filter(n => n.includes('/api/agents') "
                                    "|| n.includes('/ws/')))")
        assert json.loads(asked) == []


async def test_log_complaint_from_the_pop_with_the_complaints_form(
        server: Server, tmp_path: Path) -> None:
    """The pop's Log complaint (Alt+C) mounts /complaints/complaint-form.js with the caller;
    submitted, the complaint is registered for this customer and call, and the wrap-up's
    disposition becomes "complaint"."""
    chromium = require_binary("chromium", "chromium", "apt-get install chromium")
    async with chromium_page(chromium, f"{server.base}/console/?lang=en",
                             tmp_path / "profile", "en-US") as page:
        await open_console(page)
        pop = hostile_pop()
        pop["card"]["name"] = "Li Na"
        server.hub.push("1001", pop)
        await wait_for(page, "document.getElementById('complaint-btn').disabled === false")
        await page.evaluate("document.dispatchEvent(new KeyboardEvent('keydown', "
                            "{key: 'c', code: 'KeyC', altKey: true}))")
        await wait_for(page, "document.getElementById('cf-category') && "
                             "document.getElementById('cf-category').options.length > 1", 10)
        assert "Li Na (#1)" in await page.evaluate(
            "document.getElementById('cf-caller').textContent")
        await page.evaluate(
            "const c = document.getElementById('cf-category');"
            "c.value = c.options[1].value;"
            "document.getElementById('cf-object').value = 'Router AX3000';"
            "document.getElementById('cf-request').value = 'A replacement';"
            "document.getElementById('cf-text').value = 'Arrived with a cracked case.';"
            "document.getElementById('cf-submit').click();")
        await wait_for(page, "document.getElementById('disposition').value === 'complaint'", 10)
        async with server.sessions() as session:
            rows = (await session.execute(select(Complaint))).scalars().all()
        assert [(r.customer_id, r.call_id) for r in rows] == [(1, "call-X")]
