"""``callcenter serve`` on the real Asterisk sandbox running the ACD's definitions from the
database: stored with ``callcenter acd seed`` (they win over ``CALLCENTER_ACD__AGENTS``), a
queue's required skill level decides which registered phone (SIPp) rings, and a change made
over REST while it runs applies to the next caller (who then waits, no agent qualifying)."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from callcenter.core.pbx import OriginateRequest

from .conftest import Link
from .serve_process import add_account, free_port, login_headers, start_serve, wait_healthy
from .sipp_agent import SippAgent

pytestmark = pytest.mark.system

SEED = """\
queues:
  - {name: default, strategy: skills-level, required_skills: {en: 3}}
agents:
  - {agent_id: "2001", name: Expert, skills: {en: 5}, logged_in: true}
  - {agent_id: "2002", name: Beginner, skills: {en: 1}, logged_in: true}
pause_reasons:
  - {code: huddle, label: Team huddle, productive: true}
"""


async def _until(ws: aiohttp.ClientWebSocketResponse, stream: list[dict[str, Any]],
                 done: Any, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not done() and time.monotonic() < deadline:
        try:
            stream.append(await ws.receive_json(timeout=max(0.1, deadline - time.monotonic())))
        except TimeoutError:
            break


async def test_serve_runs_stored_definitions_and_applies_a_rest_change(
        link: Link, asterisk_sandbox: Any, tmp_path: Path) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log = tmp_path / "serve.log"
    db = f"sqlite:///{tmp_path / 'cc.db'}"
    seed = tmp_path / "acd.yaml"
    seed.write_text(SEED)
    env = {**os.environ,
           "CALLCENTER_AMI__PORT": str(asterisk_sandbox.settings.ami_port),
           "CALLCENTER_AMI__PING_INTERVAL_S": "1",
           "CALLCENTER_DATABASE_URL": db,
           "CALLCENTER_HTTP__PORT": str(port),
           # the database's definitions win over these
           "CALLCENTER_ACD__AGENTS": json.dumps(["2003"]),
           "CALLCENTER_ACD__WRAP_UP_S": "1"}
    env.pop("CALLCENTER_CONFIG", None)
    seeded = await asyncio.to_thread(
        subprocess.run, [sys.executable, "-m", "callcenter", "acd", "seed", str(seed)],
        env=env, capture_output=True, text=True, timeout=60)
    assert seeded.returncode == 0, seeded.stderr
    phones = [SippAgent(asterisk_sandbox, "2001", port=25_341, ring_ms=300),
              SippAgent(asterisk_sandbox, "2002", port=25_342, ring_ms=300)]
    await asyncio.to_thread(add_account, env, "boss", "admin")
    process = start_serve(env, log)
    try:
        await wait_healthy(base, process, log)
        for phone in phones:
            await phone.start()
        async with aiohttp.ClientSession(
                headers=await login_headers(base, "boss")) as session, session.ws_connect(
                f"{base}/ws/events") as ws:
            snapshot = await ws.receive_json(timeout=5)
            assert {a["agent_id"]: a["state"] for a in snapshot["agents"]} == {
                "2001": "ready", "2002": "ready"}
            stream: list[dict[str, Any]] = []

            # the queue needs English at level 3: only 2001 qualifies
            first = await link.pbx.originate(OriginateRequest(
                endpoint="Local/5550201@inbound", application="Wait", data="4",
                caller_id="+14155550201", timeout_s=10))
            assert (await asyncio.wait_for(first.outcome, 10)).answered
            await _until(ws, stream, lambda: any(
                m["type"] == "queue.connected" for m in stream), 20)
            offers = [m for m in stream if m["type"] == "queue.offered"]
            assert [m["agent_id"] for m in offers] == ["2001"], offers
            connected = [m for m in stream if m["type"] == "queue.connected"]
            assert connected and connected[0]["agent_id"] == "2001"

            # live change: the queue now needs French, which neither agent has
            async with session.put(f"{base}/api/config/queues/default",
                                   json={"required_skills": {"fr": 1}}) as answer:
                assert answer.status == 200, await answer.text()
            await _until(ws, stream, lambda: any(
                m["type"] == "config.changed" for m in stream), 5)
            async with session.get(f"{base}/api/config") as answer:
                whole = await answer.json()
            assert [a["agent_id"] for a in whole["agents"]] == ["2001", "2002"]
            assert whole["pause_reasons"][0]["code"] == "huddle"
            before = len(stream)
            second = await link.pbx.originate(OriginateRequest(
                endpoint="Local/5550202@inbound", application="Wait", data="6",
                caller_id="+14155550202", timeout_s=10))
            assert (await asyncio.wait_for(second.outcome, 10)).answered
            await _until(ws, stream, lambda: any(
                m["type"] == "queue.abandoned" for m in stream[before:]), 20)
            later = stream[before:]
            assert [m for m in later if m["type"] == "queue.entered"], later
            assert not [m for m in later if m["type"] == "queue.offered"], later
            assert [m for m in later if m["type"] == "queue.abandoned"]
            ready = {a["agent_id"] for a in snapshot["agents"]}
            async with session.get(f"{base}/api/agents") as answer:
                agents = (await answer.json())["agents"]
            assert {a["agent_id"] for a in agents} == ready
    finally:
        process.terminate()
        process.wait(timeout=15)
        for phone in phones:
            await phone.stop()
    text = await asyncio.to_thread(log.read_text)
    assert "Traceback" not in text and '"level": "ERROR"' not in text, text[-3000:]
