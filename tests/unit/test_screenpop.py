"""Screen pops in-process: the real call model fed AMI events, the real app and WebSockets."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from callcenter.config import Settings
from callcenter.cti.model import CallModel
from callcenter.events import EventBus
from callcenter.metrics import Metrics
from callcenter.screenpop.detect import RingDetector
from callcenter.screenpop.hub import AgentHub
from callcenter.screenpop.service import ScreenPopService
from callcenter.web import Principal, create_app

pytestmark = pytest.mark.unit

CARD = {"customer_id": 7, "name": "王伟", "phones": ["+8613800138000"]}


def ami(event: str, uid: str, name: str, state: str, linked: str = "c1", **extra: str,
        ) -> dict[str, str]:
    return {"Event": event, "Uniqueid": uid, "Linkedid": linked, "Channel": name,
            "ChannelState": state, **extra}


def ring_agent(model: CallModel, agent: str = "2001", caller: str = "+8613800138000",
               call: str = "c1") -> None:
    model.apply(ami("Newchannel", call, f"PJSIP/trunk-{call}0000", "4", call,
                    CallerIDNum=caller))
    model.apply(ami("Newchannel", f"{call}-a", f"PJSIP/{agent}-0000000a", "0", call))
    model.apply(ami("Newstate", f"{call}-a", f"PJSIP/{agent}-0000000a", "5", call))


def test_detector_finds_the_agent_once_and_ignores_the_trunk() -> None:
    bus = EventBus()
    model = CallModel(emit=bus.publish)
    detector = RingDetector(model)
    found = []
    bus.add_handler(lambda e: found.append(r) if (r := detector.on_event(e)) else None)
    ring_agent(model)
    model.apply(ami("Newstate", "c1-a", "PJSIP/2001-0000000a", "4", "c1"))  # rings again
    assert len(found) == 1
    assert (found[0].agent_id, found[0].call_id, found[0].caller_number) == (
        "2001", "c1", "+8613800138000")
    model.apply(ami("VarSet", "c1", "PJSIP/trunk-c10000", "6", "c1",
                    Variable="CC_CUSTOMER_CODE", Value="C-0042"))
    model.apply(ami("Newchannel", "c1-b", "PJSIP/2002-0000000b", "5", "c1"))
    assert found[-1].agent_id == "2002" and found[-1].lookup_key == "C-0042"


class Lookups:
    def __init__(self, answers: dict[str, Any]) -> None:
        self.answers = answers
        self.asked: list[str] = []

    async def __call__(self, text: str) -> dict[str, Any]:
        self.asked.append(text)
        answer = self.answers.get(text, {"match": None})
        if isinstance(answer, Exception):
            raise answer
        return answer


class AgentAuth:
    """Test authenticator: the token is the principal id."""

    async def authenticate(self, request: web.Request) -> Principal:
        token = request.query.get("token", "")
        roles = {"supervisor"} if token == "boss" else {"agent"}
        agent_id = token.removeprefix("agent:") if token.startswith("agent:") else None
        return Principal(token or "anonymous", frozenset(roles), agent_id)


@pytest.fixture
async def world() -> AsyncIterator[tuple[CallModel, Lookups, TestClient[Any, Any]]]:
    bus = EventBus()
    model = CallModel(emit=bus.publish)
    hub = AgentHub()
    lookups = Lookups({
        "+8613800138000": {"match": CARD},
        "+14155550132": {"match": None, "candidates": [{"customer_id": 1}, {"customer_id": 2}]},
        "+441234": RuntimeError("database down"),
    })
    service = ScreenPopService(bus, model, hub, lookups)
    app = create_app(settings=Settings(), bus=bus, calls=model,
                     metrics=Metrics(), agent_hub=hub, authenticator=AgentAuth())
    client = TestClient(TestServer(app))
    await client.start_server()
    yield model, lookups, client
    await service.close()
    await client.close()


async def hello(client: TestClient[Any, Any], agent: str,
                token: str | None = None) -> aiohttp.ClientWebSocketResponse:
    ws = await client.ws_connect(f"/ws/agents/{agent}?token={token or 'agent:' + agent}")
    assert (await ws.receive_json(timeout=2)) == {"type": "hello", "agent_id": agent}
    return ws


async def test_card_reaches_the_ringing_agent_only(world: Any) -> None:
    model, lookups, client = world
    mine, other = await hello(client, "2001"), await hello(client, "2002")
    boss = await hello(client, "2001", token="boss")  # a supervisor may watch a console
    ring_agent(model)
    pop = await mine.receive_json(timeout=2)
    assert pop["type"] == "screen_pop" and pop["card"] == CARD and not pop["new_caller"]
    assert pop["call_id"] == "c1" and pop["caller_number"] == "+8613800138000"
    assert (await boss.receive_json(timeout=2))["card"] == CARD
    with pytest.raises(asyncio.TimeoutError):
        await other.receive_json(timeout=0.3)
    assert lookups.asked == ["+8613800138000"]


async def test_unknown_shared_and_failed_lookups(world: Any) -> None:
    model, _, client = world
    ws = await hello(client, "2001")
    ring_agent(model, caller="+19998887777", call="u1")
    unknown = await ws.receive_json(timeout=2)
    assert unknown["new_caller"] and unknown["card"] is None
    ring_agent(model, caller="+14155550132", call="s1")
    shared = await ws.receive_json(timeout=2)
    assert len(shared["candidates"]) == 2 and not shared["new_caller"]
    ring_agent(model, caller="+441234", call="f1")
    failed = await ws.receive_json(timeout=2)
    assert failed["error"] == "CRM look-up failed" and failed["card"] is None


async def test_another_agents_stream_is_forbidden(world: Any) -> None:
    _, _, client = world
    response = await client.get("/ws/agents/2001?token=agent:2002")
    assert response.status == 403
    assert (await response.json())["error"]["code"] == "forbidden"
