"""The live page in a real Chromium (headless), fed by the demo server's event stream: the page
must render the PBX link, the agents, the queue, the campaign and the calls from the WebSocket
alone."""

from __future__ import annotations

import asyncio
import html
import re
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from callcenter.config import Settings
from callcenter.sim.demo import DemoOptions, build_demo_app, prepare_crm
from tests.harness.require import require_binary

pytestmark = pytest.mark.browser


async def _dump_dom(chromium: str, url: str, tmp_path: Path) -> str:
    process = await asyncio.create_subprocess_exec(
        chromium, "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
        f"--user-data-dir={tmp_path / 'profile'}", "--virtual-time-budget=4000", "--dump-dom",
        url, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 0, err.decode()[-2000:]
    return out.decode()


async def test_the_live_page_draws_the_demo_from_the_event_stream(tmp_path: Path) -> None:
    chromium = require_binary("chromium", "Chromium", "apt-get install chromium")
    url = f"sqlite+aiosqlite:///{tmp_path / 'demo.db'}"
    await prepare_crm(url, 200)
    options = DemoOptions(agents=5, calls_per_minute=30, speed=10, talk_s=30, wrap_up_s=3)
    client: TestClient[Any, Any] = TestClient(TestServer(await build_demo_app(Settings(
        database_url=url), options)))
    await client.start_server()
    try:
        await asyncio.sleep(2.0)  # 20 simulated seconds: calls are up, agents busy
        # --dump-dom runs on virtual time, which does not wait for a WebSocket to open: now
        # and then the DOM is taken before the snapshot arrived. Retry that case only.
        for _ in range(5):
            dom = await _dump_dom(chromium, str(client.make_url("/live/")), tmp_path)
            if "connecting…" not in dom:
                break
    finally:
        await client.close()
    text = html.unescape(re.sub(r"<[^>]+>", " ", dom))
    words = " ".join(text.split())
    assert "PBX simulated: up" in words, words[:2000]
    for agent in ("1001", "1002", "1003", "1004", "1005"):
        assert agent in words, f"agent {agent} not drawn"
    assert re.search(r"QUEUE support|Queue support", words, re.IGNORECASE), words[:2000]
    assert re.search(r"campaign renewals", words, re.IGNORECASE), words[:2000]
    assert "outbound · renewals" in words or "inbound · support" in words, words[:3000]
    assert "waiting for the snapshot" not in words
