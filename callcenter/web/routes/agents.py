"""``GET /ws/agents/{agent_id}``: one agent console's private stream (screen pops).

Only that agent (an account whose ``agent_id`` it is) or a supervisor/admin may open it
(``OWN_AGENT`` in :mod:`callcenter.web.access`, checked before this handler runs); messages are
routed by agent id in :class:`~callcenter.screenpop.hub.AgentHub`, so a pop for agent A never
reaches agent B's console. First message: ``{"type": "hello", "agent_id": ...}``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from aiohttp import WSMsgType, web

from callcenter.web.errors import ApiError
from callcenter.web.state import AGENT_HUB, WEBSOCKETS, WS_HEARTBEAT

log = logging.getLogger(__name__)


async def handle(request: web.Request) -> web.WebSocketResponse:
    agent_id = request.match_info["agent_id"]
    ws = web.WebSocketResponse(heartbeat=request.app[WS_HEARTBEAT])
    if not ws.can_prepare(request).ok:
        raise ApiError(400, "websocket_required", "this endpoint needs a WebSocket upgrade")
    hub = request.app[AGENT_HUB]
    queue = hub.open(agent_id)
    sender: asyncio.Task[None] | None = None
    try:
        await ws.prepare(request)
        request.app[WEBSOCKETS].add(ws)
        await ws.send_json({"type": "hello", "agent_id": agent_id})

        async def send() -> None:
            while True:
                await ws.send_json(await queue.get())

        sender = asyncio.create_task(send())
        async for msg in ws:  # client frames are ignored; this ends when the client goes
            if msg.type == WSMsgType.ERROR:
                log.debug("agent websocket error: %s", ws.exception())
    except (ConnectionError, RuntimeError) as exc:
        log.debug("agent websocket closed while sending: %r", exc)
    finally:
        hub.close(agent_id, queue)
        if sender is not None:
            sender.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await sender
        request.app[WEBSOCKETS].discard(ws)
    return ws
