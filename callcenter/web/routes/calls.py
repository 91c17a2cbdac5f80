"""``GET /api/calls`` and ``GET /api/calls/{call_id}``: the live call model, read-only."""

from __future__ import annotations

from aiohttp import web

from callcenter.web.errors import ApiError
from callcenter.web.state import CALLS, PBX_STATUS


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
