"""A real server (``build_services`` / ``build_app``) on the simulated PBX with two bot agents,
for the campaign tests (integration and browser)."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient, TestServer

from callcenter.acd.identity import AgentEndpoints
from callcenter.app import PbxParts, Services, build_app, build_services
from callcenter.config import Settings
from callcenter.core.clock import Clock, RealtimeClock
from callcenter.cti.model import CallModel
from callcenter.events import EventBus
from callcenter.sim.behaviour import Behaviour, Delay
from callcenter.sim.pbx import SimulatedPbx

AGENTS = ["1001", "1002"]
#: New York, Chicago, Los Angeles, Seoul, London numbers (valid, one zone each)
NUMBERS = ["+12125550101", "+13125550102", "+17025550103", "+821055501204", "+442079460105",
           "+12125550106", "+13125550107", "+17025550108"]


async def campaign_server(tmp_path: Path, behaviour: Behaviour | None = None,
                          speed: float = 20.0, redis_url: str | None = None,
                          node_id: str = "", wrap_up_s: float = 1.0,
                          **more: Any) -> tuple[TestClient[Any, Any], Services]:
    """``redis_url``: one of several server processes on that Redis (``node_id``), sharing the
    database in ``tmp_path`` with the others. ``more``: further settings sections (e.g.
    ``sip={...}`` for the agent console)."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'cc.db'}"
    settings = Settings(database_url=url,
                        acd={"agents": AGENTS, "wrap_up_s": wrap_up_s},
                        campaigns={"message_dir": str(tmp_path / "messages")},
                        redis_url=redis_url, cluster={"node_id": node_id}, **more)
    endpoints = AgentEndpoints(settings.acd.agent_endpoint)
    behaviour = behaviour or Behaviour(
        human=0.7, machine=0.2, busy=0.1, amd_false_machine=0.0, amd_false_human=0.0,
        answer_after=Delay.uniform(2, 4), talk=Delay.uniform(20, 30))

    def simulated(clock: Clock, model: CallModel, bus: EventBus) -> PbxParts:
        pbx = SimulatedPbx(clock, model, random.Random(7), behaviour)
        for agent in AGENTS:
            pbx.register_endpoint(endpoints.endpoint(agent))
        return PbxParts(pbx)

    services = build_services(settings, make_pbx=simulated, clock=RealtimeClock(speed=speed),
                              rng=random.Random(3))
    client: TestClient[Any, Any] = TestClient(TestServer(build_app(services)))
    await client.start_server()
    return client, services


async def preview_campaign(client: TestClient[Any, Any], name: str,
                           rows: list[dict[str, str]]) -> None:
    """As an admin (already signed in): a preview campaign ``name`` open around the clock,
    with ``rows`` imported (every one of them)."""
    created = await client.post("/api/campaigns", json={
        "name": name, "mode": "preview", "caller_id": "+13125550199",
        "company": "Example Energy", "callback_number": "+13125550100",
        "window_start": "00:00", "window_end": "23:59"})
    assert created.status == 201, await created.text()
    imported = await (await client.post(f"/api/campaigns/{name}/leads",
                                        json={"rows": rows})).json()
    assert imported["imported"] == len(rows), imported
