"""``GET /metrics``: Prometheus exposition of the app's own registry (not the global one)."""

from __future__ import annotations

from aiohttp import hdrs, web

from callcenter.web.state import METRICS


async def handle(request: web.Request) -> web.Response:
    body, content_type = request.app[METRICS].render(request.headers.get(hdrs.ACCEPT, ""))
    return web.Response(body=body, headers={hdrs.CONTENT_TYPE: content_type})
