"""No open doors: every route and stream is declared in ONE table
(``callcenter/web/access.py``) and enforced — anonymous 401, too-low role 403 — and the
session rules hold (CSRF token on cookie writes, single-use tickets, throttled log-ins)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from callcenter.accounts import role_rank
from callcenter.config import AuthSettings, Settings
from callcenter.events import EventBus
from callcenter.metrics import Metrics
from callcenter.web import create_app
from callcenter.web.access import ACCESS, Need, need_of
from tests.accounts import PASSWORD, add_user, token_for

pytestmark = pytest.mark.unit


class NoCalls:
    calls: dict[str, Any] = {}
    channels: dict[str, Any] = {}
    bridges: dict[str, Any] = {}

    def snapshot(self) -> dict[str, Any]:
        return {"calls": [], "channels": [], "bridges": []}

    def get_call(self, call_id: str) -> None:
        return None


def make_app(**auth: Any) -> web.Application:
    return create_app(settings=Settings(auth=AuthSettings(**auth)), bus=EventBus(),
                      calls=NoCalls(), metrics=Metrics())


@pytest.fixture
async def client() -> AsyncIterator[TestClient[Any, Any]]:
    async with TestClient(TestServer(make_app())) as client:
        yield client


def routes(app: web.Application) -> list[tuple[str, str, web.AbstractRoute]]:
    """(method, a concrete path, route) for every registered route but HEAD twins."""
    found = []
    for route in app.router.routes():
        if route.method == "HEAD" or route.resource is None:
            continue
        path = re.sub(r"\{(\w+)[^}]*\}", lambda m: "2002" if m[1] == "agent_id" else "1",
                      route.resource.canonical)
        found.append((route.method, path, route))
    return found


def test_every_route_is_declared_and_every_declaration_is_routed() -> None:
    app = make_app()
    missing = [f"{method} {route.resource.canonical} (name={route.resource.name!r})"
               for method, _, route in routes(app) if route.resource is not None
               and need_of(route) is None]
    assert not missing, (
        "routes nobody may call until declared: give each a name (router.add_*(..., name=...)) "
        "and add that name with its need (PUBLIC, PROBE, SIGNED_IN, AGENT, SUPERVISOR, ADMIN, "
        "OWN_AGENT, SELF, or a dict per method) to ACCESS in callcenter/web/access.py, and "
        f"describe it in callcenter/web/openapi.yaml: {missing}")
    names = {route.resource.name for _, _, route in routes(app) if route.resource is not None}
    assert set(ACCESS) - names == set(), "ACCESS declares routes that no longer exist"


async def test_anonymous_gets_401_everywhere_but_public_routes(
        client: TestClient[Any, Any]) -> None:
    for method, path, route in routes(client.app):
        need = need_of(route)
        response = await client.request(method, path, json={} if method != "GET" else None,
                                        allow_redirects=False)
        if need in (Need.PUBLIC, Need.PROBE):  # probes: open on loopback by default
            assert response.status != 401, f"{method} {path}"
        else:
            assert response.status == 401, f"{method} {path}: {response.status}"
            assert response.headers["WWW-Authenticate"] == "Bearer"


async def test_a_lower_role_gets_403_and_the_right_one_passes(
        client: TestClient[Any, Any]) -> None:
    tokens = {role: await token_for(client, role, "2001" if role == "agent" else None)
              for role in ("agent", "supervisor", "admin")}
    checked = 0
    for method, path, route in routes(client.app):
        need = need_of(route)
        assert need is not None
        if route.resource is not None and route.resource.name == "auth_logout":
            continue  # would end the sessions this walk uses (tested on its own)
        for role, token in tokens.items():
            response = await client.request(
                method, path, json={} if method != "GET" else None, allow_redirects=False,
                headers={"Authorization": f"Bearer {token}"})
            if need is Need.OWN_AGENT:  # the path names agent 2002; the agent is 2001
                refused = role == "agent"
            elif need is Need.SELF:  # agent 2002 itself only: nobody of this walk
                refused = True
            elif need.value in ("agent", "supervisor", "admin"):
                refused = role_rank(role) < role_rank(need.value)
            else:
                refused = False
            if refused:
                assert response.status == 403, f"{role} {method} {path}: {response.status}"
                checked += 1
            else:
                assert response.status not in (401, 403), f"{role} {method} {path}"
    assert checked > 20


async def test_an_agent_acts_on_itself_only(client: TestClient[Any, Any]) -> None:
    own = {"Authorization": f"Bearer {await token_for(client, 'agent', '2001')}"}
    for path in ("/api/agents/2002/state", "/ws/agents/2002"):
        method = "PUT" if path.endswith("state") else "GET"
        response = await client.request(method, path, json={"state": "ready"}, headers=own)
        assert response.status == 403, path
    # its own: past the access check (this app runs no ACD: 503, not 403)
    response = await client.put("/api/agents/2001/state", json={"state": "ready"}, headers=own)
    assert response.status == 503
    assert (await client.post("/api/agents/2001/spy", json={}, headers=own)).status == 403


async def test_probes_can_be_closed() -> None:
    async with TestClient(TestServer(make_app(probes="signed-in"))) as client:
        assert (await client.get("/metrics")).status == 401
        assert (await client.get("/health")).status == 401
        token = await token_for(client, "supervisor")
        metrics = await client.get("/metrics", headers={"Authorization": f"Bearer {token}"})
        assert metrics.status == 200


async def test_cookie_writes_need_the_csrf_token(client: TestClient[Any, Any]) -> None:
    name = await add_user(client, "supervisor")
    response = await client.post("/api/auth/login", json={"username": name,
                                                          "password": PASSWORD})
    assert response.status == 200
    cookie = response.cookies["cc_session"]
    assert cookie["httponly"] and cookie["samesite"] == "Strict"
    csrf = (await response.json())["csrf_token"]
    assert "token" not in await response.json()  # a page never sees its session token
    # reads with the cookie alone are fine; writes without the token are refused
    assert (await client.get("/api/auth/session")).status == 200
    refused = await client.post("/api/auth/ws-ticket")
    assert refused.status == 403
    assert (await refused.json())["error"]["code"] == "csrf_token_missing"
    wrong = await client.post("/api/auth/ws-ticket", headers={"X-CSRF-Token": "x" + csrf})
    assert wrong.status == 403
    ticket = await client.post("/api/auth/ws-ticket", headers={"X-CSRF-Token": csrf})
    assert ticket.status == 200
    # a stream opens with the ticket, never with the cookie alone
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused_ws:
        await client.ws_connect("/ws/events")
    assert refused_ws.value.status == 401
    async with client.ws_connect(f"/ws/events?ticket={(await ticket.json())['ticket']}") as ws:
        assert (await ws.receive_json(timeout=5))["type"] == "snapshot"
    # a foreign page cannot even send it (Origin), whatever it guesses
    foreign = await client.post("/api/auth/ws-ticket", headers={
        "X-CSRF-Token": csrf, "Origin": "https://evil.example"})
    assert (await foreign.json())["error"]["code"] == "forbidden_origin"
    # log-out ends the session
    assert (await client.post("/api/auth/logout", headers={"X-CSRF-Token": csrf})).status == 204
    client.session.cookie_jar.update_cookies({"cc_session": cookie.value})
    assert (await client.get("/api/auth/session")).status == 401


async def test_brute_force_login_is_throttled(client: TestClient[Any, Any]) -> None:
    name = await add_user(client, "admin")
    for _ in range(5):
        response = await client.post("/api/auth/login", json={"username": name,
                                                              "password": "wrong guess"})
        assert response.status == 401
        assert (await response.json())["error"]["code"] == "bad_credentials"
    # locked: even the right password is refused, with how long to wait
    response = await client.post("/api/auth/login", json={"username": name,
                                                          "password": PASSWORD})
    assert response.status == 429
    assert int(response.headers["Retry-After"]) > 0
    assert (await response.json())["error"]["code"] == "too_many_attempts"
    # an unknown user and a wrong password look the same
    unknown = await client.post("/api/auth/login", json={"username": "nobody",
                                                         "password": "wrong guess"})
    assert (await unknown.json())["error"] == {"code": "bad_credentials",
                                               "message": "wrong username or password"}


async def test_disabled_or_removed_users_lose_their_sessions(
        client: TestClient[Any, Any]) -> None:
    admin = {"Authorization": f"Bearer {await token_for(client, 'admin')}"}
    created = await client.post("/api/users", headers=admin, json={
        "username": "mei", "role": "agent", "agent_id": "2003", "password": PASSWORD})
    assert created.status == 201
    assert await created.json() == {"username": "mei", "role": "agent", "agent_id": "2003",
                                    "disabled": False}
    login = await client.post("/api/auth/login", json={"username": "mei", "password": PASSWORD,
                                                       "bearer": True})
    mei = {"Authorization": f"Bearer {(await login.json())['token']}"}
    assert (await client.get("/api/auth/session", headers=mei)).status == 200
    listed = await (await client.get("/api/users", headers=admin)).text()
    assert "scrypt" not in listed and "password" not in listed
    changed = await client.patch("/api/users/mei", headers=admin, json={"disabled": True})
    assert changed.status == 200
    assert (await client.get("/api/auth/session", headers=mei)).status == 401
    again = await client.post("/api/auth/login", json={"username": "mei", "password": PASSWORD})
    assert again.status == 401
    weak = await client.post("/api/users", headers=admin, json={
        "username": "lee", "role": "supervisor", "password": "short"})
    assert (await weak.json())["error"]["code"] == "weak_password"
    no_agent = await client.post("/api/users", headers=admin, json={
        "username": "lee", "role": "agent", "password": PASSWORD})
    assert (await no_agent.json())["error"]["code"] == "invalid_user"
    assert (await client.delete("/api/users/mei", headers=admin)).status == 204
    assert (await client.get("/api/users/mei", headers=admin)).status == 404
