"""``GET /ws/events``: the domain event stream over a WebSocket (wallboard, consoles).

Protocol (server → client, JSON text frames):

1. ``{"type": "snapshot", "at": ..., "calls": [...], "channels": [...], "bridges": [...]}``
   right after connecting. The bus subscription is opened *before* the snapshot is taken, in
   the same event-loop step, so no event falls between the two and none is counted twice.
2. Every :class:`~callcenter.events.DomainEvent` as ``event.to_dict()``, optionally only the
   types named in ``?types=call.started,call.ended`` (``call.*`` takes a whole family).
3. When this client fell behind and its queue overflowed: ``{"type": "lagged", "dropped": N}``
   (N = events this client will never get) followed by a fresh snapshot; the client replaces
   its state instead of applying deltas it knows are incomplete.

Client frames are read (so pongs and the close handshake work) and ignored. aiohttp sends a
protocol ping every ``ws_heartbeat_s`` and drops a client that does not answer. The caller is
authenticated by the auth middleware like any request (header, or ``?token=`` since browsers
cannot set headers on a WebSocket).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

from aiohttp import WSMsgType, web

from callcenter.core.pbx import PbxStatus
from callcenter.events import EVENT_TYPES, LatestStatus, Subscription
from callcenter.web.errors import ApiError
from callcenter.web.state import (
    AGENTS,
    BUS,
    CALLS,
    LATEST,
    METRICS,
    PBX_STATUS,
    WEBSOCKETS,
    WS_HEARTBEAT,
    WS_QUEUE_SIZE,
    AgentView,
    CallView,
)

log = logging.getLogger(__name__)


def parse_types(raw: str | None) -> set[str] | None:
    """``"call.started,channel.*"`` → the set of event types; None (all) when empty."""
    if not raw:
        return None
    wanted: set[str] = set()
    unknown: list[str] = []
    for item in (part.strip() for part in raw.split(",")):
        if not item:
            continue
        if item.endswith(".*"):
            family = {t for t in EVENT_TYPES if t.startswith(item[:-1])}
            wanted |= family
            if not family:
                unknown.append(item)
        elif item in EVENT_TYPES:
            wanted.add(item)
        else:
            unknown.append(item)
    if unknown:
        raise ApiError(400, "unknown_event_type", f"unknown event types: {', '.join(unknown)}")
    return wanted or None


def snapshot_message(calls: CallView, agents: AgentView | None = None,
                     pbx: PbxStatus | None = None,
                     latest: LatestStatus | None = None) -> dict[str, Any]:
    """Everything a client needs before the next event: calls, channels, bridges, and when the
    app has them the agents, the PBX link and the last queue and campaign status."""
    message = {"type": "snapshot", "at": time.time(), **calls.snapshot()}
    if agents is not None:
        message["agents"] = agents.snapshot()
    if pbx is not None:
        message["synced"] = pbx.connected
        message["pbx"] = {"pbx": pbx.pbx, "connected": pbx.connected, "version": pbx.version}
    if latest is not None:
        message.update(latest.snapshot())
    return message


def _snapshot_of(app: web.Application) -> dict[str, Any]:
    return snapshot_message(app[CALLS], app.get(AGENTS), app[PBX_STATUS](), app.get(LATEST))


async def _forward(ws: web.WebSocketResponse, sub: Subscription,
                   app: web.Application) -> None:
    """Send events until cancelled; on overflow send ``lagged`` and a fresh snapshot."""
    seen = sub.lagged
    while True:
        event = await sub.get()
        if sub.lagged == seen:
            await ws.send_json(event.to_dict())
            continue
        # Everything still queued (and ``event``) predates the snapshot taken right now.
        skipped = sub.lagged - seen + 1 + sub.queue.qsize()
        while not sub.queue.empty():
            sub.queue.get_nowait()
        seen = sub.lagged
        fresh = _snapshot_of(app)
        await ws.send_json({"type": "lagged", "dropped": skipped})
        await ws.send_json(fresh)


async def _read(ws: web.WebSocketResponse) -> None:
    async for msg in ws:  # pongs and close frames are handled inside receive()
        if msg.type == WSMsgType.ERROR:
            log.debug("websocket error: %s", ws.exception())


async def handle(request: web.Request) -> web.WebSocketResponse:
    app = request.app
    ws = web.WebSocketResponse(heartbeat=app[WS_HEARTBEAT])
    if not ws.can_prepare(request).ok:
        raise ApiError(400, "websocket_required", "this endpoint needs a WebSocket upgrade")
    sub = app[BUS].subscribe(parse_types(request.query.get("types")), app[WS_QUEUE_SIZE])
    # same loop step as subscribe: no gap, no duplicate
    first = _snapshot_of(app)
    tasks: list[asyncio.Task[None]] = []
    try:
        await ws.prepare(request)
        app[WEBSOCKETS].add(ws)
        with app[METRICS].websocket_clients.track_inprogress():
            await ws.send_json(first)
            tasks = [
                asyncio.create_task(_forward(ws, sub, app)),
                asyncio.create_task(_read(ws)),
            ]
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                exc = None if task.cancelled() else task.exception()
                if isinstance(exc, ConnectionError):  # client vanished mid-send
                    log.debug("websocket client gone: %r", exc)
                elif exc is not None:
                    log.error("websocket event stream failed", exc_info=exc)
    except (ConnectionError, RuntimeError) as exc:  # client vanished mid-send
        log.debug("websocket closed while sending: %r", exc)
    finally:
        sub.close()
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        app[WEBSOCKETS].discard(ws)
        if not ws.closed:
            with contextlib.suppress(Exception):
                await ws.close()
    return ws
