"""Agents' states over REST: the list, and what an agent (or a supervisor) does to one.

``GET /api/agents`` — every agent with state, pause reason, wrap-up end, pending pause.
``PUT /api/agents/{agent_id}/state`` — ``{"state": "ready"}``, ``{"state": "paused",
"reason": "lunch"}`` or ``{"state": "offline"}`` (log-in is "ready" from offline). While the
agent is busy, a pause or log-out takes effect when the work ends (the answer says so).
``POST /api/agents/{agent_id}/wrap-up`` — ``{"extend_s": 60}`` more time, or ``{"done": true}``.

The rules are :class:`~callcenter.acd.controls.AgentControls`'; this module only maps its errors:
unknown agent 404, not in this state 409, bad arguments 400. An agent acts on itself only, a
supervisor on anyone (``OWN_AGENT`` in :mod:`callcenter.web.access`); a supervisor's change of
another agent's state (a forced pause or log-out) is audited.
"""

from __future__ import annotations

from typing import Literal

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from callcenter.acd.controls import AgentControls, BadRequest, NotNow, UnknownAgent
from callcenter.web.accounts_state import audit
from callcenter.web.auth import principal
from callcenter.web.errors import ApiError
from callcenter.web.routes.customers import read_body
from callcenter.web.state import AGENT_CONTROLS


class StateChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    state: Literal["ready", "paused", "offline"]
    reason: str | None = Field(None, min_length=1, max_length=64)


class WrapUpChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    extend_s: float | None = Field(None, gt=0)
    done: bool = False


def _controls(request: web.Request) -> AgentControls:
    controls = request.app.get(AGENT_CONTROLS)
    if controls is None:
        raise ApiError(503, "acd_unavailable", "this server runs no agent state machine")
    return controls


async def list_agents(request: web.Request) -> web.Response:
    controls = _controls(request)
    return web.json_response({"agents": [controls.describe(agent)
                                         for agent in controls.board]})


async def set_state(request: web.Request) -> web.Response:
    controls = _controls(request)
    agent_id = request.match_info["agent_id"]
    body, _ = await read_body(request, StateChange)
    try:
        if body.state == "ready":
            agent = controls.ready(agent_id)
        elif body.state == "paused":
            if body.reason is None:
                raise BadRequest("a pause needs a reason")
            agent = controls.pause(agent_id, body.reason)
        else:
            agent = controls.log_out(agent_id)
    except UnknownAgent as exc:
        raise ApiError(404, "agent_not_found", str(exc)) from None
    except NotNow as exc:
        raise ApiError(409, "agent_busy", str(exc)) from None
    except BadRequest as exc:
        raise ApiError(400, "bad_request", str(exc)) from None
    if not principal(request).is_agent(agent_id):
        await audit(request, "agent.force_state", agent_id,
                    {"state": body.state, "reason": body.reason})
    return web.json_response(controls.describe(agent))


async def wrap_up(request: web.Request) -> web.Response:
    controls = _controls(request)
    agent_id = request.match_info["agent_id"]
    body, _ = await read_body(request, WrapUpChange)
    if (body.extend_s is None) == (not body.done):
        raise ApiError(400, "bad_request", 'give either "extend_s" or "done": true')
    try:
        if body.done:
            agent = controls.ready(agent_id)
        else:
            assert body.extend_s is not None
            controls.extend_wrap_up(agent_id, body.extend_s)
            agent = controls.agent(agent_id)
    except UnknownAgent as exc:
        raise ApiError(404, "agent_not_found", str(exc)) from None
    except NotNow as exc:
        raise ApiError(409, "agent_busy", str(exc)) from None
    except BadRequest as exc:
        raise ApiError(400, "bad_request", str(exc)) from None
    return web.json_response(controls.describe(agent))
