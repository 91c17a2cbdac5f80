"""HTTP routes of the web app: health, metrics, calls, JSON errors, authentication seam."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from callcenter.config import HttpSettings, Settings
from callcenter.core.pbx import PbxStatus
from callcenter.cti.link import LinkStats
from callcenter.events import CallStarted, EventBus
from callcenter.metrics import Metrics
from callcenter.web import (
    ACCESS,
    AuthenticationError,
    Authenticator,
    Principal,
    create_app,
    principal,
    request_token,
    require_role,
)
from callcenter.web.access import SIGNED_IN
from tests.accounts import sign_in

pytestmark = pytest.mark.unit


@dataclass
class FakeCall:
    call_id: str

    def to_dict(self) -> dict[str, Any]:
        return {"call_id": self.call_id, "state": "up"}


@dataclass
class FakeModel:
    calls: dict[str, FakeCall] = field(default_factory=dict)
    channels: dict[str, dict[str, Any]] = field(default_factory=dict)
    bridges: dict[str, dict[str, Any]] = field(default_factory=dict)

    def snapshot(self) -> dict[str, Any]:
        return {
            "calls": [c.to_dict() for c in self.calls.values()],
            "channels": list(self.channels.values()),
            "bridges": list(self.bridges.values()),
        }

    def get_call(self, call_id: str) -> FakeCall | None:
        return self.calls.get(call_id)


@dataclass
class World:
    model: FakeModel = field(default_factory=FakeModel)
    link: LinkStats = field(default_factory=lambda: LinkStats(connected=True))
    bus: EventBus = field(default_factory=EventBus)
    metrics: Metrics = field(default_factory=Metrics)

    def __post_init__(self) -> None:
        self.metrics.link = self.link  # the composition root binds the AMI counters

    def status(self) -> PbxStatus:
        """What AsteriskPbx.status() reads from the same counters."""
        return PbxStatus(pbx=self.link.pbx, connected=self.link.connected,
                         version=self.link.asterisk_version, last_error=self.link.last_error,
                         details={"events_received": self.link.events_received})

    def app(
        self,
        health_checks: Mapping[str, Callable[[], Awaitable[None]]] | None = None,
        authenticator: Authenticator | None = None,
        **kwargs: Any,
    ) -> web.Application:
        return create_app(
            settings=Settings(http=HttpSettings(max_body_bytes=1024)),
            bus=self.bus,
            calls=self.model,
            pbx_status=self.status,
            metrics=self.metrics,
            health_checks=health_checks,
            authenticator=authenticator,
            **kwargs,
        )


@pytest.fixture
def world() -> World:
    return World()


@pytest.fixture
async def serve() -> AsyncIterator[Callable[[web.Application], Awaitable[TestClient[Any, Any]]]]:
    clients: list[TestClient[Any, Any]] = []

    async def start(app: web.Application, role: str | None = "admin") -> TestClient[Any, Any]:
        """Serve ``app`` with a client signed in as a fresh ``role`` account (None: nobody)."""
        client: TestClient[Any, Any] = TestClient(TestServer(app))
        await client.start_server()
        clients.append(client)
        if role is not None:
            await sign_in(client, role)
        return client

    yield start
    for client in clients:
        await client.close()


async def ok_check() -> None:
    return None


async def failing_check() -> None:
    raise ConnectionRefusedError("postgresql://cc:hunter2@db/cc refused")


async def hanging_check() -> None:
    await asyncio.sleep(10)


# --- health ---------------------------------------------------------------------------------


async def test_health_all_up(world: World, serve: Any) -> None:
    world.link.asterisk_version = "22.0.0"
    client = await serve(world.app({"database": ok_check, "redis": ok_check}))
    resp = await client.get("/health")
    assert resp.status == 200
    body = await resp.json()
    assert body["status"] == "ok"
    assert body["components"]["pbx"]["status"] == "up"
    assert body["components"]["pbx"]["version"] == "22.0.0"
    assert body["components"]["database"] == {"status": "up"}
    assert body["components"]["redis"] == {"status": "up"}


async def test_health_pbx_down_alone_is_503(world: World, serve: Any) -> None:
    world.link.connected = False
    world.link.last_error = "connection refused"
    client = await serve(world.app({"database": ok_check}))
    resp = await client.get("/health")
    assert resp.status == 503
    body = await resp.json()
    assert body["status"] == "down"
    assert body["components"]["pbx"]["status"] == "down"
    assert body["components"]["pbx"]["last_error"] == "connection refused"
    assert body["components"]["database"]["status"] == "up"


async def test_health_failing_and_hanging_checks(world: World, serve: Any) -> None:
    app = world.app({"database": failing_check, "redis": hanging_check}, health_timeout_s=0.05)
    client = await serve(app)
    resp = await client.get("/health")
    assert resp.status == 503
    components = (await resp.json())["components"]
    assert components["pbx"]["status"] == "up"
    assert components["database"]["status"] == "down"
    assert components["database"]["error"].startswith("ConnectionRefusedError")
    assert "hunter2" not in components["database"]["error"]
    assert components["redis"] == {"status": "down", "error": "timed out after 0.05s"}


def test_pbx_check_name_is_reserved(world: World) -> None:
    with pytest.raises(ValueError, match="reserved"):
        world.app({"pbx": ok_check})


# --- metrics --------------------------------------------------------------------------------


async def test_metrics_endpoint(world: World, serve: Any) -> None:
    world.model.calls["c1"] = FakeCall("c1")
    world.link.events_received = 7
    world.bus.add_handler(world.metrics.on_event)
    world.bus.publish(CallStarted(at=1.0, call_id="c1"))
    client = await serve(world.app())
    resp = await client.get("/metrics")
    assert resp.status == 200
    assert resp.headers["Content-Type"].startswith("text/plain")
    text = await resp.text()
    assert "callcenter_active_calls 1.0" in text
    assert 'callcenter_ami_connected{pbx="asterisk"} 1.0' in text
    assert 'callcenter_ami_events_received_total{pbx="asterisk"} 7.0' in text
    assert 'callcenter_domain_events_total{type="call.started"} 1.0' in text
    assert "callcenter_websocket_clients 0.0" in text


def test_create_app_binds_unbound_metrics_only(world: World) -> None:
    world.app()
    assert world.metrics.calls is world.model
    other = World(metrics=Metrics(calls=FakeModel()))
    other.app()
    assert other.metrics.calls is not other.model


async def test_two_apps_in_one_process(serve: Any) -> None:
    first, second = World(), World()
    for world in (first, second):
        client = await serve(world.app())
        assert (await client.get("/metrics")).status == 200


# --- calls ----------------------------------------------------------------------------------


async def test_calls_say_when_the_model_is_not_synced_yet(world: World, serve: Any) -> None:
    """Before the first resync (or while the link is down) "no calls" means "not known yet"."""
    world.link.connected = False
    client = await serve(world.app())
    body = await (await client.get("/api/calls")).json()
    assert body["synced"] is False and body["calls"] == []
    world.link.connected = True
    assert (await (await client.get("/api/calls")).json())["synced"] is True


async def test_list_and_get_calls(world: World, serve: Any) -> None:
    world.model.calls["1700000000.1"] = FakeCall("1700000000.1")
    world.model.channels["ch"] = {"channel_id": "ch", "name": "PJSIP/100-00000001"}
    client = await serve(world.app())
    resp = await client.get("/api/calls")
    assert resp.status == 200
    assert await resp.json() == {"synced": True, **world.model.snapshot()}
    resp = await client.get("/api/calls/1700000000.1")
    assert resp.status == 200
    assert await resp.json() == {"call_id": "1700000000.1", "state": "up"}


async def test_unknown_call_is_404_json(world: World, serve: Any) -> None:
    client = await serve(world.app())
    resp = await client.get("/api/calls/nope")
    assert resp.status == 404
    body = await resp.json()
    assert body["error"]["code"] == "call_not_found"
    assert "nope" in body["error"]["message"]


# --- errors ---------------------------------------------------------------------------------


async def test_unknown_route_is_404_json(world: World, serve: Any) -> None:
    client = await serve(world.app())
    resp = await client.get("/no/such/thing")
    assert resp.status == 404
    assert resp.content_type == "application/json"
    assert (await resp.json())["error"] == {"code": "not_found", "message": "Not Found"}


async def test_wrong_method_is_405_json_with_allow(world: World, serve: Any) -> None:
    client = await serve(world.app())
    resp = await client.delete("/api/calls")
    assert resp.status == 405
    assert "GET" in resp.headers["Allow"]
    assert (await resp.json())["error"]["code"] == "method_not_allowed"


async def test_oversized_body_is_413_before_routing(world: World, serve: Any) -> None:
    client = await serve(world.app())
    resp = await client.post("/api/calls", data=b"x" * 2048)
    assert resp.status == 413
    body = await resp.json()
    assert body["error"]["code"] == "payload_too_large"
    assert "1024" in body["error"]["message"]


def with_test_routes(app: web.Application) -> web.Application:
    async def echo(request: web.Request) -> web.Response:
        return web.json_response(await request.json())

    async def boom(request: web.Request) -> web.Response:
        raise RuntimeError("db password=hunter2 exploded")

    async def supervisors(request: web.Request) -> web.Response:
        who = require_role(request, "supervisor")
        return web.json_response({"id": who.id})

    async def whoami(request: web.Request) -> web.Response:
        who = principal(request)
        return web.json_response({"id": who.id, "roles": sorted(who.roles)})

    app.router.add_post("/test/echo", echo, name="test_echo")
    app.router.add_get("/test/boom", boom, name="test_boom")
    app.router.add_get("/test/supervisors", supervisors, name="test_supervisors")
    app.router.add_get("/test/whoami", whoami, name="test_whoami")
    return app


@pytest.fixture(autouse=True)
def _declare_test_routes(monkeypatch: pytest.MonkeyPatch) -> None:
    """The test routes above, declared like any route (deny by default otherwise)."""
    for name in ("test_echo", "test_boom", "test_supervisors", "test_whoami"):
        monkeypatch.setitem(ACCESS, name, SIGNED_IN)


async def test_streamed_oversized_body_is_413(world: World, serve: Any) -> None:
    client = await serve(with_test_routes(world.app()))

    async def chunks() -> AsyncIterator[bytes]:  # chunked: no Content-Length to check early
        for _ in range(4):
            yield b"[" + b"1," * 300 + b"1]"

    resp = await client.post("/test/echo", data=chunks(),
                             headers={"Content-Type": "application/json"})
    assert resp.status == 413
    assert (await resp.json())["error"]["code"] == "payload_too_large"


async def test_bad_json_is_400(world: World, serve: Any) -> None:
    client = await serve(with_test_routes(world.app()))
    headers = {"Content-Type": "application/json"}
    resp = await client.post("/test/echo", data=b"{not json", headers=headers)
    assert resp.status == 400
    assert (await resp.json())["error"]["code"] == "invalid_json"
    resp = await client.post("/test/echo", json={"a": 1})
    assert await resp.json() == {"a": 1}


async def test_unexpected_error_is_500_generic_and_logged(
    world: World, serve: Any, caplog: pytest.LogCaptureFixture
) -> None:
    client = await serve(with_test_routes(world.app()))
    with caplog.at_level(logging.ERROR, logger="callcenter.web.errors"):
        resp = await client.get("/test/boom")
    assert resp.status == 500
    assert await resp.json() == {
        "error": {"code": "internal_error", "message": "internal server error"}
    }
    (record,) = [r for r in caplog.records if r.name == "callcenter.web.errors"]
    assert record.exc_info is not None and "/test/boom" in record.getMessage()


# --- authentication seam --------------------------------------------------------------------


class TokenAuth:
    """What the agent-console issue will plug in, in miniature."""

    async def authenticate(self, request: web.Request) -> Principal:
        token = request_token(request)
        if token == "agent-token":
            return Principal("agent-7", frozenset({"agent"}))
        raise AuthenticationError("missing or invalid token")


async def test_default_lets_nobody_in_until_signed_in(world: World, serve: Any) -> None:
    client = await serve(with_test_routes(world.app()), role=None)
    resp = await client.get("/test/whoami")
    assert resp.status == 401 and resp.headers["WWW-Authenticate"] == "Bearer"
    await sign_in(client, "supervisor")
    resp = await client.get("/test/whoami")
    body = await resp.json()
    assert body["id"].startswith("user:supervisor-") and body["roles"] == ["supervisor"]
    assert (await client.get("/test/supervisors")).status == 200


async def test_real_authenticator_plugs_in(world: World, serve: Any) -> None:
    client = await serve(with_test_routes(world.app(authenticator=TokenAuth())), role=None)
    resp = await client.get("/api/calls")
    assert resp.status == 401
    assert resp.headers["WWW-Authenticate"] == "Bearer"
    assert (await resp.json())["error"]["code"] == "unauthorized"
    bearer = {"Authorization": "Bearer agent-token"}
    assert (await client.get("/api/calls", headers=bearer)).status == 403  # supervisors'
    assert (await client.get("/test/whoami", headers=bearer)).status == 200
    resp = await client.get("/test/whoami", headers=bearer)
    assert await resp.json() == {"id": "agent-7", "roles": ["agent"]}
    resp = await client.get("/test/supervisors", headers=bearer)
    assert resp.status == 403
    assert (await resp.json())["error"]["code"] == "forbidden"
    # no credential in a URL (URLs end up in logs)
    assert (await client.get("/test/whoami?token=agent-token")).status == 401
    # probes and scrapers on loopback need no credential; nor does the API description
    for path in ("/health", "/metrics", "/openapi.json", "/openapi.yaml"):
        assert (await client.get(path)).status == 200, path
