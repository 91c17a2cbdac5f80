"""The demo's outbound campaign, ``renewals``, run as data like any campaign of ``callcenter
serve``: a :class:`~callcenter.dialer.campaign.CampaignDefinition` saved in the demo's
database, leads imported from the CRM's customers through the same list import as ``POST
/api/campaigns/{name}/leads``, started through :meth:`CampaignService.control
<callcenter.campaign_runner.CampaignService.control>`. So every lead passes the compliance gate
(do-not-call lists, consent, the calling window in the callee's local time), the abandonment
ledger caps the pacer, and the campaigns page (``/campaigns/``) shows it.

Each batch shows the gate at work: a few of the leads most due are put on the do-not-call
lists after the import (one on the global list, one on the campaign's: the customer asked
while the list was loaded) and one customer who never gave consent is on the list; the gate
refuses those three for good (``dial.decision`` ``never``) and they are never dialled. When
the list is worked out (``finished``), the done leads are cleared (the dial audit, the
interactions and the day figures keep them) and a fresh batch with new lead ids is loaded
and started, so a demo left running keeps dialling. A campaign a supervisor stopped or
paused stays so.

The demo's numbers are simulated, so its calling window is stated in the definition and
printed at start: around the clock (``00:00``-``23:59`` in each callee's local time) unless
``--calling-window`` names another (``08:00-21:00`` is the default of a real campaign; then
leads in zones where it is night wait for their morning, as on ``callcenter serve``).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import random
from collections import Counter
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, func, select

from callcenter import events as ev
from callcenter.acd.queueing import TIER_PRIORITY
from callcenter.dialer.campaign import CampaignDefinition, Retry, default_pacing

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

    from callcenter.campaign_runner import CampaignRunner, CampaignService

log = logging.getLogger(__name__)

DEMO_CAMPAIGN = "renewals"
#: who the demo's controls are recorded as (the campaign.status ``actor``)
DEMO_ACTOR = "demo"
#: the demo center's number: the caller ID of its lines and the one the abandonment message
#: gives to call back (the number the demo's inbound callers dial)
DEMO_NUMBER = "+18005550100"
DEMO_COMPANY = "Demo Telecom"
#: around the clock: the demo's numbers are simulated (see the module docstring)
DEMO_WINDOW = ("00:00", "23:59")


def demo_campaign_definition(pacing: str, window: tuple[str, str] = DEMO_WINDOW
                             ) -> CampaignDefinition:
    """``renewals`` as the demo runs it. ``pacing`` is the demo's ``--pacing``:
    ``progressive`` is the campaign's progressive mode, any other pacer (``ratio:1.5``,
    ``predictive``, ``vicidial-*``) its predictive mode with that pacer (capped by the
    abandonment budget like every campaign). Retries come back within minutes, not hours,
    so a batch is worked out while someone watches."""
    mode = "progressive" if pacing == "progressive" else "predictive"
    return CampaignDefinition(
        name=DEMO_CAMPAIGN, mode=mode,
        pacing=default_pacing() if mode == "progressive" else pacing,
        caller_id=DEMO_NUMBER, company=DEMO_COMPANY, callback_number=DEMO_NUMBER,
        window_start=window[0], window_end=window[1],
        busy=Retry(delay_s=60, max_attempts=3), no_answer=Retry(delay_s=120, max_attempts=3),
        machine=Retry(delay_s=300, max_attempts=2))


def parse_window(text: str) -> tuple[str, str]:
    """``HH:MM-HH:MM`` (``--calling-window``); ValueError names the problem."""
    start, sep, end = text.strip().partition("-")
    if not sep:
        raise ValueError(f"a calling window is HH:MM-HH:MM, got {text!r}")
    window = (start.strip(), end.strip())
    CampaignDefinition.parse({  # CampaignError (a ValueError) names what is wrong
        "name": "check", "caller_id": DEMO_NUMBER, "company": "check",
        "callback_number": DEMO_NUMBER, "window_start": window[0], "window_end": window[1]})
    return window


class DemoCampaign:
    """The demo's ``renewals`` on the server's :class:`CampaignService` (see the module
    docstring). :meth:`start` after the service started; :meth:`close` before it closes."""

    def __init__(self, service: CampaignService, bus: ev.EventBus,
                 definition: CampaignDefinition, *, region: str, leads: int, rng: random.Random,
                 now: Callable[[], float]) -> None:
        self.service = service
        self.sessions: async_sessionmaker[AsyncSession] = service.sessions
        self.bus = bus
        self.definition = definition
        self.region = region
        self.leads = leads
        self.rng = rng
        self.now = now
        #: batches loaded, and the import report and gate cases of the last one
        self.batches = 0
        self.last_import: dict[str, Any] = {}
        #: numbers of the last batch put on the global / campaign list, and the one without
        #: consent (what the gate must refuse)
        self.refused_numbers: dict[str, str] = {}
        self._reload: asyncio.Task[None] | None = None

    @property
    def runner(self) -> CampaignRunner | None:
        return self.service.runners.get(DEMO_CAMPAIGN)

    async def start(self) -> None:
        """Save the definition, load a batch unless leads are left from the last run, start."""
        from crm_bridge.campaigns import save_campaign
        from crm_bridge.models import CampaignRow

        async with self.sessions() as session, session.begin():
            exists = await session.get(CampaignRow, DEMO_CAMPAIGN) is not None
            await save_campaign(session, self.definition, create=not exists)
        self.bus.add_handler(self._on_event)
        await self._load_and_start()

    async def close(self) -> None:
        self.bus.remove_handler(self._on_event)
        if self._reload is not None:
            self._reload.cancel()
            await asyncio.gather(self._reload, return_exceptions=True)

    def _on_event(self, event: ev.DomainEvent) -> None:
        if (isinstance(event, ev.CampaignStatus) and event.campaign == DEMO_CAMPAIGN
                and event.state == "finished" and (self._reload is None or self._reload.done())):
            self._reload = asyncio.get_running_loop().create_task(
                self._load_and_start(), name="demo-campaign-batch")

    async def _load_and_start(self) -> None:
        from callcenter.campaign_runner import CampaignControlError

        try:
            if await self._load_batch():
                await self.service.control(DEMO_CAMPAIGN, "start", actor=DEMO_ACTOR)
        except CampaignControlError as exc:
            log.error("the demo's campaign %s is not dialling: %s", DEMO_CAMPAIGN, exc)
        except Exception:  # the demo's inbound traffic goes on without its campaign
            log.exception("the demo's campaign %s could not load a batch", DEMO_CAMPAIGN)

    async def _load_batch(self) -> int:
        """Clear the done leads; when none is left to dial, import a fresh batch and put the
        gate's cases on the lists. Returns how many leads there are to work."""
        from crm_bridge.campaigns import add_dnc, import_leads
        from crm_bridge.models import CampaignLeadRow

        # what the last batch's lines and gate decisions did to its leads is written first
        await self.service.recorder.queue.join()
        async with self.sessions() as session, session.begin():
            await session.execute(delete(CampaignLeadRow).where(
                CampaignLeadRow.campaign == DEMO_CAMPAIGN, CampaignLeadRow.status == "done"))
            left = await session.scalar(select(func.count()).select_from(CampaignLeadRow)
                                        .where(CampaignLeadRow.campaign == DEMO_CAMPAIGN))
            if left:
                log.info("campaign %s: %d leads left from the last run", DEMO_CAMPAIGN, left)
                return int(left)
            rows, unconsented = await self._batch_rows(session)
            if not rows:
                log.warning("campaign %s: no CRM customer left to call", DEMO_CAMPAIGN)
                return 0
            report = await import_leads(session, DEMO_CAMPAIGN, rows, self.region)
            # after the import (the import itself refuses listed numbers): the customers
            # most due asked not to be called while the list was being loaded
            ranked = sorted(rows[:-1] if unconsented else rows,
                            key=lambda row: (-int(row["priority"]), -float(row["value"])))
            refused: dict[str, str] = {}
            if ranked:
                refused["dnc_global"] = ranked[0]["number"]
                await add_dnc(session, [ranked[0]["number"]], self.region,
                              reason="demo: asked not to be called after the list was loaded")
            if len(ranked) > 1:
                refused["dnc_campaign"] = ranked[1]["number"]
                await add_dnc(session, [ranked[1]["number"]], self.region,
                              campaign=DEMO_CAMPAIGN,
                              reason="demo: asked not to be called about renewals")
            if unconsented:
                refused["no_consent"] = unconsented
        self.batches += 1
        self.last_import = report.as_dict()
        self.refused_numbers = refused
        log.info("campaign %s: batch %d loaded, %d leads (refused by the gate: %s)",
                 DEMO_CAMPAIGN, self.batches, report.imported,
                 ", ".join(f"{number} {why}" for why, number in refused.items()))
        return report.imported

    async def _batch_rows(self, session: AsyncSession) -> tuple[list[dict[str, str]], str]:
        """Lead rows for the next batch: consenting customers not on a do-not-call list,
        with their value tier's priority and their order total as value, new lead ids; and
        one customer who never gave consent (the last row; '' when there is none)."""
        from crm_bridge.models import (
            Customer,
            CustomerAnalyticsRow,
            DncNumberRow,
            Phone,
        )

        listed = select(DncNumberRow.number).where(
            DncNumberRow.campaign.is_(None) | (DncNumberRow.campaign == DEMO_CAMPAIGN))
        first_phone = (select(func.min(Phone.id)).where(Phone.customer_id == Customer.id)
                       .correlate(Customer).scalar_subquery())
        query = (select(Phone.e164, Customer.consent, CustomerAnalyticsRow.value_tier,
                        CustomerAnalyticsRow.monetary)
                 .join(Customer, Customer.id == Phone.customer_id)
                 .outerjoin(CustomerAnalyticsRow, CustomerAnalyticsRow.customer_id == Customer.id)
                 .where(Phone.id == first_phone, Customer.do_not_call.is_(False),
                        Phone.e164.not_in(listed)))
        found = (await session.execute(query)).all()
        # a line two customers share is left out: whose consent would count is unclear
        shared = {number for number, count in Counter(row.e164 for row in found).items()
                  if count > 1}
        found = [row for row in found if row.e164 not in shared]
        consenting = [row for row in found if row.consent]
        chosen = self.rng.sample(consenting, min(self.leads, len(consenting)))
        others = [row.e164 for row in found if not row.consent]
        unconsented = self.rng.choice(others) if others and chosen else ""
        tag = dt.datetime.fromtimestamp(self.now(), dt.UTC).strftime("%Y%m%dT%H%M%S")
        rows = [{"number": row.e164, "lead_id": f"{tag}-{i:03d}",
                 "priority": str(TIER_PRIORITY.get(row.value_tier or "none", 0)),
                 "value": str(float(row.monetary or 0))}
                for i, row in enumerate(chosen, start=1)]
        if unconsented:  # consent left blank: the import takes the CRM customer's (no)
            rows.append({"number": unconsented, "lead_id": f"{tag}-{len(rows) + 1:03d}",
                         "priority": str(max(TIER_PRIORITY.values())), "value": "0"})
        return rows, unconsented
