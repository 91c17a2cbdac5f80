"""``callcenter serve`` — the process an operator runs — against the real Asterisk sandbox:
agents come from its configuration, callers placed into the inbound context reach the
registered agent phones (SIPp) through the same contact-center assembly the demo runs, and a
wallboard's event stream tells every move causes first."""

from __future__ import annotations

import asyncio
import json
import os
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from callcenter.core.pbx import OriginateRequest
from tests.event_order import check_event_order

from .conftest import Link
from .serve_process import add_account, free_port, login_headers, start_serve, wait_healthy
from .sipp_agent import SippAgent

pytestmark = pytest.mark.system


async def test_serve_routes_queued_callers_to_configured_agents(
        link: Link, asterisk_sandbox: Any, tmp_path: Path) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log = tmp_path / "serve.log"
    env = {**os.environ,
           "CALLCENTER_AMI__PORT": str(asterisk_sandbox.settings.ami_port),
           "CALLCENTER_AMI__PING_INTERVAL_S": "1",
           # a plain SQLAlchemy URL, as users type it (mapped to aiosqlite)
           "CALLCENTER_DATABASE_URL": f"sqlite:///{tmp_path / 'cc.db'}",
           "CALLCENTER_HTTP__PORT": str(port),
           "CALLCENTER_ACD__AGENTS": json.dumps(["2001", "2002",
                                                 {"agent_id": "2003", "logged_in": False}]),
           "CALLCENTER_ACD__WRAP_UP_S": "1"}
    env.pop("CALLCENTER_CONFIG", None)
    phones = [SippAgent(asterisk_sandbox, "2001", port=25_331, ring_ms=300),
              SippAgent(asterisk_sandbox, "2002", port=25_332, ring_ms=300)]
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
            assert snapshot["synced"] is True
            start = {a["agent_id"]: a["state"] for a in snapshot["agents"]}
            assert start == {"2001": "ready", "2002": "ready", "2003": "offline"}
            callers = [await link.pbx.originate(OriginateRequest(
                endpoint=f"Local/555010{n}@inbound", application="Wait", data="4",
                caller_id=f"+1415555010{n}", timeout_s=10)) for n in (1, 2)]
            for handle in callers:
                assert (await asyncio.wait_for(handle.outcome, 10)).answered
            stream: list[dict[str, Any]] = []
            ready_again: set[str] = set()
            deadline = time.monotonic() + 25
            while ready_again != {"2001", "2002"} and time.monotonic() < deadline:
                message = await ws.receive_json(timeout=max(0.1, deadline - time.monotonic()))
                stream.append(message)
                if message["type"] == "agent.state" and message["previous"] == "wrap_up":
                    ready_again.add(message["agent_id"])
        check_event_order(stream, start=start)
        requeued = [line for line in (await asyncio.to_thread(log.read_text)).splitlines()
                    if "back in queue" in line or "not rung" in line or "did not answer" in line]
        for agent in ("2001", "2002"):
            trail = [f"{m['previous']}>{m['state']}" for m in stream
                     if m["type"] == "agent.state" and m["agent_id"] == agent]
            # the conversation; before it, at most one ring that was not answered (seen in
            # about one full system run in four, right after other tests used the same phone;
            # cause not pinned down, the log line below says Asterisk's reason), after which
            # the ACD put the caller back at its place and rang again — as it should
            assert trail[-4:] == ["ready>reserved", "reserved>on_call", "on_call>wrap_up",
                                  "wrap_up>ready"], (trail, requeued)
            assert trail[:-4] in ([], ["ready>reserved", "reserved>ready"]), (trail, requeued)
        if requeued:
            print("rings retried:", *requeued, sep="\n  ")
        answered = [m for m in stream if m["type"] == "queue.changed"][-1]
        assert answered["queue"] == "default" and answered["answered"] == 2
        assert answered["abandoned"] == 0
        bridged = {m["channel_id"] for m in stream if m["type"] == "channel.bridged"}
        assert len(bridged) >= 4  # each caller with its agent
    finally:
        process.terminate()
        process.wait(timeout=15)
        for phone in phones:
            await phone.stop()
    text = await asyncio.to_thread(log.read_text)
    assert "Traceback" not in text and '"level": "ERROR"' not in text, text[-3000:]
