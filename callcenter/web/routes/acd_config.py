"""The ACD's definitions over REST: queues, agents (skills with levels), pause reasons.

``/api/config/queues``, ``/api/config/agents``, ``/api/config/pause-reasons``: list (GET),
create (POST, 201; 409 if the name exists), and per name get (GET), replace whole (PUT) and
delete (DELETE, 204). ``GET /api/config`` is the whole configuration in the seed file's shape.
Definitions are not the live agent state (``/api/agents``): that is the agent's shift, this is
who the agent is.

Bodies are the fields of :mod:`callcenter.acd.definitions` by name
(:mod:`callcenter.acd_documents`); an invalid one is 400 ``invalid_definition`` naming the
field. Unknown names are 404, a queue still another's overflow target or with callers in line
409. A change is stored (``crm_bridge.acd_config``, checked as a whole), then the running
center runs it (:meth:`callcenter.contact_center.ContactCenter.apply`, which publishes
``config.changed``). Changes are serialised per process so the center runs them in the order
they were stored.

While nothing is stored the server runs its settings' definitions; the first change stores
those first, so it adds to what runs instead of replacing it (the database takes precedence
from then on, also at the next start).
"""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web

from callcenter.acd.definitions import (
    AcdDefinitions,
    AgentDefinition,
    DefinitionError,
    PauseReason,
    QueueDefinition,
)
from callcenter.acd_documents import (
    KEY_FIELD,
    Definition,
    definitions_document,
    from_document,
    to_document,
)
from callcenter.web.accounts_state import audit
from callcenter.web.body import read_json
from callcenter.web.errors import ApiError
from callcenter.web.routes.customers import crm_route, sessions
from callcenter.web.state import ACD_RUNTIME, SETTINGS
from crm_bridge import acd_config

#: one writer at a time per process: stored order = applied order
WRITE_LOCK = web.AppKey("acd_config_lock", asyncio.Lock)

#: URL segment -> (kind, the section's JSON key, the path parameter)
KINDS: dict[str, tuple[type[Definition], str]] = {
    "queues": (QueueDefinition, "queues"),
    "agents": (AgentDefinition, "agents"),
    "pause-reasons": (PauseReason, "pause_reasons"),
}
_LABEL = {QueueDefinition: "queue", AgentDefinition: "agent", PauseReason: "pause_reason"}


def setup(app: web.Application) -> None:
    app[WRITE_LOCK] = asyncio.Lock()
    router = app.router
    router.add_get("/api/config", whole, name="acd_config")
    for segment, (kind, _section) in KINDS.items():
        base = f"/api/config/{segment}"
        name = f"config_{_LABEL[kind]}"
        router.add_get(base, _list(kind), name=f"{name}s")
        router.add_post(base, _create(kind), name=f"{name}s")
        item = base + "/{key}"
        router.add_get(item, _get(kind), name=name)
        router.add_put(item, _replace(kind), name=name)
        router.add_delete(item, _delete(kind), name=name)


async def _running(request: web.Request) -> AcdDefinitions:
    """What is stored, else what the server runs (its settings' definitions)."""
    stored = await acd_config.load_definitions(sessions(request))
    if stored is not None:
        return stored
    runtime = request.app.get(ACD_RUNTIME)
    if runtime is not None:
        return runtime.definitions
    return request.app[SETTINGS].acd.definitions()


def _section(definitions: AcdDefinitions, kind: type[Definition]) -> tuple[Definition, ...]:
    return tuple(getattr(definitions, KINDS_BY_TYPE[kind]))


KINDS_BY_TYPE = {kind: section for kind, section in KINDS.values()}


def _not_found(kind: type[Definition], key: str) -> ApiError:
    return ApiError(404, f"{_LABEL[kind]}_not_found", f"no {_LABEL[kind].replace('_', ' ')} "
                                                      f"{key[:64]!r}")


async def _body(request: web.Request, kind: type[Definition], key: str | None) -> Definition:
    """The definition in the body; on a PUT the path names it (a body naming another: 400)."""
    _, data = await read_json(request)
    if key is not None and isinstance(data, dict):
        field = KEY_FIELD[kind]
        if field not in data:
            data = {field: key, **data}
        elif data[field] != key:
            raise ApiError(400, "invalid_definition",
                           f"{field} {str(data[field])[:64]!r} in the body is not the path's "
                           f"{key[:64]!r}")
    try:
        return from_document(kind, data)
    except DefinitionError as exc:
        raise ApiError(400, "invalid_definition", str(exc)) from None


async def _store_and_apply(request: web.Request, write: Any, action: str,
                           target: str) -> acd_config.Change:
    """Run ``write`` (a store call) and the change on the running center, in order; audit it
    (``action`` on ``target``)."""
    runtime = request.app.get(ACD_RUNTIME)
    async with request.app[WRITE_LOCK]:
        db = sessions(request)
        await acd_config.adopt(db, runtime.definitions if runtime is not None
                               else request.app[SETTINGS].acd.definitions())
        try:
            change: acd_config.Change = await write(db)
        except DefinitionError as exc:
            raise ApiError(400, "invalid_definition", str(exc)) from None
        except acd_config.UnknownDefinition as exc:
            raise ApiError(404, "not_found", str(exc)) from None
        except (acd_config.DuplicateDefinition, acd_config.DefinitionInUse) as exc:
            raise ApiError(409, "conflict", str(exc)) from None
        if runtime is not None:
            await runtime.apply(change.definitions)
    await audit(request, action, target)
    return change


def _target(kind: type[Definition], item: Definition) -> str:
    return f"{_LABEL[kind]}:{getattr(item, KEY_FIELD[kind])}"


def _list(kind: type[Definition]) -> Any:
    @crm_route
    async def handle(request: web.Request) -> web.Response:
        items = _section(await _running(request), kind)
        return web.json_response({KINDS_BY_TYPE[kind]: [to_document(i) for i in items]})
    return handle


def _get(kind: type[Definition]) -> Any:
    @crm_route
    async def handle(request: web.Request) -> web.Response:
        key = request.match_info["key"]
        try:
            item = acd_config.find(await _running(request), kind, key)
        except acd_config.UnknownDefinition:
            raise _not_found(kind, key) from None
        return web.json_response(to_document(item))
    return handle


def _create(kind: type[Definition]) -> Any:
    @crm_route
    async def handle(request: web.Request) -> web.Response:
        item = await _body(request, kind, None)
        await _store_and_apply(request, lambda db: acd_config.create(db, item),
                               "config.create", _target(kind, item))
        return web.json_response(to_document(item), status=201)
    return handle


def _replace(kind: type[Definition]) -> Any:
    @crm_route
    async def handle(request: web.Request) -> web.Response:
        key = request.match_info["key"]
        item = await _body(request, kind, key)
        await _store_and_apply(request, lambda db: acd_config.put(db, item),
                               "config.replace", _target(kind, item))
        return web.json_response(to_document(item))
    return handle


def _delete(kind: type[Definition]) -> Any:
    @crm_route
    async def handle(request: web.Request) -> web.Response:
        key = request.match_info["key"]
        runtime = request.app.get(ACD_RUNTIME)
        if kind is QueueDefinition and runtime is not None and runtime.waiting(key):
            raise ApiError(409, "conflict", f"queue {key[:64]!r} has "
                                            f"{runtime.waiting(key)} caller(s) in line")
        await _store_and_apply(request, lambda db: acd_config.remove(db, kind, key),
                               "config.delete", f"{_LABEL[kind]}:{key}")
        return web.Response(status=204)
    return handle


@crm_route
async def whole(request: web.Request) -> web.Response:
    """Everything, in the shape of the YAML seed file (``callcenter acd seed``)."""
    return web.json_response(definitions_document(await _running(request)))
