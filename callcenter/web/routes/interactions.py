"""A customer's interactions (newest first) and the agent's wrap-up of one interaction.

Interactions are created by the server from call events, never through the API: a closed
browser must not lose a call. The console only adds what the server cannot know, the
``disposition`` (an active code of ``/api/dispositions``: anything else is 400
``unknown_disposition``) and the agent's ``notes``. An agent wraps up only its own calls (the
interaction's ``agent``); a supervisor any.
"""

from __future__ import annotations

from typing import Annotated

from aiohttp import web
from pydantic import BaseModel, ConfigDict

from callcenter.web.auth import principal
from callcenter.web.errors import ApiError
from callcenter.web.routes.customers import (
    BLANK_IS_NONE,
    NO_NUL,
    OptionalText64,
    bounded,
    crm_route,
    page,
    path_id,
    read_body,
    sessions,
)
from callcenter.web.routes.dispositions import check_disposition
from crm_bridge.models import Interaction
from crm_bridge.queries import customer_exists, list_interactions, update_interaction

MAX_NOTES_CHARS = 10_000


class WrapUp(BaseModel):
    """``PATCH /api/interactions/{id}``: fields given are set; null (or blank) clears one."""

    model_config = ConfigDict(extra="forbid")

    disposition: OptionalText64 = None
    # Notes keep their own line breaks and indentation: not stripped.
    notes: Annotated[
        Annotated[str, bounded(MAX_NOTES_CHARS, strip=False), NO_NUL] | None, BLANK_IS_NONE
    ] = None


@crm_route
async def list_for_customer(request: web.Request) -> web.Response:
    """``GET /api/customers/{id}/interactions``: ``{"interactions": [...], "total": n}``."""
    customer_id = path_id(request, "customer_id", "customer_not_found")
    limit, offset = page(request)
    async with sessions(request)() as session:
        if not await customer_exists(session, customer_id):
            raise ApiError(404, "customer_not_found", f"no customer {customer_id}")
        found, total = await list_interactions(session, customer_id, limit=limit,
                                               offset=offset)
    return web.json_response({"interactions": found, "total": total})


@crm_route
async def wrap_up(request: web.Request) -> web.Response:
    """``PATCH /api/interactions/{id}``: the interaction after the change."""
    interaction_id = path_id(request, "interaction_id", "interaction_not_found")
    factory = sessions(request)
    body, _ = await read_body(request, WrapUp)
    await check_disposition(request, body.disposition)
    who = principal(request)
    async with factory() as session, session.begin():
        row = await session.get(Interaction, interaction_id)
        mine = row is not None and who.is_agent(row.agent or "")
        if row is not None and not mine and not who.has_role("supervisor"):
            raise ApiError(403, "forbidden", "this interaction is another agent's call")
        updated = await update_interaction(session, interaction_id,
                                           body.model_dump(exclude_unset=True))
    if updated is None:
        raise ApiError(404, "interaction_not_found", f"no interaction {interaction_id}")
    return web.json_response(updated)
