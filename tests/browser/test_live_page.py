"""The live page in a real Chromium (headless), fed by the demo server's event stream: the page
must render the PBX link, the agents, the queues, the campaign and the calls — callers in the
IVR among them, with their flow and node — from the WebSocket alone. Screenshot:
``docs/screenshots/live.png`` (``CALLCENTER_SCREENSHOTS=docs/screenshots``)."""

from __future__ import annotations

import asyncio
import os
import re
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from callcenter.config import Settings
from callcenter.sim.demo import DemoOptions, build_demo_app, prepare_crm
from tests.accounts import PASSWORD, add_user
from tests.harness.chromium import chromium_page, sign_in_page
from tests.harness.require import require_binary

pytestmark = pytest.mark.browser

READ = "document.body ? document.body.innerText : ''"


async def test_the_live_page_draws_the_demo_from_the_event_stream(tmp_path: Path) -> None:
    chromium = require_binary("chromium", "Chromium", "apt-get install chromium")
    shots = Path(os.environ.get("CALLCENTER_SCREENSHOTS") or tmp_path)
    url = f"sqlite+aiosqlite:///{tmp_path / 'demo.db'}"
    await prepare_crm(url, 200)
    options = DemoOptions(agents=5, calls_per_minute=30, speed=10, talk_s=30, wrap_up_s=3)
    client: TestClient[Any, Any] = TestClient(TestServer(await build_demo_app(Settings(
        database_url=url), options)))
    await client.start_server()
    try:
        name = await add_user(client, "supervisor")
        async with chromium_page(chromium, str(client.make_url("/live/")),
                                 tmp_path / "profile", "en") as page:
            # no session: the page sends the browser to sign in, then back
            await sign_in_page(page, name, PASSWORD, screenshot=shots / "login-en.png")
            words = ""
            for _ in range(100):  # up to 10 s: callers in the IVR and in queues, agents busy
                words = " ".join(str(await page.evaluate(READ)).split())
                if ("in IVR" in words and "inbound · support" in words
                        and " answered · " in words
                        and "waiting for the snapshot" not in words):
                    break
                await asyncio.sleep(0.1)
            await page.screenshot(shots / "live.png")
    finally:
        await client.close()
    assert "PBX simulated: up" in words, words[:2000]
    for agent in ("1001", "1002", "1003", "1004", "1005"):
        assert agent in words, f"agent {agent} not drawn"
    assert "null" not in words and "undefined" not in words, words[:3000]
    assert re.search(r"queue", words, re.IGNORECASE) and "support" in words, words[:2000]
    assert re.search(r"campaign renewals", words, re.IGNORECASE), words[:2000]
    # the day's figures as the rule counts them, from campaign.status (stored, not per run)
    assert re.search(r"Today \d+ answered · [\d.]+ abandoned", words), words[:3000]
    assert "in IVR" in words and re.search(r"IVR main( \u203a \w+)?", words), words[:3000]
    assert "inbound · support" in words, words[:3000]
    assert "waiting for the snapshot" not in words
