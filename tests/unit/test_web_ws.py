"""``GET /ws/events``: snapshot first, streamed events, type filter, lag recovery, cleanup."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest
from aiohttp import WSCloseCode, WSMsgType, web
from aiohttp.test_utils import TestClient, TestServer

from callcenter.config import Settings
from callcenter.events import CallEnded, CallStarted, ChannelCreated, EventBus, PbxLinkUp
from callcenter.metrics import Metrics
from callcenter.web import create_app
from tests.accounts import sign_in, token_for

pytestmark = pytest.mark.unit


@dataclass
class FakeCall:
    call_id: str

    def to_dict(self) -> dict[str, Any]:
        return {"call_id": self.call_id}


@dataclass
class FakeModel:
    calls: dict[str, FakeCall] = field(default_factory=dict)
    channels: dict[str, Any] = field(default_factory=dict)
    bridges: dict[str, Any] = field(default_factory=dict)

    def snapshot(self) -> dict[str, Any]:
        return {"calls": [c.to_dict() for c in self.calls.values()], "channels": [], "bridges": []}

    def get_call(self, call_id: str) -> FakeCall | None:
        return self.calls.get(call_id)


@dataclass
class World:
    model: FakeModel = field(default_factory=FakeModel)
    bus: EventBus = field(default_factory=EventBus)
    metrics: Metrics = field(default_factory=Metrics)

    def app(self, **kwargs: Any) -> web.Application:
        return create_app(
            settings=Settings(), bus=self.bus, calls=self.model,
            metrics=self.metrics, **kwargs,
        )


Start = Callable[..., Awaitable[TestClient[Any, Any]]]


@pytest.fixture
def world() -> World:
    world = World()
    world.model.calls["c0"] = FakeCall("c0")
    return world


@pytest.fixture
async def start(world: World) -> AsyncIterator[Start]:
    clients: list[TestClient[Any, Any]] = []

    async def run(role: str | None = "supervisor", **kwargs: Any) -> TestClient[Any, Any]:
        client: TestClient[Any, Any] = TestClient(TestServer(world.app(**kwargs)))
        await client.start_server()
        clients.append(client)
        if role is not None:
            await sign_in(client, role)
        return client

    yield run
    for client in clients:
        await client.close()


def started(call_id: str, at: float = 1.0) -> CallStarted:
    return CallStarted(at=at, call_id=call_id, caller_num="100")


def ended(call_id: str) -> CallEnded:
    return CallEnded(at=2.0, call_id=call_id, hangup_cause=16, hangup_cause_text="Normal",
                     duration_s=1.0, answered=True)


async def receive_json(ws: aiohttp.ClientWebSocketResponse) -> dict[str, Any]:
    data: dict[str, Any] = await ws.receive_json(timeout=2)
    return data


async def eventually(predicate: Callable[[], bool]) -> None:
    for _ in range(200):
        if predicate():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition not reached within 2 s")


async def test_snapshot_then_streamed_events(world: World, start: Start) -> None:
    client = await start()
    async with client.ws_connect("/ws/events") as ws:
        first = await receive_json(ws)
        assert first["type"] == "snapshot"
        assert first["calls"] == [{"call_id": "c0"}]
        assert first["channels"] == [] and first["bridges"] == []
        world.bus.publish(started("c1"))
        world.bus.publish(ended("c1"))
        assert await receive_json(ws) == started("c1").to_dict()
        assert await receive_json(ws) == ended("c1").to_dict()


async def test_type_filter(world: World, start: Start) -> None:
    client = await start()
    async with client.ws_connect("/ws/events?types=call.ended,pbx.*") as ws:
        assert (await receive_json(ws))["type"] == "snapshot"
        world.bus.publish(started("c1"))
        world.bus.publish(
            ChannelCreated(at=1.0, call_id="c1", channel_id="x", name="n", state="Up")
        )
        world.bus.publish(ended("c1"))
        world.bus.publish(PbxLinkUp(at=3.0, pbx="asterisk"))
        assert (await receive_json(ws))["type"] == "call.ended"
        assert (await receive_json(ws))["type"] == "pbx.link_up"


async def test_unknown_type_is_refused(start: Start) -> None:
    client = await start()
    with pytest.raises(aiohttp.WSServerHandshakeError) as info:
        await client.ws_connect("/ws/events?types=call.started,call.exploded")
    assert info.value.status == 400


async def test_plain_get_is_400_json(start: Start) -> None:
    client = await start()
    resp = await client.get("/ws/events")
    assert resp.status == 400
    assert (await resp.json())["error"]["code"] == "websocket_required"


async def test_lagged_client_gets_count_and_fresh_snapshot(world: World, start: Start) -> None:
    client = await start(ws_queue_size=3)
    async with client.ws_connect("/ws/events") as ws:
        assert (await receive_json(ws))["type"] == "snapshot"
        for n in range(10):  # synchronously: the sender cannot run in between
            world.model.calls[f"c{n + 1}"] = FakeCall(f"c{n + 1}")
            world.bus.publish(started(f"c{n + 1}", at=float(n)))
        assert await receive_json(ws) == {"type": "lagged", "dropped": 10}
        fresh = await receive_json(ws)
        assert fresh["type"] == "snapshot"
        assert len(fresh["calls"]) == 11
        world.bus.publish(ended("c1"))  # the stream goes on after recovery
        assert (await receive_json(ws))["type"] == "call.ended"


async def test_close_unsubscribes_and_counts_clients(world: World, start: Start) -> None:
    client = await start()

    def clients() -> float | None:
        return world.metrics.registry.get_sample_value("callcenter_websocket_clients")

    async with client.ws_connect("/ws/events") as ws:
        await receive_json(ws)
        assert len(world.bus.subscriptions) == 1
        assert clients() == 1
        resp = await client.get("/metrics")
        assert "callcenter_websocket_clients 1.0" in await resp.text()
    await eventually(lambda: not world.bus.subscriptions)
    await eventually(lambda: clients() == 0)


async def test_heartbeat_pings(start: Start) -> None:
    client = await start(ws_heartbeat_s=0.05)
    async with client.ws_connect("/ws/events", autoping=False) as ws:
        assert (await receive_json(ws))["type"] == "snapshot"
        msg = await ws.receive(timeout=2)
        assert msg.type == WSMsgType.PING
        await ws.pong(msg.data)


async def test_shutdown_closes_streams(world: World, start: Start) -> None:
    client = await start()
    ws = await client.ws_connect("/ws/events")
    await receive_json(ws)
    await client.server.close()  # runs on_shutdown
    msg = await ws.receive(timeout=2)
    assert msg.type == WSMsgType.CLOSE and msg.data == WSCloseCode.GOING_AWAY
    await ws.close()
    assert not world.bus.subscriptions


async def test_single_use_ticket_or_bearer_header(start: Start) -> None:
    client = await start(role=None)
    with pytest.raises(aiohttp.WSServerHandshakeError) as info:
        await client.ws_connect("/ws/events")
    assert info.value.status == 401
    token = await token_for(client, "supervisor")
    with pytest.raises(aiohttp.WSServerHandshakeError) as info:  # no session token in URLs
        await client.ws_connect(f"/ws/events?token={token}")
    assert info.value.status == 401
    bearer = {"Authorization": f"Bearer {token}"}
    ticket = (await (await client.post("/api/auth/ws-ticket", headers=bearer)).json())["ticket"]
    async with client.ws_connect(f"/ws/events?ticket={ticket}") as ws:
        assert (await receive_json(ws))["type"] == "snapshot"
    with pytest.raises(aiohttp.WSServerHandshakeError) as info:  # single use
        await client.ws_connect(f"/ws/events?ticket={ticket}")
    assert info.value.status == 401
    async with client.ws_connect("/ws/events", headers=bearer) as ws:
        assert (await receive_json(ws))["type"] == "snapshot"
    agent = {"Authorization": f"Bearer {await token_for(client, 'agent', '2001')}"}
    with pytest.raises(aiohttp.WSServerHandshakeError) as info:  # all calls: supervisors'
        await client.ws_connect("/ws/events", headers=agent)
    assert info.value.status == 403


def test_latest_status_keeps_the_last_event_per_queue_and_campaign() -> None:
    from callcenter.events import CampaignChanged, LatestStatus, QueueChanged

    latest = LatestStatus()
    for waiting in (1, 3, 2):
        latest.on_event(QueueChanged(at=float(waiting), queue="support", waiting=waiting,
                                     oldest_wait_s=0.0, answered=0, abandoned=0))
    latest.on_event(QueueChanged(at=9.0, queue="sales", waiting=0, oldest_wait_s=0.0,
                                 answered=5, abandoned=1))
    latest.on_event(CampaignChanged(at=1.0, campaign="renewals", outcome="dialed",
                                    pacing="progressive", dialing=1, waiting=0, connected=0,
                                    placed=1, humans=0, dropped=0))
    status = latest.snapshot()
    assert [(q["queue"], q["waiting"]) for q in status["queues"]] == [("support", 2),
                                                                      ("sales", 0)]
    assert status["campaigns"][0]["placed"] == 1
