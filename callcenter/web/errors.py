"""Every error the API returns is JSON: ``{"error": {"code": "...", "message": "..."}}``.

Clients (agent console, wallboard, scripts) then need one error path, never an HTML page.
``code`` is a stable snake_case word to branch on; ``message`` is for humans. Unexpected
exceptions are logged with their traceback but answered with a generic message, so internals
(SQL, file paths, secrets) never leak to the caller.

Oversized requests are refused here too, before any route: a declared body over the limit
(413) and a URL over :data:`MAX_URL_BYTES` (414). aiohttp's HTTP parser refuses a long URL on
its own, with a plain-text 400 that no middleware sees; :data:`HTTP_PARSER_ARGS` (passed as
``web.Application(handler_args=...)``, which aiohttp hands to every connection's
``RequestHandler``) moves the parser's limit up to :data:`PARSER_MAX_URL_BYTES`, so that such
URLs reach :func:`error_middleware` and get the JSON answer. Only a request line beyond even
that is still cut off by the parser's plain 400: it cannot be parsed into a request at all.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

from aiohttp import hdrs, web
from aiohttp.typedefs import Handler, Middleware

log = logging.getLogger(__name__)

_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    414: "uri_too_long",
    415: "unsupported_media_type",
    429: "too_many_requests",
    500: "internal_error",
    503: "unavailable",
}
_KEPT_HEADERS = (hdrs.ALLOW, hdrs.WWW_AUTHENTICATE, hdrs.RETRY_AFTER)

MAX_URL_BYTES = 8192
"""Longest request target (path and query) answered normally; longer is 414 ``uri_too_long``."""

PARSER_MAX_URL_BYTES = 1024 * 1024
"""How long a URL aiohttp's parser accepts before giving up with plain text: 1 MiB, about the
headers it already buffers per connection (128 lines of 8 KiB), so no new memory exposure."""

HTTP_PARSER_ARGS: Mapping[str, int] = {"max_line_size": PARSER_MAX_URL_BYTES}
"""``handler_args`` for ``web.Application``: aiohttp's ``RequestHandler`` keyword arguments."""


class ApiError(Exception):
    """Raise from a handler to answer ``status`` with a chosen ``code`` and ``message``
    (and, for validation failures, ``details``: one entry per problem)."""

    def __init__(
        self, status: int, code: str, message: str, *, headers: Mapping[str, str] | None = None,
        details: list[Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = dict(headers or {})
        self.details = details


def error_response(
    status: int, code: str, message: str, headers: Mapping[str, str] | None = None,
    details: list[Any] | None = None,
) -> web.Response:
    error: dict[str, Any] = {"code": code, "message": message}
    if details is not None:
        error["details"] = details
    return web.json_response({"error": error}, status=status, headers=headers)


def code_for(status: int) -> str:
    if status in _CODES:
        return _CODES[status]
    try:
        return HTTPStatus(status).phrase.lower().replace(" ", "_").replace("-", "_")
    except ValueError:
        return "error"


def _from_http_exception(exc: web.HTTPException) -> web.Response:
    default_text = f"{exc.status}: {exc.reason}"
    text = exc.text if exc.text and exc.text != default_text else exc.reason
    headers = {str(k): exc.headers[k] for k in _KEPT_HEADERS if k in exc.headers}
    return error_response(exc.status, code_for(exc.status), text or exc.reason, headers)


def error_middleware(max_body_bytes: int) -> Middleware:
    """Turn every failure into the JSON error shape; refuse oversized requests early.

    aiohttp itself raises 413 only when a handler reads a body beyond ``client_max_size``;
    checking ``Content-Length`` here answers 413 before any route (even a 404 or 405 one)
    and before the body is read at all. URLs over :data:`MAX_URL_BYTES` are 414.
    """

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            url_bytes = len(request.raw_path.encode("utf-8", "surrogateescape"))
            if url_bytes > MAX_URL_BYTES:
                raise ApiError(414, "uri_too_long",
                               f"the URL has {url_bytes} bytes; at most {MAX_URL_BYTES} are "
                               "accepted (send long input in a JSON body)")
            length = request.content_length
            if length is not None and length > max_body_bytes:
                raise ApiError(
                    413, "payload_too_large", f"request body exceeds {max_body_bytes} bytes"
                )
            return await handler(request)
        except ApiError as exc:
            return error_response(exc.status, exc.code, exc.message, exc.headers, exc.details)
        except web.HTTPException as exc:
            if exc.status < 400:
                raise  # redirects and other non-errors pass through untouched
            return _from_http_exception(exc)
        except json.JSONDecodeError as exc:
            return error_response(400, "invalid_json", f"request body is not valid JSON: {exc}")
        except Exception:
            log.exception("unhandled error in %s %s", request.method, request.path)
            return error_response(500, "internal_error", "internal server error")

    return middleware
