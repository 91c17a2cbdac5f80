"""The wallboard: its files are served (and nothing else), the page loads nothing from elsewhere,
and its script handles the queue and agent events it draws."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from callcenter.config import Settings
from callcenter.events import EVENT_TYPES, EventBus
from callcenter.metrics import Metrics
from callcenter.web import create_app
from callcenter.web.routes.wallboard import LOGIN_DIR, WALLBOARD_DIR
from tests.accounts import sign_in
from tests.fakes import NoCalls

pytestmark = pytest.mark.unit

SCRIPT = WALLBOARD_DIR / "wallboard.js"


def make_app() -> web.Application:
    return create_app(settings=Settings(), bus=EventBus(), calls=NoCalls(), metrics=Metrics())


@pytest.fixture
async def client() -> AsyncIterator[TestClient[Any, Any]]:
    async with TestClient(TestServer(make_app())) as client:
        await sign_in(client)
        yield client


async def test_wallboard_is_html_reading_the_event_stream(client: TestClient[Any, Any]) -> None:
    resp = await client.get("/wallboard/")
    assert resp.status == 200
    assert resp.content_type == "text/html"
    html = await resp.text()
    assert "/ws/events" in html
    assert "http://" not in html and "https://" not in html  # no CDN
    for name in re.findall(r'(?:src|href)="([^"]+)"', html):
        # its own files, and the sign-in page's session helper (shared with the live page)
        folder = LOGIN_DIR if name.startswith("/login/") else WALLBOARD_DIR
        assert (folder / name.removeprefix("/login/")).is_file(), name


@pytest.mark.parametrize(
    ("name", "content_type"),
    [("wallboard.js", "text/javascript"), ("wallboard.css", "text/css")],
)
async def test_wallboard_files_are_served_with_their_type(
    client: TestClient[Any, Any], name: str, content_type: str
) -> None:
    resp = await client.get(f"/wallboard/{name}")
    assert resp.status == 200
    assert resp.content_type == content_type
    assert await resp.text() == (WALLBOARD_DIR / name).read_text(encoding="utf-8")


@pytest.mark.parametrize(
    "path",
    ["/wallboard/..%2Fpyproject.toml", "/wallboard/%2E%2E%2Flive%2Flive.js",
     "/wallboard/nope.js", "/wallboard/sub/wallboard.js", "/wallboard/.hidden.js"],
)
async def test_nothing_else_is_served(client: TestClient[Any, Any], path: str) -> None:
    resp = await client.get(path)
    assert resp.status == 404


async def test_the_live_page_links_to_the_wallboard(client: TestClient[Any, Any]) -> None:
    html = await (await client.get("/live/")).text()
    assert 'href="/wallboard/"' in html


def test_the_script_handles_the_events_it_draws() -> None:
    script = SCRIPT.read_text(encoding="utf-8")
    for kind in ("queue.changed", "queue.entered", "queue.offered", "queue.connected",
                 "queue.not_connected", "queue.abandoned", "agent.state", "agent.wrap_up"):
        assert kind in EVENT_TYPES, kind
        assert f'"{kind}"' in script, f"wallboard.js ignores {kind}"
    # registrations, today's and any later kind: by the word in the type
    assert 'includes("registration")' in script
    # nothing inserted as HTML: event data only ever becomes text
    assert "innerHTML" not in script and "insertAdjacentHTML" not in script


def test_both_languages_have_every_label() -> None:
    script = SCRIPT.read_text(encoding="utf-8")
    blocks = re.search(r"const TEXT = \{\n  en: \{(.*?)\n  \},\n  zh: \{(.*?)\n  \},\n\};",
                       script, re.DOTALL)
    assert blocks is not None
    keys = [set(re.findall(r"^\s+(\w+):", block, re.MULTILINE)) for block in blocks.groups()]
    assert keys[0] == keys[1], keys[0] ^ keys[1]


def test_the_history_charts_have_every_label_in_both_languages() -> None:
    script = (SCRIPT.parent / "history.js").read_text(encoding="utf-8")
    blocks = re.search(r"const HISTORY_TEXT = \{\n  en: \{(.*?)\n  \},\n  zh: \{(.*?)\n  \},\n\};",
                       script, re.DOTALL)
    assert blocks is not None
    keys = [set(re.findall(r"^\s+(\w+):", block, re.MULTILINE)) for block in blocks.groups()]
    assert keys[0] == keys[1], keys[0] ^ keys[1]
    used = set(re.findall(r"\bt\(\"(\w+)\"", script))
    assert used <= keys[0], used - keys[0]
