"""The demo's callers go through the sample main flow with the same IVR engine as on
Asterisk: keys or speech, the CRM lookup, call data on the channel, then the queue the flow
chose, with the customer's priority; the interaction keeps the IVR path."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import text

from callcenter import events as ev
from callcenter.acd.queueing import CHURN_PRIORITY, TIER_PRIORITY
from callcenter.config import Settings
from callcenter.sim.demo import DEMO_KEY, DEMO_QUEUES, DemoOptions, build_demo_app, prepare_crm
from callcenter.web.state import BUS
from crm_bridge.db import make_engine
from tests.accounts import sign_in


async def test_demo_callers_pass_the_main_menu_before_they_queue(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'demo.db'}"
    await prepare_crm(url, 300)
    options = DemoOptions(agents=6, calls_per_minute=40, speed=25, talk_s=15, wrap_up_s=2,
                          break_every_s=0, unknown_callers=0.3)
    app = await build_demo_app(Settings(database_url=url), options)
    events: list[ev.DomainEvent] = []
    app[BUS].add_handler(events.append)
    client: TestClient[Any, Any] = TestClient(TestServer(app))
    await client.start_server()
    await sign_in(client, "supervisor")
    try:
        await asyncio.sleep(5.0)  # about two simulated minutes
        demo = client.app[DEMO_KEY]
        live = await (await client.get("/api/calls")).json()
    finally:
        await client.close()
    started = [e for e in events if isinstance(e, ev.IvrStarted)]
    exits = {e.call_id: e for e in events if isinstance(e, ev.IvrExit)}
    queued = [e for e in events if isinstance(e, ev.CallQueued) and not e.requeued]
    assert demo.flow is not None and demo.flow.name == "main"
    assert len(started) >= 20, len(started)
    assert {e.outcome for e in exits.values()} >= {"queue"}
    assert len(queued) >= 10
    inputs = [e for e in events if isinstance(e, ev.IvrInput)]
    assert {e.via for e in inputs} >= {"dtmf"}
    for entry in queued:  # every caller in a queue came out of the IVR for that queue
        exit_ = exits[entry.call_id]
        assert exit_.outcome == "queue" and exit_.queue == entry.queue, (exit_, entry)
        assert exit_.at <= entry.at
        assert entry.queue in DEMO_QUEUES
    # the priority is the CRM value tier's (plus the churn warning's), found by the IVR's
    # lookup of the caller
    nodes = [e for e in events if isinstance(e, ev.IvrNodeEntered)]
    assert {n.node for n in nodes} >= {"identify", "main_menu"}
    assert {e.priority for e in queued} <= {tier + churn for tier in (0, *TIER_PRIORITY.values())
                                            for churn in (0, CHURN_PRIORITY)}
    recognitions = [e for e in events if isinstance(e, ev.IvrRecognition)]
    assert recognitions, "simulated callers also speak"
    assert all(r.accepted is (r.confidence >= 0.5) for r in recognitions
               if r.text), "below the menu's minimum confidence the engine asks for a key"
    engine = make_engine(url)
    try:
        async with engine.connect() as conn:
            rows = (await conn.execute(text(
                "SELECT call_id, ivr_path, queue FROM interactions WHERE call_id IS NOT NULL"
            ))).all()
    finally:
        await engine.dispose()
    ours = {call_id: (path, queue) for call_id, path, queue in rows if call_id in exits}
    assert len(ours) >= 10, "the demo's inbound calls are interactions"
    for call_id, (path, queue) in ours.items():  # with the path the IVR took
        assert path == exits[call_id].path, (path, exits[call_id])
        if exits[call_id].outcome == "queue":
            assert queue == exits[call_id].queue
    assert any(call["variables"].get("CC_IVR_FLOW") == "main" for call in live["calls"]
               if "variables" in call) or not live["calls"]
