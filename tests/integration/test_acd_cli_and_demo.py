"""The ACD's definitions from the command line on REAL SQLite and PostgreSQL (``callcenter
queue|agent|pause-reason ...``, ``callcenter acd seed|export``), and ``callcenter demo`` run
from the shipped seed file: its agents on the board, its queues serving callers, a change over
REST told to the WebSocket stream as ``config.changed``."""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiohttp.test_utils import TestClient, TestServer
from click.testing import CliRunner, Result

from callcenter.acd.definitions import QueueDefinition
from callcenter.acd_documents import DEMO_ACD_FILE, definitions_from_document, load_yaml
from callcenter.cli import cli
from callcenter.config import Settings
from callcenter.sim.demo import DEMO_KEY, DemoOptions, build_demo_app, prepare_crm
from crm_bridge import acd_config
from crm_bridge.db import make_engine, session_factory
from tests.accounts import sign_in

pytestmark = pytest.mark.integration


def _cli(db_url: str, *args: str, code: int = 0) -> Result:
    result = CliRunner().invoke(cli, [*args, "--db", db_url])
    assert result.exit_code == code, result.output
    return result


def test_the_cli_manages_queues_agents_and_pause_reasons(db_url: str, tmp_path: Path) -> None:
    # nothing stored: the settings' definitions are listed (one queue, "default")
    assert "default" in _cli(db_url, "queue", "list").output
    _cli(db_url, "queue", "add", "vip", "--skill", "vip=2", "-s", "strategy=vip-priority",
         "-s", "max_wait_s=300")
    refused = _cli(db_url, "queue", "add", "vip", code=1)
    assert "exists" in refused.output
    refused = _cli(db_url, "queue", "add", "bad", "-s", "max_wait_s=-1", code=1)
    assert "max_wait_s must be > 0" in refused.output
    refused = _cli(db_url, "queue", "add", "bad", "-s", "colour=blue", code=1)
    assert "colour: Extra inputs are not permitted" in refused.output
    _cli(db_url, "queue", "set", "vip", "--skill", "en=3", "-s", "overflow_queue=default",
         "-s", "overflow_after_s=30")
    shown = yaml.safe_load(_cli(db_url, "queue", "show", "vip").output)
    assert shown["required_skills"] == {"vip": 2, "en": 3}
    assert (shown["overflow_queue"], shown["overflow_after_s"]) == ("default", 30)
    refused = _cli(db_url, "queue", "remove", "default", code=1)
    assert "overflow target of vip" in refused.output

    _cli(db_url, "agent", "add", "2001", "-s", "name=Alice M", "--skill", "en=5",
         "-s", "endpoint=PJSIP/alice")
    listed = _cli(db_url, "agent", "list").output
    assert "Alice M" in listed and "PJSIP/alice" in listed
    _cli(db_url, "pause-reason", "add", "huddle", "-s", "productive=true", "-s", "max_s=600")
    _cli(db_url, "pause-reason", "remove", "lunch")
    refused = _cli(db_url, "pause-reason", "remove", "lunch", code=1)
    assert "no pause reason 'lunch'" in refused.output
    refused = _cli(db_url, "pause-reason", "add", "no_answer", code=1)
    assert "the ACD's own" in refused.output

    # seed twice: the same result; export reads back as the same definitions
    _cli(db_url, "acd", "seed", str(DEMO_ACD_FILE))
    out = tmp_path / "export.yaml"
    _cli(db_url, "acd", "export", "-o", str(out))
    first = out.read_text()
    _cli(db_url, "acd", "seed", str(DEMO_ACD_FILE))
    _cli(db_url, "acd", "export", "-o", str(out))
    assert out.read_text() == first
    exported = definitions_from_document(yaml.safe_load(first))
    seed = load_yaml(DEMO_ACD_FILE)
    assert {q.name for q in exported.queues} == {q.name for q in seed.queues} | {"vip"}
    assert exported.queue("vip") == seed.queue("vip")  # the seed's vip replaced the CLI's
    assert "huddle" in {r.code for r in exported.pause_reasons}

    bad = tmp_path / "bad.yaml"
    bad.write_text("queues:\n  - name: a\n    max_wait_s: nope\n")
    refused = _cli(db_url, "acd", "seed", str(bad), code=1)
    assert "bad.yaml:3: queues[0]: queue a: max_wait_s" in refused.output


async def test_the_demo_runs_the_seed_file_and_changes_apply_live(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'demo.db'}"
    await prepare_crm(url, 300)
    engine = make_engine(url)
    try:
        change = await acd_config.seed(session_factory(engine), load_yaml(DEMO_ACD_FILE))
    finally:
        await engine.dispose()
    options = DemoOptions(calls_per_minute=40, speed=20, talk_s=20, wrap_up_s=3,
                          break_every_s=0, definitions=change.definitions)
    client: TestClient[Any, Any] = TestClient(
        TestServer(await build_demo_app(Settings(database_url=url), options)))
    await client.start_server()
    await sign_in(client, "admin")
    try:
        socket_ = await client.ws_connect("/ws/events")
        snapshot = await socket_.receive_json(timeout=5)
        assert sorted(a["agent_id"] for a in snapshot["agents"]) == [
            str(n) for n in range(2001, 2011)]
        listed = await (await client.get("/api/config/queues")).json()
        assert {q["name"] for q in listed["queues"]} == {
            "support", "billing", "complaints", "vip", "default"}
        response = await client.post("/api/config/queues", json={"name": "fr", "required_skills":
                                                                 {"fr": 5}})
        assert response.status == 201
        answered: Counter[str] = Counter()
        changed = []
        deadline = time.monotonic() + 4.0
        while time.monotonic() < deadline:
            try:
                message = await socket_.receive_json(
                    timeout=max(0.01, deadline - time.monotonic()))
            except TimeoutError:
                break
            if message["type"] == "queue.connected":
                answered[message["queue"]] += 1
            elif message["type"] == "config.changed":
                changed.append(message)
        demo = client.app[DEMO_KEY]
        assert changed and changed[0]["queues"] == 6
        assert isinstance(demo.services.center.queues["fr"].definition, QueueDefinition)
        # callers of several queues were answered by the seed's agents
        assert len([q for q in answered if answered[q]]) >= 2, answered
    finally:
        await client.close()
