"""``GET /api/interactions/{id}/recording``: the server decides who hears a past call —
supervisors and admins always; agents by ``recordings.agent_access`` (none / own / caller: the
customer on the agent's screen now) — and serves only files under ``recordings.dir``."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select

from callcenter.acd.agents import AgentBoard, AgentState
from callcenter.acd.controls import AgentControls
from callcenter.acd.phones import AgentPhones
from callcenter.config import Settings
from callcenter.core.clock import RealtimeClock
from callcenter.events import EventBus
from callcenter.metrics import Metrics
from callcenter.web.app import create_app
from crm_bridge.db import make_engine, session_factory, upgrade_database
from crm_bridge.models import AuditRow, Customer, Interaction
from tests.accounts import token_for
from tests.fakes import NoCalls

pytestmark = pytest.mark.unit

AUDIO = b"RIFF" + b"\x00" * 60  # the route serves bytes; what they are is the browser test's
#: interaction ids: 1 = agent 1002's call of customer 1 (recorded), 2 = the current call of
#: customer 1 (agent 1001), 3 = agent 1001's own earlier call of customer 2 (recorded),
#: 4 = a call of customer 2 by 1002 (recorded), 5 = recorded, file purged, 6 = escaping ref,
#: 7 = not recorded
ROWS = [("c-1", 1, "1002", "q/a.wav"), ("now", 1, "1001", None), ("c-3", 2, "1001", "q/b.wav"),
        ("c-4", 2, "1002", "q/c.wav"), ("c-5", 1, "1002", "q/gone.wav"),
        ("c-6", 1, "1002", "../secret.txt"), ("c-7", 1, "1002", None)]


class Server:
    def __init__(self, client: TestClient[Any, Any], board: AgentBoard,
                 sessions: Any = None) -> None:
        self.client, self.board, self.sessions = client, board, sessions
        self.tokens: dict[tuple[str, str | None], str] = {}

    async def get(self, iid: int, role: str, agent_id: str | None = None,
                  method: str = "GET") -> Any:
        if (role, agent_id) not in self.tokens:
            self.tokens[role, agent_id] = await token_for(self.client, role, agent_id)
        token = self.tokens[role, agent_id]
        return await self.client.request(method, f"/api/interactions/{iid}/recording",
                                         headers={"Authorization": f"Bearer {token}"})


Factory = Callable[[str], Any]


@pytest.fixture
async def make(tmp_path: Path) -> AsyncIterator[Factory]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'crm.db'}"
    await upgrade_database(url)
    engine = make_engine(url)
    sessions = session_factory(engine)
    now = dt.datetime.now(dt.UTC)
    async with sessions() as session, session.begin():
        session.add_all([Customer(customer_code=f"C-{n}", name=f"Customer {n}", consent=True,
                                  do_not_call=False) for n in (1, 2)])
        await session.flush()
        session.add_all([Interaction(call_id=call, direction="inbound", caller_number="+1",
                                     agent=agent, customer_id=customer, recording_ref=ref,
                                     started_at=now) for call, customer, agent, ref in ROWS])
    spool = tmp_path / "spool"
    for name in ("a", "b", "c"):
        (spool / "q").mkdir(parents=True, exist_ok=True)
        (spool / "q" / f"{name}.wav").write_bytes(AUDIO)
    (tmp_path / "secret.txt").write_text("not a recording")
    clients: list[TestClient[Any, Any]] = []
    phones: list[AgentPhones] = []

    async def build(access: str) -> Server:
        bus, board, clock = EventBus(), AgentBoard(), RealtimeClock()
        for agent_id in ("1001", "1002"):
            board.add(agent_id)
        agent_phones = AgentPhones(board, bus, clock)
        phones.append(agent_phones)
        controls = AgentControls(board, agent_phones, clock, pause_reasons=["lunch"],
                                 max_wrap_up_s=300)
        settings = Settings(recordings={"dir": str(spool), "agent_access": access})
        app = create_app(settings=settings, bus=bus, calls=NoCalls(), metrics=Metrics(),
                         agents=board, agent_controls=controls, crm_sessions=sessions)
        client: TestClient[Any, Any] = TestClient(TestServer(app))
        await client.start_server()
        clients.append(client)
        return Server(client, board, sessions)

    try:
        yield build
    finally:
        for client in clients:
            await client.close()
        for agent_phones in phones:
            agent_phones.close()
        await engine.dispose()


async def test_supervisors_and_admins_hear_every_recording(make: Factory) -> None:
    server = await make("none")
    for role in ("supervisor", "admin"):
        played = await server.get(1, role)
        assert played.status == 200 and await played.read() == AUDIO
        assert played.headers["Cache-Control"] == "private, no-store"
        assert "inline" in played.headers["Content-Disposition"]
    ranged = await server.client.get("/api/interactions/1/recording", headers={
        "Authorization": f"Bearer {await token_for(server.client, 'supervisor')}",
        "Range": "bytes=0-3"})
    assert ranged.status == 206 and await ranged.read() == b"RIFF"
    seek = await server.client.get("/api/interactions/1/recording", headers={
        "Authorization": f"Bearer {await token_for(server.client, 'supervisor')}",
        "Range": "bytes=4-"})
    assert seek.status == 206
    # every play is audited, with who played it; a seek within a play is not a new play
    async with server.sessions() as session:
        audited = [(r.action, r.target, r.actor.split("-")[0]) for r in (await session.scalars(
            select(AuditRow).where(AuditRow.action == "recording.play")
            .order_by(AuditRow.id))).all()]
    assert audited == [("recording.play", "interaction:1", "user:supervisor"),
                       ("recording.play", "interaction:1", "user:admin"),
                       ("recording.play", "interaction:1", "user:supervisor")]


async def test_agents_hear_nothing_by_default(make: Factory) -> None:
    server = await make("none")
    for iid in (1, 3):  # not even its own call
        refused = await server.get(iid, "agent", "1001")
        assert refused.status == 403
        assert (await refused.json())["error"]["code"] == "forbidden"
    assert (await server.get(1, "agent", "1001", "HEAD")).status == 403


async def test_own_lets_an_agent_hear_its_own_calls_only(make: Factory) -> None:
    server = await make("own")
    assert (await server.get(3, "agent", "1001")).status == 200
    assert (await server.get(1, "agent", "1001")).status == 403
    assert (await server.get(4, "agent", "1001")).status == 403


async def test_caller_adds_the_past_calls_of_the_customer_on_the_line(make: Factory) -> None:
    server = await make("caller")
    assert (await server.get(1, "agent", "1001")).status == 403  # no call now
    agent = server.board["1001"]
    server.board.log_in(agent, 1.0)
    server.board.move(agent, AgentState.RESERVED, 1.0, call_id="now")  # customer 1 rings
    assert (await server.get(1, "agent", "1001", "HEAD")).status == 200
    assert (await server.get(1, "agent", "1001")).status == 200
    assert (await server.get(4, "agent", "1001")).status == 403  # another customer's
    assert (await server.get(3, "agent", "1001")).status == 200  # its own, always
    for state in (AgentState.ON_CALL, AgentState.WRAP_UP):
        server.board.move(agent, state, 2.0, call_id="now")
        assert (await server.get(1, "agent", "1001")).status == 200
    server.board.move(agent, AgentState.READY, 3.0)  # the call is over: so is the access
    assert (await server.get(1, "agent", "1001")).status == 403
    assert (await server.get(1, "agent", "1002")).status == 200  # 1002 took that call


async def test_missing_purged_escaping_and_unrecorded(make: Factory) -> None:
    server = await make("none")
    for iid, status, code in ((5, 410, "recording_purged"), (6, 404, "recording_not_found"),
                              (7, 404, "recording_not_found"), (99, 404,
                                                                "interaction_not_found")):
        answer = await server.get(iid, "supervisor")
        assert answer.status == status, iid
        assert (await answer.json())["error"]["code"] == code
    assert (await server.client.get("/api/interactions/1/recording")).status == 401
