"""Agents' states over REST: the list, and what an agent (or a supervisor) does to one.

``GET /api/agents`` — every agent with state, pause reason, wrap-up end, pending pause.
``PUT /api/agents/{agent_id}/state`` — ``{"state": "ready"}``, ``{"state": "paused",
"reason": "lunch"}`` or ``{"state": "offline"}`` (log-in is "ready" from offline). While the
agent is busy, a pause or log-out takes effect when the work ends (the answer says so).
``POST /api/agents/{agent_id}/wrap-up`` — ``{"extend_s": 60}`` more time, or ``{"done": true}``;
with ``"call_id"`` it also writes ``"disposition"`` and ``"notes"`` into that call's CRM
interaction (the agent's own call only: 403 otherwise; a disposition that is not an active
code of ``/api/dispositions`` is 400 ``unknown_disposition`` and nothing is written). Sending
the same wrap-up again is harmless (the console resends a draft after a network blip): the
interaction gets the same values, and ``done`` on an agent whose wrap-up already ended (ready,
or on the next call) is not an error when the notes were saved.

The rules are :class:`~callcenter.acd.controls.AgentControls`'; this module only maps its errors:
unknown agent 404, not in this state 409, bad arguments 400. An agent acts on itself only, a
supervisor on anyone (``OWN_AGENT`` in :mod:`callcenter.web.access`); a supervisor's change of
another agent's state (a forced pause or log-out) is audited.
"""

from __future__ import annotations

from typing import Annotated, Literal

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select

from callcenter.acd.agents import Agent, AgentState
from callcenter.acd.controls import AgentControls, BadRequest, NotNow, UnknownAgent
from callcenter.web.accounts_state import audit
from callcenter.web.auth import principal
from callcenter.web.errors import ApiError
from callcenter.web.routes.customers import (
    BLANK_IS_NONE,
    NO_NUL,
    OptionalText64,
    bounded,
    read_body,
)
from callcenter.web.routes.dispositions import check_disposition
from callcenter.web.routes.interactions import MAX_NOTES_CHARS
from callcenter.web.state import AGENT_CONTROLS, CRM_SESSIONS
from crm_bridge.models import Interaction
from crm_bridge.queries import update_interaction


class StateChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    state: Literal["ready", "paused", "offline"]
    reason: str | None = Field(None, min_length=1, max_length=64)


class WrapUpChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    extend_s: float | None = Field(None, gt=0)
    done: bool = False
    call_id: str | None = Field(None, min_length=1, max_length=128)
    disposition: OptionalText64 = None
    notes: Annotated[
        Annotated[str, bounded(MAX_NOTES_CHARS, strip=False), NO_NUL] | None, BLANK_IS_NONE
    ] = None


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


async def _save_wrap_up(request: web.Request, agent_id: str,
                        body: WrapUpChange) -> dict[str, object]:
    """Disposition and notes into the interaction of ``body.call_id``; the interaction."""
    factory = request.app.get(CRM_SESSIONS)
    if factory is None:
        raise ApiError(503, "crm_unavailable", "this server has no CRM database")
    fields = body.model_dump(include={"disposition", "notes"}, exclude_unset=True)
    await check_disposition(request, fields.get("disposition"))
    async with factory() as session, session.begin():
        row = await session.scalar(select(Interaction)
                                   .where(Interaction.call_id == body.call_id))
        if row is None:
            raise ApiError(404, "interaction_not_found", f"no interaction for call "
                                                         f"{body.call_id}")
        if (row.agent or "") != agent_id:
            raise ApiError(403, "forbidden", f"call {body.call_id} is not agent {agent_id}'s")
        updated = await update_interaction(session, row.id, fields)
    assert updated is not None
    return updated


async def wrap_up(request: web.Request) -> web.Response:
    controls = _controls(request)
    agent_id = request.match_info["agent_id"]
    body, _ = await read_body(request, WrapUpChange)
    saving = body.call_id is not None
    if not saving and ("disposition" in body.model_fields_set
                       or "notes" in body.model_fields_set):
        raise ApiError(400, "bad_request", 'a disposition or notes need the "call_id"')
    if body.extend_s is not None and body.done:
        raise ApiError(400, "bad_request", 'give either "extend_s" or "done": true')
    if not saving and body.extend_s is None and not body.done:
        raise ApiError(400, "bad_request", 'give either "extend_s" or "done": true')
    try:
        controls.agent(agent_id)
    except UnknownAgent as exc:
        raise ApiError(404, "agent_not_found", str(exc)) from None
    interaction = await _save_wrap_up(request, agent_id, body) if saving else None
    try:
        if not body.done and body.extend_s is None:
            agent = controls.agent(agent_id)
        elif body.done and saving and controls.agent(agent_id).state is not AgentState.WRAP_UP:
            agent = controls.agent(agent_id)  # a resend, or the wrap-up time ran out: done
        else:
            agent = _finish(controls, agent_id, body)
    except UnknownAgent as exc:
        raise ApiError(404, "agent_not_found", str(exc)) from None
    except NotNow as exc:
        raise ApiError(409, "agent_busy", str(exc)) from None
    except BadRequest as exc:
        raise ApiError(400, "bad_request", str(exc)) from None
    answer = controls.describe(agent)
    if interaction is not None:
        answer = {**answer, "interaction": interaction}
    return web.json_response(answer)


def _finish(controls: AgentControls, agent_id: str, body: WrapUpChange) -> Agent:
    if body.done:
        return controls.ready(agent_id)
    assert body.extend_s is not None
    controls.extend_wrap_up(agent_id, body.extend_s)
    return controls.agent(agent_id)
