"""``callcenter disposition ...`` with ``redis_url`` configured tells the running servers, as
the REST API does: a server on the same database and Redis puts ``dispositions.changed`` on
its bus (which every open console's stream carries). With ``--db`` (another database) it tells
nobody; with Redis away the change is stored and the command says the servers were not told."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from callcenter import events as ev
from callcenter.cli import cli
from tests.campaign_server import campaign_server

pytestmark = pytest.mark.integration


async def test_a_disposition_changed_with_the_cli_reaches_a_running_server(
        tmp_path: Path, redis_url: str) -> None:
    client, services = await campaign_server(tmp_path, redis_url=redis_url,
                                             node_id=f"one-{uuid.uuid4().hex[:6]}")
    seen: list[ev.DispositionsChanged] = []
    services.bus.add_handler(
        lambda e: seen.append(e) if isinstance(e, ev.DispositionsChanged) else None)
    env = {"CALLCENTER_DATABASE_URL": f"sqlite:///{tmp_path / 'cc.db'}",
           "CALLCENTER_REDIS_URL": redis_url}

    def run(*args: str, **more: str) -> Any:
        return CliRunner().invoke(cli, ["disposition", *args], env={**env, **more})

    try:
        await asyncio.sleep(0.3)  # the server's relay subscribed
        disabled = await asyncio.to_thread(run, "disable", "wrong_number")
        assert disabled.exit_code == 0, disabled.output
        assert "told 1 running server process(es)" in disabled.output
        for _ in range(50):
            if seen:
                break
            await asyncio.sleep(0.05)
        assert [(e.code, e.active) for e in seen] == [("wrong_number", False)]
        other = await asyncio.to_thread(
            lambda: CliRunner().invoke(cli, ["disposition", "enable", "wrong_number", "--db",
                                             f"sqlite:///{tmp_path / 'other.db'}"], env=env))
        assert other.exit_code == 0, other.output
        assert "told" not in other.output  # another database: not the servers' business
        away = await asyncio.to_thread(run, "enable", "wrong_number",
                                       CALLCENTER_REDIS_URL="redis://127.0.0.1:1/0")
        assert away.exit_code == 0, away.output
        assert "enabled disposition wrong_number" in away.output
        assert "the running servers were not told" in away.output
        await asyncio.sleep(0.3)
        assert len(seen) == 1
    finally:
        await client.close()
