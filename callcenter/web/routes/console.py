"""The agent console: its page (``/console/``, ``agent_ui/console``) and the signed-in agent's
own SIP account (``GET /api/agents/{agent_id}/sip``).

The page's files are public code with no data (like the live page and the wallboard); the
softphone bundle ``softphone.js`` is built from npm packages by ``scripts/build-ui.sh`` and
served from the same folder, never from a CDN. Without it the page says the build step is
missing. The SIP password is given only to the agent's own session (``SELF`` in
:mod:`callcenter.web.access`: not a supervisor, not an admin), never cached
(``Cache-Control: no-store``) and never in a page's HTML.
"""

from __future__ import annotations

from pathlib import Path

from aiohttp import hdrs, web

import agent_ui
from callcenter.web.errors import ApiError
from callcenter.web.routes.wallboard import _serve
from callcenter.web.state import CRM_SESSIONS, SETTINGS
from crm_bridge.sip_credentials import KeyNeeded, SipCredentials

CONSOLE_DIR = Path(agent_ui.__file__).resolve().parent / "console"
"""Where the console's files are: ``agent_ui/console`` (package data)."""


def setup(app: web.Application) -> None:
    app.router.add_get("/console/", index, name="console")
    app.router.add_get("/console/{name}", asset, name="console_file")
    app.router.add_get("/api/agents/{agent_id}/sip", sip_account, name="agent_sip")


async def index(request: web.Request) -> web.StreamResponse:
    return _serve("index.html", CONSOLE_DIR)


async def asset(request: web.Request) -> web.StreamResponse:
    return _serve(request.match_info["name"], CONSOLE_DIR)


async def sip_account(request: web.Request) -> web.Response:
    """``{"agent_id", "ws_url", "uri", "username", "password", "display_name",
    "ice_servers"}`` for the calling agent itself."""
    agent_id = request.match_info["agent_id"]
    sessions = request.app.get(CRM_SESSIONS)
    if sessions is None:
        raise ApiError(503, "crm_unavailable", "this server has no database for SIP accounts")
    sip = request.app[SETTINGS].sip
    key = sip.storage_key.get_secret_value() if sip.storage_key else None
    try:
        credential = await SipCredentials(sessions, key).get(agent_id)
    except KeyNeeded as exc:
        raise ApiError(503, "sip_key_needed", str(exc)) from None
    if credential is None:
        raise ApiError(404, "sip_account_not_found",
                       f"agent {agent_id} has no SIP account yet: an admin gives it one with "
                       f"'callcenter sip set {agent_id} ...' or 'callcenter sip generate'")
    return web.json_response({
        "agent_id": agent_id,
        "ws_url": sip.ws_url,
        "uri": f"sip:{credential.username}@{sip.domain}",
        "username": credential.username,
        "password": credential.password,
        "display_name": f"Agent {agent_id}",
        "ice_servers": [{"urls": url} for url in sip.ice_servers],
    }, headers={hdrs.CACHE_CONTROL: "no-store"})
