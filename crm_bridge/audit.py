"""The audit log (table ``audit_log``): supervisor and admin actions, append-only.

:func:`record` is called by the route that acts, after the action was accepted, so the log
says what was done, not what was merely asked. :func:`recent` is what ``GET /api/audit``
and ``callcenter audit`` read. The detail is a small JSON object (never a password or hash).
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crm_bridge.models import AuditRow

ACTIONS = ("spy.listen", "spy.whisper", "spy.barge", "agent.force_state", "config.create",
           "config.replace", "config.delete", "user.add", "user.change", "user.remove",
           "campaign.create", "campaign.update", "campaign.delete", "campaign.import",
           "campaign.start", "campaign.pause", "campaign.resume", "campaign.stop",
           "campaign.mode", "campaign.false_positive", "dnc.add", "disposition.create",
           "disposition.update", "recording.play")
"""What is audited (the ``action`` column)."""


async def record(sessions: async_sessionmaker[AsyncSession], actor: str, action: str,
                 target: str | None = None, detail: dict[str, Any] | None = None) -> None:
    if action not in ACTIONS:
        raise ValueError(f"unknown audit action {action!r}")
    async with sessions() as session, session.begin():
        session.add(AuditRow(actor=actor[:64], action=action,
                             target=None if target is None else target[:255],
                             detail=None if detail is None else json.dumps(detail)))


async def recent(sessions: async_sessionmaker[AsyncSession], limit: int = 100,
                 offset: int = 0) -> list[dict[str, Any]]:
    """The newest entries first."""
    async with sessions() as session:
        rows = await session.scalars(select(AuditRow).order_by(AuditRow.id.desc())
                                     .limit(limit).offset(offset))
        return [{"id": row.id, "at": row.at.isoformat(), "actor": row.actor,
                 "action": row.action, "target": row.target,
                 "detail": None if row.detail is None else json.loads(row.detail)}
                for row in rows]
