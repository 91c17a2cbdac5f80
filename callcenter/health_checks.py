"""Readiness checks of the server's backing services, for ``GET /health``.

Why these exist: the server keeps running when Redis or the CRM database goes away (live state
and the event relay reconnect, the CRM calls fail one by one), so "the process answers HTTP" says
little. A load balancer or an orchestrator needs to know whether this node can actually serve:
each check does one cheap round trip (``PING``, ``SELECT 1``) against the real service and
raises if it does not complete within a short timeout (2 s by default), so ``/health`` stays fast
even when a service hangs instead of refusing connections.

A check is ``async () -> None``: it returns when the service is fine and raises
:class:`HealthCheckFailed` (with a message safe to show: no credentials) otherwise.

- :func:`redis_check` opens a fresh connection each time and closes it: it tests exactly what a
  new client would face, and a health probe never holds connections between probes.
- :func:`database_check` keeps one small SQLAlchemy engine for all probes (creating an engine per
  probe would build a pool per probe); ``pool_pre_ping`` drops connections that died while idle,
  so the first probe after a database restart already reports the truth. Call
  :meth:`DatabaseCheck.dispose` at shutdown.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import redis.asyncio as aioredis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

HealthCheck = Callable[[], Awaitable[None]]

DEFAULT_TIMEOUT_S = 2.0


class HealthCheckFailed(RuntimeError):
    """A backing service did not answer correctly in time."""


def _describe(exc: BaseException, timeout: float) -> str:
    if isinstance(exc, TimeoutError):
        return f"no answer within {timeout:g} s"
    detail = str(exc).strip()
    return f"{type(exc).__name__}: {detail}" if detail else type(exc).__name__


def redis_check(url: str, timeout: float = DEFAULT_TIMEOUT_S) -> HealthCheck:
    """A check that ``PING``s the Redis at ``url`` on a fresh connection within ``timeout``."""

    async def check() -> None:
        client = aioredis.from_url(
            url, socket_connect_timeout=timeout, socket_timeout=timeout, retry_on_timeout=False
        )
        try:
            async with asyncio.timeout(timeout):
                answer = await client.ping()
            if answer is not True:
                raise HealthCheckFailed(f"redis: unexpected PING answer {answer!r}")
        except HealthCheckFailed:
            raise
        except Exception as exc:
            raise HealthCheckFailed(f"redis: {_describe(exc, timeout)}") from exc
        finally:
            await client.aclose()

    check.__name__ = check.__qualname__ = "redis_check"
    return check


class DatabaseCheck:
    """``SELECT 1`` on one lazily created, reused async engine; see the module docstring."""

    def __init__(self, url: str, timeout: float = DEFAULT_TIMEOUT_S,
                 engine: AsyncEngine | None = None) -> None:
        self.url = url
        self.timeout = timeout
        #: an engine passed in (the server's own pool) is probed, never disposed, here
        self._engine = engine
        self._owns_engine = engine is None

    @property
    def engine(self) -> AsyncEngine:
        if self._engine is None:
            self._engine = create_async_engine(self.url, pool_pre_ping=True)
        return self._engine

    async def __call__(self) -> None:
        try:
            async with asyncio.timeout(self.timeout):
                async with self.engine.connect() as conn:
                    value: int = (await conn.execute(text("SELECT 1"))).scalar_one()
        except Exception as exc:
            raise HealthCheckFailed(f"database: {_describe(exc, self.timeout)}") from exc
        if value != 1:
            raise HealthCheckFailed(f"database: SELECT 1 returned {value!r}")

    async def dispose(self) -> None:
        """Close the engine's pooled connections (at shutdown); a later probe makes a new one."""
        if not self._owns_engine:
            return
        engine, self._engine = self._engine, None
        if engine is not None:
            await engine.dispose()


def database_check(url: str, timeout: float = DEFAULT_TIMEOUT_S, *,
                   engine: AsyncEngine | None = None) -> DatabaseCheck:
    """A check that runs ``SELECT 1`` on the SQLAlchemy async ``url`` within ``timeout``;
    with ``engine``, on that engine's pool (the one the server really uses)."""
    return DatabaseCheck(url, timeout, engine)
