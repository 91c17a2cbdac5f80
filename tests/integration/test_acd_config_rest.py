"""``/api/config/...`` on REAL SQLite and PostgreSQL with the whole assembly running on the
simulated PBX: definitions are created, read, replaced and deleted, every refusal answers the
right status and stores nothing, and each change is run by the live center at once (a new
queue served, a changed queue's skills applied to the next caller, a new agent on the board
taking calls, pause reasons replaced, a deleted agent gone) with ``config.changed`` on the bus.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from callcenter import events as ev
from callcenter.acd.agents import AgentState
from callcenter.config import Settings
from callcenter.metrics import Metrics
from callcenter.web import create_app
from crm_bridge import acd_config
from tests.accounts import sign_in
from tests.unit.test_contact_center import World

pytestmark = pytest.mark.integration


@pytest.fixture
async def world() -> AsyncIterator[World]:
    w = World(["2001", "2002"])
    await w.center.start()
    yield w
    await w.center.close()


@pytest.fixture
async def client(world: World, sessions: async_sessionmaker[AsyncSession]
                 ) -> AsyncIterator[TestClient[Any, Any]]:
    app = create_app(settings=Settings(), bus=world.bus, calls=world.model, metrics=Metrics(),
                     crm_sessions=sessions, agent_controls=world.center.controls,
                     acd_runtime=world.center)
    async with TestClient(TestServer(app)) as test_client:
        await sign_in(test_client)
        yield test_client


async def _json(client: TestClient[Any, Any], method: str, path: str, body: Any = None,
                status: int = 200) -> Any:
    response = await client.request(method, path, json=body)
    text = await response.text()
    assert response.status == status, f"{method} {path}: {response.status} {text}"
    return await response.json() if text else None


async def test_queues_are_created_changed_and_deleted_live(
        client: TestClient[Any, Any], world: World,
        sessions: async_sessionmaker[AsyncSession]) -> None:
    # nothing stored: the settings' definitions are what runs and what is listed
    listed = await _json(client, "GET", "/api/config/queues")
    assert [q["name"] for q in listed["queues"]] == ["support"]
    assert await acd_config.load_definitions(sessions) is None

    vip = {"name": "vip", "strategy": "skills-level", "required_skills": {"vip": 2},
           "service_level_s": 10, "service_level_target": 0.9, "max_wait_s": 300,
           "callback_after_s": 90, "music_class": "calm", "announce_every_s": 30}
    created = await _json(client, "POST", "/api/config/queues", vip, 201)
    assert created["required_skills"] == {"vip": 2} and created["record"] is False
    await _json(client, "POST", "/api/config/queues", vip, 409)
    assert (await _json(client, "GET", "/api/config/queues/vip")) == created
    # the first write stored what ran before it: support is kept
    stored = await acd_config.load_definitions(sessions)
    assert stored is not None and [q.name for q in stored.queues] == ["support", "vip"]
    assert "vip" in world.center.queues  # served now
    stats = await _json(client, "GET", "/api/queues/stats")  # and reported, even idle
    assert {q["queue"] for q in stats["queues"]} == {"support", "vip"}
    changed = [e for e in world.events if isinstance(e, ev.ConfigChanged)]
    assert changed and changed[-1].queues == 2

    # a new agent with the vip skill appears on the board, logged in, and takes a vip caller
    world.sim.register_endpoint("PJSIP/2009")
    await _json(client, "POST", "/api/config/agents",
                {"agent_id": "2009", "name": "Vera", "skills": {"vip": 3}, "logged_in": True},
                201)
    agent = world.center.board["2009"]
    assert agent.state is AgentState.READY and agent.registered
    caller = world.sim.inject_inbound_call("+14155550199", "8005550100",
                                           variables={"CC_QUEUE": "vip"})
    await world.until(lambda: any(isinstance(e, ev.CallConnected) and e.channel_id == caller
                                  for e in world.events), what="vip caller answered")
    offered = next(e for e in world.events if isinstance(e, ev.CallOffered)
                   and e.channel_id == caller)
    assert (offered.queue, offered.agent_id) == ("vip", "2009")

    # support now needs French, which nobody speaks: the next caller waits with agents free
    await _json(client, "PUT", "/api/config/queues/support",
                {"required_skills": {"fr": 1}, "max_wait_s": 600})
    world.caller("+14155550198")
    support = world.center.queues["support"]
    await world.until(lambda: support.waiting == 1, what="caller waiting")
    assert world.center.board["2001"].state is AgentState.READY
    # ... so it cannot be deleted; nor can an overflow target
    body = await _json(client, "DELETE", "/api/config/queues/support", status=409)
    assert "in line" in body["error"]["message"]
    await _json(client, "POST", "/api/config/queues",
                {"name": "complaints", "overflow_queue": "vip", "overflow_after_s": 60}, 201)
    body = await _json(client, "DELETE", "/api/config/queues/vip", status=409)
    assert "complaints" in body["error"]["message"]
    await _json(client, "DELETE", "/api/config/queues/complaints", status=204)
    assert "complaints" not in world.center.queues
    await _json(client, "DELETE", "/api/config/queues/complaints", status=404)
    whole = await _json(client, "GET", "/api/config")
    assert [q["name"] for q in whole["queues"]] == ["support", "vip"]
    assert [a["agent_id"] for a in whole["agents"]] == ["2001", "2002", "2009"]


async def test_agents_and_pause_reasons_live(client: TestClient[Any, Any], world: World) -> None:
    await _json(client, "POST", "/api/config/pause-reasons",
                {"code": "huddle", "label": "Team huddle", "productive": True, "max_s": 900},
                201)
    assert "huddle" in world.center.controls.pause_reasons
    await _json(client, "PUT", "/api/agents/2001/state", {"state": "paused", "reason": "huddle"})
    assert world.center.board["2001"].pause_reason == "huddle"
    await _json(client, "DELETE", "/api/config/pause-reasons/huddle", status=204)
    await _json(client, "PUT", "/api/agents/2002/state", {"state": "paused", "reason": "huddle"},
                status=400)

    # an agent's endpoint override is where it rings; deleting an idle agent takes it away
    await _json(client, "PUT", "/api/config/agents/2002",
                {"skills": {"en": 4}, "endpoint": "PJSIP/bob"})
    assert world.center.endpoints.endpoint("2002") == "PJSIP/bob"
    bob = world.center.board["2002"]
    assert not bob.registered  # no phone registered on PJSIP/bob: never offered a call
    # ready: the dispatchers index it by its skills; the new ones apply when it leaves ready
    assert bob.skill_levels == {} and world.center.pending_skills["2002"] == {"en": 4}
    await _json(client, "PUT", "/api/agents/2002/state", {"state": "offline"})
    assert bob.skill_levels == {"en": 4} and bob.skills == {"en"}
    await _json(client, "DELETE", "/api/config/agents/2002", status=204)
    assert "2002" not in world.center.board
    agents = await _json(client, "GET", "/api/agents")
    assert [a["agent_id"] for a in agents["agents"]] == ["2001"]
    await _json(client, "GET", "/api/config/agents/2002", status=404)


HOSTILE: list[tuple[str, str, Any]] = [
    ("POST", "/api/config/queues", {"name": "a b"}),
    ("POST", "/api/config/queues", {"name": "x" * 65}),
    ("POST", "/api/config/queues", {"name": "q", "bogus": 1}),
    ("POST", "/api/config/queues", {"name": "q", "strategy": "telepathy"}),
    ("POST", "/api/config/queues", {"name": "q", "max_wait_s": -5}),
    ("POST", "/api/config/queues", {"name": "q", "service_level_target": 1.5}),
    ("POST", "/api/config/queues", {"name": "q", "required_skills": {"fr": 11}}),
    ("POST", "/api/config/queues", {"name": "q", "required_skills": {"f r": 1}}),
    ("POST", "/api/config/queues", {"name": "q", "required_skills": ["fr"]}),
    ("POST", "/api/config/queues", {"name": "q", "overflow_queue": "nowhere",
                                    "overflow_after_s": 5}),
    ("POST", "/api/config/queues", {"name": "q", "overflow_queue": "support"}),
    ("POST", "/api/config/queues", {"name": "q", "music_class": "../../etc"}),
    ("POST", "/api/config/queues", {"name": "'; DROP TABLE acd_queues; --"}),
    ("POST", "/api/config/queues", [1, 2]),
    ("POST", "/api/config/queues", "support"),
    ("POST", "/api/config/agents", {"agent_id": "2005", "name": "a\x00b"}),
    ("POST", "/api/config/agents", {"agent_id": "2005", "name": "n" * 201}),
    ("POST", "/api/config/agents", {"agent_id": "2005", "endpoint": "PJSIP/x,,h"}),
    ("POST", "/api/config/agents", {"agent_id": "2005", "logged_in": "maybe"}),
    ("POST", "/api/config/agents", {"agent_id": "2005", "skills": {"en": 0}}),
    ("POST", "/api/config/pause-reasons", {"code": "no_answer"}),
    ("POST", "/api/config/pause-reasons", {"code": "x", "max_s": 0}),
    ("PUT", "/api/config/queues/support", {"name": "other"}),
    ("PUT", "/api/config/queues/support", {"wrap_up_s": -1}),
]


async def test_hostile_payloads_are_400_and_store_nothing(
        client: TestClient[Any, Any], sessions: async_sessionmaker[AsyncSession]) -> None:
    for method, path, body in HOSTILE:
        response = await client.request(method, path, json=body)
        answer = await response.json()
        assert response.status == 400, (method, path, body, answer)
        assert answer["error"]["code"] == "invalid_definition", answer
    for raw in (b"null", b"{", b"\xff\xfe", b"[" * 100_000, b'{"name": "q", "max_wait_s": NaN}'):
        response = await client.post("/api/config/queues", data=raw,
                                     headers={"Content-Type": "application/json"})
        assert response.status == 400
    response = await client.post("/api/config/queues", data=b"name=q",
                                 headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert response.status == 415
    stored = await acd_config.load_definitions(sessions)
    assert stored is None or [q.name for q in stored.queues] == ["support"]
    await _json(client, "PUT", "/api/config/queues/nope", {"strategy": "random"}, 404)
