"""Every call becomes an interaction row, written by the server from the event stream.

The browser never writes call history: if an agent closes the console mid-call, nothing the
server knew is lost. The agent's wrap-up (disposition, notes) is added later through
``PATCH /api/interactions/{id}``.

:class:`InteractionTracker` (pure) turns domain events into row changes;
:class:`InteractionRecorder` applies them in order from a queue, so the AMI reader never waits
for the database. The row is inserted when the call starts (so a console can attach a wrap-up
to a live call) and completed as the call goes on.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from callcenter import events as ev
from crm_bridge.lookup import find_customers
from crm_bridge.models import Interaction
from crm_bridge.phones import InvalidNumber, normalise

log = logging.getLogger(__name__)

#: channel variables (dialplan contract) that fill interaction columns
VARIABLE_COLUMNS = {"CC_QUEUE": "queue", "CC_AGENT": "agent", "CC_IVR_PATH": "ivr_path",
                    "CC_DIRECTION": "direction", "CC_RECORDING": "recording_ref"}
INBOUND_CONTEXTS = frozenset({"inbound", "ivr", "holding"})


def _when(epoch: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(epoch, dt.UTC)


@dataclass(frozen=True, slots=True)
class NewInteraction:
    call_id: str
    started_at: dt.datetime
    direction: str
    caller_number: str


@dataclass(frozen=True, slots=True)
class InteractionUpdate:
    call_id: str
    values: dict[str, Any] = field(default_factory=dict)


Change = NewInteraction | InteractionUpdate


class InteractionTracker:
    """Domain events -> row changes. Pure: no clock, no I/O."""

    def on_event(self, event: ev.DomainEvent) -> Change | None:
        if isinstance(event, ev.CallStarted):
            direction = "inbound" if event.context in INBOUND_CONTEXTS else "outbound"
            return NewInteraction(event.call_id, _when(event.at), direction, event.caller_num)
        if isinstance(event, ev.CallAnswered):
            return InteractionUpdate(event.call_id, {"answered_at": _when(event.at)})
        if isinstance(event, ev.ChannelVariableSet):
            column = VARIABLE_COLUMNS.get(event.name)
            if column is None or not event.value:
                return None
            if column == "direction" and event.value not in ("inbound", "outbound"):
                return None
            return InteractionUpdate(event.call_id, {column: event.value[:255]})
        if isinstance(event, ev.ScreenPopped):
            # the pop knows who called (the agent leg's connected line) and who it was
            values: dict[str, Any] = {"agent": event.agent_id}
            if event.customer_id is not None:
                values["customer_id"] = event.customer_id
            if event.caller_number:
                values["caller_number"] = event.caller_number
            return InteractionUpdate(event.call_id, values)
        if isinstance(event, ev.CallEnded):
            cause = f"{event.hangup_cause} {event.hangup_cause_text}".strip()
            return InteractionUpdate(event.call_id, {"ended_at": _when(event.at),
                                                     "hangup_cause": cause[:64]})
        return None


class InteractionRecorder:
    """Applies tracker changes to the database, in order, off the event-publishing path."""

    def __init__(self, bus: ev.EventBus, sessions: async_sessionmaker[AsyncSession],
                 default_region: str, queue_size: int = 100_000) -> None:
        self.bus = bus
        self.sessions = sessions
        self.default_region = default_region
        self.tracker = InteractionTracker()
        self.queue: asyncio.Queue[Change] = asyncio.Queue(queue_size)
        self.written = 0
        self.failed = 0
        self.dropped = 0
        self._task: asyncio.Task[None] | None = None

    def on_event(self, event: ev.DomainEvent) -> None:
        change = self.tracker.on_event(event)
        if change is None:
            return
        try:
            self.queue.put_nowait(change)
        except asyncio.QueueFull:
            self.dropped += 1
            log.error("interaction queue full; change dropped", extra={"call_id": change.call_id})

    async def start(self) -> None:
        self.bus.add_handler(self.on_event)
        self._task = asyncio.create_task(self._run(), name="interaction-recorder")

    async def stop(self, drain_timeout_s: float = 5.0) -> None:
        """Stop listening, write what is queued (bounded wait), then stop the writer."""
        self.bus.remove_handler(self.on_event)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.queue.join(), drain_timeout_s)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        while True:
            change = await self.queue.get()
            try:
                await self.apply(change)
                self.written += 1
            except Exception:
                self.failed += 1
                log.exception("could not record interaction change",
                              extra={"call_id": change.call_id})
            finally:
                self.queue.task_done()

    def _number(self, raw: str) -> str | None:
        """E.164 when the caller id reads as a number, else as Asterisk gave it."""
        if not raw:
            return None
        try:
            return normalise(raw, self.default_region)
        except InvalidNumber:
            return raw[:64]

    async def apply(self, change: Change) -> None:
        async with self.sessions() as session, session.begin():
            if isinstance(change, NewInteraction):
                customer_id = None
                if change.caller_number:
                    try:
                        found = await find_customers(session, change.caller_number,
                                                     self.default_region)
                    except ValueError:
                        found = []
                    if len(found) == 1:
                        customer_id = found[0].id
                session.add(Interaction(
                    call_id=change.call_id, customer_id=customer_id,
                    direction=change.direction,
                    caller_number=self._number(change.caller_number),
                    started_at=change.started_at))
            else:
                if "caller_number" in change.values:
                    change.values["caller_number"] = self._number(change.values["caller_number"])
                await session.execute(update(Interaction)
                                      .where(Interaction.call_id == change.call_id)
                                      .values(**change.values))
