"""The wallboard in real Chromium against ``callcenter serve`` on the real Asterisk: at every
checkpoint its numbers are Asterisk's own — callers waiting in [holding] (CoreShowChannels),
agents' phones registered or not (``pjsip show contacts``), agents talking (their PJSIP
channels in a bridge).

Two SIPp phones (2001, 2002) answer and keep their calls; 2003 is logged in with no phone.
Four callers arrive: two talk, two wait, and 2003 is never offered one. Then 2003's phone
registers: the board shows it, it takes a waiting caller, one is left waiting.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import time
from pathlib import Path
from typing import Any

import pytest

from callcenter.core.pbx import OriginateRequest
from tests.harness.chromium import DevTools, chromium_page, sign_in_page
from tests.harness.require import require_binary

from .conftest import Link
from .serve_process import PASSWORD, add_account, free_port, start_serve, tail, wait_healthy
from .sipp_agent import SippAgent

pytestmark = pytest.mark.system

AGENTS = ("2001", "2002", "2003")

READ_BOARD = """(() => {
  const tile = document.querySelector('.qtile[data-queue="default"]');
  return {
    ready: document.body?.dataset.ready || "",
    waiting: tile?.querySelector('[data-figure="waiting"]')?.textContent ?? null,
    agents: Object.fromEntries([...document.querySelectorAll('.agent[data-agent]')].map(
      (a) => [a.dataset.agent, {state: a.dataset.state,
        registered: a.querySelector('[data-registered]')?.dataset.registered ?? null}])),
  };
})()"""


async def asterisk_truth(link: Link, sandbox: Any) -> dict[str, Any]:
    """What Asterisk itself says: callers waiting in [holding], phones with a contact, agents
    whose PJSIP channel is in a bridge."""
    channels = (await link.asterisk_channels()).values()
    waiting = sum(1 for ch in channels if ch.get("Context") == "holding"
                  and ch.get("Application") == "MusicOnHold" and not ch.get("BridgeId"))
    talking = {agent for agent in AGENTS for ch in channels
               if str(ch.get("Channel", "")).startswith(f"PJSIP/{agent}-") and ch.get("BridgeId")}
    contacts = await asyncio.to_thread(sandbox.cli, "pjsip show contacts")
    registered = {agent for agent in AGENTS if re.search(rf"\b{agent}/sip:", contacts)}
    return {"waiting": waiting, "talking": talking, "registered": registered}


def board_view(seen: dict[str, Any]) -> dict[str, Any]:
    """The page, in the same terms as :func:`asterisk_truth`."""
    agents = seen.get("agents") or {}
    return {"waiting": int(seen["waiting"]) if (seen.get("waiting") or "").isdigit() else None,
            "talking": {a for a, v in agents.items() if v["state"] == "on_call"},
            "registered": {a for a, v in agents.items() if v["registered"] == "yes"}}


async def board_matches_asterisk(page: DevTools, link: Link, sandbox: Any,
                                 expect: dict[str, Any], timeout: float = 20) -> dict[str, Any]:
    """Until the page equals Asterisk's view and that view is ``expect`` (the scenario's
    state); returns the page's read."""
    deadline = time.monotonic() + timeout
    while True:
        truth = await asterisk_truth(link, sandbox)
        seen = await page.evaluate(READ_BOARD)
        shown = board_view(seen)
        again = await asterisk_truth(link, sandbox)  # Asterisk did not move during the read
        if shown == truth == again == expect:
            return seen
        if time.monotonic() > deadline:
            raise AssertionError(f"page {shown} / Asterisk {truth} / expected {expect}")
        await asyncio.sleep(0.2)


async def test_the_wallboard_shows_what_asterisk_shows(link: Link, asterisk_sandbox: Any,
                                                       tmp_path: Path) -> None:
    chromium = require_binary("chromium", "Chromium", "apt-get install chromium")
    shots = Path(os.environ.get("CALLCENTER_SCREENSHOTS") or tmp_path)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log = tmp_path / "serve.log"
    env = {**os.environ,
           "CALLCENTER_AMI__PORT": str(asterisk_sandbox.settings.ami_port),
           "CALLCENTER_AMI__PING_INTERVAL_S": "1",
           "CALLCENTER_DATABASE_URL": f"sqlite:///{tmp_path / 'cc.db'}",
           "CALLCENTER_HTTP__PORT": str(port),
           "CALLCENTER_ACD__AGENTS": json.dumps(list(AGENTS)),
           "CALLCENTER_ACD__WRAP_UP_S": "1",
           # callers straight to [holding]: this is about the board, not the IVR
           "CALLCENTER_AUDIOSOCKET__ENABLED": "false"}
    env.pop("CALLCENTER_CONFIG", None)
    phones = [SippAgent(asterisk_sandbox, "2001", port=25_361, ring_ms=300),
              SippAgent(asterisk_sandbox, "2002", port=25_362, ring_ms=300)]
    late = SippAgent(asterisk_sandbox, "2003", port=25_363, ring_ms=300)
    await late.unregister()  # no phone of 2003 left by an earlier test
    await asyncio.to_thread(add_account, env, "wall", "supervisor")
    process = start_serve(env, log)
    callers = []
    try:
        await wait_healthy(base, process, log)
        for phone in phones:
            await phone.start()
        async with chromium_page(chromium, f"{base}/wallboard/?lang=en", tmp_path / "profile",
                                 "en") as page:
            await sign_in_page(page, "wall", PASSWORD)  # sent there: no session yet
            deadline = time.monotonic() + 15
            while (await page.evaluate(READ_BOARD))["ready"] != "yes":  # its snapshot came
                assert time.monotonic() < deadline, "the wallboard never got its snapshot"
                await asyncio.sleep(0.1)
            # 2001 and 2002 registered and ready, 2003 ready without a phone, nobody waiting
            for n in range(1, 5):
                callers.append(await link.pbx.originate(OriginateRequest(
                    endpoint=f"Local/555011{n}@inbound", application="MusicOnHold",
                    data="default,60", caller_id=f"+141555501{n:02d}", timeout_s=10)))
            for handle in callers:
                assert (await asyncio.wait_for(handle.outcome, 10)).answered
            seen = await board_matches_asterisk(page, link, asterisk_sandbox, {
                "waiting": 2, "talking": {"2001", "2002"}, "registered": {"2001", "2002"}})
            assert seen["agents"]["2003"] == {"state": "ready", "registered": "no"}
            await page.screenshot(shots / "wallboard-asterisk.png")

            await late.start()  # 2003's phone registers: it takes a waiting caller
            seen = await board_matches_asterisk(page, link, asterisk_sandbox, {
                "waiting": 1, "talking": set(AGENTS), "registered": set(AGENTS)})
            assert seen["agents"]["2003"] == {"state": "on_call", "registered": "yes"}
    finally:
        for handle in callers:
            if link.model.channel(handle.channel_id) is not None:
                await link.pbx.hangup(handle.channel_id)
        process.terminate()
        await asyncio.to_thread(process.wait, 15)
        for phone in (*phones, late):
            await phone.stop()
        await late.unregister()
    text = await asyncio.to_thread(log.read_text)
    assert "Traceback" not in text, tail(log)
