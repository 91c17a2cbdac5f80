"""The whole server (``build_app``) against the real Asterisk sandbox: wired end to end."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from callcenter.app import build_app, build_services
from callcenter.config import Settings
from callcenter.core.pbx import OriginateRequest
from tests.accounts import sign_in

from .conftest import wait_no_channels

pytestmark = pytest.mark.system


async def test_health_calls_metrics_and_websocket_follow_a_real_call(
        asterisk_sandbox: Any, tmp_path: Path) -> None:
    await wait_no_channels(asterisk_sandbox)
    settings = Settings(
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'cc.db'}",
        ami={"port": asterisk_sandbox.settings.ami_port, "ping_interval_s": 1.0},
    )
    services = build_services(settings)
    client = TestClient(TestServer(build_app(services)))
    await client.start_server()
    await sign_in(client, "supervisor")
    try:
        await services.ami.wait_ready(10)
        health = await client.get("/health")
        body = await health.json()
        assert health.status == 200, body
        assert body["components"]["pbx"]["status"] == "up"
        assert body["components"]["pbx"]["version"].startswith("22.")
        assert body["components"]["database"]["status"] == "up"

        ws = await client.ws_connect("/ws/events?types=call.*")
        first = await ws.receive_json(timeout=5)
        assert first["type"] == "snapshot" and first["calls"] == []

        handle = await services.pbx.originate(OriginateRequest(
            endpoint="Local/answer@cc-test", application="Wait", data="600",
            variables={"CC_TALK_S": "1"}))
        call_id = handle.channel_id
        seen: list[dict[str, Any]] = []
        while not any(m["type"] == "call.answered" for m in seen):
            seen.append(await ws.receive_json(timeout=10))
        live = await (await client.get(f"/api/calls/{call_id}")).json()
        assert live["state"] == "up" and len(live["legs"]) == 2
        metrics = await (await client.get("/metrics")).text()
        assert "callcenter_active_calls 1.0" in metrics
        assert 'callcenter_ami_connected{pbx="asterisk"} 1.0' in metrics
        assert 'callcenter_pbx_up{pbx="asterisk"} 1.0' in metrics
        while not any(m["type"] == "call.ended" for m in seen):
            seen.append(await ws.receive_json(timeout=10))
        assert [m["type"] for m in seen] == ["call.started", "call.answered", "call.ended"]
        assert all(m["call_id"] == call_id for m in seen)
        assert seen[-1]["hangup_cause"] == 16
        await ws.close()

        # Asterisk gone: health says so (503), and comes back when Asterisk does
        await asyncio.to_thread(asterisk_sandbox.stop_asterisk)
        await asyncio.sleep(0.5)
        down = await client.get("/health")
        assert down.status == 503
        assert (await down.json())["components"]["pbx"]["status"] == "down"
        await asyncio.to_thread(asterisk_sandbox.start_asterisk)
        await services.ami.wait_ready(10)
        assert (await client.get("/health")).status == 200
    finally:
        await client.close()
