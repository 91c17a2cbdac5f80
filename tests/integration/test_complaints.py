"""The complaint workflow end to end on SQLite and PostgreSQL: REST (register, list, read, steps),
who may do what, the history, events, the customer's callback task and e-mail (a real local
SMTP server), duplicates, deadline escalation on a clock the test moves with the webhook
(a local receiver that fails first), concurrent steps, the screen pop and the IVR still
reading complaints, and migration 0010 on rows written before it."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import socket
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from aiosmtpd.controller import Controller
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from callcenter import events as ev
from callcenter.complaints.service import ComplaintDesk, SmtpConfig, Webhook
from callcenter.config import Settings
from callcenter.events import EventBus
from callcenter.ivr_media.crm import CrmEffects
from callcenter.metrics import Metrics
from callcenter.web import create_app
from crm_bridge.cards import iso
from crm_bridge.complaints import ComplaintStore
from crm_bridge.db import downgrade_database, make_engine, session_factory, upgrade_database
from crm_bridge.lookup import build_card
from crm_bridge.models import Customer, Interaction, Phone, SatisfactionRating
from tests.accounts import add_user, login
from tests.fakes import NoCalls

pytestmark = pytest.mark.integration

T0 = dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.UTC)
XSS = '<img src=x onerror="window.__pwned=1"><script>window.__pwned=2</script>'


class ManualClock:
    """The server's clock, moved by the test; timers fire when it passes them."""

    def __init__(self, start: dt.datetime = T0) -> None:
        self.t = start.timestamp()
        self.timers: list[tuple[float, Callable[..., Any], tuple[Any, ...], list[bool]]] = []

    def now(self) -> float:
        return self.t

    def call_at(self, when: float, callback: Callable[..., Any], *args: Any) -> Any:
        cancelled = [False]
        self.timers.append((when, callback, args, cancelled))

        class Handle:
            def cancel(self) -> None:
                cancelled[0] = True

        return Handle()

    def advance(self, seconds: float) -> None:
        self.t += seconds
        due = [t for t in self.timers if t[0] <= self.t]
        self.timers = [t for t in self.timers if t[0] > self.t]
        for _, callback, args, cancelled in due:
            if not cancelled[0]:
                callback(*args)


@dataclass
class World:
    client: TestClient[Any, Any]
    sessions: async_sessionmaker[AsyncSession]
    desk: ComplaintDesk
    clock: ManualClock
    events: list[ev.DomainEvent]
    callbacks: list[tuple[str, str, str, str, int]]
    customer: int
    other_customer: int
    tokens: dict[str, str] = field(default_factory=dict)

    async def call(self, who: str, method: str, path: str, **kwargs: Any) -> Any:
        headers = {"Authorization": f"Bearer {self.tokens[who]}", **kwargs.pop("headers", {})}
        return await self.client.request(method, path, headers=headers, **kwargs)

    async def ok(self, who: str, method: str, path: str, status: int = 200,
                 **kwargs: Any) -> dict[str, Any]:
        resp = await self.call(who, method, path, **kwargs)
        assert resp.status == status, await resp.text()
        body: dict[str, Any] = await resp.json()
        return body

    async def refused(self, who: str, method: str, path: str, status: int, code: str,
                      **kwargs: Any) -> dict[str, Any]:
        resp = await self.call(who, method, path, **kwargs)
        assert resp.status == status, await resp.text()
        body: dict[str, Any] = (await resp.json())["error"]
        assert body["code"] == code, body
        return body

    async def step(self, who: str, complaint_id: int, **body: Any) -> dict[str, Any]:
        return await self.ok(who, "POST", f"/api/complaints/{complaint_id}/steps", json=body)


class Smtp:
    """A real SMTP server on loopback (aiosmtpd) keeping what it received."""

    def __init__(self) -> None:
        self.messages: list[Any] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(envelope)
        return "250 OK"


@contextlib.asynccontextmanager
async def smtp_server() -> AsyncIterator[tuple[Smtp, int]]:
    handler = Smtp()
    with socket.socket() as probe:  # a free port (the controller checks it by connecting)
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    await asyncio.to_thread(controller.start)
    try:
        yield handler, port
    finally:
        await asyncio.to_thread(controller.stop)


@contextlib.asynccontextmanager
async def world(url: str, *, smtp_port: int | None = None,
                webhook: Webhook | None = None) -> AsyncIterator[World]:
    await upgrade_database(url)
    engine = make_engine(url)
    sessions = session_factory(engine)
    async with sessions() as session, session.begin():
        alice = Customer(name="Alice Smith", email="alice@example.com")
        bob = Customer(name="Bob Jones")
        alice.phones = [Phone(e164="+14155550132", raw="(415) 555-0132", kind="work"),
                        Phone(e164="+14155550199", raw="415 555 0199", kind="mobile")]
        session.add_all([alice, bob])
        await session.flush()
        session.add(Interaction(customer_id=alice.id, call_id="call-1", direction="inbound",
                                queue="complaints", agent="2001", ivr_path="main>complaint",
                                recording_ref="complaints/2026-12-01/call-1.wav",
                                started_at=T0 - dt.timedelta(minutes=5)))
        ids = (alice.id, bob.id)
    settings = Settings(database_url=url, complaints={
        "staff": {"logistics": ["dana"], "finance": ["fred"]}})
    clock = ManualClock()
    bus = EventBus()
    events: list[ev.DomainEvent] = []
    bus.add_handler(events.append)
    taken: list[tuple[str, str, str, str, int]] = []

    def callbacks(*args: Any) -> bool:
        taken.append(args)  # type: ignore[arg-type]
        return True

    desk = ComplaintDesk(ComplaintStore(sessions), bus, clock, settings.complaints.policy(),
                         callbacks=callbacks, webhook=webhook,
                         smtp=SmtpConfig("127.0.0.1", smtp_port) if smtp_port else None)
    app = create_app(settings=settings, bus=bus, calls=NoCalls(), metrics=Metrics(),
                     crm_sessions=sessions, complaints=desk)
    try:
        async with TestClient(TestServer(app)) as client:
            w = World(client, sessions, desk, clock, events, taken, *ids)
            for name, role, agent in (("alice-agent", "agent", "2001"),
                                      ("other-agent", "agent", "2002"),
                                      ("dana", "agent", "3001"), ("fred", "agent", "3002"),
                                      ("sam", "supervisor", None)):
                await add_user(client, role, agent, username=name)
                w.tokens[name] = str((await login(client, name))["token"])
            yield w
    finally:
        await desk.close()
        await engine.dispose()


def new_complaint(customer: int, **extra: Any) -> dict[str, Any]:
    return {"customer_id": customer, "call_id": "call-1", "category": "shipping",
            "object": "Parcel 4411 arrived broken", "request": "a replacement",
            "severity": "high", "text": "the box was crushed", **extra}


async def test_a_complaint_walks_every_step_with_history_events_and_notification(
        db_url: str) -> None:
    async with smtp_server() as (smtp, port), world(db_url, smtp_port=port) as w:
        created = await w.ok("alice-agent", "POST", "/api/complaints", 201,
                             json=new_complaint(w.customer))
        cid = created["id"]
        assert created["status"] == "registered" and created["phase"] == "open"
        assert created["deadline"] == iso(T0 + dt.timedelta(hours=8))
        assert created["duplicate_of"] is None and created["registered_by"] == "alice-agent"
        assert created["call"]["ivr_path"] == "main>complaint"
        assert created["call"]["recording_ref"] == "complaints/2026-12-01/call-1.wav"
        assert created["agent"] == "2001"

        # the screen pop's card and the IVR's status node read the same row
        async with w.sessions() as session:
            card = await build_card(session, w.customer)
        assert [c["complaint_id"] for c in card["open_complaints"]] == [cid]
        assert card["open_complaints"][0]["stage"] == "registered"
        assert card["open_complaints"][0]["deadline"] == created["deadline"]
        effects = CrmEffects(w.sessions, lambda _n: None)  # type: ignore[arg-type,return-value]
        assert (await effects._complaint(str(cid)))["complaint_status"] == "open"

        w.clock.advance(600)
        await w.step("dana", cid, action="accept", text="taken up")
        assigned = await w.step("dana", cid, action="assign")
        assert assigned["department"] == "logistics" and assigned["status"] == "assigned"
        assert (await effects._complaint(str(cid)))["complaint_status"] == "in progress"
        await w.step("dana", cid, action="analyse", cause="carrier dropped it",
                     responsible="Dana Li")
        await w.step("dana", cid, action="propose_remedy", remedy="compensation",
                     amount="25.50")
        carried = await w.step("dana", cid, action="carry_out", text="paid to the card")
        assert w.callbacks == [("complaints", f"complaint-{cid}",
                                w.callbacks[0][2], "+14155550199", 0)]  # the mobile first
        notify = carried["history"][-1]
        assert notify["kind"] == "notify" and notify["data"]["callback"] == "queued"
        assert notify["data"]["email"] == "sent"
        assert len(smtp.messages) == 1 and smtp.messages[0].rcpt_tos == ["alice@example.com"]
        assert b"compensation (25.50) carried out" in smtp.messages[0].content
        # feedback from the IVR survey the customer answered after the remedy
        await w.refused("alice-agent", "POST", f"/api/complaints/{cid}/steps", 400,
                        "invalid_step", json={"action": "collect_feedback", "source": "ivr"})
        async with w.sessions() as session, session.begin():
            session.add(SatisfactionRating(customer_id=w.customer, score=4,
                                           rated_at=T0 + dt.timedelta(hours=1)))
        fed = await w.step("alice-agent", cid, action="collect_feedback", source="ivr")
        assert (fed["feedback_rating"], fed["feedback_source"]) == (4, "ivr")
        closed = await w.step("sam", cid, action="evaluate", text="carrier warned")
        assert closed["status"] == "closed" and closed["resolution"] == "resolved"
        assert closed["phase"] == "closed" and closed["deadline"] is None
        assert (await effects._complaint(str(cid)))["complaint_status"] == "closed"

        full = await w.ok("sam", "GET", f"/api/complaints/{cid}")
        kinds = [(s["kind"], s["actor"], s["status"]) for s in full["history"]]
        assert kinds == [
            ("register", "alice-agent", "registered"), ("accept", "dana", "accepted"),
            ("assign", "dana", "assigned"), ("analyse", "dana", "analysed"),
            ("propose_remedy", "dana", "remedy_proposed"), ("carry_out", "dana", "carried_out"),
            ("notify", "system", "carried_out"),
            ("collect_feedback", "alice-agent", "feedback_collected"),
            ("evaluate", "sam", "closed")]
        assert full["history"][3]["data"] == {"cause": "carrier dropped it",
                                              "responsible": "Dana Li"}
        assert full["history"][1]["at"] == iso(T0 + dt.timedelta(seconds=600))
        assert full["remedy_amount"] == "25.50"
        published = [(e.type, getattr(e, "kind", "")) for e in w.events]
        assert published[0] == ("complaint.registered", "")
        assert [k for t, k in published if t == "complaint.step"] == [
            "accept", "assign", "analyse", "propose_remedy", "carry_out", "collect_feedback",
            "evaluate"]
        async with w.sessions() as session:
            card = await build_card(session, w.customer)
        assert card["open_complaints"] == []


async def test_who_may_see_and_work_what_and_illegal_steps(db_url: str) -> None:
    async with world(db_url) as w:
        cid = (await w.ok("alice-agent", "POST", "/api/complaints", 201,
                          json=new_complaint(w.customer)))["id"]
        path = f"/api/complaints/{cid}/steps"
        # another agent neither sees it nor works it; a department's staff may take it up
        await w.refused("other-agent", "GET", f"/api/complaints/{cid}", 404,
                        "complaint_not_found")
        assert (await w.ok("other-agent", "GET", "/api/complaints"))["total"] == 0
        await w.refused("other-agent", "POST", path, 404, "complaint_not_found",
                        json={"action": "accept"})
        await w.refused("alice-agent", "POST", path, 403, "forbidden",
                        json={"action": "accept"})
        await w.refused("alice-agent", "GET", "/api/complaints/summary", 403, "forbidden")
        # illegal transitions: 409 with the allowed steps, nothing changed
        bodies: dict[str, dict[str, Any]] = {
            "assign": {}, "analyse": {"cause": "c", "responsible": "r"},
            "propose_remedy": {"remedy": "repair"}, "carry_out": {},
            "collect_feedback": {"rating": 3}, "evaluate": {"text": "summary"}}
        for action, fields in bodies.items():
            body = await w.refused("sam", "POST", path, 409, "illegal_transition",
                                   json={"action": action, **fields})
            assert body["details"] == [{"status": "registered", "action": action,
                                        "allowed": ["accept", "dismiss"]}]
        await w.step("fred", cid, action="accept")
        await w.step("fred", cid, action="assign")  # by the rules: shipping -> logistics
        # fred (finance) no longer sees nor works it; dana (logistics) does
        await w.refused("fred", "POST", path, 404, "complaint_not_found",
                        json={"action": "analyse", "cause": "c", "responsible": "r"})
        await w.refused("dana", "POST", path, 400, "invalid_step",
                        json={"action": "analyse", "cause": " ", "responsible": "r"})
        await w.refused("dana", "POST", path, 400, "validation_error",
                        json={"action": "analyse", "cause": "c", "colour": "red"})
        await w.refused("dana", "POST", path, 400, "validation_error",
                        json={"action": "reopen"})
        await w.step("dana", cid, action="analyse", cause="c", responsible="r")
        await w.refused("dana", "POST", path, 400, "invalid_step",
                        json={"action": "propose_remedy", "remedy": "discount"})
        await w.refused("dana", "POST", path, 400, "invalid_step",
                        json={"action": "propose_remedy", "remedy": "discount", "amount": "-3"})
        # a step on a version another person moved on from: 409, nothing written
        seen = await w.ok("dana", "GET", f"/api/complaints/{cid}")
        await w.step("sam", cid, action="propose_remedy", remedy="repair")
        await w.refused("dana", "POST", path, 409, "concurrent_change",
                        json={"action": "carry_out", "version": seen["version"]})
        after = await w.ok("sam", "GET", f"/api/complaints/{cid}")
        assert after["status"] == "remedy_proposed"
        assert [s["kind"] for s in after["history"]] == [
            "register", "accept", "assign", "analyse", "propose_remedy"]
        # bad registrations: 400, nothing stored
        for bad, code in (({"customer_id": 999999}, "unknown_customer"),
                          ({"object": ""}, "validation_error"),
                          ({"severity": "urgent"}, "validation_error"),
                          ({"extra": 1}, "validation_error")):
            await w.refused("alice-agent", "POST", "/api/complaints", 400, code,
                            json=new_complaint(w.customer, **bad))
        assert (await w.ok("sam", "GET", "/api/complaints"))["total"] == 1
        # dismissed as a misunderstanding
        other = (await w.ok("alice-agent", "POST", "/api/complaints", 201,
                            json=new_complaint(w.other_customer, category="billing",
                                               call_id=None)))["id"]
        done = await w.step("fred", other, action="dismiss",
                            text="the charge is the deposit: explained")
        assert (done["status"], done["resolution"]) == ("closed", "misunderstanding")
        await w.refused("sam", "POST", f"/api/complaints/{other}/steps", 409,
                        "illegal_transition", json={"action": "accept"})


async def test_concurrent_steps_one_wins_the_other_is_refused(db_url: str) -> None:
    async with world(db_url) as w:
        cid = (await w.ok("alice-agent", "POST", "/api/complaints", 201,
                          json=new_complaint(w.customer)))["id"]
        path = f"/api/complaints/{cid}/steps"
        answers = await asyncio.gather(
            w.call("sam", "POST", path, json={"action": "accept", "text": "sam"}),
            w.call("dana", "POST", path, json={"action": "dismiss", "text": "dana"}),
            w.call("fred", "POST", path, json={"action": "accept", "text": "fred"}))
        codes = sorted(a.status for a in answers)
        assert codes.count(200) == 1 and all(c == 409 for c in codes if c != 200), codes
        for answer in answers:
            if answer.status == 409:
                assert (await answer.json())["error"]["code"] in (
                    "concurrent_change", "illegal_transition")
        done = await w.ok("sam", "GET", f"/api/complaints/{cid}")
        assert [s["seq"] for s in done["history"]] == [1, 2]
        assert done["version"] == 2


async def test_duplicates_idempotency_and_filters(db_url: str) -> None:
    async with world(db_url) as w:
        first = await w.ok("alice-agent", "POST", "/api/complaints", 201,
                           json=new_complaint(w.customer))
        w.clock.advance(3 * 86400)
        again = await w.ok("alice-agent", "POST", "/api/complaints", 201,
                           json=new_complaint(w.customer, object="still broken"))
        assert again["duplicate_of"] == first["id"]
        assert again["history"][0]["data"]["duplicate_of"] == str(first["id"])
        other = await w.ok("alice-agent", "POST", "/api/complaints", 201,
                           json=new_complaint(w.customer, category="billing"))
        assert other["duplicate_of"] is None
        original = await w.ok("sam", "GET", f"/api/complaints/{first['id']}")
        assert original["duplicates"] == [again["id"]]
        # a retry with the same Idempotency-Key: the same answer, no second complaint
        headers = {"Idempotency-Key": "form-42"}
        one = await w.ok("alice-agent", "POST", "/api/complaints", 201, headers=headers,
                         json=new_complaint(w.other_customer, category="quality"))
        resp = await w.call("alice-agent", "POST", "/api/complaints", headers=headers,
                            json=new_complaint(w.other_customer, category="quality"))
        assert resp.status == 201 and resp.headers["Idempotent-Replayed"] == "true"
        assert (await resp.json())["id"] == one["id"]
        assert (await w.ok("sam", "GET", "/api/complaints"))["total"] == 4
        # filters
        await w.step("dana", first["id"], action="accept")
        await w.step("dana", first["id"], action="assign")
        listed = await w.ok("dana", "GET", "/api/complaints?department=logistics")
        assert [c["id"] for c in listed["complaints"]] == [first["id"]]
        listed = await w.ok("sam", "GET", "/api/complaints?status=registered")
        assert {c["id"] for c in listed["complaints"]} == {again["id"], other["id"], one["id"]}
        await w.refused("sam", "GET", "/api/complaints?status=lost", 400, "invalid_parameter")
        await w.refused("sam", "GET", "/api/complaints?overdue=maybe", 400, "invalid_parameter")
        # the agent who took the call sees its callers' complaints (registered by others too)
        mine = await w.ok("alice-agent", "GET", f"/api/complaints?customer_id={w.customer}")
        assert mine["total"] == 3


async def test_deadlines_escalate_to_the_stream_and_the_webhook(db_url: str) -> None:
    received: list[dict[str, Any]] = []
    failures = [2]

    async def hook(request: web.Request) -> web.Response:
        if failures[0] > 0:
            failures[0] -= 1
            return web.Response(status=503)
        received.append(await request.json())
        return web.Response(status=204)

    receiver = web.Application()
    receiver.router.add_post("/hook", hook)
    async with TestServer(receiver) as server:
        webhook = Webhook(str(server.make_url("/hook")), attempts=4, backoff_s=0.05)
        async with world(db_url, webhook=webhook) as w:
            cid = (await w.ok("alice-agent", "POST", "/api/complaints", 201,
                              json=new_complaint(w.customer, severity="critical")))["id"]
            calm = (await w.ok("alice-agent", "POST", "/api/complaints", 201,
                               json=new_complaint(w.other_customer, severity="low",
                                                  call_id=None)))["id"]
            checker = asyncio.get_running_loop().create_task(w.desk.run_deadlines())
            try:
                await asyncio.sleep(0.2)  # the first round at once: nothing overdue
                assert w.desk.escalations == 0
                w.clock.advance(2 * 3600 - 1)  # critical: 2 h per step; 1 s short
                await asyncio.sleep(0.2)
                assert w.desk.escalations == 0
                assert (await w.ok("sam", "GET", "/api/complaints?overdue=true"))["total"] == 0
                w.clock.advance(60)  # past it; the checker's timer (60 s) fires
                for _ in range(50):
                    if w.desk.escalations:
                        break
                    await asyncio.sleep(0.05)
            finally:
                checker.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await checker
            assert w.desk.escalations == 1
            escalated = [e for e in w.events if isinstance(e, ev.ComplaintEscalated)]
            assert len(escalated) == 1 and escalated[0].complaint_id == cid
            assert (escalated[0].level, escalated[0].status) == (1, "registered")
            assert escalated[0].overdue_s == 59.0
            for _ in range(100):
                if received:
                    break
                await asyncio.sleep(0.05)
            assert received and received[0]["type"] == "complaint.escalated"
            assert received[0]["complaint_id"] == cid and received[0]["step"]["kind"] == "escalate"
            assert failures == [0] and webhook.delivered == 1
            shown = await w.ok("sam", "GET", f"/api/complaints/{cid}")
            assert shown["escalation_level"] == 1 and shown["history"][-1]["kind"] == "escalate"
            assert shown["overdue"] is False  # a new deadline, one allowance later
            assert shown["deadline"] == iso(dt.datetime.fromtimestamp(
                w.clock.now() + 2 * 3600, dt.UTC))
            calm_one = await w.ok("sam", "GET", f"/api/complaints/{calm}")
            assert calm_one["escalation_level"] == 0
            # a second check at the same time escalates nothing more
            assert await w.desk.check_deadlines() == 0
            w.clock.advance(2 * 3600)
            overdue = await w.ok("sam", "GET", "/api/complaints?overdue=true")
            assert [c["id"] for c in overdue["complaints"]] == [cid]
            summary = await w.ok("sam", "GET", "/api/complaints/summary")
            assert summary["departments"] == [{
                "department": "unassigned", "open": 2, "by_status": {"registered": 2},
                "overdue": 1, "escalated": 1}]
            assert await w.desk.check_deadlines() == 1


async def test_complaint_text_is_stored_verbatim_and_sent_as_json(db_url: str) -> None:
    async with world(db_url) as w:
        created = await w.ok("alice-agent", "POST", "/api/complaints", 201,
                             json=new_complaint(w.customer, object=XSS, text=XSS,
                                                request=XSS))
        resp = await w.call("sam", "GET", f"/api/complaints/{created['id']}")
        assert resp.content_type == "application/json"
        body = await resp.json()
        assert body["object"] == XSS and body["text"] == XSS and body["request"] == XSS
        await w.refused("alice-agent", "POST", "/api/complaints", 400, "validation_error",
                        json=new_complaint(w.customer, text="nul\x00"))


async def test_migration_0010_keeps_rows_written_before_it(db_url: str) -> None:
    await upgrade_database(db_url, "0009")
    engine = make_engine(db_url)
    try:
        async with engine.begin() as conn:
            await conn.execute(text(
                "INSERT INTO customers (id, name, consent, do_not_call, created_at, updated_at) "
                "VALUES (1, 'Old', false, false, :t, :t)"), {"t": T0})
            for cid, status in ((1, "open"), (2, "in_progress"), (3, "closed")):
                await conn.execute(text(
                    "INSERT INTO complaints (id, customer_id, status, category, summary, "
                    "opened_at) VALUES (:id, 1, :s, 'billing', 'old one', :t)"),
                    {"id": cid, "s": status, "t": T0})
        await upgrade_database(db_url)
        async with engine.connect() as conn:
            rows = (await conn.execute(text(
                "SELECT id, status, stage, severity, escalation_level, version "
                "FROM complaints ORDER BY id"))).all()
        assert [tuple(r) for r in rows] == [
            (1, "open", "registered", "normal", 0, 1),
            (2, "in_progress", "accepted", "normal", 0, 1),
            (3, "closed", "closed", "normal", 0, 1)]
        # and a migrated row takes its next step
        store = ComplaintStore(session_factory(engine))
        from callcenter.complaints import workflow as wf
        out = await store.step(2, wf.Assign(), actor="sam", at=T0, policy=wf.WorkflowPolicy())
        assert out.complaint.department == "finance"
        await downgrade_database(db_url, "0009")
        async with engine.connect() as conn:
            kept = (await conn.execute(text("SELECT id, status FROM complaints ORDER BY id"))
                    ).all()
        assert [tuple(r) for r in kept] == [(1, "open"), (2, "in_progress"), (3, "closed")]
    finally:
        await engine.dispose()


def test_events_round_trip() -> None:
    event = ev.ComplaintEscalated(at=1.0, complaint_id=3, customer_id=1, level=2,
                                  status="assigned", severity="high", department="logistics",
                                  overdue_s=12.5, deadline="2026-12-01T10:00:00+00:00")
    assert ev.event_from_dict(json.loads(json.dumps(event.to_dict()))) == event
