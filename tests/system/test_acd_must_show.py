"""Issue 10's must-show on the real Asterisk: ``callcenter serve`` (a subprocess) runs seeded
queues for 20 callers and 5 registered SIPp agent phones, and is killed with SIGKILL and
restarted mid-traffic.

- every caller ends answered or recorded as abandoned (the queue-event log in the server's
  database says so for each caller's channel): none stuck, none lost across the kill — the
  callers waiting at the kill are adopted by the restarted server at their place;
- ring-no-answer: agent 2005's phone rings out (it answers after 30 s, the queue rings 3 s):
  the caller goes back to its place (``not_connected`` / ``requeue`` rows) and 2005 is paused
  ``no_answer``;
- agent 2006 is logged in but its phone never registers: it is never rung (no ``PJSIP/2006``
  channel ever exists);
- agent 2002 logs in paused with the configured reason ``lunch`` over REST: never offered a
  call (agent states are not kept across a restart: after it 2002 is logged out);
- overflow: sales callers are also offered to support's agents after 3 s (``overflow`` rows,
  answers by support agents for sales callers).
- callback: before the kill a caller of queue ``cb`` presses 1 in ``[queue-callback-offer]`` and
  hangs up; the restarted server (callbacks in its database) calls it back once 2002, the one
  agent with skill ``cb``, logs in: the customer's leg answers and 2002's phone is bridged.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from callcenter import events as ev
from callcenter.acd.connect import hang_up_if_alive
from callcenter.core.pbx import OriginateRequest

from .conftest import Link
from .serve_process import add_account, free_port, login_headers, start_serve, wait_healthy
from .sipp_agent import SippAgent

pytestmark = pytest.mark.system

SEED = """\
queues:
  - {name: sales, required_skills: {sales: 1}, overflow_queue: support, overflow_after_s: 3,
     ring_timeout_s: 3}
  - {name: support, required_skills: {support: 1}, ring_timeout_s: 3}
  - {name: cb, required_skills: {cb: 1}, callback_after_s: 2}
agents:
  - {agent_id: "2001", skills: {sales: 1}, logged_in: true}
  - {agent_id: "2002", skills: {sales: 1, cb: 1}, logged_in: false}
  - {agent_id: "2003", skills: {support: 1}, logged_in: true}
  - {agent_id: "2004", skills: {support: 1}, logged_in: true}
  - {agent_id: "2005", skills: {support: 1, sales: 1}, logged_in: true}
  - {agent_id: "2006", skills: {support: 1, sales: 1}, logged_in: true}
pause_reasons:
  - {code: lunch, label: Lunch}
"""
CALLERS = 20
#: how long a caller stays on the line (waiting, then talking) before hanging up
STAY_S = 16


def _rows(db: Path) -> list[sqlite3.Row]:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10) as conn:
        conn.row_factory = sqlite3.Row
        return conn.execute("SELECT * FROM queue_log ORDER BY id").fetchall()


async def _call(link: Link, queue: str) -> None:
    handle = await link.pbx.originate(OriginateRequest(
        endpoint=f"Local/q-{queue}@cc-test", application="Wait", data=str(STAY_S),
        caller_id="+14155550100", timeout_s=10))
    assert (await asyncio.wait_for(handle.outcome, 10)).answered


async def test_twenty_callers_five_phones_and_a_sigkill(
        link: Link, asterisk_sandbox: Any, tmp_path: Path) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    db = tmp_path / "cc.db"
    seed = tmp_path / "acd.yaml"
    seed.write_text(SEED)
    env = {k: v for k, v in os.environ.items() if not k.startswith("CALLCENTER_")}
    env.update({"CALLCENTER_AMI__PORT": str(asterisk_sandbox.settings.ami_port),
                "CALLCENTER_AMI__PING_INTERVAL_S": "1",
                "CALLCENTER_DATABASE_URL": f"sqlite:///{db}",
                "CALLCENTER_HTTP__PORT": str(port),
                "CALLCENTER_ACD__WRAP_UP_S": "1",
                "CALLCENTER_ACD__NO_ANSWER_PAUSE_AFTER": "1",
                "CALLCENTER_LOG_JSON": "true",
                # the customer's number would go out on the trunk; the sandbox's far end answers
                "CALLCENTER_ACD__CALLBACK_ENDPOINT": "Local/answer@cc-test"})
    seeded = await asyncio.to_thread(
        subprocess.run, [sys.executable, "-m", "callcenter", "acd", "seed", str(seed)],
        env=env, capture_output=True, text=True, timeout=60)
    assert seeded.returncode == 0, seeded.stderr
    await asyncio.to_thread(add_account, env, "boss", "supervisor")
    # 2006's phone must not be registered (an earlier test may have left a contact)
    await SippAgent(asterisk_sandbox, "2006", port=25_396).unregister()
    phones = [SippAgent(asterisk_sandbox, agent, port=25_380 + 2 * i, ring_ms=ring)
              for i, (agent, ring) in enumerate((("2001", 300), ("2002", 300), ("2003", 300),
                                                 ("2004", 300), ("2005", 30_000)))]
    for phone in phones:
        await phone.start()
    log = tmp_path / "serve.log"
    process = start_serve(env, log)
    restarted: subprocess.Popen[bytes] | None = None
    try:
        await wait_healthy(base, process, log)
        async with aiohttp.ClientSession(headers=await login_headers(base, "boss")) as session:
            async with session.put(f"{base}/api/agents/2002/state",
                                   json={"state": "paused", "reason": "lunch"}) as answer:
                assert answer.status == 200, await answer.text()
                paused = await answer.json()
                assert (paused["state"], paused["reason"]) == ("paused", "lunch")
        # a caller of queue cb asks for a callback (nobody can take cb's calls yet)
        await _call(link, "cb")
        await link.wait_for(lambda: any(
            c.name.startswith("Local/q-cb@") and c.context == "queue-callback-offer"
            for c in link.model.channels.values()), 10, "callback offered")
        outer = next(c.channel_id for c in link.model.channels.values()
                     if c.name.startswith("Local/q-cb@") and c.name.endswith(";1"))
        await link.pbx.set_variable(outer, "CC_DTMF", "1")  # the caller presses 1
        await link.pbx.redirect(outer, "cc-test", "dtmf")
        await link.wait_for(lambda: not any(c.name.startswith("Local/q-cb@")
                                            for c in link.model.channels.values()),
                            15, "callback caller hung up")
        began = time.monotonic()
        # 20 callers, two a second: 12 for sales (one agent ready, overflow to support after
        # 3 s), 8 for support
        for i in range(CALLERS):
            await _call(link, "sales" if i % 5 < 3 else "support")
            await asyncio.sleep(0.5)
            if i == 11:  # mid-traffic: some talk, some wait, some ring
                process.send_signal(signal.SIGKILL)
                process.wait(10)
                restarted = start_serve(env, tmp_path / "serve2.log")
        assert restarted is not None
        await wait_healthy(base, restarted, tmp_path / "serve2.log")
        callers = {e.channel_id: e.name.split("@")[0].removeprefix("Local/q-")
                   for e in link.events if isinstance(e, ev.ChannelCreated)
                   and e.name.startswith("Local/q-") and e.name.endswith(";2")
                   and not e.name.startswith("Local/q-cb@")}
        assert len(callers) == CALLERS
        # every caller leaves within STAY_S of arriving; then its last row says how it ended
        await link.wait_for(lambda: not any(c in link.model.channels for c in callers),
                            STAY_S + 30, "every caller gone")
        await asyncio.sleep(2)  # the queue log's last batch
        rows = await asyncio.to_thread(_rows, db)
        by_caller: dict[str, list[sqlite3.Row]] = {c: [] for c in callers}
        for row in rows:
            if row["channel_id"] in by_caller:
                by_caller[row["channel_id"]].append(row)
        outcomes = {c: [r["kind"] for r in found] for c, found in by_caller.items()}
        for caller, kinds in outcomes.items():
            assert kinds and kinds[0] == "enter", (caller, kinds)
            assert kinds[-1] in ("answer", "abandon"), (caller, callers[caller], kinds)
        answered = [c for c, kinds in outcomes.items() if kinds[-1] == "answer"]
        assert len(answered) >= 6, outcomes
        agents_of = {row["channel_id"]: row["agent"] for row in rows if row["kind"] == "answer"}
        # ring-no-answer: 2005 was offered a caller, rang out, the caller was requeued
        missed = [r for r in rows if r["kind"] == "not_connected" and r["agent"] == "2005"]
        assert missed and missed[0]["detail"] == "not_answered", [dict(r) for r in rows]
        assert any(r["kind"] == "requeue" and r["channel_id"] == missed[0]["channel_id"]
                   for r in rows)
        assert "2005" not in agents_of.values()
        # paused "no_answer" after one miss: at most one ring per server lifetime
        assert len([r for r in rows if r["kind"] == "offer" and r["agent"] == "2005"]) <= 2
        # overflow: sales callers also offered to support, some answered there
        overflowed = {r["channel_id"] for r in rows if r["kind"] == "overflow"}
        assert overflowed and all(callers[c] == "sales" for c in overflowed)
        assert any(agents_of.get(c) in ("2003", "2004") for c in overflowed), agents_of
        # the paused agent and the unregistered one were never offered anything
        offered = {r["agent"] for r in rows if r["kind"] == "offer"}
        assert "2002" not in offered and "2006" not in offered, offered
        assert not [e for e in link.events if isinstance(e, ev.ChannelCreated)
                    and e.name.startswith("PJSIP/2006")]
        # the callback asked for before the kill: made by the restarted server
        cb_caller = next(e.channel_id for e in link.events if isinstance(e, ev.ChannelCreated)
                         and e.name.startswith("Local/q-cb@") and e.name.endswith(";2"))
        # the restarted server signs the supervisor in again (sessions live in the process)
        async with aiohttp.ClientSession(
                headers=await login_headers(base, "boss")) as session, session.put(
                f"{base}/api/agents/2002/state", json={"state": "ready"}) as answer:
            assert answer.status == 200, await answer.text()

        def called_back() -> bool:
            return any(r["kind"] == "answer" and r["channel_id"] == cb_caller
                       and r["agent"] == "2002" for r in _rows(db))

        deadline = time.monotonic() + 25
        while not await asyncio.to_thread(called_back):
            assert time.monotonic() < deadline, [dict(r) for r in _rows(db)
                                                 if r["channel_id"] == cb_caller]
            await asyncio.sleep(0.5)
        assert any(c.name.startswith("PJSIP/2002") and c.bridge_id
                   for c in link.model.channels.values())
        assert time.monotonic() - began < 110
    finally:
        for proc in (process, restarted):
            if proc is not None and proc.poll() is None:
                proc.send_signal(signal.SIGINT)
                try:
                    proc.wait(20)
                except subprocess.TimeoutExpired:
                    proc.kill()
        for channel in list(link.model.channels):  # e.g. an agent leg rung at the kill
            await hang_up_if_alive(link.pbx, channel)
        for phone in phones:
            await phone.stop()
    text = (tmp_path / "serve2.log").read_text()
    assert "Traceback" not in text, text[-3000:]
