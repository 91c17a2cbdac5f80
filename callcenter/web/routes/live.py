"""``GET /``, ``/live/`` and ``/live/{name}``: the live page (calls, queues, agents, campaign).

The page lives in the repository's ``agent_ui/live/`` folder (plain HTML, CSS and JS, nothing
fetched at run time) and reads everything from the ``/ws/events`` WebSocket. The server runs
from a checkout or an editable install, so the folder is found next to the package.

The files are public (:mod:`callcenter.web.access`): they hold no data, only the code of the
page. The WebSocket they open needs a supervisor's session: the page asks
``/api/auth/ws-ticket`` for a single-use ticket and passes it as ``?ticket=``; without a
session it sends the visitor to ``/login/``. Only plain files directly in the folder are
served, with a known content type; anything else (sub-folders, ``..``, hidden files, unknown
kinds) is a 404.
"""

from __future__ import annotations

from pathlib import Path

from aiohttp import hdrs, web

import agent_ui
from callcenter.web.errors import ApiError

LIVE_DIR = Path(agent_ui.__file__).resolve().parent / "live"
"""Where the page's files are: ``agent_ui/live`` (package data, so ``pip install .`` has them)."""

CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
}
"""The kinds of file served; others are refused (no ``.py`` or ``.md`` by accident)."""


def setup(app: web.Application) -> None:
    """Add the live page's routes to ``app`` (called from :func:`~callcenter.web.create_app`)."""
    router = app.router
    router.add_get("/", root, name="root")
    router.add_get("/live/", index, name="live")
    router.add_get("/live/{name}", asset, name="live_file")


def live_file(name: str, folder: Path = LIVE_DIR) -> Path | None:
    """The file ``name`` of ``folder`` if it may be served, else None (never outside it)."""
    if not name or "/" in name or "\\" in name or ".." in name or name.startswith("."):
        return None
    if Path(name).suffix.lower() not in CONTENT_TYPES:
        return None
    path = folder / name
    if path.resolve().parent != folder.resolve() or not path.is_file():  # symlinks out
        return None
    return path


def _serve(name: str) -> web.FileResponse:
    path = live_file(name)
    if path is None:
        raise ApiError(404, "not_found", f"no such file: {name}")
    return web.FileResponse(path, headers={
        hdrs.CONTENT_TYPE: CONTENT_TYPES[path.suffix.lower()],
        hdrs.CACHE_CONTROL: "no-cache",  # revalidate: an updated checkout shows at once
    })


async def root(request: web.Request) -> web.StreamResponse:
    raise web.HTTPFound("/live/")


async def index(request: web.Request) -> web.StreamResponse:
    return _serve("index.html")


async def asset(request: web.Request) -> web.StreamResponse:
    return _serve(request.match_info["name"])
