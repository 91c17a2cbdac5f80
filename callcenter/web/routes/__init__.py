"""The route table: one small module per resource, wired here in one place."""

from __future__ import annotations

from aiohttp import web

from callcenter.web.idempotency import RedisResults, durable_results
from callcenter.web.routes import (
    acd_config,
    agent_actions,
    agents,
    analytics,
    calls,
    campaigns,
    console,
    customers,
    dispositions,
    events,
    health,
    interactions,
    metrics,
    openapi,
    queues,
    recordings,
    supervision,
    wallboard,
)
from callcenter.web.state import CRM_SESSIONS, SETTINGS


def setup_routes(app: web.Application) -> None:
    router = app.router
    router.add_get("/health", health.handle, name="health")
    router.add_get("/metrics", metrics.handle, name="metrics")
    router.add_get("/openapi.json", openapi.handle_json, name="openapi_json")
    router.add_get("/openapi.yaml", openapi.handle_yaml, name="openapi_yaml")
    router.add_get("/api/calls", calls.list_calls, name="calls")
    router.add_get("/api/calls/{call_id}", calls.get_call, name="call")
    router.add_post("/api/calls/{call_id}/transfer", calls.transfer, name="call_transfer")
    # CRM: "lookup" before "{customer_id}", which would otherwise take it as an id. Methods
    # of one path share its name, so aiohttp keeps one resource per path.
    router.add_get("/api/customers", customers.search, name="customers")
    router.add_post("/api/customers", customers.create, name="customers")
    router.add_get("/api/customers/lookup", customers.lookup, name="customer_lookup")
    router.add_get("/api/customers/{customer_id}", customers.get_customer, name="customer")
    router.add_patch("/api/customers/{customer_id}", customers.update, name="customer")
    router.add_get("/api/customers/{customer_id}/interactions",
                   interactions.list_for_customer, name="customer_interactions")
    router.add_patch("/api/interactions/{interaction_id}", interactions.wrap_up,
                     name="interaction")
    router.add_get("/api/agents", agent_actions.list_agents, name="agents")
    router.add_put("/api/agents/{agent_id}/state", agent_actions.set_state, name="agent_state")
    router.add_post("/api/agents/{agent_id}/wrap-up", agent_actions.wrap_up,
                    name="agent_wrap_up")
    router.add_post("/api/agents/{agent_id}/spy", supervision.spy, name="agent_spy")
    # queue figures and the queue-event log ("stats" is no queue: two segments vs three)
    router.add_get("/api/queues/stats", queues.all_stats, name="queues_stats")
    router.add_get("/api/queues/{queue}/stats", queues.queue_stats, name="queue_stats")
    router.add_get("/api/queues/{queue}/log", queues.queue_log, name="queue_log")
    durable = durable_results(app[SETTINGS], app.get(CRM_SESSIONS))
    app[customers.IDEMPOTENCY] = customers.IdempotencyStore(durable=durable)
    if isinstance(durable, RedisResults):
        async def close_durable(_: web.Application) -> None:
            await durable.close()

        app.on_cleanup.append(close_durable)
    router.add_get("/ws/events", events.handle, name="events_ws", allow_head=False)
    router.add_get("/ws/agents/{agent_id}", agents.handle, name="agent_ws", allow_head=False)
    wallboard.setup(app)
    analytics.setup(app)
    console.setup(app)
    dispositions.setup(app)
    recordings.setup(app)
    acd_config.setup(app)
    campaigns.setup(app)
