"""``callcenter user ...`` and ``callcenter audit`` on a real SQLite database, and a server on
the same database honouring what they wrote (log-in, disabled account, audit of changes)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from click.testing import CliRunner

from callcenter.cli import cli
from callcenter.config import AuthSettings, Settings
from callcenter.events import EventBus
from callcenter.metrics import Metrics
from callcenter.web import create_app
from crm_bridge.db import make_engine, session_factory
from crm_bridge.users import DbUsers

pytestmark = pytest.mark.integration

PASSWORD = "a long enough secret"


def run(*args: str, stdin: str | None = None) -> Any:
    return CliRunner().invoke(cli, list(args), input=stdin)


async def test_accounts_from_the_cli_sign_in_and_are_audited(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'cc.db'}"
    added = await asyncio.to_thread(run, "user", "add", "boss", "--role", "admin",
                                    "--password-stdin", "--db", db, stdin=PASSWORD + "\n")
    assert added.exit_code == 0, added.output
    result = await asyncio.to_thread(run, "user", "add", "mei", "--role", "agent",
                                     "--agent-id", "2001", "--password-stdin", "--db", db,
                                     stdin=PASSWORD + "\n")
    assert result.exit_code == 0, result.output
    # refused, each with one clear line
    for args, stdin, says in [
        (("user", "add", "mei", "--role", "agent", "--agent-id", "2001"), PASSWORD, "exists"),
        (("user", "add", "lee", "--role", "agent"), PASSWORD, "needs the agent id"),
        (("user", "add", "lee", "--role", "supervisor"), "short", "at least 8"),
        (("user", "add", "Bad Name", "--role", "admin"), PASSWORD, "username"),
        (("user", "disable", "nobody"), None, "no user"),
    ]:
        refused = await asyncio.to_thread(run, *args, "--password-stdin", "--db", db,
                                          stdin=None if stdin is None else stdin + "\n") \
            if stdin is not None else await asyncio.to_thread(run, *args, "--db", db)
        assert refused.exit_code == 1 and says in refused.output, (args, refused.output)
    listed = await asyncio.to_thread(run, "user", "list", "--json", "--db", db)
    assert json.loads(listed.output) == [
        {"username": "boss", "role": "admin", "agent_id": None, "disabled": False},
        {"username": "mei", "role": "agent", "agent_id": "2001", "disabled": False}]
    assert "scrypt" not in listed.output

    url = f"sqlite+aiosqlite:///{tmp_path / 'cc.db'}"
    engine = make_engine(url)
    sessions = session_factory(engine)

    class NoCalls:
        calls: dict[str, Any] = {}
        channels: dict[str, Any] = {}
        bridges: dict[str, Any] = {}

        def snapshot(self) -> dict[str, Any]:
            return {"calls": [], "channels": [], "bridges": []}

        def get_call(self, call_id: str) -> None:
            return None

    app = create_app(settings=Settings(auth=AuthSettings(recheck_s=0.01)), bus=EventBus(),
                     calls=NoCalls(), metrics=Metrics(), crm_sessions=sessions,
                     users=DbUsers(sessions))
    try:
        async with TestClient(TestServer(app)) as client:
            async def login(name: str) -> dict[str, str]:
                answer = await client.post("/api/auth/login", json={
                    "username": name, "password": PASSWORD, "bearer": True})
                assert answer.status == 200, await answer.text()
                return {"Authorization": f"Bearer {(await answer.json())['token']}"}

            mei = await login("mei")
            assert (await client.get("/api/auth/session", headers=mei)).status == 200
            boss = await login("boss")
            created = await client.post("/api/users", headers=boss, json={
                "username": "sup", "role": "supervisor", "password": PASSWORD})
            assert created.status == 201
            # disabled from the command line: the running server ends the session
            off = await asyncio.to_thread(run, "user", "disable", "mei", "--db", db)
            assert off.exit_code == 0, off.output
            await asyncio.sleep(0.05)
            assert (await client.get("/api/auth/session", headers=mei)).status == 401
            entries = (await (await client.get("/api/audit", headers=boss)).json())["entries"]
            assert [(e["actor"], e["action"], e["target"]) for e in entries] == [
                ("user:boss", "user.add", "sup")]
    finally:
        await engine.dispose()
    shown = await asyncio.to_thread(run, "audit", "--db", db)
    assert json.loads(shown.output.splitlines()[0])["action"] == "user.add"
    gone = await asyncio.to_thread(run, "user", "remove", "mei", "--db", db)
    assert gone.exit_code == 0 and "removed mei" in gone.output
    again = await asyncio.to_thread(run, "user", "set-password", "boss", "--password-stdin",
                                    "--db", db, stdin="another long secret\n")
    assert again.exit_code == 0, again.output
