"""The complaint desk's adapters where they fail: a webhook receiver that never answers 2xx
(given up after its attempts, counted), one that hangs (timeout), the customer without a
phone, a server without the callback queue or without an ACD, an SMTP server that is not
there — each recorded in the ``notify`` step, none losing the step itself."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from callcenter.complaints import workflow as w
from callcenter.complaints.service import ComplaintDesk, SmtpConfig, Webhook
from callcenter.events import EventBus
from crm_bridge.complaints import ComplaintStore, Viewer
from crm_bridge.db import make_engine, session_factory, upgrade_database
from crm_bridge.models import Customer, Phone

pytestmark = pytest.mark.unit

T0 = dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.UTC)


class Clock:
    def __init__(self) -> None:
        self.t = T0.timestamp()

    def now(self) -> float:
        return self.t

    def call_at(self, when: float, callback: Any, *args: Any) -> Any:
        return asyncio.get_running_loop().call_later(max(0.0, when - self.t), callback, *args)


@contextlib.asynccontextmanager
async def store(tmp_path: Path) -> AsyncIterator[tuple[ComplaintStore, int, int]]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'crm.db'}"
    await upgrade_database(url)
    engine = make_engine(url)
    sessions = session_factory(engine)
    async with sessions() as session, session.begin():
        phoned = Customer(name="Has Phone", email="x@example.com",
                          phones=[Phone(e164="+14155550100", raw="415 555 0100")])
        silent = Customer(name="No Phone")
        session.add_all([phoned, silent])
        await session.flush()
        ids = (phoned.id, silent.id)
    try:
        yield ComplaintStore(sessions), *ids
    finally:
        await engine.dispose()


async def carried_out(desk: ComplaintDesk, customer: int) -> list[dict[str, Any]]:
    out = await desk.register(customer_id=customer, category="billing", object="o",
                              request="r", severity=w.Severity.NORMAL, details="",
                              actor="alice")
    cid = out.complaint.id
    assert cid is not None
    for kind, fields in (("accept", {}), ("assign", {}),
                         ("analyse", {"cause": "c", "responsible": "r"}),
                         ("propose_remedy", {"remedy": "repair"}), ("carry_out", {})):
        await desk.step(cid, kind, fields, actor="sam")
    history: list[dict[str, Any]] = (await desk.store.read(
        cid, Viewer("", sees_all=True), desk.now()))["history"]
    return history


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_notification_outcomes_are_recorded(tmp_path: Path) -> None:
    async with store(tmp_path) as (complaints, phoned, silent):
        bus = EventBus()
        no_acd = ComplaintDesk(complaints, bus, Clock(), w.WorkflowPolicy(),
                               smtp=SmtpConfig("127.0.0.1", free_port(), timeout_s=2))
        history = await carried_out(no_acd, phoned)
        notify = history[-1]
        assert notify["kind"] == "notify" and notify["actor"] == "system"
        assert notify["data"]["callback"] == "no ACD in this server"
        assert notify["data"]["email"].startswith("failed: ")  # nobody listens there
        assert [s["kind"] for s in history][-2:] == ["carry_out", "notify"]

        refused: list[tuple[Any, ...]] = []
        not_served = ComplaintDesk(complaints, bus, Clock(), w.WorkflowPolicy(),
                                   callbacks=lambda *a: refused.append(a) or False,
                                   callback_queue="vip")
        notify = (await carried_out(not_served, phoned))[-1]
        assert notify["data"]["callback"] == "queue vip not served"
        assert refused and refused[0][0] == "vip" and refused[0][3] == "+14155550100"
        notify = (await carried_out(not_served, silent))[-1]
        assert notify["data"] == {"callback": "no phone number"}

        def broken(*_: Any) -> bool:
            raise RuntimeError("the ACD fell over")

        crashing = ComplaintDesk(complaints, bus, Clock(), w.WorkflowPolicy(),
                                 callbacks=broken)
        history = await carried_out(crashing, phoned)  # the step stands, the failure is logged
        assert history[-1]["kind"] == "carry_out"


async def test_webhook_gives_up_after_its_attempts_and_times_out() -> None:
    calls: list[float] = []

    async def always_down(request: web.Request) -> web.Response:
        calls.append(asyncio.get_running_loop().time())
        return web.Response(status=500)

    async def hangs(request: web.Request) -> web.Response:
        await asyncio.sleep(10)
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/down", always_down)
    app.router.add_post("/hang", hangs)
    async with TestServer(app) as server:
        hook = Webhook(str(server.make_url("/down")), attempts=3, backoff_s=0.05)
        assert await hook.send({"type": "complaint.escalated"}) is False
        assert (hook.delivered, hook.failed, len(calls)) == (0, 1, 3)
        assert calls[2] - calls[1] >= 0.09  # the wait doubles: 0.05, then 0.1
        await hook.close()
        slow = Webhook(str(server.make_url("/hang")), attempts=2, backoff_s=0.01,
                       timeout_s=0.2)
        assert await slow.deliver({"type": "complaint.escalated"}) is False
        pending = slow.send({"type": "complaint.escalated"})
        await slow.close()  # a stop does not wait for the receiver
        assert pending.cancelled()
        unreachable = Webhook(f"http://127.0.0.1:{free_port()}/x", attempts=2,
                              backoff_s=0.01)
        assert await unreachable.deliver({}) is False and unreachable.failed == 1
        await unreachable.close()


def test_complaint_settings_make_the_policy_and_name_the_staff() -> None:
    from pydantic import ValidationError

    from callcenter.config import Settings

    settings = Settings(complaints={
        "departments": {"Shipping": "logistics"}, "default_department": "desk",
        "deadline_hours": {"low": 48, "normal": 12, "high": 4, "critical": 1},
        "duplicate_window_days": 7, "staff": {"logistics": ["Dana"], "desk": ["dana ", "fred"]}})
    policy = settings.complaints.policy()
    assert policy.department_for("shipping") == "logistics"
    assert policy.department_for("billing") == "desk"
    assert policy.step_allowance_s[w.Severity.CRITICAL] == 3600
    assert policy.duplicate_window_s == 7 * 86400
    assert settings.complaints.departments_of("dana") == ("desk", "logistics")
    assert settings.complaints.departments_of("bob") == ()
    with pytest.raises(ValidationError, match="critical"):
        Settings(complaints={"deadline_hours": {"low": 1, "normal": 1, "high": 1}})
    with pytest.raises(ValidationError, match="urgent"):
        Settings(complaints={"deadline_hours": {"low": 1, "normal": 1, "high": 1,
                                                "critical": 1, "urgent": 1}})
