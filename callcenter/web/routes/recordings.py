"""A past call's recording, played from the customer history on the agent console's card:
``GET /api/interactions/{interaction_id}/recording`` (and ``HEAD``, which the console asks first
so it shows a player only where one would play).

Who may hear it is decided here, on the server, for every request (the page only follows):

- supervisors and admins: every recording;
- agents by ``recordings.agent_access`` (``CALLCENTER_RECORDINGS__AGENT_ACCESS``):
  ``none`` (the default: recordings are personal data, an operator opts in), ``own`` (calls the
  agent took: ``interactions.agent``), ``caller`` (those, and every past call of the customer
  the agent is ringing, talking or wrapping up with now — the card on the agent's screen; not
  any customer the agent looks up).

The file is ``recording_ref`` under ``recordings.dir`` (where MixMonitor's spool is shared
with this host), never outside it. Answers: 200 with the audio (ranges served, for seeking),
403 ``forbidden``, 404 ``interaction_not_found`` / ``recording_not_found`` (the call was not
recorded), 410 ``recording_purged`` (deleted by the retention clean-up), 503
``recordings_unavailable`` (no ``recordings.dir``). ``Cache-Control: private, no-store``.

Every play is audited (``recording.play`` on ``interaction:<id>``, by whom): a GET from the
start of the file, not a HEAD and not the range requests of a seek within a play.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

from aiohttp import hdrs, web
from sqlalchemy import select

from callcenter.acd.agents import AgentState
from callcenter.web.accounts_state import audit
from callcenter.web.auth import Principal, principal
from callcenter.web.errors import ApiError
from callcenter.web.routes.customers import crm_route, path_id, sessions
from callcenter.web.state import AGENT_CONTROLS, SETTINGS
from crm_bridge.models import Interaction

log = logging.getLogger(__name__)

#: an agent in these states has a caller on its screen (the pop's card)
_WITH_CALLER = (AgentState.RESERVED, AgentState.ON_CALL, AgentState.WRAP_UP)


def setup(app: web.Application) -> None:
    app.router.add_get("/api/interactions/{interaction_id}/recording",
                       crm_route(recording), name="interaction_recording")


def _current_call(request: web.Request, agent_id: str) -> str | None:
    """The call the agent is ringing, talking or wrapping up with, if any."""
    controls = request.app.get(AGENT_CONTROLS)
    if controls is None:
        return None
    try:
        agent = controls.board[agent_id]
    except KeyError:
        return None
    return agent.call_id if agent.state in _WITH_CALLER else None


async def _may_hear(request: web.Request, who: Principal, row: Interaction) -> bool:
    if who.has_role("supervisor"):
        return True
    access = request.app[SETTINGS].recordings.agent_access
    if access == "none" or who.agent_id is None:
        return False
    if row.agent == who.agent_id:
        return True
    if access != "caller" or row.customer_id is None:
        return False
    call_id = _current_call(request, who.agent_id)
    if call_id is None:
        return False
    async with sessions(request)() as session:
        caller = await session.scalar(select(Interaction.customer_id)
                                      .where(Interaction.call_id == call_id))
    return caller is not None and caller == row.customer_id


def _file(directory: Path, ref: str) -> Path | None:
    """``ref`` under ``directory``, or None when it would leave it (a hand-written row)."""
    root = directory.resolve()
    path = (root / ref).resolve()
    if not path.is_relative_to(root) or path == root:
        return None
    return path


async def recording(request: web.Request) -> web.StreamResponse:
    interaction_id = path_id(request, "interaction_id", "interaction_not_found")
    directory = request.app[SETTINGS].recordings.dir
    async with sessions(request)() as session:
        row = await session.get(Interaction, interaction_id)
    if row is None:
        raise ApiError(404, "interaction_not_found", f"no interaction {interaction_id}")
    if not await _may_hear(request, principal(request), row):
        raise ApiError(403, "forbidden", "this account may not hear this recording "
                                         "(CALLCENTER_RECORDINGS__AGENT_ACCESS)")
    if not row.recording_ref:
        raise ApiError(404, "recording_not_found", "this call was not recorded")
    if directory is None:
        raise ApiError(503, "recordings_unavailable",
                       "this server does not see the recordings (CALLCENTER_RECORDINGS__DIR)")
    path = _file(directory, row.recording_ref)
    if path is None:
        log.warning("interaction %s: recording_ref %r leaves the recordings directory",
                    interaction_id, row.recording_ref[:255])
        raise ApiError(404, "recording_not_found", "no such recording")
    if not path.is_file():
        raise ApiError(410, "recording_purged",
                       "the recording is gone (the retention clean-up deleted it)")
    if request.method == "GET" and _from_the_start(request.headers.get(hdrs.RANGE)):
        await audit(request, "recording.play", f"interaction:{interaction_id}")
    suffix = path.suffix if re.fullmatch(r"\.[A-Za-z0-9]{1,8}", path.suffix) else ""
    return web.FileResponse(path, headers={
        hdrs.CACHE_CONTROL: "private, no-store",
        hdrs.CONTENT_DISPOSITION: f'inline; filename="call-{interaction_id}{suffix}"'})


def _from_the_start(range_header: str | None) -> bool:
    """A request that starts a play: no Range, or one from byte 0 (a seek asks from later)."""
    return range_header is None or range_header.replace(" ", "").startswith("bytes=0-")
