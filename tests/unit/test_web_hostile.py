"""Hostile HTTP input: every refusal is a JSON 4xx, never a 500, and nothing is written.

Covers bodies that break decoders (nested 50k deep, not UTF-8, unknown charset), URLs beyond
aiohttp's parser limit (over a real socket, since that refusal happens before any middleware),
and cross-site writes and WebSockets from a foreign ``Origin``.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from multidict import CIMultiDict
from pydantic import ValidationError

from callcenter.config import HttpSettings, Settings
from callcenter.events import EventBus
from callcenter.metrics import Metrics
from callcenter.web import create_app
from callcenter.web.csrf import allowed_origins, parse_origin
from callcenter.web.errors import MAX_URL_BYTES
from crm_bridge.db import make_engine, session_factory, upgrade_database
from crm_bridge.models import Customer
from tests.accounts import sign_in
from tests.fakes import NoCalls
from tests.unit.test_web_customers import count, error, seed_rows

pytestmark = pytest.mark.unit

EVIL = "http://evil.example"
CONSOLE = "https://console.example.com"
NEW_CUSTOMER = {"name": "Mallory Created", "phones": ["+14155550177"]}
DEEP = b"[" * 50_000 + b"]" * 50_000


def make_app(sessions: Any = None, **http: Any) -> web.Application:
    settings = Settings(http=HttpSettings(max_body_bytes=1024 * 1024, **http))
    return create_app(settings=settings, bus=EventBus(), calls=NoCalls(), metrics=Metrics(),
                      crm_sessions=sessions)


class Crm:
    """A seeded CRM behind a running app, and what a write could have changed."""

    def __init__(self, client: TestClient[Any, Any], sessions: Any, ids: dict[str, int]):
        self.client = client
        self.sessions = sessions
        self.alice = ids["Alice Smith"]

    @property
    def own_origin(self) -> str:
        return f"http://{self.client.host}:{self.client.port}"

    async def interaction_id(self) -> int:
        resp = await self.client.get(f"/api/customers/{self.alice}/interactions")
        return int((await resp.json())["interactions"][0]["interaction_id"])

    async def write_targets(self) -> list[tuple[str, str]]:
        """Every route that writes from a JSON body: (method, path)."""
        return [("POST", "/api/customers"), ("PATCH", f"/api/customers/{self.alice}"),
                ("PATCH", f"/api/interactions/{await self.interaction_id()}")]

    async def state(self) -> Any:
        """Everything the write routes can change: customer count, Alice's card, her calls."""
        card = await (await self.client.get(f"/api/customers/{self.alice}")).json()
        card.pop("value_12m")  # computed at read time ("since" moves with the clock)
        calls = await (await self.client.get(f"/api/customers/{self.alice}/interactions")).json()
        return await count(self.sessions, Customer), card, calls


async def crm_app(tmp_path: Path, **http: Any) -> AsyncIterator[Crm]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'crm.db'}"
    await upgrade_database(url)
    engine = make_engine(url)
    sessions = session_factory(engine)
    try:
        ids = await seed_rows(sessions)
        async with TestClient(TestServer(make_app(sessions, **http))) as client:
            await sign_in(client)
            yield Crm(client, sessions, ids)
    finally:
        await engine.dispose()


@pytest.fixture
async def crm(tmp_path: Path) -> AsyncIterator[Crm]:
    async for ready in crm_app(tmp_path):
        yield ready


@pytest.fixture
async def crm_with_console(tmp_path: Path) -> AsyncIterator[Crm]:
    async for ready in crm_app(tmp_path, allowed_origins=[CONSOLE]):
        yield ready


def json_headers(content_type: str = "application/json", **extra: str) -> dict[str, str]:
    return {"Content-Type": content_type, **extra}


# --- bodies that break decoders ---------------------------------------------------------------


@pytest.mark.parametrize(("body", "code", "says"), [
    (DEEP, "invalid_json", "nested too deeply"),
    (b'{"name": "x", "tags": ' + DEEP + b"}", "invalid_json", "nested too deeply"),
    (b'{"name": "x", "tags": ' + b"[" * 500 + b"]" * 500 + b"}", "invalid_json", "JSON"),
    (b'{"name": "Ren\xe9e"}', "invalid_json", "UTF-8"),
    (b"\xff\xfe{\x00}\x00", "invalid_json", "UTF-8"),
], ids=["deep-array", "deep-field", "deep-500", "latin-1", "utf-16"])
async def test_undecodable_bodies_are_400_and_write_nothing(
    crm: Crm, body: bytes, code: str, says: str
) -> None:
    before = await crm.state()
    for method, path in await crm.write_targets():
        resp = await crm.client.request(method, path, data=body, headers=json_headers())
        found = await error(resp, 400, code)
        assert says in found["message"], (method, path, found)
    assert await crm.state() == before


@pytest.mark.parametrize("charset", ["foo", "latin-1", "utf-16", "x" * 500])
async def test_charset_other_than_utf8_is_400(crm: Crm, charset: str) -> None:
    before = await crm.state()
    for method, path in await crm.write_targets():
        resp = await crm.client.request(
            method, path, data=json.dumps({"name": "Zed"}).encode(),
            headers=json_headers(f"application/json; charset={charset}"))
        found = await error(resp, 400, "unsupported_charset")
        assert "UTF-8" in found["message"] and len(found["message"]) < 200
    assert await crm.state() == before


@pytest.mark.parametrize("content_type", [
    "application/json", "application/json; charset=utf-8", "Application/JSON; Charset=\"UTF-8\"",
])
async def test_json_in_utf8_is_accepted(crm: Crm, content_type: str) -> None:
    resp = await crm.client.post("/api/customers", data='{"name": "Renée"}'.encode(),
                                 headers=json_headers(content_type))
    assert resp.status == 201, await resp.text()
    assert (await resp.json())["name"] == "Renée"


@pytest.mark.parametrize("content_type", [
    "text/plain", "text/plain; charset=utf-8", "application/x-www-form-urlencoded",
    "multipart/form-data; boundary=x", "application/octet-stream", "application/jsonx", None,
])
async def test_write_bodies_must_be_json(crm: Crm, content_type: str | None) -> None:
    before = await crm.state()
    headers = {} if content_type is None else {"Content-Type": content_type}
    skip = ["Content-Type"] if content_type is None else []
    for method, path in await crm.write_targets():
        resp = await crm.client.request(method, path, data=json.dumps(NEW_CUSTOMER).encode(),
                                        headers=headers, skip_auto_headers=skip)
        found = await error(resp, 415, "unsupported_media_type")
        assert "application/json" in found["message"]
    assert await crm.state() == before


async def test_unrouted_writes_keep_their_404_and_405(crm: Crm) -> None:
    headers = json_headers("text/plain")
    await error(await crm.client.post("/api/nothing", data=b"x", headers=headers),
                404, "not_found")
    await error(await crm.client.put("/api/customers", data=b"x", headers=headers),
                405, "method_not_allowed")


# --- cross-origin writes ----------------------------------------------------------------------


async def test_foreign_page_cannot_create_a_customer_with_a_simple_post(crm: Crm) -> None:
    """What a form or ``fetch(..., {mode: "no-cors"})`` on another site would send."""
    before = await count(crm.sessions, Customer)
    resp = await crm.client.post("/api/customers", data=json.dumps(NEW_CUSTOMER),
                                 headers=json_headers("text/plain", Origin=EVIL))
    found = await error(resp, 403, "forbidden_origin")
    assert EVIL in found["message"]
    assert await count(crm.sessions, Customer) == before
    found = await (await crm.client.get("/api/customers", params={"q": "Mallory"})).json()
    assert found["total"] == 0


@pytest.mark.parametrize("origin", [
    EVIL, "null", "", "http://127.0.0.1.evil.example", "https://evil.example:443",
    "http://evil.example/", "file://", "http://user@evil.example",
])
async def test_every_write_from_a_foreign_origin_is_403(crm: Crm, origin: str) -> None:
    before = await crm.state()
    for method, path in await crm.write_targets():
        resp = await crm.client.request(method, path, json={"name": "Mallory", "notes": "x"},
                                        headers={"Origin": origin})
        await error(resp, 403, "forbidden_origin")
    assert await crm.state() == before


async def test_foreign_origin_cannot_hide_behind_a_second_origin_header(crm: Crm) -> None:
    headers = [("Origin", crm.own_origin), ("Origin", EVIL),
               ("Content-Type", "application/json")]
    resp = await crm.client.post("/api/customers", data=json.dumps(NEW_CUSTOMER).encode(),
                                 headers=CIMultiDict(headers))
    await error(resp, 403, "forbidden_origin")


async def test_same_origin_and_originless_writes_work(crm: Crm) -> None:
    host = f"{crm.client.host}:{crm.client.port}"
    for n, origin in enumerate([crm.own_origin, f"https://{host}", f"HTTP://{host.upper()}",
                                None]):
        headers = {} if origin is None else {"Origin": origin}
        resp = await crm.client.post("/api/customers", json={"name": f"Kept {n}"},
                                     headers=headers)
        assert resp.status == 201, (origin, await resp.text())
        resp = await crm.client.patch(f"/api/customers/{crm.alice}", json={"title": f"T{n}"},
                                      headers=headers)
        assert resp.status == 200, (origin, await resp.text())


async def test_same_origin_honours_default_ports(crm: Crm) -> None:
    resp = await crm.client.post("/api/customers", json={"name": "Via proxy"},
                                 headers={"Host": "cc.example.com:443",
                                          "Origin": "https://cc.example.com"})
    assert resp.status == 201, await resp.text()
    resp = await crm.client.post("/api/customers", json={"name": "Wrong port"},
                                 headers={"Host": "cc.example.com:8443",
                                          "Origin": "https://cc.example.com"})
    await error(resp, 403, "forbidden_origin")


async def test_reads_from_any_origin_still_answer(crm: Crm) -> None:
    resp = await crm.client.get(f"/api/customers/{crm.alice}", headers={"Origin": EVIL})
    assert resp.status == 200


async def test_configured_origins_may_write(crm_with_console: Crm) -> None:
    crm = crm_with_console
    for origin in (CONSOLE, "https://CONSOLE.example.com:443"):
        resp = await crm.client.post("/api/customers", json={"name": "From console"},
                                     headers={"Origin": origin})
        assert resp.status == 201, await resp.text()
    resp = await crm.client.post("/api/customers", json={"name": "Wrong scheme"},
                                 headers={"Origin": "http://console.example.com"})
    await error(resp, 403, "forbidden_origin")


def test_allowed_origins_are_validated_and_normalised() -> None:
    assert HttpSettings().allowed_origins == []
    for bad in ("console.example.com", "ftp://console.example.com", "https://a.example/path",
                "*", "https://u@a.example"):
        with pytest.raises(ValidationError):
            HttpSettings(allowed_origins=[bad])
    assert allowed_origins(["https://A.example:443", "http://[::1]:8080"]) == {
        ("https", "a.example", 443), ("http", "::1", 8080)}
    assert parse_origin("https://a.example:99999") is None
    with pytest.raises(ValueError, match="not http"):
        allowed_origins(["https://a.example:99999"])


def test_allowed_origins_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CALLCENTER_HTTP__ALLOWED_ORIGINS", json.dumps([CONSOLE]))
    assert Settings().http.allowed_origins == [CONSOLE]


# --- WebSockets -------------------------------------------------------------------------------


@pytest.fixture
async def plain() -> AsyncIterator[TestClient[Any, Any]]:
    async with TestClient(TestServer(make_app())) as client:
        await sign_in(client)
        yield client


@pytest.mark.parametrize("path", ["/ws/events", "/ws/agents/1001"])
async def test_websocket_from_a_foreign_origin_is_refused(
    plain: TestClient[Any, Any], path: str
) -> None:
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await plain.ws_connect(path, origin=EVIL)
    assert refused.value.status == 403
    # the same refusal as a plain request shows the JSON error
    resp = await plain.get(path, headers={"Origin": EVIL, "Upgrade": "websocket",
                                          "Connection": "Upgrade"})
    await error(resp, 403, "forbidden_origin")


@pytest.mark.parametrize("path", ["/ws/events", "/ws/agents/1001"])
async def test_websocket_same_origin_or_without_origin_opens(
    plain: TestClient[Any, Any], path: str
) -> None:
    own = f"http://{plain.host}:{plain.port}"
    for origin in (own, None):
        async with plain.ws_connect(path, origin=origin) as ws:
            first = await asyncio.wait_for(ws.receive_json(), 5)
            assert first["type"] in {"snapshot", "hello"}


# --- long URLs, over a real socket ------------------------------------------------------------


async def raw_exchange(client: TestClient[Any, Any], request: bytes) -> tuple[int, str, bytes]:
    """Send ``request`` as bytes; (status, Content-Type, body) of the answer."""
    reader, writer = await asyncio.open_connection(client.host, client.port)
    try:
        writer.write(request)
        await writer.drain()
        answer = await asyncio.wait_for(reader.read(), 10)  # the server closes after it
    finally:
        writer.close()
    head, _, body = answer.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:])
    return int(lines[0].split()[1]), headers.get("Content-Type", ""), body


def get(target: str) -> bytes:
    return f"GET {target} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n".encode()


@pytest.mark.parametrize("size", [MAX_URL_BYTES + 1, 9000, 64 * 1024, 1000 * 1000])
async def test_long_url_is_a_json_414(plain: TestClient[Any, Any], size: int) -> None:
    target = "/api/calls?pad=" + "a" * (size - len("/api/calls?pad="))
    status, content_type, body = await raw_exchange(plain, get(target))
    assert status == 414
    assert content_type.startswith("application/json")
    found = json.loads(body)["error"]
    assert found["code"] == "uri_too_long"
    assert str(size) in found["message"]


async def test_url_at_the_limit_is_served(plain: TestClient[Any, Any]) -> None:
    target = "/openapi.json?pad=" + "a" * (MAX_URL_BYTES - len("/openapi.json?pad="))
    status, content_type, body = await raw_exchange(plain, get(target))
    assert status == 200, body[:200]
    assert content_type.startswith("application/json")


async def test_long_url_on_a_write_is_refused_before_anything_runs(crm: Crm) -> None:
    before = await crm.state()
    body = json.dumps(NEW_CUSTOMER).encode()
    target = "/api/customers?pad=" + "a" * 20_000
    request = (f"POST {target} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n"
               f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
               ).encode() + body
    status, _, answer = await raw_exchange(crm.client, request)
    assert status == 414
    assert json.loads(answer)["error"]["code"] == "uri_too_long"
    assert await crm.state() == before
