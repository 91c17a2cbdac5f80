"""Security must-shows on the pages people use: hostile text (a caller's name, a channel
variable, a queue name) renders as text, never as markup or script, in the live page and the
wallboard; and no secret (AMI secret, database URL, password hashes) is in any page, file,
API description, probe or WebSocket message."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from callcenter.config import Settings
from callcenter.events import CallStarted, ChannelVariableSet, EventBus, QueueChanged
from callcenter.metrics import Metrics
from callcenter.web import create_app
from callcenter.web.access import ACCESS, Need
from callcenter.web.state import BUS
from tests.accounts import PASSWORD, add_user, token_for
from tests.harness.chromium import chromium_page, sign_in_page, wait_for
from tests.harness.require import require_binary

pytestmark = pytest.mark.browser

AMI_SECRET = "ami-Secret-4711"
DB_PASSWORD = "db-Secret-4712"
PAYLOADS = ['<img src=x onerror="window.__xss=1">', "<script>window.__xss=2</script>",
            '"><svg onload="window.__xss=3">']
HOSTILE_NAME = " ".join(PAYLOADS)


class NoCalls:
    calls: dict[str, Any] = {}
    channels: dict[str, Any] = {}
    bridges: dict[str, Any] = {}

    def snapshot(self) -> dict[str, Any]:
        return {"calls": [], "channels": [], "bridges": []}

    def get_call(self, call_id: str) -> None:
        return None


def secrets_in(text: str) -> list[str]:
    return [s for s in (AMI_SECRET, DB_PASSWORD, "scrypt$") if s in text]


@pytest.fixture
async def client() -> Any:
    bus = EventBus()
    settings = Settings(ami={"secret": AMI_SECRET},
                        database_url=f"postgresql://cc:{DB_PASSWORD}@db.invalid/cc")
    app = create_app(settings=settings, bus=bus, calls=NoCalls(), metrics=Metrics())
    async with TestClient(TestServer(app)) as client:
        yield client


INERT = """(() => ({
  xss: window.__xss === undefined ? null : window.__xss,
  // an element made from the payload carries it in an event handler (onerror, onload) or a
  // script's body; text nodes (and data-* values) hold it as text
  injected: [...document.querySelectorAll('*')].filter((e) =>
    [...e.attributes].some((a) => a.name.startsWith('on') && a.value.includes('__xss'))
    || (e.tagName === 'SCRIPT' && e.textContent.includes('__xss'))).length,
  text: document.body.innerText,
}))()"""


async def test_hostile_text_renders_inert_in_the_live_page_and_the_wallboard(
        client: TestClient[Any, Any], tmp_path: Path) -> None:
    chromium = require_binary("chromium", "Chromium", "apt-get install chromium")
    bus = client.app[BUS]
    name = await add_user(client, "supervisor")
    for page_path in ("/live/", "/wallboard/?lang=en"):
        async with chromium_page(chromium, str(client.make_url(page_path)),
                                 tmp_path / f"profile{len(page_path)}", "en") as page:
            await sign_in_page(page, name, PASSWORD)
            await asyncio.sleep(1.0)  # the stream is open (snapshot applied)
            now = time.time()
            bus.publish(CallStarted(at=now, call_id="c-xss", caller_num="+14155550100",
                                    caller_name=HOSTILE_NAME))
            bus.publish(ChannelVariableSet(at=now, call_id="c-xss", channel_id="h1",
                                           name="CC_QUEUE", value=PAYLOADS[1]))
            bus.publish(QueueChanged(at=now, queue=PAYLOADS[0], waiting=1, oldest_wait_s=3.0,
                                     answered=0, abandoned=0))
            # the payloads show as the text they are
            shown = PAYLOADS[0] if "wallboard" in page_path else HOSTILE_NAME
            await wait_for(page, f"document.body.innerText.includes({json.dumps(shown)})")
            seen = await page.evaluate(INERT)
            await page.screenshot(tmp_path / f"inert{len(page_path)}.png")
            assert seen["xss"] is None, f"{page_path} ran injected script"
            assert seen["injected"] == 0, f"{page_path} made elements from text"
            assert not secrets_in(seen["text"])


async def test_no_secret_in_any_page_file_description_probe_or_stream(
        client: TestClient[Any, Any]) -> None:
    await add_user(client, "admin", username="root")
    public_gets = [route.resource.canonical for route in client.app.router.routes()
                   if route.method == "GET" and route.resource is not None
                   and ACCESS.get(route.resource.name or "") in (Need.PUBLIC, Need.PROBE)
                   and "{" not in route.resource.canonical]
    files = ["/live/live.js", "/live/live.css", "/wallboard/wallboard.js",
             "/wallboard/history.js", "/wallboard/wallboard.css", "/login/login.js",
             "/login/session.js", "/login/login.css", "/campaigns/campaigns.js",
             "/campaigns/campaigns.css", "/console/console.js", "/console/console.css",
             "/console/strings.js", "/console/softphone.src.js"]
    assert {"/live/", "/wallboard/", "/login/", "/campaigns/", "/console/", "/openapi.json",
            "/health",
            "/metrics"} <= set(public_gets)
    for path in public_gets + files:
        answer = await client.get(path, allow_redirects=False)
        assert answer.status in (200, 302, 503), path
        assert not secrets_in(await answer.text()), path
    bearer = {"Authorization": f"Bearer {await token_for(client, 'admin')}"}
    for path in ("/api/users", "/api/auth/session", "/api/users/root"):
        answer = await client.get(path, headers=bearer)
        assert answer.status == 200 and not secrets_in(await answer.text()), path
    async with client.ws_connect("/ws/events", headers=bearer) as ws:
        first = await ws.receive_str(timeout=5)
        client.app[BUS].publish(
            CallStarted(at=2.0, call_id="c2", caller_num="+14155550101"))
        second = await ws.receive_str(timeout=5)
    for message in (first, second):
        assert not secrets_in(message)
