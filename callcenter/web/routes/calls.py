"""``GET /api/calls`` and ``GET /api/calls/{call_id}``: the live call model, read-only;
``POST /api/calls/{call_id}/transfer`` ``{"queue": "billing"}``: a waiting caller moves to
another queue, keeping its priority and arrival time (its place in the new line)."""

from __future__ import annotations

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from callcenter.acd.definitions import NAME_PATTERN
from callcenter.web.errors import ApiError
from callcenter.web.routes.customers import read_body
from callcenter.web.state import ACD_RUNTIME, CALLS, PBX_STATUS


class TransferRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    queue: str = Field(pattern=NAME_PATTERN.pattern)


async def list_calls(request: web.Request) -> web.Response:
    """The whole snapshot (calls, channels, bridges), consistent at one instant.

    ``synced`` is false until the call model was reconciled with the PBX since its link came
    up (and while the link is down): an empty list then means "not known yet", not "no calls".
    """
    snapshot = request.app[CALLS].snapshot()
    return web.json_response({"synced": request.app[PBX_STATUS]().connected, **snapshot})


async def get_call(request: web.Request) -> web.Response:
    call_id = request.match_info["call_id"]
    call = request.app[CALLS].get_call(call_id)
    if call is None:
        raise ApiError(404, "call_not_found", f"no call with id {call_id!r}")
    return web.json_response(call.to_dict())


async def transfer(request: web.Request) -> web.Response:
    runtime = request.app.get(ACD_RUNTIME)
    if runtime is None:
        raise ApiError(503, "acd_unavailable", "this server runs no ACD")
    call_id = request.match_info["call_id"]
    body, _ = await read_body(request, TransferRequest)
    try:
        moved = runtime.transfer(call_id, body.queue)
    except KeyError:
        raise ApiError(404, "queue_not_found", f"no queue {body.queue!r} is served") from None
    except LookupError as exc:
        raise ApiError(409, "not_waiting", str(exc)) from None
    except ValueError as exc:
        raise ApiError(409, "same_queue", str(exc)) from None
    return web.json_response(moved)
