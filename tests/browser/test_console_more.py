"""The agent console's server-driven parts in real Chromium, without a PBX:

- the wrap-up list is the server's dispositions table, pushed to the open console (an admin's
  new one appears with its Chinese label without a reload, a disabled one is not offered); a
  code disabled while the agent was writing stays chosen, marked, and is refused by the
  server with the page saying why, keeping the notes;
- past calls' recordings play from the customer history on the card through the
  authenticated route (a real WAV, duration > 0), for an agent the setting allows.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import struct
import wave
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select

from callcenter.acd.agents import AgentBoard, AgentState
from callcenter.acd.controls import AgentControls
from callcenter.acd.phones import AgentEventPublisher, AgentPhones
from callcenter.config import Settings
from callcenter.core.clock import RealtimeClock
from callcenter.events import EventBus
from callcenter.metrics import Metrics
from callcenter.screenpop.hub import AgentHub
from callcenter.web.app import create_app
from crm_bridge.db import make_engine, session_factory, upgrade_database
from crm_bridge.models import Customer, Interaction
from crm_bridge.sip_credentials import SipCredential, SipCredentials
from tests.accounts import PASSWORD, add_user, token_for
from tests.fakes import NoCalls
from tests.harness.chromium import DevTools, chromium_page, sign_in_page, wait_for
from tests.harness.require import require_binary

pytestmark = pytest.mark.browser

SHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
RECORDING = "support/2026-11-02/old-call.wav"


def write_wav(path: Path, seconds: float = 2.0, rate: int = 8000) -> None:
    """A real recording's format (what MixMonitor writes: 8 kHz, 16-bit mono): a 440 Hz tone."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(b"".join(struct.pack("<h", int(8000 * math.sin(2 * math.pi * 440 * i
                                                                          / rate)))
                                 for i in range(int(seconds * rate))))


class Server:
    def __init__(self, client: TestClient[Any, Any], hub: AgentHub, sessions: Any,
                 board: AgentBoard) -> None:
        self.client, self.hub, self.sessions, self.board = client, hub, sessions, board
        self.base = str(client.make_url("")).rstrip("/")

    async def interaction(self, call_id: str) -> Interaction:
        async with self.sessions() as session:
            row: Interaction = (await session.execute(select(Interaction).where(
                Interaction.call_id == call_id))).scalar_one()
            return row

    async def admin(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {await token_for(self.client, 'admin')}"}


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[Server]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'crm.db'}"
    await upgrade_database(url)
    engine = make_engine(url)
    sessions = session_factory(engine)
    now = dt.datetime.now(dt.UTC)
    async with sessions() as session, session.begin():
        customer = Customer(customer_code="C-1", name="Li Na", consent=True, do_not_call=False)
        session.add(customer)
        await session.flush()
        session.add_all([
            Interaction(call_id="old-call", direction="inbound", caller_number="+1",
                        agent="1002", queue="support", disposition="resolved",
                        notes="Router reset.", started_at=now - dt.timedelta(days=30),
                        customer_id=customer.id, recording_ref=RECORDING),
            Interaction(call_id="call-X", direction="inbound", caller_number="+1",
                        agent="1001", started_at=now, customer_id=customer.id),
        ])
    await SipCredentials(sessions).put(SipCredential("1001", "1001", "sip-pass-1001-more"))
    write_wav(tmp_path / "recordings" / RECORDING)
    bus, board, clock, hub = EventBus(), AgentBoard(), RealtimeClock(), AgentHub()
    for agent_id in ("1001", "1002"):
        board.add(agent_id)
    phones = AgentPhones(board, bus, clock)
    publisher = AgentEventPublisher(board, bus)
    controls = AgentControls(board, phones, clock, pause_reasons=["lunch"], max_wrap_up_s=300)
    settings = Settings(sip={"ws_url": "ws://127.0.0.1:9/ws"},  # no PBX: never registers
                        recordings={"dir": str(tmp_path / "recordings"),
                                    "agent_access": "caller"})
    app = create_app(settings=settings, bus=bus, calls=NoCalls(), metrics=Metrics(),
                     agents=board, agent_controls=controls, crm_sessions=sessions,
                     agent_hub=hub)
    try:
        async with TestClient(TestServer(app)) as client:
            await add_user(client, "agent", "1001", username="console.agent")
            yield Server(client, hub, sessions, board)
    finally:
        publisher.close()
        phones.close()
        await engine.dispose()


def pop(call_id: str = "call-X") -> dict[str, Any]:
    return {
        "type": "screen_pop", "agent_id": "1001", "call_id": call_id, "channel_id": "ch-X",
        "caller_number": "+8613800138000", "customer_code": "C-1", "new_caller": False,
        "candidates": [], "error": None,
        "card": {
            "customer_id": 1, "customer_code": "C-1", "name": "Li Na", "company": "Example Co",
            "region": "CN", "title": None, "email": None, "address": None, "industry": None,
            "birthday": None, "consent": True, "do_not_call": False,
            "phones": ["+8613800138000"], "tags": [], "value_tier": "major",
            "churn": {"at_risk": False, "as_of": None, "reasons": []},
            "value_12m": {"total": "0.00", "orders": 0, "since": "2025-12-04"},
            "recent_orders": [],
            "recent_interactions": [
                {"interaction_id": 1, "call_id": "old-call", "queue": "support", "agent": "1002",
                 "disposition": "resolved", "notes": "Router reset.",
                 "started_at": "2026-11-02T00:00:00Z", "recording_ref": RECORDING},
                {"interaction_id": 2, "call_id": "call-X", "queue": None, "agent": "1001",
                 "disposition": None, "notes": None, "started_at": "2026-12-02T00:00:00Z",
                 "recording_ref": None}],
            "open_complaints": [], "satisfaction": {"average": None, "count": 0},
        },
    }


async def open_console(page: DevTools) -> None:
    await sign_in_page(page, "console.agent", PASSWORD)
    await wait_for(page, "document.getElementById('ws-light').dataset.on === 'true'")
    await wait_for(page, "document.getElementById('disposition').options.length > 1")


async def options(page: DevTools) -> list[list[str]]:
    return json.loads(await page.evaluate(
        "JSON.stringify([...document.getElementById('disposition').options]"
        ".map(o => [o.value, o.textContent]))"))


async def test_the_wrap_up_list_is_the_servers_dispositions(
        server: Server, tmp_path: Path) -> None:
    chromium = require_binary("chromium", "chromium", "apt-get install chromium")
    client, admin = server.client, await server.admin()
    created = await client.post("/api/dispositions", headers=admin, json={
        "code": "callback", "labels": {"en": "Callback promised", "zh-CN": "承诺回电"},
        "position": 25})
    assert created.status == 201
    await client.patch("/api/dispositions/wrong_number", json={"active": False}, headers=admin)
    async with chromium_page(chromium, f"{server.base}/console/?lang=zh-CN",
                             tmp_path / "profile", "zh-CN") as page:
        await open_console(page)
        offered = await options(page)
        assert offered[0][0] == ""
        assert [v for v, _ in offered[1:]] == ["resolved", "follow_up", "callback", "escalated",
                                               "sale", "complaint", "no_action"]
        assert dict(offered)["callback"] == "承诺回电" and dict(offered)["resolved"] == "已解决"
        # an admin's change reaches the open console at once (pushed, no reload)
        added = await client.post("/api/dispositions", headers=admin, json={
            "code": "vip_follow_up", "labels": {"en": "VIP follow-up", "zh-CN": "贵宾跟进"},
            "position": 26})
        assert added.status == 201
        await wait_for(page, "[...document.getElementById('disposition').options]"
                             ".some(o => o.value === 'vip_follow_up')")
        assert dict(await options(page))["vip_follow_up"] == "贵宾跟进"
        server.hub.push("1001", pop())
        await wait_for(page, "document.getElementById('notes').disabled === false")
        # the history labels a past call with the table's label in the page's language
        assert "已解决" in await page.evaluate("document.getElementById('c-history').textContent")
        await page.evaluate(
            "document.getElementById('disposition').value = 'callback';"
            "document.getElementById('disposition').dispatchEvent(new Event('change'));"
            "document.getElementById('notes').value = '周五下午回电。';"
            "document.getElementById('notes').dispatchEvent(new Event('input'));")
        await page.screenshot(SHOTS / "console-dispositions-zh-CN.png")
        # disabled while the agent was writing: the server refuses, the page says why and
        # keeps the notes; nothing is written
        await client.patch("/api/dispositions/callback", json={"active": False}, headers=admin)
        # the chosen code stays chosen, marked as no longer offered
        await wait_for(page, "document.getElementById('disposition').selectedOptions[0]"
                             ".textContent.includes('已停用')")
        assert await page.evaluate("document.getElementById('disposition').value") == "callback"
        await page.screenshot(SHOTS / "console-disposition-withdrawn-zh-CN.png")
        await page.evaluate("document.getElementById('wrap-save').click()")
        try:
            await wait_for(page, "document.getElementById('wrap-status').textContent"
                                 ".includes('callback')")
        except AssertionError:
            raise AssertionError(await page.evaluate(
                "document.getElementById('wrap-status').textContent + ' | ' + "
                "document.getElementById('banner').textContent")) from None
        status = await page.evaluate("document.getElementById('wrap-status').textContent")
        assert status.startswith("服务器拒绝") and "disabled" in status, status
        assert await page.evaluate("document.getElementById('notes').value") == "周五下午回电。"
        assert (await server.interaction("call-X")).disposition is None
        # another code: saved
        await page.evaluate(
            "document.getElementById('disposition').value = 'follow_up';"
            "document.getElementById('disposition').dispatchEvent(new Event('change'));"
            "document.getElementById('wrap-save').click()")
        await wait_for(page, "document.getElementById('wrap-status').textContent"
                             ".includes('需跟进')")
        row = await server.interaction("call-X")
        assert (row.disposition, row.notes) == ("follow_up", "周五下午回电。")


async def test_a_past_calls_recording_plays_from_the_card(server: Server, tmp_path: Path) -> None:
    """``recordings.agent_access = caller``: agent 1001 may hear the customer's past call
    (taken by 1002) only while that customer is on its line; before, the row says so (the
    server's 403). On the line: the history row's player loads the real WAV through the
    authenticated route (duration 2 s) and plays it (Alt+V)."""
    chromium = require_binary("chromium", "chromium", "apt-get install chromium")
    async with chromium_page(chromium, f"{server.base}/console/?lang=en",
                             tmp_path / "profile", "en-US",
                             ("--autoplay-policy=no-user-gesture-required",)) as page:
        await open_console(page)
        server.hub.push("1001", pop())  # a pop while 1001 is not on that call: refused
        await wait_for(page, "document.getElementById('c-history').textContent"
                             ".includes('not yours to hear')")
        assert await page.evaluate("document.querySelectorAll('#c-history audio').length") == 0
        agent = server.board["1001"]
        server.board.log_in(agent, 1.0)
        server.board.move(agent, AgentState.RESERVED, 1.0, call_id="call-X")
        server.hub.push("1001", pop())
        await wait_for(page, "document.querySelector('#c-history audio') !== null")
        duration = await wait_for(page, "(() => { const a = document.querySelector("
                                        "'#c-history audio'); return a.readyState >= 1 "
                                        "&& a.duration > 0 && a.duration; })()")
        assert 1.9 < duration < 2.1, duration
        src = await page.evaluate("document.querySelector('#c-history audio').src")
        assert src.endswith("/api/interactions/1/recording")
        await page.evaluate("document.dispatchEvent(new KeyboardEvent('keydown', "
                            "{key: 'v', code: 'KeyV', altKey: true}))")
        await wait_for(page, "document.querySelector('#c-history audio').currentTime > 0.3")
        assert await page.evaluate("document.querySelector('#c-history audio').error") is None
        await page.evaluate("document.querySelector('#c-history audio').pause()")
        await page.screenshot(SHOTS / "console-recording-en.png")
        # the second, unrecorded call of the history has no player
        assert await page.evaluate("document.querySelectorAll('#c-history audio').length") == 1
