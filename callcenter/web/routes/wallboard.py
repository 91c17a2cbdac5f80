"""``GET /wallboard/`` and ``/wallboard/{name}``: the supervisors' wallboard (queue tiles, agent
grid, recent routing decisions), for a screen on the wall.

Like the live page (:mod:`callcenter.web.routes.live`) it is plain HTML, CSS and JS in the
repository's ``agent_ui/wallboard/`` folder (package data), fetches nothing at run time and
computes every figure in the browser from the ``/ws/events`` snapshot and the events that
follow. The same rules apply to its files: public (code, no data; see
:mod:`callcenter.web.access`), only plain files directly
in the folder with a known content type, anything else a 404.
"""

from __future__ import annotations

from pathlib import Path

from aiohttp import hdrs, web

import agent_ui
from callcenter.web.errors import ApiError
from callcenter.web.routes.live import CONTENT_TYPES, live_file

WALLBOARD_DIR = Path(agent_ui.__file__).resolve().parent / "wallboard"
"""Where the wallboard's files are: ``agent_ui/wallboard`` (package data)."""


CAMPAIGNS_DIR = Path(agent_ui.__file__).resolve().parent / "campaigns"
"""The supervisors' campaign page (``agent_ui/campaigns``): state, gauge, controls."""

LOGIN_DIR = Path(agent_ui.__file__).resolve().parent / "login"
"""The sign-in page (``agent_ui/login``): the pages send a visitor without a session there."""


def setup(app: web.Application) -> None:
    """Add the wallboard's and the sign-in page's routes to ``app``."""
    app.router.add_get("/wallboard/", index, name="wallboard")
    app.router.add_get("/wallboard/{name}", asset, name="wallboard_file")
    app.router.add_get("/campaigns/", campaigns_index, name="campaigns_page")
    app.router.add_get("/campaigns/{name}", campaigns_asset, name="campaigns_file")
    app.router.add_get("/login/", login_index, name="login_page")
    app.router.add_get("/login/{name}", login_asset, name="login_file")


def _serve(name: str, folder: Path = WALLBOARD_DIR) -> web.FileResponse:
    path = live_file(name, folder)
    if path is None:
        raise ApiError(404, "not_found", f"no such file: {name}")
    return web.FileResponse(path, headers={
        hdrs.CONTENT_TYPE: CONTENT_TYPES[path.suffix.lower()],
        hdrs.CACHE_CONTROL: "no-cache",
    })


async def index(request: web.Request) -> web.StreamResponse:
    return _serve("index.html")


async def asset(request: web.Request) -> web.StreamResponse:
    return _serve(request.match_info["name"])


async def login_index(request: web.Request) -> web.StreamResponse:
    return _serve("index.html", LOGIN_DIR)


async def login_asset(request: web.Request) -> web.StreamResponse:
    return _serve(request.match_info["name"], LOGIN_DIR)


async def campaigns_index(request: web.Request) -> web.StreamResponse:
    return _serve("index.html", CAMPAIGNS_DIR)


async def campaigns_asset(request: web.Request) -> web.StreamResponse:
    return _serve(request.match_info["name"], CAMPAIGNS_DIR)
