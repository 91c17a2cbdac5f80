"""What the IVR asks of the CRM: who is calling (by number or keyed-in code), the status of a
complaint (by ticket number), and storing a survey answer as a satisfaction rating.

The customer look-up is the screen pop's own (:func:`crm_bridge.lookup.lookup_card`), so the
IVR and the agent's card always agree on who a number or code belongs to. A customer's value
tier and churn warning become the routing priority the flow's ``priority: customer`` queues by.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from callcenter.acd.queueing import routing_priority
from callcenter.ivr import steps as s
from crm_bridge.models import Complaint, Interaction, SatisfactionRating

log = logging.getLogger(__name__)

#: how long a rating waits for its call's interaction row (written as the call's events arrive)
INTERACTION_WAIT_S = 2.0


#: the ACD's callback list: (queue, call id, channel id, number, priority) -> taken or not
CallbackRequester = Callable[[str, str, str, str, int], bool]


class CrmEffects:
    """What every IVR runner (AudioSocket on Asterisk, the simulated caller of the demo) asks
    of the CRM and the ACD, in one place, so both route, pop and store alike."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession],
                 lookup: Callable[[str], Awaitable[dict[str, Any]]],
                 callbacks: CallbackRequester | None = None) -> None:
        self.sessions = sessions
        self.card_lookup = lookup
        self.callbacks = callbacks
        self.ratings_stored = 0
        self.callbacks_requested = 0

    async def lookup(self, action: s.Lookup) -> Mapping[str, str] | None:
        if action.kind == "complaint":
            return await self._complaint(action.value)
        if not action.value:
            return None
        answer = await self.card_lookup(action.value)
        card = answer.get("match")
        if not card:
            return None
        tier = str(card.get("value_tier") or "none")
        at_risk = bool((card.get("churn") or {}).get("at_risk"))
        return {"customer_id": str(card["customer_id"]),
                "customer_code": str(card.get("customer_code") or ""),
                "name": str(card.get("name") or ""), "tier": tier,
                "churn_risk": "yes" if at_risk else "no",
                "priority": str(routing_priority(tier, at_risk))}

    async def _complaint(self, ticket: str) -> Mapping[str, str] | None:
        if not ticket.isdigit() or len(ticket) > 18:
            return None
        async with self.sessions() as session:
            complaint = await session.get(Complaint, int(ticket))
        if complaint is None:
            return None
        return {"complaint_status": complaint.status.replace("_", " "),
                "complaint_customer_id": str(complaint.customer_id)}

    async def store_rating(self, caller: s.CallerInfo, data: Mapping[str, str],
                           question: str, score: int) -> None:
        """A satisfaction rating on the call's interaction, for the call's customer (the one
        the flow identified, else the interaction's, else the calling number's)."""
        interaction = await self._interaction(caller.call_id)
        customer_id = _int(data.get("customer_id"))
        if customer_id is None and interaction is not None:
            customer_id = interaction.customer_id
        if customer_id is None and caller.number:
            found = await self.lookup(s.Lookup("customer", "number", caller.number))
            customer_id = _int(found.get("customer_id")) if found else None
        if customer_id is None:
            log.warning("ivr %s: survey answer %s=%d not stored: the caller is not a known "
                        "customer", caller.call_id, question, score)
            return
        async with self.sessions() as session, session.begin():
            session.add(SatisfactionRating(
                customer_id=customer_id, score=score, comment=f"ivr survey: {question}",
                interaction_id=interaction.id if interaction is not None else None))
        self.ratings_stored += 1

    async def request_callback(self, caller: s.CallerInfo, action: s.RequestCallback) -> None:
        """The caller's place in the queue's callback line, from now (the ACD calls back when
        its turn comes, as for a caller who asked while waiting)."""
        taken = self.callbacks is not None and self.callbacks(
            action.queue, caller.call_id, caller.channel_id, action.number, action.priority)
        if taken:
            self.callbacks_requested += 1
        else:
            log.error("ivr %s: callback to %s for queue %s not taken (no such queue here)",
                      caller.call_id, action.number, action.queue)

    async def _interaction(self, call_id: str) -> Interaction | None:
        loop = asyncio.get_running_loop()
        until = loop.time() + INTERACTION_WAIT_S
        while True:
            async with self.sessions() as session:
                row = (await session.execute(select(Interaction).where(
                    Interaction.call_id == call_id))).scalar_one_or_none()
            if row is not None or loop.time() >= until:
                return row
            await asyncio.sleep(0.1)


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value else None
    except ValueError:
        return None
