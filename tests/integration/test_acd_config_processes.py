"""Two server processes on one database and one Redis: a definition changed through one
process's REST API is run by the other too (it reloads from the database on the relayed
``config.changed``), and the processes do not reload each other in a loop."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from callcenter import events as ev
from callcenter.acd.agents import AgentState
from callcenter.config import Settings
from callcenter.definitions_follower import DefinitionsFollower
from callcenter.metrics import Metrics
from callcenter.redis_relay import RedisEventRelay
from callcenter.web import create_app
from crm_bridge.acd_config import load_definitions
from crm_bridge.db import make_engine, session_factory, upgrade_database
from tests.accounts import sign_in
from tests.unit.test_contact_center import World

pytestmark = pytest.mark.integration


async def _eventually(condition: Callable[[], bool], within: float = 5.0) -> None:
    deadline = time.monotonic() + within
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.02)


async def test_a_change_made_on_one_process_runs_on_the_other(
        redis_url: str, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'cc.db'}"
    await upgrade_database(url)
    engine = make_engine(url)
    sessions = session_factory(engine)
    channel = f"test:acd-config:{time.monotonic_ns()}"
    worlds = [World(["2001", "2002"]), World(["2001", "2002"])]
    relays: list[RedisEventRelay] = []
    followers: list[DefinitionsFollower] = []
    try:
        for world in worlds:
            await world.center.start()
            relay = RedisEventRelay(world.bus, redis_url, channel=channel, reconnect_max_s=0.5)
            await relay.start()
            async with asyncio.timeout(5):
                await relay.wait_ready()
            relays.append(relay)
            followers.append(DefinitionsFollower(
                world.bus, world.center.origin, lambda: load_definitions(sessions),
                world.center.apply))
        first, second = worlds
        app = create_app(settings=Settings(), bus=first.bus, calls=first.model,
                         metrics=Metrics(), crm_sessions=sessions,
                         agent_controls=first.center.controls, acd_runtime=first.center)
        async with TestClient(TestServer(app)) as client:
            await sign_in(client, "admin")
            answer = await client.post("/api/config/queues",
                                       json={"name": "vip", "required_skills": {"vip": 1}})
            assert answer.status == 201, await answer.text()
            answer = await client.post("/api/config/agents", json={
                "agent_id": "2009", "skills": {"vip": 2}, "logged_in": True})
            assert answer.status == 201, await answer.text()
        await _eventually(lambda: "vip" in second.center.queues
                          and "2009" in second.center.board)
        assert second.center.board["2009"].state is AgentState.READY
        assert second.center.definitions == first.center.definitions
        await asyncio.sleep(0.5)  # time for a loop to show, if there were one
        changed: Any = [[e for e in w.events if isinstance(e, ev.ConfigChanged)]
                        for w in worlds]
        # two changes, announced once each by their maker, relayed once to the other
        assert [len(c) for c in changed] == [2, 2]
        assert {e.origin for c in changed for e in c} == {first.center.origin}
        assert followers[0].reloads == 0 and 1 <= followers[1].reloads <= 2
    finally:
        for follower in followers:
            await follower.close()
        for relay in relays:
            await relay.stop()
        for world in worlds:
            await world.center.close()
        await engine.dispose()
