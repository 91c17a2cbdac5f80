"""Sessions, WebSocket tickets and login throttling in Redis (``callcenter.accounts.
redis_sessions``), as several server processes on one Redis use them: a session opened on one
process works on another and survives a restart, a ticket is single-use across processes, a
log-out or a disabled user ends the session everywhere, and failed log-ins add up over the
processes."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
import redis.asyncio as aioredis
from aiohttp.test_utils import TestClient, TestServer

from callcenter.accounts import MemoryUsers
from callcenter.config import Settings
from callcenter.events import EventBus
from callcenter.metrics import Metrics
from callcenter.web.accounts_state import SESSIONS
from callcenter.web.app import create_app
from tests.accounts import PASSWORD, add_user, login
from tests.fakes import NoCalls

pytestmark = pytest.mark.integration

Factory = Callable[[], Any]


@pytest.fixture
async def processes(redis_url: str) -> AsyncIterator[Factory]:
    """Server processes (apps) on one Redis and one user directory; closed at the end."""
    users = MemoryUsers()
    started: list[TestClient[Any, Any]] = []

    async def start() -> TestClient[Any, Any]:
        app = create_app(settings=Settings(redis_url=redis_url), bus=EventBus(),
                         calls=NoCalls(), metrics=Metrics(), users=users)
        client: TestClient[Any, Any] = TestClient(TestServer(app))
        await client.start_server()
        started.append(client)
        return client

    yield start
    for client in started:
        if not client.server.closed:
            await client.close()


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_a_session_opened_on_one_process_works_on_the_others(
        processes: Factory) -> None:
    one, two = await processes(), await processes()
    name = await add_user(one, "agent", "1001", username=f"agent-{uuid.uuid4().hex[:6]}")
    token = (await login(one, name))["token"]
    on_two = await two.get("/api/auth/session", headers=_bearer(token))
    assert on_two.status == 200, await on_two.text()
    assert (await on_two.json())["username"] == name

    # a WebSocket ticket made on one process opens a stream on the other, once
    ticket = (await (await one.post("/api/auth/ws-ticket", headers=_bearer(token))).json())[
        "ticket"]
    socket_ = await two.ws_connect(f"/ws/agents/1001?ticket={ticket}")
    assert (await socket_.receive_json(timeout=5))["type"] == "hello"
    await socket_.close()
    again = await one.get(f"/ws/agents/1001?ticket={ticket}",
                          headers={"Upgrade": "websocket", "Connection": "Upgrade",
                                   "Sec-WebSocket-Version": "13",
                                   "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="})
    assert again.status == 401

    # a restart signs nobody out: a new process knows the session
    await one.close()
    three = await processes()
    assert (await three.get("/api/auth/session", headers=_bearer(token))).status == 200

    # a log-out on one process ends the session on every one
    assert (await three.post("/api/auth/logout", headers=_bearer(token))).status == 204
    assert (await two.get("/api/auth/session", headers=_bearer(token))).status == 401


async def test_a_disabled_users_sessions_end_on_every_process(processes: Factory) -> None:
    one, two = await processes(), await processes()
    name = await add_user(one, "agent", "1002", username=f"agent-{uuid.uuid4().hex[:6]}")
    first = (await login(one, name))["token"]
    second = (await login(two, name))["token"]
    assert await one.app[SESSIONS].close_user(name) == 2
    for client, token in ((one, second), (two, first)):
        assert (await client.get("/api/auth/session", headers=_bearer(token))).status == 401


async def test_failed_log_ins_add_up_over_the_processes(processes: Factory,
                                                         redis_url: str) -> None:
    one, two = await processes(), await processes()
    name = await add_user(one, "supervisor", username=f"victim-{uuid.uuid4().hex[:6]}")
    address_key = "callcenter:login-failures:ip:127.0.0.1"
    raw = aioredis.Redis.from_url(redis_url)
    try:
        for client in (one, two, one, two, one):  # five wrong guesses, spread
            wrong = await client.post("/api/auth/login",
                                      json={"username": name, "password": "wrong-password"})
            assert wrong.status == 401
        # the sixth is refused before the password is looked at, on either process — even
        # the right one
        for client in (two, one):
            refused = await client.post("/api/auth/login",
                                        json={"username": name, "password": PASSWORD})
            assert refused.status == 429, await refused.text()
            assert int(refused.headers["Retry-After"]) > 0
    finally:
        # the address's count is shared by this session's other Redis-backed tests
        await raw.delete(address_key)
        await raw.aclose()
