"""The live page: ``/`` redirects to it, its files are served (and nothing else), its script
handles the event types it shows."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from callcenter.config import Settings
from callcenter.events import EVENT_TYPES, EventBus
from callcenter.metrics import Metrics
from callcenter.web import create_app
from callcenter.web.routes.live import LIVE_DIR, live_file
from tests.accounts import sign_in
from tests.fakes import NoCalls

pytestmark = pytest.mark.unit

SCRIPT = LIVE_DIR / "live.js"


def make_app() -> web.Application:
    return create_app(
        settings=Settings(), bus=EventBus(), calls=NoCalls(), metrics=Metrics()
    )


@pytest.fixture
async def client() -> AsyncIterator[TestClient[Any, Any]]:
    async with TestClient(TestServer(make_app())) as client:
        await sign_in(client)
        yield client


async def test_root_redirects_to_live_page(client: TestClient[Any, Any]) -> None:
    resp = await client.get("/", allow_redirects=False)
    assert resp.status == 302
    assert resp.headers["Location"] == "/live/"


async def test_live_page_is_html_reading_the_event_stream(client: TestClient[Any, Any]) -> None:
    resp = await client.get("/")  # follows the redirect
    assert resp.status == 200
    assert resp.url.path == "/live/"
    assert resp.content_type == "text/html"
    html = await resp.text()
    assert "/ws/events" in html
    # everything it loads is local: no CDN, nothing fetched from elsewhere at run time
    assert "http://" not in html and "https://" not in html
    for name in re.findall(r'(?:src|href)="([^"]+)"', html):
        if name.startswith("/"):  # another page of this server (the wallboard)
            assert (await client.get(name)).status == 200, name
        else:
            assert (LIVE_DIR / name).is_file(), name


@pytest.mark.parametrize(
    ("name", "content_type"), [("live.js", "text/javascript"), ("live.css", "text/css")]
)
async def test_page_files_are_served_with_their_type(
    client: TestClient[Any, Any], name: str, content_type: str
) -> None:
    resp = await client.get(f"/live/{name}")
    assert resp.status == 200
    assert resp.content_type == content_type
    assert await resp.text() == (LIVE_DIR / name).read_text(encoding="utf-8")


@pytest.mark.parametrize(
    "path",
    [
        "/live/..%2Fpyproject.toml",
        "/live/..%2F..%2Fetc%2Fpasswd",
        "/live/%2E%2E%2Fpyproject.toml",
        "/live/nope.js",
        "/live/sub/live.js",
    ],
)
async def test_nothing_else_is_served(client: TestClient[Any, Any], path: str) -> None:
    resp = await client.get(path)
    assert resp.status == 404
    assert resp.content_type == "application/json"


async def test_encoded_traversal_reaches_the_guard(client: TestClient[Any, Any]) -> None:
    """``%2F`` is not a separator to the router: the handler itself must refuse the name."""
    resp = await client.get("/live/..%2Fpyproject.toml")
    assert resp.status == 404
    assert (await resp.json())["error"]["message"] == "no such file: ../pyproject.toml"


def test_live_file_stays_in_its_folder(tmp_path: Path) -> None:
    (tmp_path / "page.js").write_text("ok")
    (tmp_path / "notes.md").write_text("not served")
    (tmp_path / ".hidden.js").write_text("not served")
    (tmp_path.parent / "outside.js").write_text("not served")
    (tmp_path / "link.js").symlink_to(tmp_path.parent / "outside.js")
    assert live_file("page.js", tmp_path) == tmp_path / "page.js"
    for name in ["../outside.js", "..", "", "a/page.js", "a\\page.js", ".hidden.js",
                 "notes.md", "link.js", "missing.js"]:
        assert live_file(name, tmp_path) is None, name


def handled_types(script: str) -> set[str]:
    """The keys of the script's ``const HANDLERS = { "type": handler, ... };`` table."""
    match = re.search(r"const HANDLERS = \{(.*?)\n\};", script, re.S)
    assert match, "live.js has no HANDLERS table"
    return set(re.findall(r'^\s*"([a-z_.]+)":', match.group(1), re.M))


def test_script_handles_the_event_types_the_page_shows() -> None:
    handled = handled_types(SCRIPT.read_text(encoding="utf-8"))
    shown = {"snapshot", "lagged", "call.started", "call.answered", "call.ended",
             "channel.state", "agent.state", "queue.changed", "campaign.changed"}
    assert shown <= handled, f"not handled: {shown - handled}"
    # and every type it claims is one the server sends (no typo silently never matching)
    assert handled - {"snapshot", "lagged"} <= set(EVENT_TYPES), handled - set(EVENT_TYPES)


def test_script_never_inserts_event_data_as_html() -> None:
    script = SCRIPT.read_text(encoding="utf-8")
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write"):
        assert sink not in script, sink
