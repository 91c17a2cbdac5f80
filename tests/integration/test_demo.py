"""``callcenter demo`` end to end: the real server on the simulated PBX, seeded SQLite CRM,
bot agents, inbound callers and an outbound campaign."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import text

from callcenter.config import Settings
from callcenter.sim.demo import DEMO_KEY, DemoOptions, build_demo_app, prepare_crm
from crm_bridge.db import make_engine
from tests.accounts import sign_in
from tests.event_order import check_event_order


async def test_a_simulated_minute_of_demo_traffic_flows_through_the_server(
        tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'demo.db'}"
    assert await prepare_crm(url, 300) == 300
    assert await prepare_crm(url, 300) == 300  # a second start reuses the customers
    settings = Settings(database_url=url)
    # 20x: one simulated minute in three seconds of wall clock
    options = DemoOptions(agents=6, calls_per_minute=20, speed=20, talk_s=20, wrap_up_s=3,
                          break_every_s=15, break_s=10)
    client: TestClient[Any, Any] = TestClient(TestServer(await build_demo_app(settings, options)))
    await client.start_server()
    await sign_in(client, "supervisor")
    try:
        socket_ = await client.ws_connect("/ws/events")
        snapshot = await socket_.receive_json(timeout=5)
        assert snapshot["type"] == "snapshot"
        assert sorted(a["agent_id"] for a in snapshot["agents"]) == [str(1001 + i)
                                                                    for i in range(6)]
        assert snapshot["pbx"] == {"pbx": "simulated", "connected": True,
                                   "version": "simulated"}
        seen: Counter[str] = Counter()
        last: dict[str, dict[str, Any]] = {}
        agent_states: Counter[str] = Counter()
        deadline = time.monotonic() + 3.0
        while time.monotonic() < deadline:
            try:
                message = await socket_.receive_json(timeout=max(0.01, deadline
                                                                 - time.monotonic()))
            except TimeoutError:
                break
            seen[message["type"]] += 1
            last[message["type"]] = message
            if message["type"] == "agent.state":
                agent_states[message["state"]] += 1
        demo = client.app[DEMO_KEY]
        health = await client.get("/health")
        assert health.status == 200
        assert (await health.json())["components"]["pbx"]["pbx"] == "simulated"
        metrics = await (await client.get("/metrics")).text()
        assert 'callcenter_pbx_up{pbx="simulated"} 1.0' in metrics
        assert "callcenter_ami_connected" not in metrics  # no AMI link to report on
    finally:
        await client.close()

    # inbound callers arrived and were answered by agents; the campaign dialled and connected
    assert demo.calls_injected >= 5, demo.calls_injected
    assert seen["call.started"] >= 10 and seen["call.ended"] >= 5, seen
    assert last["queue.changed"]["answered"] >= 3, last["queue.changed"]
    campaign = last["campaign.changed"]
    assert campaign["placed"] >= 3 and campaign["humans"] >= 1, campaign
    assert agent_states["on_call"] >= 3 and agent_states["wrap_up"] >= 1, agent_states
    assert agent_states["paused"] >= 1, agent_states  # bot agents take breaks too
    assert seen["screen.popped"] >= 1, seen  # the ringing bot agents got CRM cards
    # every call became an interaction row in the CRM
    engine = make_engine(url)
    async with engine.connect() as conn:
        rows = (await conn.execute(text("SELECT count(*) FROM interactions"))).scalar_one()
        # and every step of a caller in a queue a queue_log row, as many as the ACD announced
        steps = {kind: count for kind, count in await conn.execute(text(
            "SELECT kind, count(*) FROM queue_log GROUP BY kind"))}
    await engine.dispose()
    assert rows >= 10
    assert steps.get("enter", 0) >= 5 and steps.get("answer", 0) >= 3, steps
    assert steps["answer"] >= last["queue.changed"]["answered"], (steps, last["queue.changed"])


async def test_five_demo_minutes_show_no_forbidden_agent_move_and_causes_first(
        tmp_path: Path) -> None:
    """Five simulated minutes (30x: ten seconds of wall clock) of the demo's event stream, as
    a wallboard receives it: every agent's moves are a path of the state machine, and a phone
    goes up (hangs up) before its agent is reported on call (in wrap-up)."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'demo.db'}"
    await prepare_crm(url, 200)
    options = DemoOptions(agents=8, calls_per_minute=30, speed=30, talk_s=15, wrap_up_s=3,
                          break_every_s=20, break_s=8, pacing="ratio:1.5")
    client: TestClient[Any, Any] = TestClient(
        TestServer(await build_demo_app(Settings(database_url=url), options)))
    await client.start_server()
    await sign_in(client, "supervisor")
    stream: list[dict[str, Any]] = []
    try:
        socket_ = await client.ws_connect("/ws/events")
        snapshot = await socket_.receive_json(timeout=5)
        deadline = time.monotonic() + 10.0
        while time.monotonic() < deadline:
            try:
                stream.append(await socket_.receive_json(
                    timeout=max(0.01, deadline - time.monotonic())))
            except TimeoutError:
                break
    finally:
        await client.close()
    assert not [m for m in stream if m["type"] == "lagged"]
    moves = check_event_order(stream, start={a["agent_id"]: a["state"]
                                             for a in snapshot["agents"]})
    assert sum(moves.values()) >= 100, moves  # enough traffic to mean something
    kinds = Counter(m["type"] for m in stream)
    assert kinds["agent.state"] >= 100 and kinds["channel.hangup"] >= 50, kinds


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_demo_starts_with_one_command_and_is_reachable_within_10_s(
        tmp_path: Path) -> None:
    port = _free_port()
    env = {**os.environ, "XDG_STATE_HOME": str(tmp_path)}
    started = time.monotonic()
    process = subprocess.Popen(
        [sys.executable, "-m", "callcenter", "demo", "--port", str(port)], env=env,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert process.stdout is not None
        first = [process.stdout.readline() for _ in range(7)]
        # the first lines say where to look and with what login, and the campaign's hours
        assert first[0].startswith(f"callcenter demo on http://127.0.0.1:{port}"), first
        assert f"http://127.0.0.1:{port}/wallboard/" in first[2], first
        assert f"http://127.0.0.1:{port}/analytics/" in first[3], first
        assert f"http://127.0.0.1:{port}/campaigns/" in first[4], first
        user, password = first[5].split("sign in as:")[1].split(" / ")
        assert "campaign renewals: calling window 00:00-23:59" in first[6], first
        reachable_after = None
        while time.monotonic() - started < 30 and process.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1) as r:
                    if r.status == 200:
                        reachable_after = time.monotonic() - started
                        break
            except OSError:
                time.sleep(0.1)
        assert reachable_after is not None, process.stdout.read() if process.stdout else ""
        assert reachable_after < 10, f"demo reachable after {reachable_after:.1f} s"
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/live/", timeout=2) as page:
            assert b"/ws/events" in page.read()
        login = urllib.request.Request(
            f"http://127.0.0.1:{port}/api/auth/login", method="POST",
            headers={"Content-Type": "application/json"},
            data=json.dumps({"username": user.strip(), "password": password.strip()}).encode())
        with urllib.request.urlopen(login, timeout=5) as answer:
            assert json.load(answer)["role"] == "supervisor"
            assert "HttpOnly" in answer.headers["Set-Cookie"]
        assert (tmp_path / "callcenter" / "demo.db").exists()
    finally:
        process.terminate()
        output, _ = process.communicate(timeout=10)
    assert f"open http://127.0.0.1:{port}/live/" in output


def test_demo_refuses_a_taken_port_and_an_unusable_database(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from callcenter.cli import cli

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = CliRunner().invoke(cli, ["demo", "--port", str(port), "--customers", "5",
                                          "--db", str(tmp_path / "demo.db")])
    assert result.exit_code == 1
    assert f"cannot listen on 127.0.0.1:{port}" in result.output
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    result = CliRunner().invoke(cli, ["demo", "--db", str(blocker / "demo.db")])
    assert result.exit_code == 1 and "cannot prepare the demo CRM" in result.output
    result = CliRunner().invoke(cli, ["demo", "--pacing", "clairvoyant"])
    assert result.exit_code == 2 and "only in callcenter simulate" in result.output
    result = CliRunner().invoke(cli, ["demo", "--calling-window", "21:00-08:00"])
    assert result.exit_code == 2 and "must be before window_end" in result.output
