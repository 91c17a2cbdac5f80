"""Signed-in sessions and WebSocket tickets, kept in this process.

A session is a random 256-bit token (the ``cc_session`` cookie, or ``Authorization: Bearer``
for scripts) mapped to the user it belongs to and a CSRF token that pages must echo in
``X-CSRF-Token`` on every write. Only a SHA-256 of each token is kept, so a memory dump or a
debug listing does not hand out live sessions. Sessions end on log-out, after ``ttl_s`` of
inactivity, and when :meth:`SessionStore.revalidate` finds the user disabled, removed, demoted
or with a new password (checked every ``recheck_s``, so a change made by the CLI in another
process takes effect within that time).

A ticket is a short-lived (``ticket_ttl_s``), single-use token for one WebSocket upgrade:
browsers cannot set headers on a WebSocket, and a token in a URL ends up in logs, so the
URL carries something that is dead a few seconds later.

Two stores, one interface (:class:`Sessions`): :class:`SessionStore` keeps them in the server
process (one process, no Redis: a restart signs everyone out);
:class:`callcenter.redis_sessions.RedisSessionStore` keeps them in Redis, so every
server process sharing it knows every session, and a restart signs nobody out.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from callcenter.accounts.users import User, UserDirectory

Clock = Callable[[], float]


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(slots=True)
class Session:
    username: str
    role: str
    agent_id: str | None
    csrf_token: str
    password_hash: str
    last_seen: float
    checked_at: float


@dataclass(frozen=True, slots=True)
class Ticket:
    session_digest: str
    expires: float


class Sessions(Protocol):
    """Where sessions and WebSocket tickets live (see the module docstring)."""

    ttl_s: float
    ticket_ttl_s: float
    recheck_s: float

    async def open(self, user: User) -> tuple[str, Session]: ...

    async def get(self, token: str) -> Session | None: ...

    def due_for_check(self, session: Session) -> bool: ...

    async def revalidate(self, token: str, session: Session, users: UserDirectory) -> bool: ...

    async def close(self, token: str) -> None: ...

    async def close_user(self, username: str) -> int: ...

    async def ticket(self, token: str) -> str: ...

    async def redeem(self, ticket: str) -> Session | None: ...

    async def aclose(self) -> None: ...


def changed_since(user: User | None, session: Session) -> bool:
    """Whether ``user`` (as stored now) may no longer act in ``session``: gone, disabled,
    another role or agent, a new password."""
    return (user is None or user.disabled or user.role != session.role
            or user.agent_id != session.agent_id or user.password_hash != session.password_hash)


class SessionStore:
    """Sessions in this process (see the module docstring)."""

    def __init__(self, *, ttl_s: float = 12 * 3600.0, ticket_ttl_s: float = 30.0,
                 recheck_s: float = 10.0, clock: Clock = time.monotonic) -> None:
        self.ttl_s = ttl_s
        self.ticket_ttl_s = ticket_ttl_s
        self.recheck_s = recheck_s
        self._clock = clock
        self._sessions: dict[str, Session] = {}
        self._tickets: dict[str, Ticket] = {}

    def __len__(self) -> int:
        return len(self._sessions)

    async def open(self, user: User) -> tuple[str, Session]:
        """A new session for ``user``: its token (give it to the client once) and record."""
        self._expire()
        token = secrets.token_urlsafe(32)
        now = self._clock()
        session = Session(user.username, user.role, user.agent_id, secrets.token_urlsafe(24),
                          user.password_hash, now, now)
        self._sessions[token_digest(token)] = session
        return token, session

    async def get(self, token: str) -> Session | None:
        """The live session of ``token`` (its idle timer restarts), or None."""
        digest = token_digest(token)
        session = self._sessions.get(digest)
        now = self._clock()
        if session is None:
            return None
        if now - session.last_seen > self.ttl_s:
            del self._sessions[digest]
            return None
        session.last_seen = now
        return session

    def due_for_check(self, session: Session) -> bool:
        return self._clock() - session.checked_at >= self.recheck_s

    async def revalidate(self, token: str, session: Session, users: UserDirectory) -> bool:
        """Re-read the user; end the session (False) if it may no longer act as signed in."""
        if changed_since(await users.get(session.username), session):
            await self.close(token)
            return False
        session.checked_at = self._clock()
        return True

    async def close(self, token: str) -> None:
        digest = token_digest(token)
        self._sessions.pop(digest, None)
        self._tickets = {k: t for k, t in self._tickets.items() if t.session_digest != digest}

    async def close_user(self, username: str) -> int:
        """End every session of ``username`` (disabled, removed, new password): how many."""
        gone = [d for d, s in self._sessions.items() if s.username == username]
        for digest in gone:
            del self._sessions[digest]
        return len(gone)

    async def ticket(self, token: str) -> str:
        """A single-use WebSocket ticket for the session of ``token`` (which must be live)."""
        self._expire()
        ticket = secrets.token_urlsafe(24)
        self._tickets[token_digest(ticket)] = Ticket(token_digest(token),
                                                self._clock() + self.ticket_ttl_s)
        return ticket

    async def redeem(self, ticket: str) -> Session | None:
        """The session a ticket was made for, once; None when unknown, used or expired."""
        found = self._tickets.pop(token_digest(ticket), None)
        if found is None or self._clock() > found.expires:
            return None
        session = self._sessions.get(found.session_digest)
        if session is None or self._clock() - session.last_seen > self.ttl_s:
            return None
        session.last_seen = self._clock()
        return session

    async def aclose(self) -> None:
        self._sessions.clear()
        self._tickets.clear()

    def _expire(self) -> None:
        now = self._clock()
        self._sessions = {d: s for d, s in self._sessions.items()
                          if now - s.last_seen <= self.ttl_s}
        self._tickets = {d: t for d, t in self._tickets.items() if now <= t.expires}
