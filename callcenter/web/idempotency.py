"""Where the answers to ``Idempotency-Key`` requests outlive the process that gave them.

:class:`~callcenter.web.routes.customers.IdempotencyStore` answers a repeated request from its
memory first; behind it, one of these keeps every first answer for ``ttl_s`` (24 h) so that a
retry after a restart, or one that a load balancer sends to another server process, gets the
same answer instead of a second customer:

- :class:`RedisResults` when ``redis_url`` is set (every process of the center sees it; Redis
  expires the keys itself);
- :class:`DatabaseResults` otherwise (table ``idempotency_keys``, migration 0007; rows older
  than the TTL are ignored and deleted as new ones are written).

Keys are scoped by principal. A durable store that cannot be reached is not a reason to refuse
the request: the answer still comes from memory (one process), and the failure is logged.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from dataclasses import asdict, dataclass
from typing import Any, Protocol

import redis.asyncio as aioredis
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from callcenter.config import Settings
from crm_bridge.models import IdempotencyKeyRow

log = logging.getLogger(__name__)

#: how long a first answer is kept (a client retrying after a day is making a new request)
DEFAULT_TTL_S = 24 * 3600.0


@dataclass(frozen=True, slots=True)
class StoredResult:
    """The first answer to a key: the request body's fingerprint and the response."""

    fingerprint: str
    status: int
    body: Any
    location: str | None


class DurableResults(Protocol):
    async def get(self, principal: str, key: str) -> StoredResult | None: ...

    async def put(self, principal: str, key: str, result: StoredResult) -> None:
        """Keep ``result``; a result already kept for the key wins (the first answer)."""
        ...


class RedisResults:
    """``{prefix}:idempotency:{principal}:{key}`` = the result as JSON, expiring after the TTL."""

    def __init__(self, url: str, *, prefix: str = "callcenter",
                 ttl_s: float = DEFAULT_TTL_S) -> None:
        self._redis = aioredis.from_url(url, socket_connect_timeout=2.0, socket_timeout=2.0,
                                        decode_responses=True)
        self.prefix = prefix
        self.ttl_s = ttl_s

    def _key(self, principal: str, key: str) -> str:
        return f"{self.prefix}:idempotency:{len(principal)}:{principal}:{key}"

    async def get(self, principal: str, key: str) -> StoredResult | None:
        raw = await self._redis.get(self._key(principal, key))
        return StoredResult(**json.loads(raw)) if raw is not None else None

    async def put(self, principal: str, key: str, result: StoredResult) -> None:
        await self._redis.set(self._key(principal, key), json.dumps(asdict(result)),
                              nx=True, px=int(self.ttl_s * 1000))

    async def close(self) -> None:
        await self._redis.aclose()


class DatabaseResults:
    """Rows of ``idempotency_keys`` (principal, key) in the CRM database."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], *,
                 ttl_s: float = DEFAULT_TTL_S) -> None:
        self.sessions = sessions
        self.ttl_s = ttl_s

    def _oldest(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC) - dt.timedelta(seconds=self.ttl_s)

    async def get(self, principal: str, key: str) -> StoredResult | None:
        async with self.sessions() as session:
            row = await session.scalar(select(IdempotencyKeyRow).where(
                IdempotencyKeyRow.principal == principal, IdempotencyKeyRow.key == key,
                IdempotencyKeyRow.created_at >= self._oldest()))
        if row is None:
            return None
        return StoredResult(row.fingerprint, row.status, json.loads(row.body), row.location)

    async def put(self, principal: str, key: str, result: StoredResult) -> None:
        async with self.sessions() as session:
            await session.execute(delete(IdempotencyKeyRow).where(
                IdempotencyKeyRow.created_at < self._oldest()))
            session.add(IdempotencyKeyRow(
                principal=principal, key=key, fingerprint=result.fingerprint,
                status=result.status, body=json.dumps(result.body, ensure_ascii=False),
                location=result.location, created_at=dt.datetime.now(dt.UTC)))
            try:
                await session.commit()
            except IntegrityError:  # another process kept its answer first: that one stands
                await session.rollback()


def durable_results(settings: Settings,
                    sessions: async_sessionmaker[AsyncSession] | None) -> DurableResults | None:
    """Redis when configured, else the CRM database, else none (answers kept in memory)."""
    if settings.redis_url is not None:
        return RedisResults(settings.redis_url.get_secret_value())
    if sessions is not None:
        return DatabaseResults(sessions)
    return None
