"""Dispositions as data (migration 0015, ``/api/dispositions``, ``callcenter disposition``):
seeded with the console's former fixed list and labels, agents read, admins add, change and
disable (audited), and a wrap-up with a code that is not an active disposition is refused
(400 ``unknown_disposition``) with nothing written."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from click.testing import CliRunner
from sqlalchemy import select

from callcenter.acd.agents import AgentBoard, AgentState
from callcenter.acd.controls import AgentControls
from callcenter.acd.phones import AgentPhones
from callcenter.cli import cli
from callcenter.config import Settings
from callcenter.core.clock import RealtimeClock
from callcenter.events import EventBus
from callcenter.metrics import Metrics
from callcenter.web.app import create_app
from crm_bridge.db import make_engine, session_factory, upgrade_database
from crm_bridge.models import AuditRow, Interaction
from tests.accounts import token_for
from tests.fakes import NoCalls

pytestmark = pytest.mark.unit

#: agent_ui/console/strings.js's list before migration 0015, with its labels
FORMER = [
    ("resolved", "Resolved", "已解决"), ("follow_up", "Follow-up needed", "需跟进"),
    ("escalated", "Escalated", "已升级"), ("sale", "Sale", "成交"),
    ("complaint", "Complaint logged", "已登记投诉"), ("no_action", "No action needed", "无需处理"),
    ("wrong_number", "Wrong number", "打错电话"),
]


class Server:
    def __init__(self, client: TestClient[Any, Any], board: AgentBoard, sessions: Any,
                 phones: AgentPhones, url: str) -> None:
        self.client, self.board, self.sessions, self.phones, self.url = (
            client, board, sessions, phones, url)

    async def as_role(self, role: str, agent_id: str | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {await token_for(self.client, role, agent_id)}"}

    async def interaction(self, call_id: str) -> Interaction:
        async with self.sessions() as session:
            row: Interaction = (await session.execute(select(Interaction).where(
                Interaction.call_id == call_id))).scalar_one()
            return row

    def to_wrap_up(self, agent_id: str, call_id: str) -> None:
        agent = self.board[agent_id]
        self.board.log_in(agent, 1.0)
        for state in (AgentState.RESERVED, AgentState.ON_CALL, AgentState.WRAP_UP):
            self.board.move(agent, state, 1.0, call_id=call_id)
        self.phones._schedule_wrap_up_end(agent, RealtimeClock().now() + 60)


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[Server]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'crm.db'}"
    await upgrade_database(url)
    engine = make_engine(url)
    sessions = session_factory(engine)
    async with sessions() as session, session.begin():
        session.add(Interaction(call_id="call-A", direction="inbound", caller_number="+1",
                                agent="1001", started_at=dt.datetime.now(dt.UTC)))
    bus, board, clock = EventBus(), AgentBoard(), RealtimeClock()
    board.add("1001")
    phones = AgentPhones(board, bus, clock)
    controls = AgentControls(board, phones, clock, pause_reasons=["lunch"], max_wrap_up_s=300)
    app = create_app(settings=Settings(), bus=bus, calls=NoCalls(), metrics=Metrics(),
                     agents=board, agent_controls=controls, crm_sessions=sessions)
    try:
        async with TestClient(TestServer(app)) as client:
            yield Server(client, board, sessions, phones, url)
    finally:
        phones.close()
        await engine.dispose()


async def test_the_defaults_are_the_consoles_former_list(server: Server) -> None:
    agent = await server.as_role("agent", "1001")
    listed = await (await server.client.get("/api/dispositions", headers=agent)).json()
    assert [(d["code"], d["labels"]["en"], d["labels"]["zh-CN"])
            for d in listed["dispositions"]] == FORMER
    assert all(d["active"] for d in listed["dispositions"])
    one = await server.client.get("/api/dispositions/sale", headers=agent)
    assert (await one.json())["labels"] == {"en": "Sale", "zh-CN": "成交"}
    assert (await server.client.get("/api/dispositions/nope", headers=agent)).status == 404


async def test_admins_add_change_and_disable_agents_only_read(server: Server) -> None:
    client = server.client
    agent, supervisor, admin = (await server.as_role("agent", "1001"),
                                await server.as_role("supervisor"), await server.as_role("admin"))
    new = {"code": "callback", "labels": {"en": "Callback promised", "zh-CN": "承诺回电"}}
    for headers in (agent, supervisor):
        assert (await client.post("/api/dispositions", json=new, headers=headers)).status == 403
        assert (await client.patch("/api/dispositions/sale", json={"active": False},
                                   headers=headers)).status == 403
    created = await client.post("/api/dispositions", json=new, headers=admin)
    assert created.status == 201, await created.text()
    assert (await created.json())["position"] == 80  # last
    assert (await client.post("/api/dispositions", json=new, headers=admin)).status == 409
    for bad, field in (({"code": "Bad Code", "labels": {"en": "x"}}, "code"),
                       ({"code": "x", "labels": {"zh-CN": "只有中文"}}, "labels.en"),
                       ({"code": "x", "labels": {"fr": "x", "en": "x"}}, "fr"),
                       ({"code": "x", "labels": {"en": "x"}, "colour": "red"}, "colour")):
        refused = await client.post("/api/dispositions", json=bad, headers=admin)
        assert refused.status == 400
        assert field in (await refused.json())["error"]["message"]
    changed = await client.patch("/api/dispositions/sale", headers=admin,
                                 json={"labels": {"zh-CN": "已成交"}, "position": 1})
    assert (await changed.json())["labels"] == {"en": "Sale", "zh-CN": "已成交"}
    renamed = await client.patch("/api/dispositions/sale", json={"code": "deal"}, headers=admin)
    assert renamed.status == 400
    off = await client.patch("/api/dispositions/wrong_number", json={"active": False},
                             headers=admin)
    assert (await off.json())["active"] is False
    offered = await (await client.get("/api/dispositions?active=true", headers=agent)).json()
    codes = [d["code"] for d in offered["dispositions"]]
    assert codes[0] == "sale" and codes[-1] == "callback" and "wrong_number" not in codes
    async with server.sessions() as session:
        audited = [(r.action, r.target) for r in (await session.scalars(
            select(AuditRow).order_by(AuditRow.id))).all()]
    assert audited == [("disposition.create", "disposition:callback"),
                       ("disposition.update", "disposition:sale"),
                       ("disposition.update", "disposition:wrong_number")]


async def test_a_wrap_up_with_an_unknown_or_disabled_code_is_refused(server: Server) -> None:
    client = server.client
    server.to_wrap_up("1001", "call-A")
    agent = await server.as_role("agent", "1001")
    admin = await server.as_role("admin")
    await client.patch("/api/dispositions/wrong_number", json={"active": False}, headers=admin)
    for code, words in (("made_up", "is not a disposition"), ("wrong_number", "is disabled")):
        refused = await client.post("/api/agents/1001/wrap-up", headers=agent, json={
            "call_id": "call-A", "disposition": code, "notes": "n", "done": True})
        assert refused.status == 400
        error = (await refused.json())["error"]
        assert error["code"] == "unknown_disposition"
        assert words in error["message"] and "resolved" in error["message"]
    patched = await client.patch("/api/interactions/1", json={"disposition": "made_up"},
                                 headers=agent)
    assert patched.status == 400
    row = await server.interaction("call-A")
    assert (row.disposition, row.notes) == (None, None)
    assert server.board["1001"].state is AgentState.WRAP_UP
    ok = await client.post("/api/agents/1001/wrap-up", headers=agent, json={
        "call_id": "call-A", "disposition": "escalated", "done": True})
    assert ok.status == 200
    assert (await server.interaction("call-A")).disposition == "escalated"


def test_the_cli_adds_changes_disables_and_lists(tmp_path: Path) -> None:
    db = f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"
    runner = CliRunner()

    def run(*args: str) -> Any:
        return runner.invoke(cli, ["disposition", *args, "--db", db])

    added = run("add", "callback", "--label", "en=Callback promised", "--label", "zh-CN=承诺回电")
    assert added.exit_code == 0, added.output
    assert run("add", "callback", "--label", "en=again").exit_code == 1
    assert "labels.en is required" in run("add", "x", "--label", "zh-CN=只有中文").output
    assert run("disable", "wrong_number").exit_code == 0
    assert run("set", "sale", "--label", "zh-CN=已成交", "--position", "1").exit_code == 0
    assert "no disposition 'nope'" in run("enable", "nope").output
    listed = run("list").output.splitlines()
    assert listed[1].split()[:3] == ["sale", "1", "yes"] and "已成交" in listed[1]
    assert [line.split()[:3] for line in listed if line.startswith("wrong_number")] == [
        ["wrong_number", "70", "no"]]
    assert "承诺回电" in run("show", "callback").output
