"""The agent console's server side (issue 12): the page's files, the agent's own SIP account
(``GET /api/agents/{id}/sip``: that agent's session only), the wrap-up that carries disposition
and notes into the agent's own interaction (idempotent on resend), the agent stream with the
agent's own state, and the console's security rules: CSRF on cookie writes, 403 on another
agent's call or state, no secret in any console file, answer or stream message."""

from __future__ import annotations

import datetime as dt
import itertools
import json
import shutil
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from callcenter.acd.agents import AgentBoard, AgentState
from callcenter.acd.controls import AgentControls
from callcenter.acd.phones import AgentEventPublisher, AgentPhones
from callcenter.config import Settings
from callcenter.core.clock import RealtimeClock
from callcenter.events import EventBus
from callcenter.metrics import Metrics
from callcenter.screenpop.hub import AgentHub
from callcenter.web.app import create_app
from callcenter.web.routes.console import CONSOLE_DIR
from crm_bridge.db import make_engine, session_factory, upgrade_database
from crm_bridge.models import Interaction
from crm_bridge.sip_credentials import SipCredential, SipCredentials
from tests.accounts import PASSWORD, add_user, login, token_for
from tests.fakes import NoCalls

pytestmark = pytest.mark.unit

AMI_SECRET = "ami-Secret-0815"
SIP_1001 = "sip-pass-1001-xyz"
SIP_1002 = "sip-pass-1002-xyz"
NUMBERS = itertools.count(1)


class Console:
    def __init__(self, client: TestClient[Any, Any], board: AgentBoard, sessions: Any,
                 hub: AgentHub, phones: AgentPhones) -> None:
        self.client, self.board, self.sessions, self.hub, self.phones = (
            client, board, sessions, hub, phones)

    async def headers(self, role: str, agent_id: str | None = None) -> dict[str, str]:
        name = await add_user(self.client, role, agent_id,
                              username=f"{role}-{agent_id or 0}-{next(NUMBERS)}")
        return {"Authorization": f"Bearer {(await login(self.client, name))['token']}"}

    def to_wrap_up(self, agent_id: str, call_id: str) -> None:
        agent, now = self.board[agent_id], 1.0
        self.board.log_in(agent, now)
        self.board.move(agent, AgentState.RESERVED, now, call_id=call_id)
        self.board.move(agent, AgentState.ON_CALL, now, call_id=call_id)
        self.board.move(agent, AgentState.WRAP_UP, now, call_id=call_id)
        self.phones._schedule_wrap_up_end(agent, RealtimeClock().now() + 60)

    async def interaction(self, call_id: str) -> Interaction:
        async with self.sessions() as session:
            from sqlalchemy import select
            row: Interaction = (await session.execute(select(Interaction).where(
                Interaction.call_id == call_id))).scalar_one()
            return row


@pytest.fixture
async def console(tmp_path: Path) -> AsyncIterator[Console]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'crm.db'}"
    await upgrade_database(url)
    engine = make_engine(url)
    sessions = session_factory(engine)
    store = SipCredentials(sessions)
    await store.put(SipCredential("1001", "1001", SIP_1001))
    await store.put(SipCredential("1002", "1002", SIP_1002))
    now = dt.datetime.now(dt.UTC)
    async with sessions() as session, session.begin():
        session.add_all([
            Interaction(call_id="call-A", direction="inbound", caller_number="+1", agent="1001",
                        started_at=now),
            Interaction(call_id="call-B", direction="inbound", caller_number="+2", agent="1002",
                        started_at=now, disposition="resolved", notes="theirs"),
        ])
    bus, board, clock, hub = EventBus(), AgentBoard(), RealtimeClock(), AgentHub()
    for agent_id in ("1001", "1002", "1003"):
        board.add(agent_id)
    phones = AgentPhones(board, bus, clock)
    publisher = AgentEventPublisher(board, bus)  # agent.state on the bus, as the server does
    controls = AgentControls(board, phones, clock, pause_reasons=["lunch"], max_wrap_up_s=300)
    settings = Settings(ami={"secret": AMI_SECRET},
                        sip={"ws_url": "wss://pbx.example.test/ws", "domain": "pbx.example.test",
                             "ice_servers": ["stun:stun.example.test:3478"]})
    app = create_app(settings=settings, bus=bus, calls=NoCalls(), metrics=Metrics(),
                     agents=board, agent_controls=controls, crm_sessions=sessions,
                     agent_hub=hub)
    try:
        async with TestClient(TestServer(app)) as client:
            yield Console(client, board, sessions, hub, phones)
    finally:
        publisher.close()
        phones.close()
        await engine.dispose()


# --- the page ---------------------------------------------------------------------------


async def test_the_console_is_served_without_secrets(console: Console) -> None:
    client = console.client
    page = await client.get("/console/")
    assert page.status == 200 and "text/html" in page.headers["Content-Type"]
    html = await page.text()
    for script in ("/login/session.js", "softphone.js", "strings.js", "console.js"):
        assert f'src="{script}"' in html
    assert "cdn" not in html.lower() and "https://" not in html
    for name in ("console.js", "console.css", "strings.js"):
        resp = await client.get(f"/console/{name}")
        assert resp.status == 200, name
        text = await resp.text()
        assert not [s for s in (AMI_SECRET, SIP_1001, SIP_1002, "scrypt$", "secret100")
                    if s in text], name
    assert (await client.get("/console/.secret.js")).status == 404
    assert (await client.get("/console/package.json")).status == 404


def test_every_text_exists_in_both_languages() -> None:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed (scripts/build-ui.sh installs it)")
    script = ("global.window = {}; require(process.argv[1]);"
              "const keys = (o, p = '') => Object.entries(o).flatMap(([k, v]) =>"
              " typeof v === 'object' ? keys(v, p + k + '.') : [p + k]);"
              "const s = window.CONSOLE_STRINGS;"
              "console.log(JSON.stringify({en: keys(s.en).sort(), zh: keys(s['zh-CN']).sort()}));")
    done = subprocess.run([node, "-e", script, str(CONSOLE_DIR / "strings.js")],
                          capture_output=True, text=True, timeout=30, check=True)
    keys = json.loads(done.stdout)
    assert keys["en"] == keys["zh"]
    used = set()
    for name in ("index.html", "console.js"):
        text = (CONSOLE_DIR / name).read_text()
        used |= {k for k in keys["en"] if f'"{k}"' in text or f"'{k}'" in text}
    assert {"answer", "hangup", "save_ready", "reconnecting"} <= used


# --- SIP credentials --------------------------------------------------------------------


async def test_the_sip_account_goes_to_the_agent_itself_only(console: Console) -> None:
    client = console.client
    own = await client.get("/api/agents/1001/sip", headers=await console.headers("agent", "1001"))
    assert own.status == 200, await own.text()
    assert own.headers["Cache-Control"] == "no-store"
    body = await own.json()
    assert body == {"agent_id": "1001", "ws_url": "wss://pbx.example.test/ws",
                    "uri": "sip:1001@pbx.example.test", "username": "1001",
                    "password": SIP_1001, "display_name": "Agent 1001",
                    "ice_servers": [{"urls": "stun:stun.example.test:3478"}]}
    assert AMI_SECRET not in json.dumps(body)
    for role, agent_id, path in (("agent", "1001", "/api/agents/1002/sip"),
                                 ("supervisor", None, "/api/agents/1001/sip"),
                                 ("admin", None, "/api/agents/1002/sip")):
        refused = await client.get(path, headers=await console.headers(role, agent_id))
        assert refused.status == 403, (role, path)
        assert SIP_1001 not in await refused.text() and SIP_1002 not in await refused.text()
    missing = await client.get("/api/agents/1003/sip",
                               headers=await console.headers("agent", "1003"))
    assert missing.status == 404
    assert (await missing.json())["error"]["code"] == "sip_account_not_found"
    assert (await client.get("/api/agents/1001/sip")).status == 401


async def test_an_encrypted_sip_password_needs_the_servers_key(console: Console) -> None:
    """A password stored encrypted reaches the agent only through a server holding the key:
    this one has none, so the answer says so (503) instead of handing out the token."""
    from crm_bridge.sip_credentials import new_key

    key = new_key()
    await SipCredentials(console.sessions, key).put(SipCredential("1003", "1003", "secret1003"))
    answer = await console.client.get("/api/agents/1003/sip",
                                      headers=await console.headers("agent", "1003"))
    assert answer.status == 503
    body = await answer.text()
    assert "sip_key_needed" in body and "fernet:" not in body and "secret1003" not in body
    assert (await SipCredentials(console.sessions, key).get("1003")) == SipCredential(
        "1003", "1003", "secret1003")


async def test_bad_sip_credentials_are_refused_clearly(console: Console) -> None:
    store = SipCredentials(console.sessions)
    with pytest.raises(ValueError, match="username"):
        SipCredential("1004", "10 04", "long enough")
    with pytest.raises(ValueError, match="8 to 128"):
        SipCredential("1004", "1004", "short")
    with pytest.raises(ValueError, match="already"):
        await store.put(SipCredential("1004", "1001", "long enough"))
    assert "long enough" not in repr(SipCredential("1004", "1004", "long enough"))


# --- wrap-up ----------------------------------------------------------------------------


async def test_wrap_up_writes_disposition_and_notes_into_the_own_call(console: Console) -> None:
    client = console.client
    console.to_wrap_up("1001", "call-A")
    headers = await console.headers("agent", "1001")
    payload = {"call_id": "call-A", "disposition": "resolved", "notes": "Router reset.\n  ok",
               "done": True}
    first = await client.post("/api/agents/1001/wrap-up", json=payload, headers=headers)
    assert first.status == 200, await first.text()
    body = await first.json()
    assert body["state"] == "ready"
    assert body["interaction"]["disposition"] == "resolved"
    assert body["interaction"]["notes"] == "Router reset.\n  ok"
    # the console resends after a network blip: the same answer, nothing doubled
    again = await client.post("/api/agents/1001/wrap-up", json=payload, headers=headers)
    assert again.status == 200 and (await again.json())["state"] == "ready"
    row = await console.interaction("call-A")
    assert (row.disposition, row.notes) == ("resolved", "Router reset.\n  ok")
    # notes while still on the call (no done): saved, the state stays
    console.board.move(console.board["1001"], AgentState.RESERVED, 2.0, call_id="call-A")
    during = await client.post("/api/agents/1001/wrap-up", headers=headers,
                               json={"call_id": "call-A", "notes": "calling back"})
    assert during.status == 200 and (await during.json())["state"] == "reserved"


async def test_an_agent_cannot_wrap_up_another_agents_call(console: Console) -> None:
    client = console.client
    console.to_wrap_up("1001", "call-A")
    headers = await console.headers("agent", "1001")
    theirs = await client.post("/api/agents/1001/wrap-up", headers=headers, json={
        "call_id": "call-B", "disposition": "sale", "notes": "hijack", "done": True})
    assert theirs.status == 403
    other_path = await client.post("/api/agents/1002/wrap-up", headers=headers, json={
        "call_id": "call-B", "disposition": "sale", "done": True})
    assert other_path.status == 403
    other_state = await client.put("/api/agents/1002/state", headers=headers,
                                   json={"state": "ready"})
    assert other_state.status == 403
    row = await console.interaction("call-B")
    assert (row.disposition, row.notes) == ("resolved", "theirs")
    assert console.board["1001"].state is AgentState.WRAP_UP
    assert console.board["1002"].state is AgentState.OFFLINE


@pytest.mark.parametrize(("payload", "status", "code"), [
    ({"disposition": "resolved", "done": True}, 400, "bad_request"),
    ({"call_id": "nope", "disposition": "resolved"}, 404, "interaction_not_found"),
    ({"call_id": "call-A", "notes": "x" * 10_001}, 400, "validation_error"),
    ({"call_id": "call-A", "disposition": "d" * 65}, 400, "validation_error"),
    ({"call_id": "call-A", "notes": "a\u0000b"}, 400, "validation_error"),
    ({"call_id": "call-A", "extend_s": 10, "done": True}, 400, "bad_request"),
])
async def test_bad_wrap_ups_are_clear_errors_and_change_nothing(
        console: Console, payload: dict[str, Any], status: int, code: str) -> None:
    resp = await console.client.post("/api/agents/1001/wrap-up", json=payload,
                                     headers=await console.headers("agent", "1001"))
    assert resp.status == status, await resp.text()
    assert (await resp.json())["error"]["code"] == code
    row = await console.interaction("call-A")
    assert (row.disposition, row.notes) == (None, None)


async def test_cookie_writes_need_the_csrf_token(console: Console) -> None:
    client = console.client
    console.to_wrap_up("1001", "call-A")
    name = await add_user(client, "agent", "1001", username="cookie-agent")
    opened = await client.post("/api/auth/login", json={"username": name,
                                                        "password": PASSWORD})
    assert opened.status == 200
    csrf = (await opened.json())["csrf_token"]
    payload = {"call_id": "call-A", "disposition": "resolved", "done": True}
    bare = await client.post("/api/agents/1001/wrap-up", json=payload)
    assert bare.status == 403
    assert (await bare.json())["error"]["code"] == "csrf_token_missing"
    assert (await client.put("/api/agents/1001/state", json={"state": "ready"})).status == 403
    assert console.board["1001"].state is AgentState.WRAP_UP
    assert (await console.interaction("call-A")).disposition is None
    ok = await client.post("/api/agents/1001/wrap-up", json=payload,
                           headers={"X-CSRF-Token": csrf})
    assert ok.status == 200, await ok.text()
    assert (await console.interaction("call-A")).disposition == "resolved"


# --- the agent stream -------------------------------------------------------------------


async def test_the_agent_stream_carries_only_the_own_state_and_pops(console: Console) -> None:
    client = console.client
    token = (await login(client, await add_user(client, "agent", "1001")))["token"]
    ws = await client.ws_connect("/ws/agents/1001",
                                 headers={"Authorization": f"Bearer {token}"})
    seen = [await ws.receive_json(timeout=5), await ws.receive_json(timeout=5)]
    assert seen[0] == {"type": "hello", "agent_id": "1001"}
    assert seen[1]["type"] == "agent" and seen[1]["state"] == "offline"
    console.board.log_in(console.board["1002"], 1.0)  # another agent: not on this stream
    console.board.log_in(console.board["1001"], 1.0)
    console.hub.push("1002", {"type": "screen_pop", "agent_id": "1002", "call_id": "x"})
    event = await ws.receive_json(timeout=5)
    assert event["type"] == "agent.state" and event["agent_id"] == "1001"
    fresh = await ws.receive_json(timeout=5)
    assert fresh["type"] == "agent" and fresh["state"] == "ready"
    seen += [event, fresh]
    resp = await client.put("/api/agents/1001/state", json={"state": "paused",
                                                            "reason": "lunch"},
                            headers={"Authorization": f"Bearer {token}"})
    assert resp.status == 200
    seen += [await ws.receive_json(timeout=5), await ws.receive_json(timeout=5)]
    assert seen[-1]["state"] == "paused" and seen[-1]["reason"] == "lunch"
    await ws.close()
    text = json.dumps(seen)
    assert "1002" not in text
    assert not [s for s in (AMI_SECRET, SIP_1001, SIP_1002, "scrypt$") if s in text]


async def test_a_disposition_change_reaches_every_open_console(console: Console) -> None:
    """An admin's change over REST is on every agent's stream (no reload needed), and the
    message says nothing but the code and whether it is offered."""
    client = console.client
    streams = []
    for agent_id in ("1001", "1002"):
        token = (await login(client, await add_user(client, "agent", agent_id)))["token"]
        ws = await client.ws_connect(f"/ws/agents/{agent_id}",
                                     headers={"Authorization": f"Bearer {token}"})
        assert (await ws.receive_json(timeout=5))["type"] == "hello"
        assert (await ws.receive_json(timeout=5))["type"] == "agent"
        streams.append(ws)
    admin = {"Authorization": f"Bearer {await token_for(client, 'admin')}"}
    created = await client.post("/api/dispositions", headers=admin, json={
        "code": "callback", "labels": {"en": "Callback promised"}})
    assert created.status == 201
    disabled = await client.patch("/api/dispositions/callback", headers=admin,
                                  json={"active": False})
    assert disabled.status == 200
    for ws in streams:
        told = [await ws.receive_json(timeout=5), await ws.receive_json(timeout=5)]
        assert [(m["type"], m["code"], m["active"]) for m in told] == [
            ("dispositions.changed", "callback", True),
            ("dispositions.changed", "callback", False)]
        assert set(told[0]) == {"type", "at", "code", "active"}
        await ws.close()
    # a refused change announces nothing
    bad = await client.patch("/api/dispositions/nope", headers=admin, json={"active": False})
    assert bad.status == 404
