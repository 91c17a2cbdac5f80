"""Dispositions over REST (``crm_bridge.dispositions``): what an agent files a call under.

``GET /api/dispositions`` (agents: the console's wrap-up list and the labels of past calls;
``?active=true`` for the offered ones only), ``GET /api/dispositions/{code}``; admins add
(``POST``, 201; 409 if the code exists) and change (``PATCH``: labels merged per language,
``position``, ``active``; ``{"active": false}`` disables). Codes are never deleted: calls filed
under one keep it. Every change is audited (``disposition.create`` / ``disposition.update``)
and published as ``dispositions.changed``, which every open console's stream carries, so the
wrap-up lists follow without a reload.

:func:`check_disposition` is what the wrap-up routes call: an unknown or disabled code is a
400 ``unknown_disposition`` naming the codes that are accepted, and nothing is written.
"""

from __future__ import annotations

import time

from aiohttp import web

from callcenter.events import DispositionsChanged
from callcenter.web.accounts_state import audit
from callcenter.web.body import read_json
from callcenter.web.errors import ApiError
from callcenter.web.routes.customers import crm_route, sessions
from callcenter.web.state import BUS
from crm_bridge.dispositions import (
    Disposition,
    DispositionError,
    Dispositions,
    DuplicateDisposition,
    UnknownDisposition,
    from_document,
)


def setup(app: web.Application) -> None:
    router = app.router
    router.add_get("/api/dispositions", crm_route(list_all), name="dispositions")
    router.add_post("/api/dispositions", crm_route(create), name="dispositions")
    router.add_get("/api/dispositions/{code}", crm_route(get_one), name="disposition")
    router.add_patch("/api/dispositions/{code}", crm_route(update), name="disposition")


def _store(request: web.Request) -> Dispositions:
    return Dispositions(sessions(request))


def _announce(request: web.Request, item: Disposition) -> None:
    bus = request.app.get(BUS)
    if bus is not None:
        bus.publish(DispositionsChanged(at=time.time(), code=item.code, active=item.active))


async def check_disposition(request: web.Request, code: str | None) -> None:
    """400 ``unknown_disposition`` unless ``code`` is None (clearing) or an active code."""
    if code is None:
        return
    try:
        await _store(request).check_code(code)
    except UnknownDisposition as exc:
        raise ApiError(400, "unknown_disposition", str(exc)) from None


async def list_all(request: web.Request) -> web.Response:
    active = request.query.get("active", "").lower() in ("1", "true", "yes")
    items = await _store(request).list(active_only=active)
    return web.json_response({"dispositions": [item.as_dict() for item in items]})


async def get_one(request: web.Request) -> web.Response:
    try:
        item = await _store(request).get(request.match_info["code"])
    except UnknownDisposition as exc:
        raise ApiError(404, "disposition_not_found", str(exc)) from None
    return web.json_response(item.as_dict())


async def create(request: web.Request) -> web.Response:
    _, data = await read_json(request)
    try:
        item: Disposition = await _store(request).create(from_document(data))
    except DispositionError as exc:
        raise ApiError(400, "invalid_disposition", str(exc)) from None
    except DuplicateDisposition as exc:
        raise ApiError(409, "conflict", str(exc)) from None
    await audit(request, "disposition.create", f"disposition:{item.code}", item.as_dict())
    _announce(request, item)
    return web.json_response(item.as_dict(), status=201)


async def update(request: web.Request) -> web.Response:
    code = request.match_info["code"]
    _, data = await read_json(request)
    if not isinstance(data, dict) or not data:
        raise ApiError(400, "invalid_disposition",
                       "the body is an object with labels, position and/or active")
    try:
        item = await _store(request).update(code, data)
    except DispositionError as exc:
        raise ApiError(400, "invalid_disposition", str(exc)) from None
    except UnknownDisposition as exc:
        raise ApiError(404, "disposition_not_found", str(exc)) from None
    await audit(request, "disposition.update", f"disposition:{code}", data)
    _announce(request, item)
    return web.json_response(item.as_dict())
