"""``callcenter demo``'s campaign is data run by the server's campaign service, like any
campaign of ``callcenter serve``: saved in the demo's database, leads imported from the CRM's
customers, started through ``CampaignService.control``. Every line is cleared by the
compliance gate first; the leads the demo puts on the do-not-call lists and the customer who
never gave consent are refused for good and never dialled; the campaigns API shows it; a
worked-out list is followed by a fresh batch with new lead ids."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from callcenter import events as ev
from callcenter.config import Settings
from callcenter.dialer.campaign import Retry
from callcenter.sim.demo import DEMO_CAMPAIGN, DEMO_KEY, DemoOptions, build_demo_app, prepare_crm
from callcenter.web.routes.campaigns import CAMPAIGNS
from callcenter.web.state import BUS
from tests.accounts import sign_in
from tests.harness import require_binary

pytestmark = pytest.mark.integration


async def test_the_demo_campaign_passes_the_gate_and_loads_a_fresh_batch_when_done(
        tmp_path: Path) -> None:
    require_binary("espeak-ng", "espeak-ng", "apt-get install espeak-ng")
    require_binary("sox", "sox", "apt-get install sox")
    url = f"sqlite+aiosqlite:///{tmp_path / 'demo.db'}"
    await prepare_crm(url, 300)
    options = DemoOptions(agents=6, calls_per_minute=1, speed=30, talk_s=10, wrap_up_s=2,
                          break_every_s=0, ivr_flow="", campaign_leads=6,
                          pacing="ratio:1.5")
    app = await build_demo_app(Settings(database_url=url), options)
    demo = app[DEMO_KEY]
    assert demo.campaign is not None
    definition = demo.campaign.definition
    assert (definition.name, definition.mode, definition.pacing) == (
        DEMO_CAMPAIGN, "predictive", "ratio:1.5")
    assert (definition.window_start, definition.window_end) == ("00:00", "23:59")
    # one attempt per lead: a batch is worked out in a few simulated minutes
    once = Retry(delay_s=60, max_attempts=1)
    demo.campaign.definition = definition.model_copy(
        update={"busy": once, "no_answer": once, "machine": once})
    events: list[ev.DomainEvent] = []
    app[BUS].add_handler(events.append)
    client: TestClient[Any, Any] = TestClient(TestServer(app))
    await client.start_server()
    try:
        first_refused = dict(demo.campaign.refused_numbers)
        assert set(first_refused) == {"dnc_global", "dnc_campaign", "no_consent"}
        second = asyncio.Event()
        app[BUS].add_handler(lambda e: second.set() if isinstance(e, ev.CampaignStatus)
                             and demo.campaign is not None and demo.campaign.batches >= 2
                             else None)
        try:
            await asyncio.wait_for(second.wait(), 60)
        except TimeoutError:
            raise AssertionError("the first batch was never worked out") from None
        # a supervisor's stop holds: the demo loads no batch over it
        service = app[CAMPAIGNS]
        await service.control(DEMO_CAMPAIGN, "stop", actor="supervisor")
        loaded = demo.campaign.batches
        await service.recorder.queue.join()  # the audit is written off the publishing path
        await sign_in(client, "supervisor")
        listed = (await (await client.get("/api/campaigns")).json())["campaigns"]
        audit = (await (await client.get(
            f"/api/campaigns/{DEMO_CAMPAIGN}/decisions")).json())["decisions"]
        stored = (await (await client.get(
            f"/api/campaigns/{DEMO_CAMPAIGN}/leads")).json())["leads"]
        refused_now = dict(demo.campaign.refused_numbers)
        await asyncio.sleep(0.5)  # long enough for a batch the stop did not hold
    finally:
        await client.close()

    decisions = [e for e in events if isinstance(e, ev.DialDecided)]
    lines = [e for e in events if isinstance(e, ev.CampaignLine)]
    statuses = [e for e in events if isinstance(e, ev.CampaignStatus)]
    # started by the demo through the service, like a supervisor's start
    assert next((s.state, s.actor) for s in statuses if s.actor) == ("running", "demo")
    assert [s.state for s in statuses].count("finished") >= 1
    # each refused number: a "never" with its reason, never a dial, never a line
    for reason, number in first_refused.items():
        about = [d for d in decisions if d.number == number]
        assert [(d.verdict, d.reason) for d in about] == [("never", reason)], (reason, about)
        assert not [line for line in lines if line.lead_id == about[0].lead_id]
    # every line's lead was cleared by the gate first
    cleared: dict[str, float] = {}
    for decision in decisions:
        if decision.verdict == "dial":
            cleared.setdefault(decision.lead_id, decision.at)
    dialed = [line for line in lines if line.outcome == "dialed"]
    assert len(dialed) >= 3, dialed
    for line in dialed:
        assert line.lead_id in cleared and cleared[line.lead_id] <= line.at, line
    # the second batch: new lead ids, its own refusals
    batches = {d.lead_id.split("-")[0] for d in decisions}
    assert len(batches) >= 2, batches
    assert sum(1 for d in decisions if d.verdict == "never") >= 6
    # the campaigns API (the campaigns page's source) shows the campaign and its audit
    (view,) = [v for v in listed if v["name"] == DEMO_CAMPAIGN]
    assert view["status"] is not None and view["status"]["state"] == "stopped"
    assert demo.campaign.batches == loaded
    assert {d["reason"] for d in audit} >= {"dnc_global", "dnc_campaign", "no_consent",
                                           "allowed"}
    # the gate's refusals closed the stored leads too (a restart does not ask again)
    by_number = {lead["number"]: lead for lead in stored}
    for reason, number in refused_now.items():
        assert (by_number[number]["status"], by_number[number]["result"]) == ("done", reason)
