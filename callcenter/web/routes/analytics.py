"""The supervisors' analytics: ``GET /api/analytics/report`` (the report as HTML, a fragment
for the page, PDF or its headline figures as JSON), ``POST /api/analytics/refresh``
(recompute every customer's value tier, RFM scores and churn warning), and the page
``/analytics/`` that shows the report (``agent_ui/analytics``, served like the wallboard).

The report is ``crm_bridge.analytics.report``'s, the same the CLI writes; charts are drawn on
the server by matplotlib (inline SVG), so the page needs no chart library. Drawing runs in a
worker thread, off the event loop.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path
from typing import Any

from aiohttp import hdrs, web
from sqlalchemy.ext.asyncio import AsyncEngine

import agent_ui
from callcenter.web.errors import ApiError
from callcenter.web.routes.customers import crm_route, int_param, sessions
from callcenter.web.routes.queues import _time
from callcenter.web.routes.wallboard import _serve

ANALYTICS_DIR = Path(agent_ui.__file__).resolve().parent / "analytics"
"""Where the page's files are: ``agent_ui/analytics`` (package data)."""
FORMATS = ("html", "fragment", "pdf", "json")
MAX_DAYS = 92
#: one report at a time per process: it reads and draws for seconds on a big database
_LOCK = asyncio.Lock()


def setup(app: web.Application) -> None:
    app.router.add_get("/analytics/", index, name="analytics_page")
    app.router.add_get("/analytics/{name}", asset, name="analytics_file")
    app.router.add_get("/api/analytics/report", report, name="analytics_report")
    app.router.add_post("/api/analytics/refresh", refresh, name="analytics_refresh")


async def index(request: web.Request) -> web.StreamResponse:
    return _serve("index.html", ANALYTICS_DIR)


async def asset(request: web.Request) -> web.StreamResponse:
    return _serve(request.match_info["name"], ANALYTICS_DIR)


def _engine(request: web.Request) -> AsyncEngine:
    bind = sessions(request).kw.get("bind")
    if not isinstance(bind, AsyncEngine):
        raise ApiError(503, "crm_unavailable", "this server has no CRM database configured")
    return bind


@crm_route
async def report(request: web.Request) -> web.StreamResponse:
    from crm_bridge.analytics.report import build_report, render_html, render_pdf

    fmt = request.query.get("format", "html")
    if fmt not in FORMATS:
        raise ApiError(400, "invalid_parameter", f"format must be one of {', '.join(FORMATS)}")
    days = int_param(request, "days", 7, 1, MAX_DAYS)
    interval_min = int_param(request, "interval", 60, 5, 1440)
    end = _time(request, "end") or dt.datetime.now(dt.UTC).replace(microsecond=0)
    start = end - dt.timedelta(days=days)
    engine = _engine(request)
    async with _LOCK:
        built = await build_report(engine, start, end, interval_s=interval_min * 60.0)
        if fmt == "json":
            return web.json_response(built.summary())
        if fmt == "pdf":
            data = await asyncio.to_thread(render_pdf, built)
            name = f"analytics-{start:%Y%m%d}-{end:%Y%m%d}.pdf"
            return web.Response(body=data, content_type="application/pdf", headers={
                hdrs.CONTENT_DISPOSITION: f'attachment; filename="{name}"'})
        text = await asyncio.to_thread(render_html, built, fragment=fmt == "fragment")
    return web.Response(text=text, content_type="text/html", charset="utf-8")


@crm_route
async def refresh(request: web.Request) -> web.StreamResponse:
    from crm_bridge.analytics.store import refresh as recompute

    engine = _engine(request)
    async with _LOCK:
        result: Any = await recompute(engine)
    return web.json_response(result.to_dict())
