"""The supervisors' campaign page in a real Chromium (headless) against the real server on the
simulated PBX: a supervisor signs in, starts a campaign with the page's button, watches the
live abandonment gauge (what the page shows is the running campaign's own figures), changes
the mode and pauses it; the server ran each control (its state) and audited it. And the
demo's campaign on the same page with the compliance gate's decisions. The page is
photographed (``$CALLCENTER_SCREENSHOTS``, else ``tmp_path``): docs/screenshots/campaigns.png,
docs/screenshots/demo-campaigns.png.
"""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from callcenter import events as ev
from callcenter.config import Settings
from callcenter.sim.behaviour import Behaviour, Delay
from callcenter.sim.demo import DEMO_KEY, DemoOptions, build_demo_app, prepare_crm
from callcenter.web.routes.campaigns import CAMPAIGNS
from tests.accounts import PASSWORD, add_user, sign_in
from tests.campaign_server import NUMBERS, campaign_server
from tests.harness.chromium import chromium_page, sign_in_page, wait_for
from tests.harness.require import require_binary

pytestmark = pytest.mark.browser

READ = """(() => {
  const card = document.querySelector('.card[data-name="spring"]');
  if (!card) return null;
  const g = (w) => card.querySelector(`.gauge[data-which="${w}"]`);
  return {
    state: card.querySelector('.state').textContent,
    mode: card.querySelector('.mode').textContent,
    effective: card.querySelector('.effective').textContent,
    reason: card.querySelector('.reason').textContent,
    today: g('today').querySelector('.rate').textContent,
    todayCounts: g('today').querySelector('.counts').textContent,
    month: g('30d').querySelector('.rate').textContent,
    placed: card.querySelector('.placed').textContent,
    conn: document.getElementById('conn-text').textContent,
  };
})()"""


async def test_a_supervisor_runs_a_campaign_from_its_page(tmp_path: Path) -> None:
    chromium = require_binary("chromium", "Chromium", "apt-get install chromium")
    require_binary("espeak-ng", "espeak-ng", "apt-get install espeak-ng")
    require_binary("sox", "sox", "apt-get install sox")
    shots = Path(os.environ.get("CALLCENTER_SCREENSHOTS") or tmp_path)
    # agents' phones answer in 1.5-3 s: some people wait past the 2-s limit and are dropped,
    # so the gauge has something to show
    behaviour = Behaviour(human=0.8, machine=0.1, busy=0.1, amd_false_machine=0.0,
                          amd_false_human=0.0, answer_after=Delay.uniform(2, 4),
                          talk=Delay.uniform(15, 25), agent_answer_after=Delay.uniform(1.5, 3))
    client, services = await campaign_server(tmp_path, behaviour, speed=10)
    statuses: list[ev.CampaignStatus] = []
    services.bus.add_handler(
        lambda e: statuses.append(e) if isinstance(e, ev.CampaignStatus) else None)
    try:
        await sign_in(client, "admin")
        created = await client.post("/api/campaigns", json={
            "name": "spring", "mode": "predictive", "pacing": "ratio:2",
            "caller_id": "+13125550199", "company": "Example Energy",
            "callback_number": "+13125550100", "window_start": "00:00", "window_end": "23:59",
            "busy": {"delay_s": 7200, "max_attempts": 2}})
        assert created.status == 201, await created.text()
        csv = "number\n" + "\n".join(NUMBERS) + "\n"
        report = await (await client.post("/api/campaigns/spring/leads",
                                          json={"csv": csv})).json()
        assert report["imported"] == len(NUMBERS)
        name = await add_user(client, "supervisor")
        async with chromium_page(chromium, str(client.make_url("/campaigns/")),
                                 tmp_path / "profile", "en-US") as page:
            await sign_in_page(page, name, PASSWORD)
            await wait_for(page, f"({READ}) && ({READ}).state === 'ready'")
            await page.evaluate(
                "document.querySelector('.card[data-name=\"spring\"] "
                "button[data-action=\"start\"]').click()")
            await wait_for(page, f"({READ}).state === 'running'")
            runner = client.app[CAMPAIGNS].runners["spring"]
            # predictive, but nothing answered yet: the budget is empty, it dials progressively
            seen = await wait_for(page, f"(({READ}).conn === 'live') && ({READ})")
            assert seen["mode"] == "predictive"
            assert seen["effective"] == "progressive"
            assert "budget spent" in seen["reason"]
            # people are dropped (agents' phones answer late): the gauge moves
            await wait_for(page, f"!({READ}).todayCounts.startsWith('0 abandoned')", 30)
            # what the page shows is the campaign's last published status, to the digit
            deadline = time.monotonic() + 10
            while True:
                last = statuses[-1]
                shown = await page.evaluate(READ)
                expected = (f"{last.rate_today_pct:.2f} %",
                            f"{last.abandoned_today:g} abandoned of {last.answered_today} "
                            f"answered — limit 3.00 %", f"{last.placed} lines placed")
                if (shown["today"], shown["todayCounts"], shown["placed"]) == expected:
                    break
                assert time.monotonic() < deadline, (shown, expected)
                await asyncio.sleep(0.1)
            await page.screenshot(shots / "campaigns.png")
            # change the mode, then pause, with the page's controls
            await page.evaluate(
                "(() => { const c = document.querySelector('.card[data-name=\"spring\"]');"
                "c.querySelector('.mode-select').value = 'progressive';"
                "c.querySelector('button[data-action=\"mode\"]').click(); })()")
            await wait_for(page, f"({READ}).mode === 'progressive'")
            assert runner.pacer.mode == "progressive"
            await page.evaluate(
                "document.querySelector('.card[data-name=\"spring\"] "
                "button[data-action=\"pause\"]').click()")
            await wait_for(page, f"({READ}).state === 'paused'")
            assert runner.state == "paused"
        audit = await (await client.get("/api/audit")).json()
        actions = [(e["action"], e["actor"].removeprefix("user:")) for e in audit["entries"]
                   if e["target"] == "spring"]
        assert ("campaign.start", name) in actions and ("campaign.pause", name) in actions
        assert ("campaign.mode", name) in actions
    finally:
        await client.close()


DEMO_READ = """(() => {
  const card = document.querySelector('.card[data-name="renewals"]');
  if (!card) return null;
  return {
    state: card.querySelector('.state').textContent,
    effective: card.querySelector('.effective').textContent,
    today: card.querySelector('.gauge[data-which="today"] .counts').textContent,
    placed: card.querySelector('.placed').textContent,
    refused: card.querySelector('.refused').textContent,
    decisions: [...card.querySelectorAll('.decisions li')].map((li) => ({
      verdict: li.querySelector('.verdict').textContent,
      number: li.querySelector('.number').textContent,
      why: li.querySelector('.why').textContent})),
    conn: document.getElementById('conn-text').textContent,
  };
})()"""


async def test_the_demo_campaign_runs_on_the_campaigns_page_with_its_gate(
        tmp_path: Path) -> None:
    """``callcenter demo``'s campaign is on the page like any other: running (started by the
    demo through the campaign service), its gauge, and the gate's decisions — the leads the
    demo put on the do-not-call lists and the one without consent refused, the others
    cleared. Photographed: docs/screenshots/demo-campaigns.png."""
    chromium = require_binary("chromium", "Chromium", "apt-get install chromium")
    require_binary("espeak-ng", "espeak-ng", "apt-get install espeak-ng")
    require_binary("sox", "sox", "apt-get install sox")
    shots = Path(os.environ.get("CALLCENTER_SCREENSHOTS") or tmp_path)
    url = f"sqlite+aiosqlite:///{tmp_path / 'demo.db'}"
    await prepare_crm(url, 300)
    options = DemoOptions(agents=6, calls_per_minute=4, speed=5, talk_s=20, wrap_up_s=3,
                          break_every_s=0, ivr_flow="")
    app = await build_demo_app(Settings(database_url=url), options)
    demo = app[DEMO_KEY]
    client: TestClient[Any, Any] = TestClient(TestServer(app))
    await client.start_server()
    try:
        assert demo.campaign is not None
        refused = dict(demo.campaign.refused_numbers)
        assert set(refused) == {"dnc_global", "dnc_campaign", "no_consent"}
        await sign_in(client, "admin")
        name = await add_user(client, "supervisor")
        async with chromium_page(chromium, str(client.make_url("/campaigns/")),
                                 tmp_path / "profile", "en-US") as page:
            await sign_in_page(page, name, PASSWORD)
            seen = await wait_for(
                page, f"(({DEMO_READ}) && ({DEMO_READ}).conn === 'live' && "
                      f"({DEMO_READ}).state === 'running' && "
                      f"({DEMO_READ}).decisions.some((d) => d.verdict === 'dial') && "
                      f"({DEMO_READ}).placed !== '0 lines placed') && ({DEMO_READ})", 30)
            for reason in refused:
                assert reason in seen["refused"], seen
            shown = {d["number"]: d for d in seen["decisions"]}
            for reason, number in refused.items():  # refused, and listed as such
                if number in shown:
                    assert shown[number]["verdict"] == "never", shown[number]
                    assert shown[number]["why"].startswith(reason), shown[number]
            assert "answered" in seen["today"]
            await page.screenshot(shots / "demo-campaigns.png")
    finally:
        await client.close()
