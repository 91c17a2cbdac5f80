"""The supervisors' analytics page in a real Chromium (headless) against ``callcenter demo``
built in-process: after signing in it shows the report of ``/api/analytics/report``, its tiles
say what the server's JSON summary says, every chart is drawn, a recompute of the tiers works
through the page (a write with the session's CSRF token), and an agent is sent back to the
sign-in page. Screenshot: ``docs/screenshots/analytics.png`` (the whole page) when
``CALLCENTER_SCREENSHOTS=docs/screenshots``.
"""

from __future__ import annotations

import asyncio
import base64
import os
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from callcenter.config import Settings
from callcenter.sim.demo import DemoOptions, build_demo_app, prepare_crm
from tests.accounts import PASSWORD, add_user, sign_in
from tests.harness.chromium import chromium_page, sign_in_page, wait_for, write_file
from tests.harness.require import require_binary

pytestmark = pytest.mark.browser


async def test_the_analytics_page_shows_the_report(tmp_path: Path) -> None:
    chromium = require_binary("chromium", "Chromium", "apt-get install chromium")
    shots = Path(os.environ.get("CALLCENTER_SCREENSHOTS") or tmp_path)
    url = f"sqlite+aiosqlite:///{tmp_path / 'demo.db'}"
    await prepare_crm(url, 400)  # seeds and computes the tiers
    # real time (speed 1): the report ends "now", and a faster demo clock would put its
    # queue-log rows in the future
    options = DemoOptions(agents=4, calls_per_minute=150, speed=1, talk_s=5, wrap_up_s=1,
                          patience_s=25, ivr_flow="")
    app = await build_demo_app(Settings(database_url=url), options)
    client: TestClient[Any, Any] = TestClient(TestServer(app))
    await client.start_server()
    try:
        await sign_in(client, "supervisor")
        for _ in range(60):  # callers come, the queue log is written: figures to report
            await asyncio.sleep(1.0)
            summary = await (await client.get("/api/analytics/report",
                                              params={"format": "json", "days": "90",
                                                      "interval": "1440"})).json()
            if summary["calls_offered"] >= 10:
                break
        assert summary["calls_offered"] >= 10 and summary["customers"] > 200
        name = await add_user(client, "supervisor")
        async with chromium_page(chromium, str(client.make_url("/analytics/")),
                                 tmp_path / "profile", "en-US") as page:
            await sign_in_page(page, name, PASSWORD)
            # the page's own first load is over (then ask for the last day)
            await wait_for(page, "document.getElementById('report') !== null && "
                                 "document.body.dataset.loaded !== undefined", timeout_s=60)
            # 90 days by day: the seeded history's ratings and complaints, today's calls
            await page.evaluate("document.getElementById('days').value = '90';"
                                "document.getElementById('interval').value = '1440';"
                                "document.getElementById('show').click()")
            await wait_for(page, "document.getElementById('report').getAttribute("
                                 "'aria-busy') === 'false' && "
                                 "document.querySelectorAll('#report svg').length >= 8 && "
                                 "document.getElementById('status').textContent"
                                 ".startsWith('as of')", timeout_s=60)
            tiles = await page.evaluate(
                "Object.fromEntries([...document.querySelectorAll('.tile')].map("
                "t => [t.querySelector('span').textContent, t.querySelector('b').textContent]))")
            assert tiles["customers analysed"] == f"{summary['customers']:,}"
            assert tiles["VIP customers"] == f"{summary['tiers']['vip']:,}"
            assert tiles["churn warnings"] == f"{summary['at_risk']:,}"
            # the demo keeps calling: at least what the server had counted a moment before
            assert int(tiles["calls offered to queues"].replace(",", "")) >= \
                summary["calls_offered"]
            sections = await page.evaluate(
                "[...document.querySelectorAll('#report section')].map(s => s.id)")
            assert sections[:3] == ["pyramid", "segments", "churn"]
            assert {"intervals", "queues", "campaigns", "complaints"} <= set(sections)
            pdf_link = await page.evaluate("document.getElementById('pdf').href")
            assert "format=pdf" in pdf_link and "days=90" in pdf_link
            await page.evaluate("document.getElementById('recompute').click()")
            status = await wait_for(page, "(() => { const t = document.getElementById("
                                          "'status').textContent; return t.includes("
                                          "'as of') && t.startsWith('tiers recomputed') || "
                                          "t.startsWith('could') ? t : null })()",
                                    timeout_s=60)
            assert status.startswith("tiers recomputed"), status
            # the whole page, at a laptop's width
            height = await page.evaluate("document.documentElement.scrollHeight")
            await page.call("Emulation.setDeviceMetricsOverride", width=1280,
                            height=min(int(height), 16000), deviceScaleFactor=1,
                            mobile=False)
            await asyncio.sleep(0.5)
            shot = await page.call("Page.captureScreenshot", format="png")
            await asyncio.to_thread(write_file, shots / "analytics.png",
                                    base64.b64decode(shot["data"]))
        agent = await add_user(client, "agent", agent_id="1001", username="analytics-agent")
        async with chromium_page(chromium, str(client.make_url("/analytics/")),
                                 tmp_path / "profile-agent", "en-US") as page:
            # an agent may not read the report: sent back to the sign-in page, as denied (the
            # report page may turn it away before a poll sees it there: do not wait for it)
            await sign_in_page(page, agent, PASSWORD, back=False)
            await wait_for(page, "location.pathname === '/login/' && "
                                 "location.search.includes('denied=1')", timeout_s=30)
    finally:
        await client.close()
    assert (shots / "analytics.png").stat().st_size > 50_000
