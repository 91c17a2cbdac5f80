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


async def test_sip_passwords_encrypted_at_rest_with_a_storage_key(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With ``sip.storage_key`` the table holds tokens, not passwords; everything that needs
    the password (the PJSIP file, the console's account) still gets it in clear; rows stored
    before the key stay readable until ``sip encrypt``; a wrong or missing key is a clear
    refusal, never a wrong password."""
    from sqlalchemy import select

    from crm_bridge.models import SipCredentialRow

    db = f"sqlite:///{tmp_path / 'cc.db'}"
    before = await asyncio.to_thread(run, "sip", "set", "1001", "--password-stdin", "--db", db,
                                     stdin="secret1001\n")
    assert before.exit_code == 0, before.output
    made = await asyncio.to_thread(run, "sip", "key")
    key = made.output.strip()
    assert made.exit_code == 0 and len(key) == 44
    monkeypatch.setenv("CALLCENTER_SIP__STORAGE_KEY", key)
    done = await asyncio.to_thread(run, "sip", "set", "1002", "--password-stdin", "--db", db,
                                   stdin="secret1002\n")
    assert done.exit_code == 0, done.output
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'cc.db'}")
    sessions = session_factory(engine)

    async def raw() -> dict[str, str]:
        async with sessions() as session:
            rows = await session.scalars(select(SipCredentialRow))
            return {r.agent_id: r.password for r in rows}

    try:
        stored = await raw()
        assert stored["1001"] == "secret1001"  # written before the key: as it was
        assert stored["1002"].startswith("fernet:") and "secret1002" not in stored["1002"]
        found = {c.agent_id: c.password for c in await SipCredentials(sessions, key).list()}
        assert found == {"1001": "secret1001", "1002": "secret1002"}
        encrypted = await asyncio.to_thread(run, "sip", "encrypt", "--db", db)
        assert encrypted.exit_code == 0 and "encrypted 1 SIP password" in encrypted.output
        assert all(p.startswith("fernet:") for p in (await raw()).values())
        # Asterisk's file gets the passwords in clear
        target = tmp_path / "pjsip_console.conf"
        written = await asyncio.to_thread(run, "sip", "pjsip", "--write", str(target),
                                          "--db", db)
        assert written.exit_code == 0, written.output
        assert "password = secret1001" in target.read_text()
        # another key, or none: refused with the reason, no wrong password handed out
        monkeypatch.setenv("CALLCENTER_SIP__STORAGE_KEY",
                           (await asyncio.to_thread(run, "sip", "key")).output.strip())
        wrong = await asyncio.to_thread(run, "sip", "pjsip", "--db", db)
        assert wrong.exit_code != 0 and "another storage key" in wrong.output, wrong.output
        monkeypatch.delenv("CALLCENTER_SIP__STORAGE_KEY")
        none = await asyncio.to_thread(run, "sip", "pjsip", "--db", db)
        assert none.exit_code != 0 and "is encrypted: set sip.storage_key" in none.output
        monkeypatch.setenv("CALLCENTER_SIP__STORAGE_KEY", "not-a-key")
        bad = await asyncio.to_thread(run, "sip", "list", "--db", db)
        assert bad.exit_code != 0 and "not a Fernet key" in bad.output, bad.output
        assert "Traceback" not in bad.output + none.output + wrong.output
        # the longest password fits the column as a token (PostgreSQL checks lengths)
        longest = SipCredentials(sessions, key)
        assert len(longest.vault.seal("x" * 128)) <= 512
    finally:
        await engine.dispose()
