"""``GET /ws/agents/{agent_id}``: one agent console's private stream (screen pops).

Only that agent (an account whose ``agent_id`` it is) or a supervisor/admin may open it
(``OWN_AGENT`` in :mod:`callcenter.web.access`, checked before this handler runs); messages are
routed by agent id in :class:`~callcenter.screenpop.hub.AgentHub`, so a pop for agent A never
reaches agent B's console. First message: ``{"type": "hello", "agent_id": ...}``, then (when
this server runs the ACD) ``{"type": "agent", ...}`` with the agent's state as
``GET /api/agents`` shows it, then screen pops and this agent's own ``agent.state`` and
``agent.wrap_up`` events (each followed by a fresh ``agent`` message), so the console shows the
state the server holds, also after a reconnect; and ``dispositions.changed`` (any agent's: the
wrap-up list is everyone's), on which the console reloads its list.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from aiohttp import WSMsgType, web

from callcenter.acd.controls import AgentControls, UnknownAgent
from callcenter.events import DomainEvent
from callcenter.web.errors import ApiError
from callcenter.web.state import AGENT_CONTROLS, AGENT_HUB, BUS, WEBSOCKETS, WS_HEARTBEAT

AGENT_EVENTS = frozenset({"agent.state", "agent.wrap_up"})
#: events every console hears (nothing about a caller or another agent in them)
SHARED_EVENTS = frozenset({"dispositions.changed"})


def agent_message(controls: AgentControls | None, agent_id: str) -> dict[str, Any] | None:
    """``{"type": "agent", ...}``: the agent as the ACD holds it, or None (no such agent)."""
    if controls is None:
        return None
    try:
        return {**controls.describe(controls.agent(agent_id)), "type": "agent"}
    except UnknownAgent:
        return None

log = logging.getLogger(__name__)


async def handle(request: web.Request) -> web.WebSocketResponse:
    agent_id = request.match_info["agent_id"]
    ws = web.WebSocketResponse(heartbeat=request.app[WS_HEARTBEAT])
    if not ws.can_prepare(request).ok:
        raise ApiError(400, "websocket_required", "this endpoint needs a WebSocket upgrade")
    hub = request.app[AGENT_HUB]
    queue = hub.open(agent_id)
    controls = request.app.get(AGENT_CONTROLS)

    def mine(event: DomainEvent) -> None:  # runs in the bus's publish: never blocks
        if event.type in SHARED_EVENTS:
            hub.push(agent_id, event.to_dict())
            return
        if event.type not in AGENT_EVENTS or getattr(event, "agent_id", None) != agent_id:
            return
        hub.push(agent_id, event.to_dict())
        fresh = agent_message(controls, agent_id)
        if fresh is not None:
            hub.push(agent_id, fresh)

    bus = request.app[BUS]
    bus.add_handler(mine)
    sender: asyncio.Task[None] | None = None
    try:
        await ws.prepare(request)
        request.app[WEBSOCKETS].add(ws)
        await ws.send_json({"type": "hello", "agent_id": agent_id})
        state = agent_message(controls, agent_id)
        if state is not None:
            await ws.send_json(state)

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
        bus.remove_handler(mine)
        hub.close(agent_id, queue)
        if sender is not None:
            sender.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await sender
        request.app[WEBSOCKETS].discard(ws)
    return ws
