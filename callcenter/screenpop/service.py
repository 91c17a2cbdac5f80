"""The screen-pop service: ringing agent -> CRM look-up -> card on that agent's console.

The look-up is injected (``lookup(text) -> {"match": card | None, "candidates": [...]}``,
the shape of ``crm_bridge.lookup.lookup_card``) so the service has no database code and the
simulator can run it too. Every pop is also a ``screen.popped`` domain event (history,
metrics: how fast, delivered to how many consoles).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from callcenter import events as ev
from callcenter.acd.identity import AgentEndpoints
from callcenter.core.pbx import CallReader
from callcenter.screenpop.detect import AgentRinging, RingDetector
from callcenter.screenpop.hub import AgentHub
from callcenter.tasks import BackgroundTasks

log = logging.getLogger(__name__)

Lookup = Callable[[str], Awaitable[dict[str, Any]]]


def pop_message(ringing: AgentRinging, result: dict[str, Any]) -> dict[str, Any]:
    """What the console receives. Unknown caller: ``new_caller`` (quick-create);
    several customers on one number: ``candidates`` (a short pick list)."""
    card = result.get("match")
    candidates = result.get("candidates") or []
    return {
        "type": "screen_pop",
        "agent_id": ringing.agent_id,
        "call_id": ringing.call_id,
        "channel_id": ringing.channel_id,
        "caller_number": ringing.caller_number,
        "customer_code": ringing.customer_code,
        "card": card,
        "candidates": candidates,
        "new_caller": card is None and not candidates,
        "error": result.get("error"),
    }


class ScreenPopService:
    """Bus handler + tasks: never blocks the AMI reader (look-ups run as tasks)."""

    def __init__(self, bus: ev.EventBus, calls: CallReader, hub: AgentHub, lookup: Lookup,
                 endpoints: AgentEndpoints | None = None) -> None:
        self.bus = bus
        self.hub = hub
        self.lookup = lookup
        self.detector = RingDetector(calls, endpoints)
        self._tasks = BackgroundTasks("screen pops")
        bus.add_handler(self.on_event)

    def on_event(self, event: ev.DomainEvent) -> None:
        ringing = self.detector.on_event(event)
        if ringing is None:
            return
        self._tasks.spawn(self.pop(ringing))

    async def pop(self, ringing: AgentRinging) -> dict[str, Any]:
        started = time.monotonic()
        result: dict[str, Any] = {"match": None}
        if ringing.lookup_key:
            try:
                result = await self.lookup(ringing.lookup_key)
            except Exception:
                log.exception("CRM look-up failed for a screen pop",
                              extra={"call_id": ringing.call_id, "agent": ringing.agent_id})
                result = {"match": None, "error": "CRM look-up failed"}
        message = pop_message(ringing, result)
        delivered = self.hub.push(ringing.agent_id, message)
        card = message["card"] or {}
        self.bus.publish(ev.ScreenPopped(
            at=time.time(), agent_id=ringing.agent_id, call_id=ringing.call_id,
            caller_number=ringing.caller_number,
            customer_id=card.get("customer_id"), candidates=len(message["candidates"]),
            consoles=delivered, lookup_ms=round((time.monotonic() - started) * 1000, 3)))
        return message

    async def close(self) -> None:
        self.bus.remove_handler(self.on_event)
        await self._tasks.close()
