"""Complaints in the database: the workflow's complaints and their history (tables
``complaints`` and ``complaint_steps``, migration 0010).

The decisions are the pure workflow's (:mod:`callcenter.complaints.workflow`): this module loads
a row into a :class:`~callcenter.complaints.workflow.Complaint`, lets the workflow take the
step, and writes the result and the step in one transaction. Concurrent steps on one
complaint (two people, two processes' deadline checkers) are serialised by the row's
``version``: the later one fails with :class:`ConcurrentChange` and changes nothing.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import and_, exists, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm.exc import StaleDataError

from callcenter.complaints import workflow as w
from crm_bridge.cards import iso, money
from crm_bridge.models import (
    Complaint as ComplaintRow,
)
from crm_bridge.models import (
    ComplaintStepRow,
    Customer,
    Interaction,
    Phone,
    SatisfactionRating,
    complaint_status,
)


class ComplaintNotFound(LookupError):
    pass


class ConcurrentChange(RuntimeError):
    """Another step was written to the complaint meanwhile: reload and try again."""


class UnknownCustomer(LookupError):
    pass


@dataclass(frozen=True, slots=True)
class Viewer:
    """Who lists or reads complaints: everything (supervisors), or only what an agent took,
    its callers' and its departments' complaints."""

    principal: str
    agent_id: str | None = None
    departments: tuple[str, ...] = ()
    sees_all: bool = False


@dataclass(frozen=True, slots=True)
class Filters:
    department: str | None = None
    status: str | None = None  # a stage, or "open"
    overdue: bool | None = None
    customer_id: int | None = None
    limit: int = 50
    offset: int = 0


def to_domain(row: ComplaintRow) -> w.Complaint:
    return w.Complaint(
        id=row.id, customer_id=row.customer_id, category=row.category or "other",
        object=row.summary, request=row.request or "", details=row.details or "",
        severity=w.Severity(row.severity), registered_at=row.opened_at,
        registered_by=row.registered_by or "", stage=w.Stage(row.stage),
        stage_at=row.stage_at or row.opened_at, deadline=row.deadline_at,
        duplicate_of=row.duplicate_of, department=row.department, cause=row.cause,
        responsible=row.responsible, remedy=w.Remedy(row.remedy) if row.remedy else None,
        remedy_amount=row.remedy_amount, feedback_rating=row.feedback_rating,
        feedback_source=w.FeedbackSource(row.feedback_source) if row.feedback_source else None,
        resolution=w.Resolution(row.resolution) if row.resolution else None,
        summary=row.resolution_summary, escalation_level=row.escalation_level,
        closed_at=row.closed_at)


def _write(row: ComplaintRow, c: w.Complaint) -> None:
    row.customer_id = c.customer_id
    row.category = c.category
    row.summary = c.object
    row.request = c.request
    row.details = c.details or None
    row.severity = c.severity.value
    row.opened_at = c.registered_at
    row.registered_by = c.registered_by
    row.stage = c.stage.value
    row.status = complaint_status(c.stage.value)
    row.stage_at = c.stage_at
    row.deadline_at = c.deadline
    row.duplicate_of = c.duplicate_of
    row.department = c.department
    row.cause = c.cause
    row.responsible = c.responsible
    row.remedy = c.remedy.value if c.remedy else None
    row.remedy_amount = c.remedy_amount
    row.feedback_rating = c.feedback_rating
    row.feedback_source = c.feedback_source.value if c.feedback_source else None
    row.resolution = c.resolution.value if c.resolution else None
    row.resolution_summary = c.summary
    row.escalation_level = c.escalation_level
    row.closed_at = c.closed_at


async def _add_step(session: AsyncSession, complaint_id: int, step: w.Step) -> None:
    seq = (await session.execute(select(func.coalesce(func.max(ComplaintStepRow.seq), 0))
                                 .where(ComplaintStepRow.complaint_id == complaint_id))
           ).scalar_one() + 1
    session.add(ComplaintStepRow(
        complaint_id=complaint_id, seq=seq, kind=step.kind, actor=step.actor, at=step.at,
        from_stage=step.from_stage.value if step.from_stage else None,
        to_stage=step.to_stage.value, text=step.text, data=json.dumps(dict(step.data))))


class ComplaintStore:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self.sessions = sessions

    async def register(self, *, customer_id: int, category: str, object: str, request: str,
                       severity: w.Severity, details: str, actor: str, at: dt.datetime,
                       policy: w.WorkflowPolicy, call_id: str | None = None,
                       agent: str | None = None) -> w.Outcome:
        """A new complaint (flagged as a duplicate when the customer complained of the same
        category within the policy's window) and its first step, in one transaction."""
        async with self.sessions() as session, session.begin():
            if await session.get(Customer, customer_id) is None:
                raise UnknownCustomer(customer_id)
            since = at - dt.timedelta(seconds=policy.duplicate_window_s)
            wanted = category.strip().lower()
            earlier = (await session.execute(
                select(ComplaintRow.id, ComplaintRow.customer_id, ComplaintRow.category,
                       ComplaintRow.opened_at, ComplaintRow.duplicate_of)
                .where(ComplaintRow.customer_id == customer_id,
                       ComplaintRow.category == wanted, ComplaintRow.opened_at >= since))).all()
            original = w.find_original(customer_id, wanted, at, [
                w.Earlier(r.id, r.customer_id, r.category or "", r.opened_at, r.duplicate_of)
                for r in earlier], policy)
            outcome = w.register(customer_id=customer_id, category=category, object=object,
                                 request=request, severity=severity, actor=actor, at=at,
                                 policy=policy, details=details, duplicate_of=original)
            row = ComplaintRow(call_id=call_id, agent=agent)
            _write(row, outcome.complaint)
            session.add(row)
            await session.flush()
            await _add_step(session, row.id, outcome.step)
            return w.Outcome(replace(outcome.complaint, id=row.id), outcome.step)

    async def load(self, complaint_id: int) -> tuple[w.Complaint, ComplaintRow]:
        async with self.sessions() as session:
            row = await session.get(ComplaintRow, complaint_id)
        if row is None:
            raise ComplaintNotFound(complaint_id)
        return to_domain(row), row

    async def step(self, complaint_id: int, action: w.Action, *, actor: str, at: dt.datetime,
                   policy: w.WorkflowPolicy, version: int | None = None) -> w.Outcome:
        """Take ``action``: the workflow decides (IllegalTransition / InvalidStep change
        nothing); the row and the step are written together. ``version``: the version the
        person saw (a stale one is :class:`ConcurrentChange`)."""
        async with self.sessions() as session:
            try:
                async with session.begin():
                    row = await session.get(ComplaintRow, complaint_id)
                    if row is None:
                        raise ComplaintNotFound(complaint_id)
                    if version is not None and row.version != version:
                        raise ConcurrentChange(complaint_id)
                    outcome = w.apply(to_domain(row), action, actor=actor, at=at,
                                      policy=policy)
                    _write(row, outcome.complaint)
                    await _add_step(session, complaint_id, outcome.step)
                    await session.flush()
            except StaleDataError:
                raise ConcurrentChange(complaint_id) from None
        return outcome

    async def escalate(self, complaint_id: int, *, at: dt.datetime,
                       policy: w.WorkflowPolicy) -> w.Outcome | None:
        """Escalate the complaint if it is overdue at ``at`` (None: not, or no longer)."""
        async with self.sessions() as session:
            try:
                async with session.begin():
                    row = await session.get(ComplaintRow, complaint_id)
                    if row is None:
                        return None
                    outcome = w.escalate_if_overdue(to_domain(row), at=at, policy=policy)
                    if outcome is None:
                        return None
                    _write(row, outcome.complaint)
                    await _add_step(session, complaint_id, outcome.step)
                    await session.flush()
            except StaleDataError:  # someone moved it meanwhile: the next check decides
                return None
        return outcome

    async def note(self, complaint_id: int, step: w.Step) -> None:
        """A step of the history that changes nothing of the complaint (``notify``). It takes
        no row lock, so a step written at the same instant may take its number: then it is
        numbered again."""
        for attempt in (1, 2, 3):
            try:
                async with self.sessions() as session, session.begin():
                    await _add_step(session, complaint_id, step)
                return
            except IntegrityError:
                if attempt == 3:
                    raise

    async def overdue_ids(self, at: dt.datetime, limit: int = 500) -> list[int]:
        async with self.sessions() as session:
            return list((await session.execute(
                select(ComplaintRow.id).where(ComplaintRow.deadline_at <= at,
                                              ComplaintRow.stage != "closed")
                .order_by(ComplaintRow.deadline_at).limit(limit))).scalars())

    async def notify_number(self, customer_id: int) -> tuple[str | None, str | None, str]:
        """The customer's number to call back (a mobile first), e-mail and name."""
        async with self.sessions() as session:
            customer = await session.get(Customer, customer_id)
            phones = (await session.execute(
                select(Phone.e164, Phone.kind).where(Phone.customer_id == customer_id)
                .order_by(Phone.id))).all()
        if customer is None:
            return None, None, ""
        ranked = sorted(phones, key=lambda p: p.kind != "mobile")
        return (ranked[0].e164 if ranked else None), customer.email, customer.name

    async def ivr_rating_since(self, customer_id: int, since: dt.datetime) -> int | None:
        """The customer's latest survey answer given after ``since`` (the IVR survey)."""
        async with self.sessions() as session:
            return (await session.execute(
                select(SatisfactionRating.score)
                .where(SatisfactionRating.customer_id == customer_id,
                       SatisfactionRating.rated_at >= since)
                .order_by(SatisfactionRating.rated_at.desc(), SatisfactionRating.id.desc())
                .limit(1))).scalar_one_or_none()

    async def call_agent(self, call_id: str) -> str | None:
        async with self.sessions() as session:
            return (await session.execute(select(Interaction.agent).where(
                Interaction.call_id == call_id))).scalar_one_or_none()

    # --- reading ---------------------------------------------------------------------------

    @staticmethod
    def _visible(viewer: Viewer) -> Any:
        if viewer.sees_all:
            return None
        seen = [ComplaintRow.registered_by == viewer.principal]
        if viewer.departments:  # staff: their departments' and the not yet assigned
            seen.append(ComplaintRow.department.in_(viewer.departments))
            seen.append(ComplaintRow.department.is_(None))
        if viewer.agent_id:
            seen.append(ComplaintRow.agent == viewer.agent_id)
            seen.append(exists().where(and_(Interaction.customer_id == ComplaintRow.customer_id,
                                            Interaction.agent == viewer.agent_id)))
        return or_(*seen)

    async def list(self, viewer: Viewer, filters: Filters,
                   now: dt.datetime) -> tuple[list[dict[str, Any]], int]:
        query = select(ComplaintRow, Customer.name).join(
            Customer, Customer.id == ComplaintRow.customer_id)
        conditions = []
        visible = self._visible(viewer)
        if visible is not None:
            conditions.append(visible)
        if filters.department:
            conditions.append(ComplaintRow.department == filters.department)
        if filters.status == "open":
            conditions.append(ComplaintRow.stage != "closed")
        elif filters.status:
            conditions.append(ComplaintRow.stage == filters.status)
        if filters.customer_id is not None:
            conditions.append(ComplaintRow.customer_id == filters.customer_id)
        if filters.overdue is True:
            conditions += [ComplaintRow.deadline_at <= now, ComplaintRow.stage != "closed"]
        elif filters.overdue is False:
            conditions.append(or_(ComplaintRow.deadline_at.is_(None),
                                  ComplaintRow.deadline_at > now))
        query = query.where(*conditions)
        async with self.sessions() as session:
            total = (await session.execute(select(func.count()).select_from(
                query.subquery()))).scalar_one()
            rows = (await session.execute(
                query.order_by(ComplaintRow.deadline_at.is_(None), ComplaintRow.deadline_at,
                               ComplaintRow.id.desc())
                .limit(filters.limit).offset(filters.offset))).all()
        return [complaint_json(row, name, now) for row, name in rows], total

    async def read(self, complaint_id: int, viewer: Viewer,
                   now: dt.datetime) -> dict[str, Any]:
        """One complaint with its history, its call and its duplicates."""
        query = (select(ComplaintRow, Customer.name)
                 .join(Customer, Customer.id == ComplaintRow.customer_id)
                 .where(ComplaintRow.id == complaint_id))
        visible = self._visible(viewer)
        if visible is not None:
            query = query.where(visible)
        async with self.sessions() as session:
            found = (await session.execute(query)).first()
            if found is None:
                raise ComplaintNotFound(complaint_id)
            row, name = found
            steps = (await session.execute(
                select(ComplaintStepRow).where(ComplaintStepRow.complaint_id == complaint_id)
                .order_by(ComplaintStepRow.seq))).scalars().all()
            call = None
            if row.call_id:
                call = (await session.execute(select(Interaction).where(
                    Interaction.call_id == row.call_id))).scalar_one_or_none()
            duplicates = (await session.execute(
                select(ComplaintRow.id).where(ComplaintRow.duplicate_of == complaint_id)
                .order_by(ComplaintRow.id))).scalars().all()
        body = complaint_json(row, name, now)
        body["history"] = [step_json(s) for s in steps]
        body["call"] = call_json(row.call_id, call)
        body["duplicates"] = list(duplicates)
        return body

    async def summary(self, viewer: Viewer, now: dt.datetime) -> dict[str, Any]:
        """Open complaints by department and stage, overdue and escalated counts."""
        query = select(ComplaintRow.department, ComplaintRow.stage,
                       ComplaintRow.deadline_at, ComplaintRow.escalation_level)
        visible = self._visible(viewer)
        if visible is not None:
            query = query.where(visible)
        by: dict[str, dict[str, int]] = {}
        overdue: dict[str, int] = {}
        escalated: dict[str, int] = {}
        async with self.sessions() as session:
            rows = (await session.execute(query.where(ComplaintRow.stage != "closed"))).all()
        for dept, stage, deadline, level in rows:
            key = dept or "unassigned"
            by.setdefault(key, {})[stage] = by.get(key, {}).get(stage, 0) + 1
            if deadline is not None and deadline <= now:
                overdue[key] = overdue.get(key, 0) + 1
            if level:
                escalated[key] = escalated.get(key, 0) + 1
        return {"departments": [
            {"department": dept, "open": sum(stages.values()), "by_status": stages,
             "overdue": overdue.get(dept, 0), "escalated": escalated.get(dept, 0)}
            for dept, stages in sorted(by.items())]}


def complaint_json(row: ComplaintRow, customer_name: str | None,
                   now: dt.datetime) -> dict[str, Any]:
    stage = w.Stage(row.stage)
    return {
        "id": row.id, "customer_id": row.customer_id, "customer_name": customer_name,
        "status": row.stage, "phase": row.status, "category": row.category,
        "severity": row.severity, "object": row.summary, "request": row.request,
        "text": row.details or "", "department": row.department, "cause": row.cause,
        "responsible": row.responsible, "remedy": row.remedy,
        "remedy_amount": money(row.remedy_amount) if row.remedy_amount is not None else None,
        "feedback_rating": row.feedback_rating, "feedback_source": row.feedback_source,
        "resolution": row.resolution, "summary": row.resolution_summary,
        "escalation_level": row.escalation_level, "deadline": iso(row.deadline_at),
        "overdue": bool(row.deadline_at is not None and stage is not w.Stage.CLOSED
                        and row.deadline_at <= now),
        "registered_at": iso(row.opened_at), "registered_by": row.registered_by,
        "stage_at": iso(row.stage_at), "closed_at": iso(row.closed_at),
        "duplicate_of": row.duplicate_of, "call_id": row.call_id, "agent": row.agent,
        "next_steps": list(w.next_actions(stage)), "version": row.version,
    }


def step_json(step: ComplaintStepRow) -> dict[str, Any]:
    return {"seq": step.seq, "kind": step.kind, "actor": step.actor, "at": iso(step.at),
            "from_status": step.from_stage, "status": step.to_stage, "text": step.text,
            "data": json.loads(step.data or "{}")}


def call_json(call_id: str | None, call: Interaction | None) -> dict[str, Any] | None:
    if call_id is None:
        return None
    if call is None:
        return {"call_id": call_id, "interaction_id": None}
    return {"call_id": call_id, "interaction_id": call.id, "ivr_path": call.ivr_path,
            "recording_ref": call.recording_ref, "queue": call.queue, "agent": call.agent,
            "started_at": iso(call.started_at), "ended_at": iso(call.ended_at)}


def outcome_json(outcome: w.Outcome) -> dict[str, Any]:
    """A step just taken, as events and webhooks carry it."""
    return {"kind": outcome.step.kind, "actor": outcome.step.actor,
            "at": iso(outcome.step.at), "status": outcome.step.to_stage.value,
            "data": dict(outcome.step.data)}


__all__: Sequence[str] = (
    "ComplaintNotFound",
    "ComplaintStore",
    "ConcurrentChange",
    "Filters",
    "UnknownCustomer",
    "Viewer",
)
