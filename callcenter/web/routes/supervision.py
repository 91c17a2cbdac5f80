"""``POST /api/agents/{agent_id}/spy``: ring the supervisor's phone into an agent's call.

Body ``{"mode": "listen"|"whisper"|"barge", "endpoint": "PJSIP/9001"}``. The rules are
:class:`~callcenter.supervision.Supervision`'s; this module maps its refusals (unknown agent
404, not on a call 409, bad phone 400) and the PBX's errors (link down 503, outcome unknown
502) to the API's error shape. Only a supervisor (or an admin) may spy
(:mod:`callcenter.web.access`); every spy is audited.
"""

from __future__ import annotations

from typing import Literal

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from callcenter.core.errors import OutcomeUnknown, PbxError, PbxUnavailable
from callcenter.core.pbx import SpyMode
from callcenter.supervision import BadSupervisorPhone, NotOnCall, Supervision, UnknownAgent
from callcenter.web.accounts_state import audit
from callcenter.web.auth import require_role
from callcenter.web.errors import ApiError
from callcenter.web.routes.customers import read_body
from callcenter.web.state import SUPERVISION


class SpyRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    mode: Literal["listen", "whisper", "barge"]
    endpoint: str = Field(min_length=3, max_length=80)


def _supervision(request: web.Request) -> Supervision:
    supervision = request.app.get(SUPERVISION)
    if supervision is None:
        raise ApiError(503, "acd_unavailable", "this server runs no agent state machine")
    return supervision


async def spy(request: web.Request) -> web.Response:
    supervision = _supervision(request)
    agent_id = request.match_info["agent_id"]
    body, _ = await read_body(request, SpyRequest)
    who = require_role(request, "supervisor")
    try:
        started = await supervision.spy(agent_id, body.endpoint, SpyMode(body.mode),
                                        supervisor=who.id)
    except UnknownAgent as exc:
        raise ApiError(404, "agent_not_found", str(exc)) from None
    except NotOnCall as exc:
        raise ApiError(409, "agent_not_on_call", str(exc)) from None
    except BadSupervisorPhone as exc:
        raise ApiError(400, "bad_request", str(exc)) from None
    except PbxUnavailable as exc:
        raise ApiError(503, "pbx_unavailable", f"the PBX link is down: {exc}") from None
    except OutcomeUnknown as exc:
        raise ApiError(502, "pbx_outcome_unknown",
                       f"the PBX may or may not ring the phone: {exc}") from None
    except PbxError as exc:
        raise ApiError(502, "pbx_error", str(exc)) from None
    await audit(request, f"spy.{body.mode}", agent_id, {"endpoint": body.endpoint})
    return web.json_response(started.to_dict(), status=201)
