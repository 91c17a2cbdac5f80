"""Reading a JSON request body without letting hostile bytes reach a 500.

aiohttp's ``request.text()`` / ``request.json()`` trust the client: an unknown ``charset``
raises ``LookupError``, bytes that are not in the declared charset ``UnicodeDecodeError``, and
a document nested tens of thousands of levels deep ``RecursionError`` — all of them 500s, and
all of them the client's fault. :func:`read_json` turns each into a 400 in the usual JSON error
shape. Every route that takes a JSON body reads it through here.

JSON text exchanged between systems is UTF-8 (RFC 8259 §8.1), so that is the only charset
accepted; anything else declared is ``unsupported_charset`` rather than a guess.
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from callcenter.web.errors import ApiError

JSON_MEDIA_TYPE = "application/json"
_SHOWN_CHARS = 60  # how much of a client-chosen header value an error message repeats


def check_json_content_type(request: web.Request) -> None:
    """``Content-Type`` must be ``application/json``, optionally ``; charset=utf-8``.

    Another media type is 415 ``unsupported_media_type``; JSON in another charset is 400
    ``unsupported_charset``. The media type is also what keeps other web sites out: a page can
    send ``text/plain`` or a form cross-site without asking, but ``application/json`` makes the
    browser ask first (a CORS preflight, which this server never grants).
    """
    if request.content_type != JSON_MEDIA_TYPE:
        raw = request.headers.get("Content-Type")
        got = f"got {raw[:_SHOWN_CHARS]!r}" if raw else "none was given"
        raise ApiError(415, "unsupported_media_type",
                       f"the request body must be sent as Content-Type: {JSON_MEDIA_TYPE} "
                       f"({got})")
    charset = request.charset
    if charset is not None and charset.lower() != "utf-8":
        raise ApiError(400, "unsupported_charset",
                       f"charset {charset[:_SHOWN_CHARS]!r} is not supported: "
                       "JSON bodies must be UTF-8")


async def read_json(request: web.Request) -> tuple[str, Any]:
    """The body as text and as the parsed JSON value, or a 400/415 ``ApiError``.

    Oversized bodies were refused before this (413 from the error middleware or aiohttp).
    """
    check_json_content_type(request)
    raw = await request.read()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ApiError(400, "invalid_json",
                       f"request body is not valid UTF-8 (byte {exc.start})") from None
    try:
        return text, json.loads(text)
    except RecursionError:
        raise ApiError(400, "invalid_json", "request body is nested too deeply") from None
    except ValueError as exc:
        raise ApiError(400, "invalid_json", f"request body is not valid JSON: {exc}") from None
