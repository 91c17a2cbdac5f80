"""Which server process runs which campaign: one process per campaign, never two.

Two processes dialling the same list would call people twice and each keep its own abandonment
figures. So a process runs a campaign only while it *owns* it:

- :class:`LocalOwnership` (one process, no Redis): this process owns every campaign.
- :class:`RedisOwnership` (several processes on one Redis): ``{prefix}:campaign:{name}`` holds
  the owner's node id with a TTL (``ttl_s``); the owner extends it every ``renew_s`` (compare
  and extend in one script). A process that cannot extend it in time (Redis unreachable, or the
  key is someone else's) stops dialling that campaign *before* the key can expire (it counts
  the lease lost after ``ttl_s - renew_s``), so two owners never overlap in their own eyes.
  Releasing (stop, shutdown) deletes the key only if it is still ours.

What the owner does with a campaign and what happens when it loses it is
:class:`callcenter.campaign_runner.CampaignService`'s business; this module only answers "is it
mine" and says when it stops being so.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Callable
from typing import Protocol

import redis.asyncio as aioredis

log = logging.getLogger(__name__)

#: KEYS key; ARGV node, ttl ms -> 1 when the key is (now) this node's, 0 when another's
_TAKE_OR_KEEP = """
local current = redis.call('GET', KEYS[1])
if current == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
if current then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
"""
#: KEYS key; ARGV node -> deletes the key only if it is this node's
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class CampaignOwnership(Protocol):
    """``claim`` a campaign (None: it is ours now; else the node that has it), ``release`` it;
    ``on_lost(name)`` is called when a claimed campaign stops being ours."""

    node_id: str
    on_lost: Callable[[str], None]

    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def claim(self, name: str) -> str | None: ...

    async def release(self, name: str) -> None: ...

    async def owner(self, name: str) -> str | None: ...


def _ignore(_name: str) -> None:
    return None


class LocalOwnership:
    """One process: every campaign is this process's."""

    def __init__(self, node_id: str = "local") -> None:
        self.node_id = node_id
        self.on_lost: Callable[[str], None] = _ignore
        self.held: set[str] = set()

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        self.held.clear()

    async def claim(self, name: str) -> str | None:
        self.held.add(name)
        return None

    async def release(self, name: str) -> None:
        self.held.discard(name)

    async def owner(self, name: str) -> str | None:
        return self.node_id if name in self.held else None


class RedisOwnership:
    """Campaign leases in Redis (see the module docstring)."""

    def __init__(self, url: str, *, node_id: str | None = None, ttl_s: float = 10.0,
                 renew_s: float = 3.0, prefix: str = "callcenter") -> None:
        if not 0 < renew_s < ttl_s:
            raise ValueError("renew_s must be positive and shorter than ttl_s")
        self.url = url
        self.node_id = node_id or f"node-{uuid.uuid4().hex[:8]}"
        self.ttl_s = ttl_s
        self.renew_s = renew_s
        self.prefix = prefix
        self.on_lost: Callable[[str], None] = _ignore
        #: campaign -> the loop time it was last confirmed ours
        self.held: dict[str, float] = {}
        self._redis: aioredis.Redis | None = None
        self._task: asyncio.Task[None] | None = None

    def key(self, name: str) -> str:
        return f"{self.prefix}:campaign:{name}"

    def _client(self) -> aioredis.Redis:
        if self._redis is None:
            self._redis = aioredis.Redis.from_url(
                self.url, decode_responses=True, socket_timeout=self.renew_s,
                socket_connect_timeout=self.renew_s)
        return self._redis

    async def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._renew_loop(),
                                                            name="campaign-ownership")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        for name in list(self.held):
            await self.release(name)
        if self._redis is not None:
            await self._redis.aclose()
            self._redis = None

    async def claim(self, name: str) -> str | None:
        """None when ``name`` is this node's (now); else who has it. Redis unreachable: raises
        ``redis.RedisError`` (the caller cannot know, so it must not dial)."""
        client = self._client()
        taken = await client.eval(_TAKE_OR_KEEP, 1, self.key(name), self.node_id,
                                  int(self.ttl_s * 1000))
        if int(taken) == 1:
            self.held[name] = asyncio.get_running_loop().time()
            return None
        self.held.pop(name, None)
        holder = await client.get(self.key(name))
        return str(holder) if holder else "another node"

    async def release(self, name: str) -> None:
        self.held.pop(name, None)
        try:
            await self._client().eval(_RELEASE, 1, self.key(name), self.node_id)
        except (aioredis.RedisError, OSError) as exc:  # it expires on its own
            log.warning("campaign %s: lease not released (%r); it expires in %.0f s",
                        name, exc, self.ttl_s)

    async def owner(self, name: str) -> str | None:
        value = await self._client().get(self.key(name))
        return str(value) if value else None

    async def _renew_loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(self.renew_s)
            for name in list(self.held):
                try:
                    holder = await self.claim(name)
                except (aioredis.RedisError, OSError) as exc:
                    confirmed = self.held.get(name)
                    if confirmed is not None and loop.time() - confirmed > \
                            self.ttl_s - self.renew_s:
                        log.error("campaign %s: lease not renewed for %.1f s (%r): stops "
                                  "dialling here", name, loop.time() - confirmed, exc)
                        self._lose(name)
                    continue
                if holder is not None:
                    log.error("campaign %s: now owned by %s: stops dialling here", name, holder)
                    self._lose(name)

    def _lose(self, name: str) -> None:
        self.held.pop(name, None)
        try:
            self.on_lost(name)
        except Exception:
            log.exception("campaign %s: on_lost failed", name)
