"""What the IVR asks the CRM for itself: a complaint's status by ticket number, and storing a
survey answer as a satisfaction rating on the call's interaction.

(The caller's customer card comes from :func:`crm_bridge.lookup.lookup_card`, the same answer
the screen pop uses.)
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from crm_bridge.models import Complaint, Interaction, SatisfactionRating

MAX_TICKET = 2**31 - 1


async def complaint_by_ticket(session: AsyncSession, ticket: str) -> dict[str, Any] | None:
    """The complaint whose ticket number (its id) is ``ticket``; None if none or unreadable."""
    if not ticket.isdigit() or not 0 < int(ticket) <= MAX_TICKET:
        return None
    row = (await session.execute(
        select(Complaint.id, Complaint.status, Complaint.category, Complaint.opened_at,
               Complaint.customer_id).where(Complaint.id == int(ticket)))).first()
    if row is None:
        return None
    return {"ticket": str(row.id), "status": row.status, "category": row.category or "",
            "opened_at": row.opened_at, "customer_id": row.customer_id}


async def store_rating(session: AsyncSession, *, call_id: str, customer_id: int | None,
                       score: int, question: str, at: dt.datetime) -> int | None:
    """A 1-5 rating for the call ``call_id``: linked to its interaction when there is one, to
    its customer (the interaction's, else ``customer_id``). Returns the rating's id, or None
    when the caller is no known customer (a rating must belong to one). A second answer to
    the same question for the same call replaces the first (a caller re-entering a survey)."""
    if not 1 <= score <= 5:
        raise ValueError(f"a rating is 1 to 5, not {score}")
    interaction = (await session.execute(
        select(Interaction.id, Interaction.customer_id).where(Interaction.call_id == call_id)
    )).first()
    interaction_id = interaction.id if interaction is not None else None
    customer = (interaction.customer_id if interaction is not None else None) or customer_id
    if customer is None:
        return None
    comment = f"ivr:{question}"
    if interaction_id is not None:
        existing = (await session.execute(select(SatisfactionRating).where(
            SatisfactionRating.interaction_id == interaction_id,
            SatisfactionRating.comment == comment))).scalar_one_or_none()
        if existing is not None:
            existing.score, existing.rated_at = score, at
            await session.commit()
            return existing.id
    rating = SatisfactionRating(customer_id=customer, interaction_id=interaction_id,
                                score=score, comment=comment, rated_at=at)
    session.add(rating)
    await session.commit()
    return rating.id
