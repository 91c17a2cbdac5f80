"""``/api/agents``: the list and the actions, with the errors mapped (404, 409, 400, 415)."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from callcenter.acd.agents import AgentBoard, AgentState
from callcenter.acd.controls import AgentControls
from callcenter.acd.phones import AgentPhones
from callcenter.config import Settings
from callcenter.core.clock import RealtimeClock
from callcenter.events import EventBus
from callcenter.metrics import Metrics
from callcenter.web.app import create_app
from tests.accounts import sign_in
from tests.fakes import NoCalls

pytestmark = pytest.mark.unit


@pytest.fixture
async def api() -> Any:
    bus = EventBus()
    board = AgentBoard()
    for agent_id in ("1001", "1002"):
        board.add(agent_id)
    clock = RealtimeClock()
    phones = AgentPhones(board, bus, clock)
    controls = AgentControls(board, phones, clock, pause_reasons=["lunch", "break"],
                             max_wrap_up_s=300)
    app = create_app(settings=Settings(), bus=bus, calls=NoCalls(), metrics=Metrics(),
                     agents=board, agent_controls=controls)
    async with TestClient(TestServer(app)) as client:
        await sign_in(client)
        yield client, board


async def test_agents_log_in_pause_and_log_out(api: Any) -> None:
    client, board = api
    listed = await (await client.get("/api/agents")).json()
    assert [(a["agent_id"], a["state"]) for a in listed["agents"]] == [
        ("1001", "offline"), ("1002", "offline")]
    resp = await client.put("/api/agents/1001/state", json={"state": "ready"})
    assert resp.status == 200 and (await resp.json())["state"] == "ready"
    resp = await client.put("/api/agents/1001/state", json={"state": "paused",
                                                            "reason": "lunch"})
    body = await resp.json()
    assert resp.status == 200 and body["state"] == "paused" and body["reason"] == "lunch"
    assert board["1001"].state is AgentState.PAUSED
    resp = await client.put("/api/agents/1001/state", json={"state": "offline"})
    assert (await resp.json())["state"] == "offline"


@pytest.mark.parametrize(("path", "payload", "status", "code"), [
    ("/api/agents/9999/state", {"state": "ready"}, 404, "agent_not_found"),
    ("/api/agents/1001/state", {"state": "paused"}, 400, "bad_request"),
    ("/api/agents/1001/state", {"state": "paused", "reason": "nap"}, 400, "bad_request"),
    ("/api/agents/1001/state", {"state": "asleep"}, 400, "validation_error"),
    ("/api/agents/1001/state", {"state": "ready", "extra": 1}, 400, "validation_error"),
    ("/api/agents/1001/wrap-up", {"extend_s": 30}, 409, "agent_busy"),
    ("/api/agents/1001/wrap-up", {}, 400, "bad_request"),
    ("/api/agents/1001/wrap-up", {"extend_s": -5}, 400, "validation_error"),
])
async def test_bad_actions_are_clear_errors(api: Any, path: str, payload: dict[str, Any],
                                            status: int, code: str) -> None:
    client, board = api
    method = client.put if path.endswith("/state") else client.post
    resp = await method(path, json=payload)
    assert resp.status == status, await resp.text()
    assert (await resp.json())["error"]["code"] == code
    assert board["1001"].state is AgentState.OFFLINE  # nothing changed


async def test_actions_need_a_json_body(api: Any) -> None:
    client, _ = api
    resp = await client.put("/api/agents/1001/state", data='{"state": "ready"}',
                            headers={"Content-Type": "text/plain"})
    assert resp.status == 415


async def test_without_an_acd_the_routes_say_so() -> None:
    app = create_app(settings=Settings(), bus=EventBus(), calls=NoCalls(), metrics=Metrics())
    async with TestClient(TestServer(app)) as client:
        await sign_in(client)
        resp = await client.get("/api/agents")
        assert resp.status == 503
        assert (await resp.json())["error"]["code"] == "acd_unavailable"
