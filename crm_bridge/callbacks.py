"""Pending callbacks in the database (table ``acd_callbacks``, migration 0008): the
:class:`~callcenter.acd.callbacks.CallbackStore` of a server with a database, so a callback
asked for before a restart is still made after it."""

from __future__ import annotations

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from callcenter.acd.callbacks import Callback
from crm_bridge.models import AcdCallbackRow


class DbCallbacks:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self.sessions = sessions

    async def save(self, callback: Callback) -> None:
        async with self.sessions() as session, session.begin():
            row = await session.get(AcdCallbackRow, callback.callback_id)
            if row is None:
                row = AcdCallbackRow(callback_id=callback.callback_id)
                session.add(row)
            row.queue = callback.queue
            row.call_id = callback.call_id
            row.number = callback.number
            row.arrived = callback.arrived
            row.priority = callback.priority
            row.attempts = callback.attempts

    async def remove(self, callback_id: str) -> None:
        async with self.sessions() as session, session.begin():
            await session.execute(delete(AcdCallbackRow)
                                  .where(AcdCallbackRow.callback_id == callback_id))

    async def pending(self, queue: str) -> list[Callback]:
        async with self.sessions() as session:
            rows = (await session.execute(
                select(AcdCallbackRow).where(AcdCallbackRow.queue == queue))).scalars().all()
        return [Callback(callback_id=row.callback_id, queue=row.queue, call_id=row.call_id,
                         number=row.number, arrived=row.arrived, priority=row.priority,
                         attempts=row.attempts) for row in rows]
