"""Keep other web sites from acting through a visitor's browser (cross-site request forgery).

A browser lets any page send a ``POST`` with a ``text/plain`` or form body to any server, with
the visitor's cookies and network position (an agent's PC inside the call center), and opens
WebSockets to any server without asking. Two rules close that door, in
:func:`csrf_middleware`:

1. **Origin.** Every state-changing request (any method but GET, HEAD, OPTIONS) and every
   WebSocket upgrade that carries an ``Origin`` header must come from an allowed origin: the
   server's own (``http://`` or ``https://`` plus the request's ``Host`` header: behind a TLS
   proxy the browser says https while we see http) or one listed in
   ``CALLCENTER_HTTP__ALLOWED_ORIGINS``. Anything else, including ``Origin: null``, is 403
   ``forbidden_origin``. Without ``Origin`` (curl, scripts, other servers: no browser involved)
   the request passes; browsers always send it on these requests.
2. **JSON only.** A write request with a body must declare ``application/json`` (see
   :func:`~callcenter.web.body.check_json_content_type`), which a foreign page cannot send
   without a CORS preflight; the server answers no preflight. This holds even for callers
   without ``Origin``, so a route never parses a form or plain text as JSON.

Limit: the same-origin rule trusts ``Host``, which a DNS-rebinding page controls; when the
server listens beyond loopback, put it behind a proxy that checks ``Host``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from aiohttp import hdrs, web
from aiohttp.typedefs import Handler, Middleware
from yarl import URL

from callcenter.web.body import check_json_content_type
from callcenter.web.errors import ApiError

SAFE_METHODS = frozenset({hdrs.METH_GET, hdrs.METH_HEAD, hdrs.METH_OPTIONS})
"""Methods that change nothing here, so any site may send them (it cannot read the answer)."""

ORIGIN_PATTERN = r"^https?://[^/?#@\s]+$"
"""What an allowed origin looks like in the configuration: scheme, host, optional port."""
_ORIGIN_RE = re.compile(ORIGIN_PATTERN, re.IGNORECASE)

Origin = tuple[str, str, int]
"""(scheme, host, port) with the default port filled in, so ``:443`` and no port compare equal."""


def parse_origin(value: str) -> Origin | None:
    """``value`` as an origin, or None when it is not ``http(s)://host[:port]``."""
    if not _ORIGIN_RE.match(value):
        return None
    try:
        url = URL(value)
        port = url.port
    except ValueError:
        return None
    if not url.raw_host or port is None:
        return None
    return url.scheme.lower(), url.raw_host.lower(), port


def allowed_origins(configured: Iterable[str]) -> frozenset[Origin]:
    """The configured origins, parsed; a malformed entry stops the server from starting."""
    parsed = set()
    for entry in configured:
        origin = parse_origin(entry)
        if origin is None:
            raise ValueError(f"allowed origin {entry!r} is not http(s)://host[:port]")
        parsed.add(origin)
    return frozenset(parsed)


def own_origins(request: web.Request) -> set[Origin]:
    """The origins a page served by this server has: either scheme, the ``Host`` it asked."""
    host = request.headers.get(hdrs.HOST, "")
    found = (parse_origin(f"{scheme}://{host}") for scheme in ("http", "https"))
    return {origin for origin in found if origin is not None}


def is_websocket_upgrade(request: web.Request) -> bool:
    """Broader than aiohttp's own test on purpose: anything that might become a WebSocket."""
    return "websocket" in request.headers.get(hdrs.UPGRADE, "").lower()


def check_origin(request: web.Request, allowed: frozenset[Origin]) -> None:
    """403 ``forbidden_origin`` unless every ``Origin`` header names an allowed origin."""
    for value in request.headers.getall(hdrs.ORIGIN, ()):
        origin = parse_origin(value.strip())
        if origin is None or (origin not in allowed and origin not in own_origins(request)):
            raise ApiError(403, "forbidden_origin",
                           f"requests from origin {value[:100]!r} are not allowed; "
                           "add it to CALLCENTER_HTTP__ALLOWED_ORIGINS if it is yours")


def csrf_middleware(configured_origins: Iterable[str]) -> Middleware:
    """Apply both rules of this module; place it before authentication (cheaper, no secrets)."""
    allowed = allowed_origins(configured_origins)

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        writes = request.method not in SAFE_METHODS
        if writes or is_websocket_upgrade(request):
            check_origin(request, allowed)
        # Unrouted requests keep their 404/405: no handler will read their body.
        routed = request.match_info.http_exception is None
        if writes and routed and request.body_exists:
            check_json_content_type(request)
        return await handler(request)

    return middleware
