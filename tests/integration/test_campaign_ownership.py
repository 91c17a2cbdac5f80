"""One server process per campaign (``callcenter.campaign_ownership``), on a real Redis, and a
supervisor's "running" kept across restarts:

- a campaign's lease is one node's; another node's claim names the owner; a node whose lease
  was taken over is told (and stops dialling); a crashed node's lease expires;
- a control sent to a process that does not run the campaign is handed to the one that does
  (202, ``forwarded_to``), which applies it;
- a campaign left running when its server stopped is taken up again by the next start, with
  no pause recorded in between;
- the agent a preview line holds on the campaign's process is held on the other one too, and
  let go on both when the line rings out.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis
from sqlalchemy import select

from callcenter.campaign_ownership import RedisOwnership
from callcenter.sim.behaviour import Behaviour
from callcenter.web.routes.campaigns import CAMPAIGNS
from callcenter.web.state import AGENT_CONTROLS
from crm_bridge.db import make_engine, session_factory
from crm_bridge.models import CampaignLeadRow, CampaignRow
from tests.accounts import sign_in, token_for
from tests.campaign_server import NUMBERS, campaign_server, preview_campaign
from tests.harness import require_binary

pytestmark = pytest.mark.integration

DOCUMENT = {"name": "autumn", "mode": "progressive", "caller_id": "+13125550199",
            "company": "Example Energy", "callback_number": "+13125550100",
            "window_start": "00:00", "window_end": "23:59"}


async def _wait(predicate: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)


async def test_a_campaign_lease_is_one_nodes_and_a_takeover_is_told(redis_url: str) -> None:
    prefix = f"test-{uuid.uuid4().hex[:8]}"
    a = RedisOwnership(redis_url, node_id="a", ttl_s=1.0, renew_s=0.25, prefix=prefix)
    b = RedisOwnership(redis_url, node_id="b", ttl_s=1.0, renew_s=0.25, prefix=prefix)
    lost: list[str] = []
    a.on_lost = lost.append
    await a.start()
    await b.start()
    raw = aioredis.Redis.from_url(redis_url, decode_responses=True)
    try:
        assert await a.claim("x") is None
        assert await b.claim("x") == "a"  # names the owner
        assert await a.claim("x") is None  # claiming again keeps it
        await asyncio.sleep(1.5)  # longer than the TTL: renewed, still a's
        assert await b.claim("x") == "a" and lost == []
        await raw.set(a.key("x"), "b", px=5000)  # someone else has it now
        await _wait(lambda: lost == ["x"], 2, "a told it lost x")
        assert "x" not in a.held
        await a.release("x")  # not a's: left alone
        assert await raw.get(a.key("x")) == "b"

        # a node that dies without releasing: its lease expires, then another takes it
        assert await a.claim("y") is None
        assert a._task is not None
        a._task.cancel()  # no more renewals, no release: a crash
        assert await b.claim("y") == "a"
        await asyncio.sleep(1.2)
        assert await b.claim("y") is None
        # a clean release hands over at once
        await b.release("y")
        assert await raw.get(b.key("y")) is None
    finally:
        a.held.clear()
        await a.close()
        await b.close()
        await raw.aclose()


async def _define(client: Any, leads: int) -> None:
    await sign_in(client, "admin")
    created = await client.post("/api/campaigns", json=DOCUMENT)
    assert created.status == 201, await created.text()
    numbers = [f"+1212555{n:04d}" for n in range(1000, 1000 + leads)]
    csv = "number,name\n" + "\n".join(f"{n},Customer {i}" for i, n in enumerate(numbers))
    imported = await (await client.post("/api/campaigns/autumn/leads", json={"csv": csv})).json()
    assert imported["imported"] == leads, imported


async def _leads_dialling(tmp_path: Path) -> set[str]:
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'cc.db'}")
    try:
        async with session_factory(engine)() as session:
            rows = await session.scalars(select(CampaignLeadRow.lead_id).where(
                CampaignLeadRow.campaign == "autumn", CampaignLeadRow.status == "dialing"))
            return set(rows)
    finally:
        await engine.dispose()


async def _stored_state(tmp_path: Path) -> str:
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'cc.db'}")
    try:
        async with session_factory(engine)() as session:
            state = await session.scalar(select(CampaignRow.state)
                                         .where(CampaignRow.name == "autumn"))
    finally:
        await engine.dispose()
    return str(state)


async def test_a_running_campaign_is_taken_up_again_after_a_restart(tmp_path: Path) -> None:
    require_binary("espeak-ng", "espeak-ng", "apt-get install espeak-ng")
    require_binary("sox", "sox", "apt-get install sox")
    client, _services = await campaign_server(tmp_path, speed=1.0)
    try:
        await _define(client, 40)
        started = await client.post("/api/campaigns/autumn/control", json={"action": "start"})
        assert started.status == 200 and (await started.json())["state"] == "running"
        service = client.server.app[CAMPAIGNS]
        await _wait(lambda: service.runners["autumn"].port.loop.placed > 0, 10, "a line out")
    finally:
        await client.close()  # the server stops: no pause recorded
    assert await _stored_state(tmp_path) == "running"
    in_flight = await _leads_dialling(tmp_path)
    assert in_flight  # lines were ringing when the server stopped

    client, services = await campaign_server(tmp_path, speed=1.0)
    statuses: list[Any] = []
    services.bus.add_handler(lambda e: statuses.append(e) if e.type == "campaign.status"
                             else None)
    try:
        service = client.server.app[CAMPAIGNS]
        await _wait(lambda: "autumn" in service.runners
                    and service.runners["autumn"].state == "running", 10, "taken up")
        assert any("resumed" in s.actor for s in statuses), statuses
        await _wait(lambda: service.runners["autumn"].port.loop.placed > 0, 10, "dialling")
        # the leads whose lines may still ring wait: nobody is called twice at once
        book = service.runners["autumn"].book.leads
        for lead_id in in_flight:
            assert book[lead_id].status == "waiting", book[lead_id]
            assert book[lead_id].next_attempt_at > time.time() + 250
            assert book[lead_id].attempts == 1
    finally:
        await client.close()


async def test_a_control_on_another_process_goes_to_the_campaigns_owner(
        tmp_path: Path, redis_url: str) -> None:
    require_binary("espeak-ng", "espeak-ng", "apt-get install espeak-ng")
    require_binary("sox", "sox", "apt-get install sox")
    prefix_free = uuid.uuid4().hex[:6]  # node ids unique to this test run
    first, _ = await campaign_server(tmp_path, speed=1.0, redis_url=redis_url,
                                     node_id=f"one-{prefix_free}")
    second, _ = await campaign_server(tmp_path, speed=1.0, redis_url=redis_url,
                                      node_id=f"two-{prefix_free}")
    try:
        await _define(first, 40)
        started = await first.post("/api/campaigns/autumn/control", json={"action": "start"})
        assert started.status == 200, await started.text()
        owner = first.server.app[CAMPAIGNS]
        other = second.server.app[CAMPAIGNS]
        await sign_in(second, "supervisor")
        # the second process neither runs it nor takes it up: the first one owns it
        await asyncio.sleep(0.5)
        again = await second.post("/api/campaigns/autumn/control", json={"action": "start"})
        assert again.status == 202, await again.text()
        assert (await again.json())["forwarded_to"] == f"one-{prefix_free}"
        paused = await second.post("/api/campaigns/autumn/control", json={"action": "pause"})
        assert paused.status == 202, await paused.text()
        await _wait(lambda: owner.runners["autumn"].state == "paused", 10,
                    "the owner applied the pause")
        assert "autumn" not in other.runners
        await asyncio.sleep(0.5)  # the recorder writes the owner's status
        assert await _stored_state(tmp_path) == "paused"
    finally:
        await second.close()
        await first.close()


async def test_a_preview_hold_reaches_the_other_process_until_the_line_ends(
        tmp_path: Path, redis_url: str) -> None:
    """The agent who clicks Dial on the campaign's process is held there while the line rings;
    the other process (which may dispatch a queue) holds them too, and lets them go when the
    line ends without a person. Nobody answers here: every customer rings out."""
    require_binary("espeak-ng", "espeak-ng", "apt-get install espeak-ng")
    require_binary("sox", "sox", "apt-get install sox")
    prefix_free = uuid.uuid4().hex[:6]
    nobody = Behaviour(human=0.0, machine=0.0, busy=0.0)
    first, _ = await campaign_server(tmp_path, nobody, speed=5.0, redis_url=redis_url,
                                     node_id=f"one-{prefix_free}")
    second, _ = await campaign_server(tmp_path, nobody, speed=5.0, redis_url=redis_url,
                                      node_id=f"two-{prefix_free}")
    try:
        await sign_in(first, "admin")
        await preview_campaign(first, "look", [{"number": NUMBERS[0], "lead_id": "first"}])
        started = await first.post("/api/campaigns/look/control", json={"action": "start"})
        assert started.status == 200, await started.text()
        agent = {"Authorization": f"Bearer {await token_for(first, 'agent', '1001')}"}
        here, there = first.app[AGENT_CONTROLS].board, second.app[AGENT_CONTROLS].board
        ready = await first.put("/api/agents/1001/state", headers=agent, json={"state": "ready"})
        assert ready.status == 200, await ready.text()
        await _wait(lambda: there["1001"].state.value == "ready", 5, "ready on both")
        dialled = await first.post("/api/campaigns/look/leads/first/dial", headers=agent)
        assert dialled.status == 200, await dialled.text()
        line = next(iter(first.app[CAMPAIGNS].runners["look"].port.loop.lines.values()))
        assert here["1001"].held_for == line.line_id
        await _wait(lambda: there["1001"].held_for == line.line_id, 5,
                    "held on the other process")
        assert there["1001"].state.value == "reserved"
        await _wait(lambda: here["1001"].state.value == "ready", 30, "let go: rang out")
        await _wait(lambda: there["1001"].state.value == "ready", 5,
                    "let go on the other process")
        assert there["1001"].held_for is None
    finally:
        await second.close()
        await first.close()
