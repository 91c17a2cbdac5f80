"""``callcenter sip ...`` on a real SQLite database: accounts recorded and generated, listed
without passwords, written as PJSIP sections for Asterisk (the file Asterisk's group reads),
refused clearly when bad; ``--reload`` without a reachable AMI fails with one clear line."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from callcenter.cli import cli
from crm_bridge.db import make_engine, session_factory
from crm_bridge.sip_credentials import SipCredentials

pytestmark = pytest.mark.integration


def run(*args: str, stdin: str | None = None) -> Any:
    return CliRunner().invoke(cli, list(args), input=stdin)


async def test_sip_accounts_from_the_cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    db = f"sqlite:///{tmp_path / 'cc.db'}"
    done = await asyncio.to_thread(run, "sip", "set", "1001", "--password-stdin", "--db", db,
                                   stdin="secret1001\n")
    assert done.exit_code == 0 and "agent 1001: SIP user 1001" in done.output, done.output
    done = await asyncio.to_thread(run, "sip", "generate", "3001", "3002", "--db", db)
    assert done.exit_code == 0, done.output
    listed = await asyncio.to_thread(run, "sip", "list", "--db", db)
    assert listed.exit_code == 0
    assert [line.split() for line in listed.output.splitlines()] == [
        ["1001", "1001"], ["3001", "3001"], ["3002", "3002"]]
    assert "secret1001" not in listed.output
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'cc.db'}")
    try:
        found = {c.agent_id: c for c in await SipCredentials(session_factory(engine)).list()}
    finally:
        await engine.dispose()
    assert found["1001"].password == "secret1001"
    assert len(found["3001"].password) >= 40 and found["3001"].password != found["3002"].password

    target = tmp_path / "pjsip_console.conf"
    written = await asyncio.to_thread(run, "sip", "pjsip", "--write", str(target), "--db", db)
    assert written.exit_code == 0 and "wrote 3 SIP account(s)" in written.output
    assert target.stat().st_mode & 0o777 == 0o640
    text = target.read_text()
    assert re.search(r"^\[3001\]\(agent-webrtc\)$", text, re.MULTILINE)
    assert f"password = {found['3001'].password}" in text
    assert "[1001](agent-aor)" in text

    # bad input: a clear message, nothing stored
    for args, message in ((("sip", "set", "1 0", "--password-stdin"), "must be 1-64"),
                          (("sip", "set", "1003", "--username", "1001", "--password-stdin"),
                           "already"),
                          (("sip", "set", "1003", "--password-stdin"), "8 to 128")):
        refused = await asyncio.to_thread(run, *args, "--db", db,
                                          stdin="short\n" if "8 to" in message else "long enough\n")
        assert refused.exit_code != 0 and message in refused.output, refused.output
    removed = await asyncio.to_thread(run, "sip", "remove", "3002", "--db", db)
    assert removed.exit_code == 0
    again = await asyncio.to_thread(run, "sip", "remove", "3002", "--db", db)
    assert again.exit_code != 0 and "has no SIP account" in again.output

    # --reload needs the PBX: unreachable AMI is one clear line, the file is written anyway
    monkeypatch.setenv("CALLCENTER_AMI__PORT", "9")
    monkeypatch.setenv("CALLCENTER_AMI__CONNECT_TIMEOUT_S", "0.5")
    failed = await asyncio.to_thread(run, "sip", "pjsip", "--write", str(target), "--reload",
                                     "--db", db)
    assert failed.exit_code != 0 and "Traceback" not in failed.output, failed.output
    assert "wrote 2 SIP account(s)" in failed.output
