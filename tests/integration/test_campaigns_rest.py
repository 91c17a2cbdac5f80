"""Campaigns end to end through the real server (``build_services`` / ``build_app``) on the
simulated PBX: an admin defines a campaign and imports a list over REST (the validation
report), a supervisor starts it; lines go out through the compliance gate, people reach the
bot agents; the dial audit, the leads' states and the per-day figures are stored; every
campaign call's CRM interaction carries the campaign and the outcome; an agent's disposition
closes the loop into the report (contacts, conversion, talk time, cost per contact)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from callcenter.sim.behaviour import Behaviour, Delay
from callcenter.web.routes.campaigns import CAMPAIGNS
from crm_bridge.db import make_engine, session_factory
from crm_bridge.models import DialDecisionRow, Interaction
from tests.accounts import sign_in
from tests.campaign_server import AGENTS, NUMBERS, campaign_server, preview_campaign
from tests.harness import require_binary

pytestmark = pytest.mark.integration

async def test_define_import_run_and_report_a_campaign(tmp_path: Path) -> None:
    require_binary("espeak-ng", "espeak-ng", "apt-get install espeak-ng")
    require_binary("sox", "sox", "apt-get install sox")
    client, _services = await campaign_server(tmp_path)
    try:
        await sign_in(client, "admin")
        document = {"name": "spring", "mode": "progressive", "caller_id": "+13125550199",
                    "company": "Example Energy", "callback_number": "+13125550100",
                    "window_start": "00:00", "window_end": "23:59",
                    "busy": {"delay_s": 7200, "max_attempts": 2},
                    "no_answer": {"delay_s": 7200, "max_attempts": 2},
                    "machine": {"delay_s": 7200, "max_attempts": 1},
                    "cost_per_dial": 0.05, "cost_per_minute": 0.5}
        bad = await client.post("/api/campaigns", json={**document, "ring_timeout_s": 10})
        assert bad.status == 400
        assert "ring_timeout_s" in (await bad.json())["error"]["message"]
        created = await client.post("/api/campaigns", json=document)
        assert created.status == 201, await created.text()
        assert (await client.post("/api/campaigns", json=document)).status == 409
        dnc = await client.post("/api/dnc", json={"numbers": ["(702) 555-0108"]})
        assert (await dnc.json())["added"] == ["+17025550108"]
        csv = "number,name,priority\n" + "\n".join(
            f"{n},Customer {i},{10 - i}" for i, n in enumerate(NUMBERS)) + \
            "\n12345,Bad,0\n+12125550101,Again,0\n"
        imported = await (await client.post("/api/campaigns/spring/leads",
                                            json={"csv": csv})).json()
        assert imported["rows"] == 10 and imported["imported"] == 7
        assert [r["number"] for r in imported["invalid"]] == ["12345"]
        assert [r["number"] for r in imported["duplicates"]] == ["+12125550101"]
        assert [r["number"] for r in imported["dnc"]] == ["+17025550108"]

        socket_ = await client.ws_connect("/ws/events")
        assert (await socket_.receive_json(timeout=5))["type"] == "snapshot"
        started = await client.post("/api/campaigns/spring/control", json={"action": "start"})
        assert started.status == 200, await started.text()
        assert (await started.json())["state"] == "running"
        bad_mode = await client.post("/api/campaigns/spring/control",
                                     json={"action": "mode", "mode": "blast"})
        assert bad_mode.status == 400
        gauges: list[dict[str, Any]] = []
        deadline = time.monotonic() + 40
        while time.monotonic() < deadline:
            try:
                message = await socket_.receive_json(timeout=1)
            except TimeoutError:
                continue
            if message["type"] == "campaign.status":
                gauges.append(message)
                if message["state"] == "finished":
                    break
        assert gauges and gauges[-1]["state"] == "finished", gauges[-1:]
        assert {"rate_today_pct", "rate_30d_pct", "limit_pct"} <= gauges[-1].keys()
        await socket_.close()
        # the recorders write off the publishing path: let them catch up
        await asyncio.sleep(0.5)

        leads = (await (await client.get("/api/campaigns/spring/leads")).json())["leads"]
        assert len(leads) == 7 and all(lead["attempts"] == 1 for lead in leads)
        results = {lead["result"] or lead["last_outcome"] for lead in leads}
        assert "contacted" in results

        engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'cc.db'}")
        async with session_factory(engine)() as session:
            audit = (await session.execute(select(DialDecisionRow))).scalars().all()
            rows = (await session.execute(
                select(Interaction).where(Interaction.campaign == "spring"))).scalars().all()
        await engine.dispose()
        assert sorted(r.number for r in audit if r.verdict == "dial") == sorted(
            n for n in NUMBERS if n != "+17025550108")
        assert all(r.local_times for r in audit)
        connected = [r for r in rows if r.outcome == "connected"]
        assert connected and all(r.agent in AGENTS and r.talk_started_at for r in connected)
        # a call still going on carries its campaign (CC_CAMPAIGN, from its start), not yet
        # an outcome; every ended one has one, a drop too (told after the customer hung up)
        ended = [r for r in rows if r.ended_at is not None]
        assert ended and {r.outcome for r in ended} <= {"connected", "machine", "busy",
                                                        "no_answer", "dropped"}
        # an agent's disposition closes the loop
        first = connected[0]
        patched = await client.patch(f"/api/interactions/{first.id}",
                                     json={"disposition": "sale", "notes": "two-year plan"})
        assert patched.status == 200, await patched.text()

        report = await (await client.get("/api/campaigns/spring/report")).json()
        assert report["dials"] == 7
        assert report["contacts"] == len(connected)
        assert report["conversions"] == 1
        assert report["contact_rate"] == round(len(connected) / 7, 4)
        assert report["talk_s"] > 0
        assert report["cost_per_contact"] == round(
            (0.05 * 7 + 0.5 * report["talk_s"] / 60) / len(connected), 2)
        assert report["answered"] >= len(connected)
        decisions = await (await client.get("/api/campaigns/spring/decisions")).json()
        assert len(decisions["decisions"]) == len(audit)
    finally:
        await client.close()


async def test_preview_mode_agents_dial_a_lead_through_the_gate(tmp_path: Path) -> None:
    require_binary("espeak-ng", "espeak-ng", "apt-get install espeak-ng")
    require_binary("sox", "sox", "apt-get install sox")
    client, _services = await campaign_server(tmp_path)
    try:
        await sign_in(client, "admin")
        await preview_campaign(client, "look", [
            {"number": NUMBERS[0], "lead_id": "first", "priority": "5"},
            {"number": NUMBERS[1], "lead_id": "second", "priority": "1"}])
        # the second joins the campaign's do-not-call list after the import: refused at dial
        await client.post("/api/campaigns/look/dnc", json={"numbers": [NUMBERS[1]]})
        assert (await client.get("/api/campaigns/look/preview")).status == 409  # not running
        assert (await client.post("/api/campaigns/look/control",
                                  json={"action": "start"})).status == 200
        await sign_in(client, "agent", "1001")
        shown = await (await client.get("/api/campaigns/look/preview")).json()
        assert shown["lead"]["lead_id"] == "first"
        await asyncio.sleep(0.3)  # preview: the pacer itself places nothing
        runner = client.app[CAMPAIGNS].runners["look"]
        assert runner.port.loop.placed == 0
        dialled = await client.post("/api/campaigns/look/leads/first/dial")
        assert dialled.status == 200, await dialled.text()
        assert (await dialled.json())["reason"] == "allowed"
        again = await client.post("/api/campaigns/look/leads/first/dial")
        assert again.status == 409  # being dialled
        # 1001 is held for the line it dialled: another lead is not for it now
        busy = await client.post("/api/campaigns/look/leads/second/dial")
        assert busy.status == 409
        assert (await busy.json())["error"]["code"] == "agent_not_ready"
        assert runner.book.leads["second"].status == "new"  # nothing decided for the lead
        await sign_in(client, "agent", "1002")
        refused = await client.post("/api/campaigns/look/leads/second/dial")
        assert refused.status == 409 and (await refused.json())["reason"] == "dnc_campaign"
        assert (await client.post("/api/campaigns/look/leads/nobody/dial")).status == 404
        assert (await client.get("/api/campaigns/look/preview")).status == 200
        assert (await (await client.get("/api/campaigns/look/preview")).json())["lead"] is None
        assert runner.port.loop.placed == 1
        assert runner.book.leads["second"].result == "dnc_campaign"
    finally:
        await client.close()


async def test_a_reported_amd_false_positive_counts_as_abandoned(tmp_path: Path) -> None:
    require_binary("espeak-ng", "espeak-ng", "apt-get install espeak-ng")
    require_binary("sox", "sox", "apt-get install sox")
    machines = Behaviour(human=0.0, machine=1.0, busy=0.0, amd_false_machine=0.0,
                         amd_false_human=0.0, answer_after=Delay.uniform(2, 3))
    client, _services = await campaign_server(tmp_path, machines)
    try:
        await sign_in(client, "admin")
        assert (await client.post("/api/campaigns", json={
            "name": "fp", "mode": "progressive", "caller_id": "+13125550199",
            "company": "Example Energy", "callback_number": "+13125550100",
            "window_start": "00:00", "window_end": "23:59",
            "machine": {"delay_s": 7200, "max_attempts": 1}})).status == 201
        await client.post("/api/campaigns/fp/leads", json={"rows": [
            {"number": NUMBERS[0], "lead_id": "m"}, {"number": NUMBERS[1], "lead_id": "n"}]})
        await client.post("/api/campaigns/fp/control", json={"action": "start"})
        runner = client.app[CAMPAIGNS].runners["fp"]
        deadline = time.monotonic() + 20
        while runner.book.leads["m"].status != "done":
            assert time.monotonic() < deadline, runner.book.leads["m"]
            await asyncio.sleep(0.1)
        assert runner.book.leads["m"].result == "max_attempts_machine"
        await sign_in(client, "supervisor")
        reported = await client.post("/api/campaigns/fp/leads/m/false-positive")
        assert reported.status == 200, await reported.text()
        status = await reported.json()
        assert (status["answered_today"], status["abandoned_today"]) == (1, 1)
        assert (await client.post("/api/campaigns/fp/leads/x/false-positive")).status == 404
        await asyncio.sleep(0.5)  # the recorder
        report = await (await client.get("/api/campaigns/fp/report")).json()
        assert (report["answered"], report["abandoned"]) == (1, 1)
        assert report["abandonment_pct"] == 100.0
        audit = await (await (await sign_in(client, "admin")).get("/api/audit")).json()
        assert "campaign.false_positive" in [e["action"] for e in audit["entries"]]
    finally:
        await client.close()
