"""Who is calling: the :class:`Principal` on every request and the session authenticator.

:class:`SessionAuthenticator` (what ``create_app`` uses unless given another
:class:`Authenticator`) accepts, in this order:

1. ``Authorization: Bearer <session token>``: scripts, bots and tests. Not sent by a browser
   on its own, so no CSRF token is needed.
2. On a WebSocket upgrade, ``?ticket=<ticket>`` and nothing else (not the cookie):
   single-use and dead after seconds (``POST /api/auth/ws-ticket``); browsers cannot set
   headers on a WebSocket.
3. The ``cc_session`` cookie (HttpOnly, SameSite=Strict): pages. A browser attaches it by
   itself, so every write must also carry the session's CSRF token in ``X-CSRF-Token``
   (403 ``csrf_token_missing``), besides :mod:`callcenter.web.csrf`'s Origin rule.

Anything else is 401. Who may call which route is not decided here but in
:mod:`callcenter.web.access` (one table, deny by default).
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass, field
from typing import Protocol

from aiohttp import hdrs, web

from callcenter.accounts.sessions import Session, Sessions
from callcenter.accounts.users import UserDirectory, role_rank
from callcenter.web.errors import ApiError

SESSION_COOKIE = "cc_session"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({hdrs.METH_GET, hdrs.METH_HEAD, hdrs.METH_OPTIONS})


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated caller: a stable id, its roles and, for an agent, its agent id."""

    id: str
    roles: frozenset[str] = field(default_factory=frozenset)
    agent_id: str | None = None

    def has_role(self, role: str) -> bool:
        """Roles are ranked (agent < supervisor < admin): a higher one includes the lower."""
        needed = role_rank(role)
        return needed >= 0 and any(role_rank(held) >= needed for held in self.roles)

    def is_agent(self, agent_id: str) -> bool:
        return self.agent_id is not None and self.agent_id == agent_id


ANONYMOUS = Principal("anonymous")
"""The principal of public routes (no roles)."""


class AuthenticationError(Exception):
    """No valid credential; the middleware answers 401."""


class Authenticator(Protocol):
    async def authenticate(self, request: web.Request) -> Principal:
        """Return who sent ``request`` or raise :class:`AuthenticationError`."""
        ...


PRINCIPAL = web.RequestKey("principal", Principal)


def request_token(request: web.Request) -> str | None:
    """The bearer token of ``request`` (``Authorization: Bearer``), if any."""
    header = request.headers.get(hdrs.AUTHORIZATION, "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return None


def session_principal(session: Session) -> Principal:
    return Principal(f"user:{session.username}", frozenset({session.role}), session.agent_id)


class SessionAuthenticator:
    """Sessions of a :class:`~callcenter.accounts.sessions.Sessions` store over the users of a
    directory."""

    def __init__(self, sessions: Sessions, users: UserDirectory) -> None:
        self.sessions = sessions
        self.users = users

    async def _live(self, token: str) -> Session | None:
        session = await self.sessions.get(token)
        if session is not None and self.sessions.due_for_check(session):
            if not await self.sessions.revalidate(token, session, self.users):
                return None
        return session

    async def authenticate(self, request: web.Request) -> Principal:
        bearer = request_token(request)
        if bearer is not None:
            session = await self._live(bearer)
            if session is None:
                raise AuthenticationError("the session token is unknown or expired")
            return session_principal(session)
        if "websocket" in request.headers.get(hdrs.UPGRADE, "").lower():
            # a browser's stream: by ticket only, never by the ambient cookie
            ticket = request.query.get("ticket")
            redeemed = await self.sessions.redeem(ticket) if ticket else None
            if redeemed is None:
                raise AuthenticationError("a WebSocket needs a fresh ticket "
                                          "(POST /api/auth/ws-ticket) or a bearer token")
            return session_principal(redeemed)
        cookie = request.cookies.get(SESSION_COOKIE)
        if not cookie:
            raise AuthenticationError("sign in first (POST /api/auth/login)")
        session = await self._live(cookie)
        if session is None:
            raise AuthenticationError("the session has ended; sign in again")
        if request.method not in SAFE_METHODS:
            sent = request.headers.get(CSRF_HEADER, "")
            if not hmac.compare_digest(sent.encode(), session.csrf_token.encode()):
                raise ApiError(403, "csrf_token_missing",
                               f"a write from a page needs the session's {CSRF_HEADER} header")
        return session_principal(session)


def principal(request: web.Request) -> Principal:
    """The principal the access middleware put on ``request``."""
    try:
        return request[PRINCIPAL]
    except KeyError:  # a request that did not pass the middleware (e.g. in a unit test)
        return ANONYMOUS


def require_role(request: web.Request, role: str) -> Principal:
    """The request's principal if it holds ``role``; otherwise a 403 JSON error."""
    who = principal(request)
    if not who.has_role(role):
        raise ApiError(403, "forbidden", f"role {role!r} required")
    return who
