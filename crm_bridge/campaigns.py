"""Campaigns in the database: documents, leads (list import with a validation report),
do-not-call lists, the dial audit, per-day abandonment figures and the campaign report.

:class:`CampaignRecorder` writes what the running campaigns publish (``dial.decision``,
``campaign.line``, ``campaign.status``) from a queue, off the event-publishing path, like the
interaction recorder; the CRM interaction of each campaign call gets the campaign and the
line's outcome from ``crm_bridge.interactions`` (the same events).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from callcenter import events as ev
from callcenter.dialer.campaign import CampaignDefinition
from callcenter.dialer.leads import Lead
from crm_bridge.import_rows import ImportFileError
from crm_bridge.importer import read_table
from crm_bridge.models import (
    CampaignDayRow,
    CampaignLeadRow,
    CampaignRow,
    Customer,
    DialDecisionRow,
    DncNumberRow,
    Interaction,
    Phone,
)
from crm_bridge.phones import InvalidNumber, normalise

log = logging.getLogger(__name__)

__all__ = ["CampaignRecorder", "LeadImportReport", "campaign_report", "import_leads"]

#: the columns a lead list may have (``number`` or ``phone`` is required)
LEAD_COLUMNS = {"number", "phone", "lead_id", "name", "priority", "value", "consent",
                "callback_at", "customer_code"}
_TRUE = {"1", "true", "yes", "y", "t"}
_FALSE = {"0", "false", "no", "n", "f"}


def _when(epoch: float | None) -> dt.datetime | None:
    return dt.datetime.fromtimestamp(epoch, dt.UTC) if epoch else None


# --- documents -------------------------------------------------------------------------------


async def save_campaign(session: AsyncSession, definition: CampaignDefinition,
                        *, create: bool) -> None:
    row = await session.get(CampaignRow, definition.name)
    if create and row is not None:
        raise KeyError(definition.name)
    if not create and row is None:
        raise LookupError(definition.name)
    document = json.dumps(definition.document(), sort_keys=True)
    if row is None:
        session.add(CampaignRow(name=definition.name, document=document, state="ready"))
    else:
        row.document = document


async def load_campaign(session: AsyncSession, name: str) -> tuple[CampaignDefinition, str]:
    row = await session.get(CampaignRow, name)
    if row is None:
        raise LookupError(name)
    return CampaignDefinition.parse(json.loads(row.document)), row.state


async def list_campaigns(session: AsyncSession) -> list[tuple[CampaignDefinition, str]]:
    rows = (await session.execute(select(CampaignRow).order_by(CampaignRow.name))).scalars()
    return [(CampaignDefinition.parse(json.loads(r.document)), r.state) for r in rows]


async def running_campaigns(session: AsyncSession) -> list[str]:
    """The campaigns whose stored state is ``running``: a supervisor started them and nobody
    paused or stopped them (a server that stops or crashes leaves them so)."""
    rows = await session.scalars(select(CampaignRow.name).where(CampaignRow.state == "running")
                                 .order_by(CampaignRow.name))
    return list(rows)


async def delete_campaign(session: AsyncSession, name: str) -> bool:
    await session.execute(delete(CampaignLeadRow).where(CampaignLeadRow.campaign == name))
    await session.execute(delete(DncNumberRow).where(DncNumberRow.campaign == name))
    done = await session.execute(delete(CampaignRow).where(CampaignRow.name == name))
    return bool(done.rowcount)  # type: ignore[attr-defined]


# --- do-not-call -----------------------------------------------------------------------------


async def add_dnc(session: AsyncSession, numbers: Iterable[str], region: str,
                  campaign: str | None = None, reason: str | None = None) -> list[str]:
    """Add numbers (normalised to E.164) to the global list or a campaign's; returns those
    added (already listed ones are skipped). InvalidNumber names a bad one."""
    wanted = {normalise(number, region) for number in numbers}
    have = set((await session.execute(
        select(DncNumberRow.number).where(DncNumberRow.number.in_(wanted),
                                          DncNumberRow.campaign.is_(None) if campaign is None
                                          else DncNumberRow.campaign == campaign))).scalars())
    added = sorted(wanted - have)
    session.add_all(DncNumberRow(number=n, campaign=campaign, reason=reason) for n in added)
    return added


async def dnc_lists(session: AsyncSession, campaign: str) -> tuple[set[str], set[str]]:
    """(global list plus CRM customers flagged do-not-call, this campaign's list)."""
    rows = (await session.execute(
        select(DncNumberRow.number, DncNumberRow.campaign)
        .where((DncNumberRow.campaign.is_(None)) | (DncNumberRow.campaign == campaign)))).all()
    global_dnc = {number for number, owner in rows if owner is None}
    flagged = (await session.execute(
        select(Phone.e164).join(Customer, Customer.id == Phone.customer_id)
        .where(Customer.do_not_call.is_(True)))).scalars()
    global_dnc.update(flagged)
    return global_dnc, {number for number, owner in rows if owner == campaign}


# --- leads -----------------------------------------------------------------------------------


@dataclass
class LeadImportReport:
    """What a list import did: every row not imported is listed with its reason."""

    rows: int = 0
    imported: int = 0
    invalid: list[dict[str, Any]] = field(default_factory=list)
    duplicates: list[dict[str, Any]] = field(default_factory=list)
    dnc: list[dict[str, Any]] = field(default_factory=list)
    no_consent: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {"rows": self.rows, "imported": self.imported, "invalid": self.invalid,
                "duplicates": self.duplicates, "dnc": self.dnc, "no_consent": self.no_consent}


def _flag(text: str) -> bool | None:
    value = text.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    if not value:
        return None
    raise ValueError(f"consent must be yes/no, got {text!r}")


def _number_field(text: str, name: str, cast: type[int] | type[float]) -> int | float:
    if not text.strip():
        return cast(0)
    try:
        return cast(text.strip())
    except ValueError:
        raise ValueError(f"{name} must be a number, got {text!r}") from None


def read_lead_file(path: Path) -> list[dict[str, str]]:
    """The rows of a CSV or .xlsx lead list (pandas, every cell as text)."""
    headers, rows = read_table(path)
    wanted = {h.strip().lower() for h in headers}
    if not wanted & {"number", "phone"}:
        raise ImportFileError(f"{path}: a lead list needs a 'number' or 'phone' column "
                              f"(columns: {', '.join(headers)})")
    return [{k.strip().lower(): v for k, v in row.items()} for row in rows]


async def import_leads(session: AsyncSession, campaign: str, rows: list[dict[str, str]],
                       region: str) -> LeadImportReport:
    """Validate and store leads; one transaction (the caller's). Bad numbers (phonenumbers),
    duplicates (within the list and against the campaign's leads) and do-not-call hits (the
    global list, the campaign's, CRM customers flagged do-not-call) are reported and not
    imported. Consent: the ``consent`` column, else the CRM customer's flag, else yes."""
    if await session.get(CampaignRow, campaign) is None:
        raise LookupError(campaign)
    report = LeadImportReport(rows=len(rows))
    global_dnc, campaign_dnc = await dnc_lists(session, campaign)
    existing = set((await session.execute(
        select(CampaignLeadRow.number).where(CampaignLeadRow.campaign == campaign))).scalars())
    known_ids = set((await session.execute(
        select(CampaignLeadRow.lead_id).where(CampaignLeadRow.campaign == campaign))).scalars())
    count = await session.scalar(select(func.count()).select_from(CampaignLeadRow)
                                 .where(CampaignLeadRow.campaign == campaign)) or 0
    seen: dict[str, int] = {}
    parsed: list[tuple[int, dict[str, str], str]] = []
    for index, row in enumerate(rows, start=2):  # row 1 is the header
        raw = (row.get("number") or row.get("phone") or "").strip()
        try:
            e164 = normalise(raw, region)
        except InvalidNumber as exc:
            report.invalid.append({"row": index, "number": raw, "reason": str(exc)})
            continue
        if e164 in seen or e164 in existing:
            report.duplicates.append({"row": index, "number": e164,
                                      "first_row": seen.get(e164)})
            continue
        seen[e164] = index
        if e164 in global_dnc or e164 in campaign_dnc:
            report.dnc.append({"row": index, "number": e164,
                               "list": "campaign" if e164 in campaign_dnc else "global"})
            continue
        parsed.append((index, row, e164))
    customers = {}
    if parsed:
        found = await session.execute(
            select(Phone.e164, Customer.id, Customer.consent, Customer.name)
            .join(Customer, Customer.id == Phone.customer_id)
            .where(Phone.e164.in_([e for _, _, e in parsed])))
        customers = {e164: (cid, consent, name) for e164, cid, consent, name in found}
    for index, row, e164 in parsed:
        try:
            consent = _flag(row.get("consent", ""))
            priority = int(_number_field(row.get("priority", ""), "priority", int))
            value = float(_number_field(row.get("value", ""), "value", float))
            callback = row.get("callback_at", "").strip()
            callback_at = (dt.datetime.fromisoformat(callback).astimezone(dt.UTC)
                           if callback else None)
        except ValueError as exc:
            report.invalid.append({"row": index, "number": e164, "reason": str(exc)})
            continue
        customer = customers.get(e164)
        if consent is None:
            consent = customer[1] if customer is not None else True
        lead_id = (row.get("lead_id") or "").strip() or f"L{count + report.imported + 1}"
        if lead_id in known_ids:
            report.duplicates.append({"row": index, "number": e164, "lead_id": lead_id})
            continue
        known_ids.add(lead_id)
        report.no_consent += 0 if consent else 1
        session.add(CampaignLeadRow(
            campaign=campaign, lead_id=lead_id[:64], number=e164,
            customer_id=customer[0] if customer else None,
            name=(row.get("name") or (customer[2] if customer else "") or None),
            priority=priority, value=value, consent=consent, callback_at=callback_at,
            attempts=0, status="new"))
        report.imported += 1
    return report


#: a lead that was being dialled when its server stopped is not dialled again before this:
#: its line may still be up on the PBX (ringing, in AMD), and nobody is called twice at once
STALE_LINE_HOLD_S = 300.0


async def load_leads(session: AsyncSession, campaign: str, now: float) -> list[Lead]:
    rows = (await session.execute(select(CampaignLeadRow)
                                  .where(CampaignLeadRow.campaign == campaign)
                                  .order_by(CampaignLeadRow.id))).scalars()

    def next_attempt(row: CampaignLeadRow) -> float:
        at = row.next_attempt_at.timestamp() if row.next_attempt_at else 0.0
        return max(at, now + STALE_LINE_HOLD_S) if row.status == "dialing" else at

    return [Lead(r.lead_id, r.number, priority=r.priority, value=r.value, consent=r.consent,
                 callback_at=r.callback_at.timestamp() if r.callback_at else None,
                 attempts=r.attempts, next_attempt_at=next_attempt(r),
                 # being dialled when the server stopped: waits (see STALE_LINE_HOLD_S)
                 status="waiting" if r.status == "dialing" else r.status, result=r.result,
                 last_outcome=r.last_outcome, customer_id=r.customer_id, name=r.name)
            for r in rows]


async def lead_rows(session: AsyncSession, campaign: str, status: str | None = None,
                    limit: int = 500) -> list[dict[str, Any]]:
    query = select(CampaignLeadRow).where(CampaignLeadRow.campaign == campaign)
    if status:
        query = query.where(CampaignLeadRow.status == status)
    rows = (await session.execute(query.order_by(CampaignLeadRow.id).limit(limit))).scalars()
    return [{"lead_id": r.lead_id, "number": r.number, "name": r.name, "priority": r.priority,
             "value": r.value, "consent": r.consent, "attempts": r.attempts,
             "status": r.status, "result": r.result, "last_outcome": r.last_outcome,
             "customer_id": r.customer_id,
             "callback_at": r.callback_at.isoformat() if r.callback_at else None,
             "next_attempt_at": r.next_attempt_at.isoformat() if r.next_attempt_at else None}
            for r in rows]


async def ledger_history(session: AsyncSession, campaign: str
                         ) -> dict[dt.date, dict[str, int]]:
    rows = (await session.execute(select(CampaignDayRow)
                                  .where(CampaignDayRow.campaign == campaign))).scalars()
    return {r.day: {"answered": r.answered, "abandoned": r.abandoned, "dropped": r.dropped,
                    "notsure": r.notsure, "notsure_message": r.notsure_message,
                    "machines": r.machines, "false_positives": r.false_positives}
            for r in rows}


async def decisions(session: AsyncSession, campaign: str, limit: int = 200
                    ) -> list[dict[str, Any]]:
    rows = (await session.execute(
        select(DialDecisionRow).where(DialDecisionRow.campaign == campaign)
        .order_by(DialDecisionRow.id.desc()).limit(limit))).scalars()
    return [{"at": r.at.isoformat(), "lead_id": r.lead_id, "number": r.number,
             "verdict": r.verdict, "reason": r.reason, "zones": r.zones,
             "local_times": r.local_times,
             "retry_at": r.retry_at.isoformat() if r.retry_at else None} for r in rows]


# --- the recorder ----------------------------------------------------------------------------

#: line outcomes that move the day's counters (as AbandonmentLedger.record counts them)
_DAY_COLUMNS: dict[str, tuple[str, ...]] = {
    "human": ("answered",), "dropped": ("abandoned", "dropped"),
    "machine": ("machines",), "notsure": ("notsure",),
    "notsure_message": ("notsure", "notsure_message", "answered", "abandoned"),
    "cancel_answered": ("answered", "abandoned", "dropped"),
    "amd_false_positive": ("false_positives", "answered", "abandoned")}


class CampaignRecorder:
    """Writes campaign events to the database, in order, off the publishing path."""

    def __init__(self, bus: ev.EventBus, sessions: async_sessionmaker[AsyncSession],
                 zones: dict[str, str] | None = None, queue_size: int = 100_000) -> None:
        self.bus = bus
        self.sessions = sessions
        #: campaign -> its time zone (its "day" for the abandonment figures)
        self.zones = zones if zones is not None else {}
        self.queue: asyncio.Queue[ev.DomainEvent] = asyncio.Queue(queue_size)
        self.written = 0
        self.failed = 0
        self._task: asyncio.Task[None] | None = None

    def on_event(self, event: ev.DomainEvent) -> None:
        if self.bus.relayed:
            return  # relayed from another server process: that process writes its rows
        if isinstance(event, ev.DialDecided | ev.CampaignLine | ev.CampaignStatus):
            try:
                self.queue.put_nowait(event)
            except asyncio.QueueFull:
                self.failed += 1
                log.error("campaign recorder queue full; event dropped")

    async def start(self) -> None:
        self.bus.add_handler(self.on_event)
        self._task = asyncio.create_task(self._run(), name="campaign-recorder")

    async def stop(self, drain_timeout_s: float = 5.0) -> None:
        self.bus.remove_handler(self.on_event)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.queue.join(), drain_timeout_s)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        while True:
            event = await self.queue.get()
            try:
                async with self.sessions() as session, session.begin():
                    await self.apply(session, event)
                self.written += 1
            except Exception:
                self.failed += 1
                log.exception("could not record campaign event", extra={"type": event.type})
            finally:
                self.queue.task_done()

    async def apply(self, session: AsyncSession, event: ev.DomainEvent) -> None:
        if isinstance(event, ev.DialDecided):
            session.add(DialDecisionRow(
                at=_when(event.at), campaign=event.campaign, lead_id=event.lead_id,
                number=event.number[:32], verdict=event.verdict, reason=event.reason[:32],
                zones=event.zones or None, local_times=event.local_times or None,
                retry_at=_when(event.retry_at)))
            # the gate's word on the lead itself: refused for good closes it (no line will
            # tell), refused for now waits until the window opens (a restart keeps both)
            lead = (CampaignLeadRow.campaign == event.campaign) & (
                CampaignLeadRow.lead_id == event.lead_id)
            if event.verdict == "never":
                await session.execute(update(CampaignLeadRow).where(lead).values(
                    status="done", result=event.reason[:32]))
            elif event.verdict == "later" and event.retry_at:
                await session.execute(update(CampaignLeadRow).where(lead).values(
                    next_attempt_at=_when(event.retry_at)))
        elif isinstance(event, ev.CampaignLine):
            values: dict[str, Any] = {"attempts": event.attempts, "status": event.lead_status,
                                      "result": event.lead_result or None}
            if event.outcome not in ("dialed", "ended", "amd_false_positive"):
                values["last_outcome"] = event.outcome
            if event.next_attempt_at:
                values["next_attempt_at"] = _when(event.next_attempt_at)
            await session.execute(update(CampaignLeadRow).where(
                CampaignLeadRow.campaign == event.campaign,
                CampaignLeadRow.lead_id == event.lead_id).values(**values))
            columns = _DAY_COLUMNS.get(event.outcome)
            if columns:
                zone = ZoneInfo(self.zones.get(event.campaign, "UTC"))
                day = dt.datetime.fromtimestamp(event.at, zone).date()
                row = await session.get(CampaignDayRow, (event.campaign, day))
                if row is None:
                    row = CampaignDayRow(campaign=event.campaign, day=day, answered=0,
                                         abandoned=0, dropped=0, notsure=0, notsure_message=0,
                                         machines=0, false_positives=0)
                    session.add(row)
                for column in columns:
                    setattr(row, column, getattr(row, column) + 1)
        elif isinstance(event, ev.CampaignStatus):
            await session.execute(update(CampaignRow).where(CampaignRow.name == event.campaign)
                                  .values(state=event.state))


# --- the report ------------------------------------------------------------------------------


async def campaign_report(session: AsyncSession, campaign: str) -> dict[str, Any]:
    """Contact rate, conversion, abandonment, talk time and cost per contact, from the
    campaign's interactions (one per dialled line that reached the PBX), its dial audit and
    its leads.

    - dials: lines placed (``dial`` decisions); contacts: lines connected to an agent;
    - contact rate = contacts / dials; conversion = contacts whose agent's disposition is one
      of the campaign's ``success_dispositions`` / contacts;
    - abandonment = (dropped + NOTSURE messages + estimated AMD false positives) / people
      answered, over all the campaign's days;
    - talk time = agents' talk (interactions' talk_started_at..talk_ended_at);
    - cost = cost_per_dial x dials + cost_per_minute x talk minutes; per contact.
    """
    definition, state = await load_campaign(session, campaign)
    dials = await session.scalar(select(func.count()).select_from(DialDecisionRow).where(
        DialDecisionRow.campaign == campaign, DialDecisionRow.verdict == "dial")) or 0
    refused: dict[str, int] = dict((await session.execute(
        select(DialDecisionRow.reason, func.count()).where(
            DialDecisionRow.campaign == campaign, DialDecisionRow.verdict != "dial")
        .group_by(DialDecisionRow.reason))).all())
    outcomes: dict[str | None, int] = dict((await session.execute(
        select(Interaction.outcome, func.count()).where(Interaction.campaign == campaign)
        .group_by(Interaction.outcome))).all())
    talks = (await session.execute(
        select(Interaction.talk_started_at, Interaction.talk_ended_at, Interaction.disposition)
        .where(Interaction.campaign == campaign, Interaction.outcome == "connected"))).all()
    talk_s = sum((end - start).total_seconds() for start, end, _ in talks
                 if start is not None and end is not None)
    contacts = outcomes.get("connected", 0)
    conversions = sum(1 for _, _, disposition in talks
                      if disposition in definition.success_dispositions)
    days = (await session.execute(select(CampaignDayRow)
                                  .where(CampaignDayRow.campaign == campaign))).scalars().all()
    fp_rate = definition.amd.false_positive_rate
    estimated = sum(max(0.0, fp_rate * d.machines - d.false_positives) for d in days)
    answered = sum(d.answered for d in days) + estimated
    abandoned = sum(d.abandoned for d in days) + estimated
    leads: dict[str, int] = dict((await session.execute(
        select(CampaignLeadRow.status, func.count()).where(CampaignLeadRow.campaign == campaign)
        .group_by(CampaignLeadRow.status))).all())
    cost = definition.cost_per_dial * dials + definition.cost_per_minute * talk_s / 60.0
    return {
        "campaign": campaign, "state": state, "mode": definition.mode,
        "dials": dials, "contacts": contacts, "conversions": conversions,
        "contact_rate": round(contacts / dials, 4) if dials else 0.0,
        "conversion_rate": round(conversions / contacts, 4) if contacts else 0.0,
        "answered": round(answered, 3), "abandoned": round(abandoned, 3),
        "abandonment_pct": round(100.0 * abandoned / answered, 3) if answered else 0.0,
        "talk_s": round(talk_s, 1),
        "cost": round(cost, 2),
        "cost_per_contact": round(cost / contacts, 2) if contacts else None,
        "outcomes": {str(k): v for k, v in outcomes.items() if k is not None},
        "refused": refused, "leads": leads}
