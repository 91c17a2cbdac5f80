"""Per-agent SIP credentials provisioned to the real Asterisk (issue 12): ``callcenter sip
generate`` gives agent 3001 (no static endpoint in pjsip.conf) a random password in the
database; ``callcenter sip pjsip --write .../pjsip_console.conf --reload`` writes its PJSIP
endpoint and reloads PJSIP over AMI; the agent's console in Chromium then registers with the
password only its own session was handed. A wrong password is refused by Asterisk, and after
``callcenter sip remove`` + a rewrite the endpoint is gone."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from callcenter.config import Settings
from callcenter.events import EventBus
from callcenter.metrics import Metrics
from callcenter.web.app import create_app
from crm_bridge.db import make_engine, session_factory
from crm_bridge.sip_credentials import SipCredentials
from tests.accounts import PASSWORD, add_user
from tests.fakes import NoCalls
from tests.harness.chromium import FAKE_MEDIA, chromium_page, sign_in_page, wait_for
from tests.harness.require import require, require_binary

pytestmark = pytest.mark.system

AGENT = "3001"


def cli(env: dict[str, str], *args: str) -> str:
    done = subprocess.run([sys.executable, "-m", "callcenter", *args], env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


@pytest.fixture
async def provisioned(asterisk_sandbox: Any, tmp_path: Path) -> AsyncIterator[dict[str, Any]]:
    conf = asterisk_sandbox.path("/etc/asterisk/pjsip.conf").read_text()
    if "#tryinclude pjsip_console.conf" not in conf:
        require("Asterisk sandbox with this checkout's pjsip.conf",
                "the running sandbox's pjsip.conf has no '#tryinclude pjsip_console.conf': "
                "run `callcenter sandbox up` from this checkout")
    db = tmp_path / "cc.db"
    env = {k: v for k, v in os.environ.items() if not k.startswith("CALLCENTER_")}
    env.update({"CALLCENTER_DATABASE_URL": f"sqlite:///{db}",
                "CALLCENTER_AMI__PORT": str(asterisk_sandbox.settings.ami_port)})
    target = asterisk_sandbox.path("/etc/asterisk/pjsip_console.conf")
    await asyncio.to_thread(cli, env, "sip", "generate", AGENT)
    out = await asyncio.to_thread(cli, env, "sip", "pjsip", "--write", str(target), "--reload")
    assert "wrote 1 SIP account" in out and "PJSIP reloaded" in out, out
    try:
        yield {"env": env, "db": db, "target": target}
    finally:
        target.unlink(missing_ok=True)
        asterisk_sandbox.cli("module reload res_pjsip.so")


async def test_a_generated_account_is_provisioned_and_registers_from_the_console(
        provisioned: dict[str, Any], asterisk_sandbox: Any, tmp_path: Path) -> None:
    chromium = require_binary("chromium", "chromium", "apt-get install chromium")
    endpoint = asterisk_sandbox.cli(f"pjsip show endpoint {AGENT}")
    assert f"Endpoint:  {AGENT}" in endpoint and "webrtc" in endpoint.lower(), endpoint
    assert (provisioned["target"].stat().st_mode & 0o777) == 0o640
    url = f"sqlite+aiosqlite:///{provisioned['db']}"
    engine = make_engine(url)
    sessions = session_factory(engine)
    credential = await SipCredentials(sessions).get(AGENT)
    assert credential is not None and len(credential.password) >= 40
    ws_url = f"ws://127.0.0.1:{asterisk_sandbox.settings.http_port}/ws"
    settings = Settings(sip={"ws_url": ws_url})
    app = create_app(settings=settings, bus=EventBus(), calls=NoCalls(), metrics=Metrics(),
                     crm_sessions=sessions)
    try:
        async with TestClient(TestServer(app)) as client:
            await add_user(client, "agent", AGENT, username="gen.agent")
            base = str(client.make_url("")).rstrip("/")
            async with chromium_page(chromium, f"{base}/console/?lang=en",
                                     tmp_path / "profile", "en-US", FAKE_MEDIA) as page:
                await sign_in_page(page, "gen.agent", PASSWORD)
                await wait_for(page, "document.getElementById('sip-light') && "
                                     "document.getElementById('sip-light').dataset.on "
                                     "=== 'true'", 20)
                contacts = asterisk_sandbox.cli(f"pjsip show contacts like {AGENT}")
                assert f"{AGENT}/sip:" in contacts, contacts
            # the same endpoint refuses a wrong password (the check is Asterisk's, not ours)
            await SipCredentials(sessions).put(
                type(credential)(AGENT, AGENT, "not-the-password-1"))
            async with chromium_page(chromium, f"{base}/console/?lang=en",
                                     tmp_path / "profile2", "en-US", FAKE_MEDIA) as page:
                await sign_in_page(page, "gen.agent", PASSWORD)
                await wait_for(page, "window.consoleApp && window.consoleApp.phone && "
                                     "window.consoleApp.phone.lastError !== ''", 20)
                assert await page.evaluate("window.consoleApp.phone.registered") is False
    finally:
        await engine.dispose()
    # removed: rewritten without it, the endpoint is gone from Asterisk
    env = provisioned["env"]
    await asyncio.to_thread(cli, env, "sip", "remove", AGENT)
    out = await asyncio.to_thread(cli, env, "sip", "pjsip", "--write",
                                  str(provisioned["target"]), "--reload")
    assert "wrote 0 SIP account" in out
    assert "Unable to find object" in asterisk_sandbox.cli(f"pjsip show endpoint {AGENT}")
