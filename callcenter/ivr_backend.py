"""The IVR engine's link to the rest of the server: everything an IVR action does that is
neither audio nor keys — asking the CRM, storing call data on the channel, ratings, events.

A media runner (AudioSocket on Asterisk, the simulated caller of the demo) plays prompts and
listens itself and hands every other action to :meth:`IvrBackend.perform`, so both runners
route, pop and store exactly alike. ``Transfer`` and ``HangUp`` stay with the runner: how a
call leaves the IVR is media-specific (close the AudioSocket so the dialplan continues, or
move the simulated channel).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from callcenter import events as ev
from callcenter.core.errors import PbxError
from callcenter.core.pbx import Pbx
from callcenter.ivr import steps as s
from callcenter.ivr.engine import IvrSession

log = logging.getLogger(__name__)

#: CRM value tier -> queue priority (the ACD serves higher first; VIPs age past nobody)
TIER_PRIORITY = {"platinum": 30, "gold": 20, "silver": 10}

#: a complaint's status as the IVR speaks it (``{complaint_status}`` in a prompt)
STATUS_WORDS = {
    "en": {"open": "registered and waiting for review", "in_progress": "being handled",
           "closed": "resolved"},
    "ko": {"open": "접수", "in_progress": "처리 중", "closed": "처리 완료"},
    "zh": {"open": "已受理", "in_progress": "处理中", "closed": "已解决"},
}

CustomerLookup = Callable[[str], Awaitable[dict[str, Any]]]


def customer_answer(card: dict[str, Any]) -> dict[str, str] | None:
    """The screen-pop card (:func:`crm_bridge.lookup.lookup_card`) as IVR call data."""
    match = card.get("match")
    if not match:
        return None
    tier = str(match.get("value_tier") or "")
    return {"customer_id": str(match.get("customer_id", "")),
            "customer_code": str(match.get("customer_code") or ""),
            "name": str(match.get("name") or ""), "tier": tier,
            "priority": str(TIER_PRIORITY.get(tier, 0))}


class IvrBackend:
    def __init__(self, pbx: Pbx, bus: ev.EventBus, lookup: CustomerLookup,
                 sessions: async_sessionmaker[AsyncSession] | None = None) -> None:
        self.pbx = pbx
        self.bus = bus
        self.lookup = lookup
        self.sessions = sessions
        self.ratings_stored = 0

    async def perform(self, session: IvrSession, action: s.Action) -> s.Input | None:
        """Carry out ``action`` for ``session``; a :class:`~callcenter.ivr.steps.Lookup`
        returns the :class:`~callcenter.ivr.steps.LookupDone` to feed back."""
        if isinstance(action, s.Publish):
            self.bus.publish(action.event)
        elif isinstance(action, s.Lookup):
            return await self.answer(action, session.language)
        elif isinstance(action, s.SetCallData):
            await self.set_call_data(session.caller.channel_id, action.variables)
        elif isinstance(action, s.StoreRating):
            await self.store_rating(session, action)
        elif isinstance(action, s.RequestCallback):
            log.info("callback requested by %s (call %s)", action.number,
                     session.caller.call_id)
        return None

    async def answer(self, lookup: s.Lookup, language: str) -> s.LookupDone:
        """The CRM's answer; a CRM that cannot be reached answers "not found" (the flow's
        not_found path, usually an agent) rather than leaving the caller in silence."""
        try:
            if lookup.kind == "customer":
                return s.LookupDone(customer_answer(await self.lookup(lookup.value)))
            if lookup.kind == "complaint" and self.sessions is not None:
                from crm_bridge.ivr_answers import complaint_by_ticket

                async with self.sessions() as db:
                    found = await complaint_by_ticket(db, lookup.value)
                if found is None:
                    return s.LookupDone(None)
                words = STATUS_WORDS.get(language, STATUS_WORDS["en"])
                return s.LookupDone({"complaint_status": words.get(found["status"],
                                                                   found["status"]),
                                     "complaint_category": found["category"]})
        except (SQLAlchemyError, OSError) as exc:
            log.warning("IVR lookup %s %s failed: %s", lookup.kind, lookup.by, exc)
        return s.LookupDone(None)

    async def set_call_data(self, channel_id: str, variables: dict[str, str] | Any) -> None:
        for name, value in variables.items():
            try:
                await self.pbx.set_variable(channel_id, name, value)
            except PbxError as exc:  # the caller may just have hung up
                log.info("IVR call data %s on %s not set: %s", name, channel_id, exc)
                return

    async def store_rating(self, session: IvrSession, action: s.StoreRating) -> None:
        if self.sessions is None:
            return
        from crm_bridge.ivr_answers import store_rating

        customer = session.data.get("customer_id", "")
        try:
            async with self.sessions() as db:
                stored = await store_rating(
                    db, call_id=session.caller.call_id,
                    customer_id=int(customer) if customer.isdigit() else None,
                    score=action.score, question=action.question,
                    at=dt.datetime.fromtimestamp(session.clock.now(), dt.UTC))
        except SQLAlchemyError as exc:
            log.warning("survey answer of call %s not stored: %s", session.caller.call_id, exc)
            return
        if stored is not None:
            self.ratings_stored += 1
