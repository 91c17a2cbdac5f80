"""Sessions, WebSocket tickets and login throttling in Redis: what several server processes
sharing one Redis need (an agent signed in through one process is signed in on all of them; a
restart signs nobody out; guesses spread over the processes add up).

Keys (``{prefix}`` is ``callcenter`` by default); tokens are stored only as SHA-256 digests:

- ``{prefix}:session:{digest}``: a hash (username, role, agent_id, csrf_token, password_hash,
  checked_at) whose TTL is the idle timeout (``ttl_s``): every use extends it.
- ``{prefix}:user-sessions:{username}``: the digests of that user's sessions (to end them all
  when the user is disabled, removed or given a new password).
- ``{prefix}:ticket:{digest}``: the session digest a WebSocket ticket was made for, with the
  ticket's TTL; redeemed with ``GETDEL`` (single use, even across processes).
- ``{prefix}:login-failures:{user:name|ip:address}``: a sorted set of failure times (the
  sliding window), expiring with the window.

The session's ``checked_at`` lives in Redis too, so the re-check of the user (every
``recheck_s``) is shared rather than done by each process.
"""

from __future__ import annotations

import secrets
import time
import uuid
from collections.abc import Callable

import redis.asyncio as aioredis

from callcenter.accounts.sessions import Session, changed_since, token_digest
from callcenter.accounts.users import User, UserDirectory


class RedisSessionStore:
    """The :class:`~callcenter.accounts.sessions.Sessions` of every process on one Redis."""

    def __init__(self, url: str, *, ttl_s: float = 12 * 3600.0, ticket_ttl_s: float = 30.0,
                 recheck_s: float = 10.0, prefix: str = "callcenter",
                 clock: Callable[[], float] = time.time) -> None:
        self.ttl_s = ttl_s
        self.ticket_ttl_s = ticket_ttl_s
        self.recheck_s = recheck_s
        self.prefix = prefix
        self._clock = clock
        self._redis = aioredis.Redis.from_url(url, decode_responses=True)

    def _session_key(self, digest: str) -> str:
        return f"{self.prefix}:session:{digest}"

    def _user_key(self, username: str) -> str:
        return f"{self.prefix}:user-sessions:{username}"

    def _ttl_ms(self) -> int:
        return max(1, int(self.ttl_s * 1000))

    async def open(self, user: User) -> tuple[str, Session]:
        token = secrets.token_urlsafe(32)
        digest = token_digest(token)
        now = self._clock()
        session = Session(user.username, user.role, user.agent_id, secrets.token_urlsafe(24),
                          user.password_hash, now, now)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hset(self._session_key(digest), mapping={
                "username": user.username, "role": user.role, "agent_id": user.agent_id or "",
                "csrf_token": session.csrf_token, "password_hash": user.password_hash,
                "checked_at": repr(now)})
            pipe.pexpire(self._session_key(digest), self._ttl_ms())
            pipe.sadd(self._user_key(user.username), digest)
            pipe.pexpire(self._user_key(user.username), self._ttl_ms())
            await pipe.execute()
        return token, session

    async def _load(self, digest: str) -> Session | None:
        """The session of ``digest``, its idle timer restarted; None when gone."""
        key = self._session_key(digest)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hgetall(key)
            pipe.pexpire(key, self._ttl_ms())
            fields, _ = await pipe.execute()
        if not fields:
            return None
        now = self._clock()
        return Session(fields["username"], fields["role"], fields["agent_id"] or None,
                       fields["csrf_token"], fields["password_hash"], now,
                       float(fields.get("checked_at", "0") or 0))

    async def get(self, token: str) -> Session | None:
        return await self._load(token_digest(token))

    def due_for_check(self, session: Session) -> bool:
        return self._clock() - session.checked_at >= self.recheck_s

    async def revalidate(self, token: str, session: Session, users: UserDirectory) -> bool:
        if changed_since(await users.get(session.username), session):
            await self.close(token)
            return False
        session.checked_at = self._clock()
        # only if the session still exists (a log-out meanwhile must not bring it back)
        key = self._session_key(token_digest(token))
        if await self._redis.exists(key):
            await self._redis.hset(key, "checked_at", repr(session.checked_at))
        return True

    async def close(self, token: str) -> None:
        digest = token_digest(token)
        key = self._session_key(digest)
        username = await self._redis.hget(key, "username")
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.delete(key)
            if username:
                pipe.srem(self._user_key(str(username)), digest)
            await pipe.execute()

    async def close_user(self, username: str) -> int:
        digests = await self._redis.smembers(self._user_key(username))
        if not digests:
            return 0
        ended = await self._redis.delete(*(self._session_key(str(d)) for d in digests))
        await self._redis.delete(self._user_key(username))
        return int(ended)

    async def ticket(self, token: str) -> str:
        ticket = secrets.token_urlsafe(24)
        await self._redis.set(f"{self.prefix}:ticket:{token_digest(ticket)}", token_digest(token),
                              px=max(1, int(self.ticket_ttl_s * 1000)))
        return ticket

    async def redeem(self, ticket: str) -> Session | None:
        digest = await self._redis.getdel(f"{self.prefix}:ticket:{token_digest(ticket)}")
        if not digest:
            return None
        return await self._load(str(digest))

    async def aclose(self) -> None:
        await self._redis.aclose()


class RedisLoginThrottle:
    """Login failures counted in Redis, the same rules as
    :class:`~callcenter.accounts.throttle.LoginThrottle`."""

    def __init__(self, url: str, *, user_limit: int = 5, address_limit: int = 20,
                 window_s: float = 900.0, prefix: str = "callcenter",
                 clock: Callable[[], float] = time.time) -> None:
        self.user_limit = user_limit
        self.address_limit = address_limit
        self.window_s = window_s
        self.prefix = prefix
        self._clock = clock
        self._redis = aioredis.Redis.from_url(url, decode_responses=True)

    def _key(self, key: str) -> str:
        return f"{self.prefix}:login-failures:{key}"

    async def _wait(self, key: str, limit: int) -> float:
        now = self._clock()
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.zremrangebyscore(self._key(key), "-inf", now - self.window_s)
            pipe.zrange(self._key(key), -limit, -limit, withscores=True)
            pipe.zcard(self._key(key))
            _, nth, count = await pipe.execute()
        if count < limit or not nth:
            return 0.0
        return max(0.0, float(nth[0][1]) + self.window_s - now)

    async def retry_after(self, username: str, address: str) -> float:
        return max(await self._wait(f"user:{username}", self.user_limit),
                   await self._wait(f"ip:{address}", self.address_limit))

    async def failed(self, username: str, address: str) -> None:
        now = self._clock()
        async with self._redis.pipeline(transaction=True) as pipe:
            for key in (f"user:{username}", f"ip:{address}"):
                # a unique member per failure: two at the same instant both count
                pipe.zadd(self._key(key), {f"{now!r}:{uuid.uuid4().hex[:8]}": now})
                pipe.pexpire(self._key(key), max(1, int(self.window_s * 1000)))
            await pipe.execute()

    async def succeeded(self, username: str) -> None:
        await self._redis.delete(self._key(f"user:{username}"))

    async def aclose(self) -> None:
        await self._redis.aclose()
