"""Preview dialling as the agent console uses it, over REST on the real server (simulated
PBX): the agent's list of preview campaigns (its own only), ``?skip=`` passing over leads, and
Dial only for a ready agent (the answered person is connected to the agent who dialled)."""

from __future__ import annotations

from pathlib import Path

import pytest

from callcenter.web.routes.campaigns import CAMPAIGNS
from callcenter.web.state import AGENT_CONTROLS
from tests.accounts import sign_in, token_for
from tests.campaign_server import NUMBERS, campaign_server, preview_campaign
from tests.harness import require_binary

pytestmark = pytest.mark.integration


async def test_the_agents_preview_list_skip_and_readiness(tmp_path: Path) -> None:
    require_binary("espeak-ng", "espeak-ng", "apt-get install espeak-ng")
    require_binary("sox", "sox", "apt-get install sox")
    client, _services = await campaign_server(tmp_path)
    try:
        await sign_in(client, "admin")
        await preview_campaign(client, "look", [
            {"number": NUMBERS[0], "lead_id": "first", "priority": "5"},
            {"number": NUMBERS[1], "lead_id": "second", "priority": "1"}])
        await client.post("/api/campaigns/look/control", json={"action": "start"})
        agent = {"Authorization": f"Bearer {await token_for(client, 'agent', '1001')}"}
        listed = await (await client.get("/api/agents/1001/campaigns", headers=agent)).json()
        assert listed == {"campaigns": [{"name": "look", "company": "Example Energy",
                                         "mode": "preview", "state": "running"}]}
        assert (await client.get("/api/agents/1002/campaigns", headers=agent)).status == 403
        skipped = await (await client.get("/api/campaigns/look/preview?skip=first",
                                          headers=agent)).json()
        assert skipped["lead"]["lead_id"] == "second"
        too_many = ",".join(f"x{i}" for i in range(201))
        assert (await client.get(f"/api/campaigns/look/preview?skip={too_many}",
                                 headers=agent)).status == 400
        paused = await client.put("/api/agents/1001/state", headers=agent,
                                  json={"state": "paused", "reason": "break"})
        assert paused.status == 200, await paused.text()
        refused = await client.post("/api/campaigns/look/leads/first/dial", headers=agent)
        assert refused.status == 409
        assert (await refused.json())["error"]["code"] == "agent_not_ready"
        runner = client.app[CAMPAIGNS].runners["look"]
        assert runner.port.loop.placed == 0 and runner.book.leads["first"].status == "new"
        await client.put("/api/agents/1001/state", headers=agent, json={"state": "ready"})
        dialled = await client.post("/api/campaigns/look/leads/first/dial", headers=agent)
        assert dialled.status == 200, await dialled.text()
        line = next(iter(runner.port.loop.lines.values()))
        assert line.preferred_agent == "1001" and line.holds_agent
        # the agent is held for the line while it rings: a second Dial is refused
        board = client.app[AGENT_CONTROLS].board
        assert board["1001"].state.value == "reserved" and board["1001"].call_id == line.line_id
        again = await client.post("/api/campaigns/look/leads/second/dial", headers=agent)
        assert again.status == 409
        # switched to progressive by a supervisor: no longer in the agent's list
        await client.post("/api/campaigns/look/control",
                          json={"action": "mode", "mode": "progressive"})
        listed = await (await client.get("/api/agents/1001/campaigns", headers=agent)).json()
        assert listed == {"campaigns": []}
    finally:
        await client.close()
