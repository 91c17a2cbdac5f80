"""Listen / whisper / barge: the spy call joins the agent's own leg, refusals are clear, and
the REST route maps them (201, 404, 409, 400, 403) — on the simulated PBX, whose ChanSpy
stays up until the spied leg hangs up."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from callcenter import events as ev
from callcenter.acd.agents import AgentState
from callcenter.config import Settings
from callcenter.core.pbx import SpyMode
from callcenter.metrics import Metrics
from callcenter.supervision import BadSupervisorPhone, NotOnCall, Supervision, UnknownAgent
from callcenter.web.app import create_app
from tests.accounts import sign_in
from tests.unit.test_contact_center import World

pytestmark = pytest.mark.unit


@pytest.fixture
async def worlds() -> Any:
    made: list[World] = []

    def make(agents: list[str]) -> World:
        made.append(World(agents))
        return made[-1]

    yield make
    for world in made:
        await world.center.close()


def _supervision(w: World) -> Supervision:
    w.sim.register_endpoint("PJSIP/9001")
    return Supervision(w.pbx, w.bus, w.center.board,  # type: ignore[arg-type]
                       w.center.endpoints, w.clock)


async def _talking(w: World, agent_id: str = "1001") -> None:
    await w.center.start()
    w.caller("+14155550111")
    agent = w.center.board[agent_id]
    await w.until(lambda: agent.state is AgentState.ON_CALL, what="agent on call")


@pytest.mark.parametrize("mode", list(SpyMode))
async def test_the_spy_joins_the_agents_leg_and_ends_with_it(worlds: Any, mode: SpyMode) -> None:
    w = worlds(["1001"])
    supervision = _supervision(w)
    await _talking(w)
    started = await supervision.spy("1001", "PJSIP/9001", mode, supervisor="sup1")
    target = w.model.channel(started.target_channel_id)
    assert target is not None and target.name.startswith("PJSIP/1001-")
    assert target.call_id == started.call_id
    spy = w.model.channel(started.spy_channel_id)
    assert spy is not None and spy.name.startswith("PJSIP/9001-")
    assert spy.variables["CC_SPY_TARGET"] == target.channel_id
    assert spy.variables["CC_SPY_MODE"] == mode.value
    published = [e for e in w.events if isinstance(e, ev.SpyStarted)]
    assert published == [started]
    assert (started.agent_id, started.mode, started.supervisor) == ("1001", mode.value, "sup1")
    # the conversation ends: the spy call goes with the agent's leg
    await w.until(lambda: w.model.channel(started.target_channel_id) is None, 60, "call over")
    await w.until(lambda: w.model.channel(started.spy_channel_id) is None, 5, "spy gone")


async def test_refusals_say_why(worlds: Any) -> None:
    w = worlds(["1001", "1002"])
    supervision = _supervision(w)
    await _talking(w)
    with pytest.raises(UnknownAgent):
        await supervision.spy("9999", "PJSIP/9001", SpyMode.LISTEN)
    with pytest.raises(NotOnCall, match="1002 is ready"):
        await supervision.spy("1002", "PJSIP/9001", SpyMode.LISTEN)
    for phone in ("9001", "PJSIP/9001,qB", "PJSIP/", "PJSIP/9001&PJSIP/9002", "PJSIP/1001",
                  "Local/9001@a@b", "Local/9001@ctx/n", "PJSIP/9001\n"):
        with pytest.raises(BadSupervisorPhone):
            await supervision.spy("1001", phone, SpyMode.LISTEN)
    assert not [e for e in w.events if isinstance(e, ev.SpyStarted)]
    assert not any(r.application == "ChanSpy" for r in w.pbx.originated)


async def test_the_route_maps_every_outcome(worlds: Any,
                                            caplog: pytest.LogCaptureFixture) -> None:
    w = worlds(["1001", "1002"])
    supervision = _supervision(w)
    await _talking(w)
    app = create_app(settings=Settings(), bus=w.bus, calls=w.model, metrics=Metrics(),
                     agents=w.center.board, agent_controls=w.center.controls,
                     supervision=supervision)
    async with TestClient(TestServer(app)) as client:
        await sign_in(client, "supervisor")
        for agent, body, status, code in (
                ("9999", {"mode": "listen", "endpoint": "PJSIP/9001"}, 404, "agent_not_found"),
                ("1002", {"mode": "listen", "endpoint": "PJSIP/9001"}, 409,
                 "agent_not_on_call"),
                ("1001", {"mode": "listen", "endpoint": "PJSIP/1001"}, 400, "bad_request"),
                ("1001", {"mode": "shout", "endpoint": "PJSIP/9001"}, 400, "validation_error"),
                ("1001", {"mode": "listen"}, 400, "validation_error")):
            resp = await client.post(f"/api/agents/{agent}/spy", json=body)
            assert resp.status == status, await resp.text()
            assert (await resp.json())["error"]["code"] == code
        with caplog.at_level(logging.INFO, logger="callcenter.audit"):
            resp = await client.post("/api/agents/1001/spy",
                                     json={"mode": "whisper", "endpoint": "PJSIP/9001"})
        assert resp.status == 201, await resp.text()
        body = await resp.json()
        assert body["type"] == "spy.started" and body["mode"] == "whisper"
        assert body["supervisor"].startswith("user:supervisor-") and body["agent_id"] == "1001"
        # audited: who whispered to whom (refused attempts are not actions)
        audited = [r.getMessage() for r in caplog.records if r.name == "callcenter.audit"]
        assert audited == [f"audit spy.whisper by {body['supervisor']} on 1001"]
        assert w.model.channel(body["spy_channel_id"]) is not None
    agent_only = create_app(settings=Settings(), bus=w.bus, calls=w.model, metrics=Metrics(),
                            supervision=supervision)
    async with TestClient(TestServer(agent_only)) as client:
        await sign_in(client, "agent", "1001")  # even about itself: supervisors only
        resp = await client.post("/api/agents/1001/spy",
                                 json={"mode": "listen", "endpoint": "PJSIP/9001"})
        assert resp.status == 403
    assert len([e for e in w.events if isinstance(e, ev.SpyStarted)]) == 1
