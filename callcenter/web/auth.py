"""Who is calling: the :class:`Authenticator` seam, the principal on every request.

Until accounts exist (agent console issue) :class:`AllowAll` lets everyone in as
``Principal("anonymous", {"admin"})``. The shape is fixed now so routes need no change later.

How the next issue plugs real authentication in:

1. Write a class with ``async def authenticate(self, request) -> Principal``. Read the
   credential with :func:`request_token` (``Authorization: Bearer <token>`` on any request;
   ``?token=<token>`` as well on WebSocket upgrades, since browsers cannot set headers on a
   WebSocket). Verify it (session table, signed token …); raise :class:`AuthenticationError`
   when it is missing or invalid (→ 401 JSON error with ``WWW-Authenticate: Bearer``).
2. Pass it to :func:`callcenter.web.app.create_app` as ``authenticator=``.
3. In handlers, read :func:`principal` and call :func:`require_role` (→ 403) where a route
   needs a role (``supervisor`` for listen/barge, ``agent`` for CTI controls).

Handlers decorated with :func:`public` (health, metrics, API description) skip the
authenticator: probes and scrapers carry no user credential. Unknown routes are not public,
so with real auth an anonymous caller gets 401 rather than a map of what exists.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, TypeVar

from aiohttp import hdrs, web
from aiohttp.typedefs import Handler, Middleware

from callcenter.web.errors import ApiError

H = TypeVar("H", bound=Handler)


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated caller: a stable id and the roles it holds."""

    id: str
    roles: frozenset[str] = field(default_factory=frozenset)

    def has_role(self, role: str) -> bool:
        return role in self.roles or "admin" in self.roles


ANONYMOUS = Principal("anonymous")
"""The principal of public routes (no roles)."""


class AuthenticationError(Exception):
    """No valid credential; the middleware answers 401."""


class Authenticator(Protocol):
    async def authenticate(self, request: web.Request) -> Principal:
        """Return who sent ``request`` or raise :class:`AuthenticationError`."""
        ...


class AllowAll:
    """The placeholder until accounts exist: everyone is an anonymous admin."""

    principal = Principal("anonymous", frozenset({"admin"}))

    async def authenticate(self, request: web.Request) -> Principal:
        return self.principal


PRINCIPAL = web.RequestKey("principal", Principal)


def request_token(request: web.Request) -> str | None:
    """The bearer token of ``request``: header first, ``?token=`` only on WebSocket upgrades.

    The query form is refused on plain HTTP because URLs end up in access logs and histories.
    """
    header = request.headers.get(hdrs.AUTHORIZATION, "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    is_upgrade = request.headers.get(hdrs.UPGRADE, "").lower() == "websocket"
    if is_upgrade and request.query.get("token"):
        return request.query["token"]
    return None


def public(handler: H) -> H:
    """Mark a handler as needing no authentication."""
    handler.__callcenter_public__ = True  # type: ignore[attr-defined]
    return handler


def principal(request: web.Request) -> Principal:
    """The principal the auth middleware put on ``request``."""
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


def auth_middleware(authenticator: Authenticator) -> Middleware:
    """Put the caller's :class:`Principal` on every request (``request[PRINCIPAL]``)."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if getattr(request.match_info.handler, "__callcenter_public__", False):
            request[PRINCIPAL] = ANONYMOUS
        else:
            try:
                request[PRINCIPAL] = await authenticator.authenticate(request)
            except AuthenticationError as exc:
                raise ApiError(
                    401, "unauthorized", str(exc) or "authentication required",
                    headers={hdrs.WWW_AUTHENTICATE: "Bearer"},
                ) from None
        return await handler(request)

    return middleware
