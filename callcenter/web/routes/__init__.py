"""The route table: one small module per resource, wired here in one place."""

from __future__ import annotations

from aiohttp import web

from callcenter.web.routes import agents, calls, events, health, metrics, openapi


def setup_routes(app: web.Application) -> None:
    router = app.router
    router.add_get("/health", health.handle, name="health")
    router.add_get("/metrics", metrics.handle, name="metrics")
    router.add_get("/openapi.json", openapi.handle_json, name="openapi_json")
    router.add_get("/openapi.yaml", openapi.handle_yaml, name="openapi_yaml")
    router.add_get("/api/calls", calls.list_calls, name="calls")
    router.add_get("/api/calls/{call_id}", calls.get_call, name="call")
    router.add_get("/ws/events", events.handle, name="events_ws", allow_head=False)
    router.add_get("/ws/agents/{agent_id}", agents.handle, name="agent_ws", allow_head=False)
