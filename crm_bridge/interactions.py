"""Every call becomes an interaction row, written by the server from the event stream.

The browser never writes call history: if an agent closes the console mid-call, nothing the
server knew is lost. The agent's wrap-up (disposition, notes) is added later through
``PATCH /api/interactions/{id}``.

:class:`InteractionTracker` (pure) turns domain events into row changes;
:class:`InteractionRecorder` applies them in order from a queue, so the AMI reader never waits
for the database. The row is inserted when the call starts (so a console can attach a wrap-up
to a live call) and completed as the call goes on.

**After a crash or an outage** nothing is lost and nothing is doubled. A restarted server's
resync re-discovers the live calls and announces each with ``call.started``: the row of a call
the previous process already recorded is *continued* (insert-or-continue on ``call_id``; the
``started_at``, customer and answer time already recorded are kept; the variables the PBX still
holds, such as queue and agent, are applied as they would be live). Then, on
``pbx.resynced``, every open row whose call is no longer live is closed, with ``end_inferred``
set: those calls ended while nobody was watching (see :class:`CloseEnded` for the time used).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from callcenter import events as ev
from callcenter.cti.model import CAUSE_VANISHED, CAUSE_VANISHED_TEXT
from crm_bridge.lookup import find_customers
from crm_bridge.models import Interaction
from crm_bridge.phones import InvalidNumber, normalise

log = logging.getLogger(__name__)

#: channel variables (dialplan contract) that fill interaction columns
VARIABLE_COLUMNS = {"CC_QUEUE": "queue", "CC_AGENT": "agent", "CC_IVR_PATH": "ivr_path",
                    "CC_DIRECTION": "direction", "CC_RECORDING": "recording_ref",
                    "CC_CAMPAIGN": "campaign"}
INBOUND_CONTEXTS = frozenset({"inbound", "ivr", "holding"})
#: ``hangup_cause`` of a row closed at a resync (the same words the call model uses for a call
#: that vanished while the PBX link was down); a cause already recorded is kept
INFERRED_CAUSE = f"{CAUSE_VANISHED} {CAUSE_VANISHED_TEXT}"[:64]
#: a campaign line's outcomes that end its story (``campaign.line``): stored on the interaction
FINAL_LINE_OUTCOMES = frozenset({"connected", "dropped", "notsure_message", "machine", "busy",
                                 "no_answer", "cancelled", "cancel_answered", "failed"})
#: open rows closed per UPDATE (well under SQLite's limit of bound parameters)
CLOSE_BATCH = 500


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
    #: write only columns that are still NULL: a resync's guess (the answer time of an adopted
    #: call) must not overwrite what the previous process saw happen
    if_unset: bool = False
    #: columns of ``values`` written only where still NULL, the others always (one update may
    #: carry both: the agent's id and, at a resync, a guess of when the agent answered)
    keep: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class CloseEnded:
    """After a resync: close every open row whose call is not in ``live``.

    ``at`` is the resync's time. Those calls ended at some unknown moment while the server (or
    its PBX link) was down, between the last event it saw and the resync; the resync is the
    first moment it *knows* they are over, so that is the time recorded, with
    ``end_inferred = True`` saying it is an upper bound, not the hang-up itself. (The moment
    the outage began is no better: a killed process leaves no last word, and a call that ran
    on for most of the outage would look shorter than it was.)
    """

    at: dt.datetime
    live: frozenset[str]


Change = NewInteraction | InteractionUpdate | CloseEnded


class InteractionTracker:
    """Domain events -> row changes. Pure: no clock, no I/O.

    It keeps the set of live call ids from ``call.started`` / ``call.ended``, so the close after
    ``pbx.resynced`` sees exactly the calls the model announced up to that event, in the order
    the recorder applies its changes. ``live`` may be seeded (:meth:`InteractionRecorder.start`)
    when it starts listening after calls are already up.
    """

    def __init__(self, live: Iterable[str] = ()) -> None:
        self.live: set[str] = set(live)
        #: talk time: the agent's legs (a channel with ``CC_AGENT``) -> their call, and when
        #: each live channel answered; either may be learnt first (at a resync a leg shows up
        #: answered before its variables are read)
        self._agent_legs: dict[str, str] = {}
        self._up: dict[str, float] = {}

    def on_event(self, event: ev.DomainEvent) -> Change | None:
        if isinstance(event, ev.CallStarted):
            self.live.add(event.call_id)
            direction = "inbound" if event.context in INBOUND_CONTEXTS else "outbound"
            return NewInteraction(event.call_id, _when(event.at), direction, event.caller_num)
        if isinstance(event, ev.PbxResynced):
            return CloseEnded(_when(event.at), frozenset(self.live))
        if isinstance(event, ev.CallAnswered):
            return InteractionUpdate(event.call_id, {"answered_at": _when(event.at)},
                                     if_unset=True)
        if isinstance(event, ev.ChannelVariableSet):
            column = VARIABLE_COLUMNS.get(event.name)
            if column is None or not event.value:
                return None
            if column == "direction" and event.value not in ("inbound", "outbound"):
                return None
            columns: dict[str, Any] = {column: event.value[:255]}
            if column == "agent":
                self._agent_legs[event.channel_id] = event.call_id
                up = self._up.get(event.channel_id)
                if up is not None:
                    columns["talk_started_at"] = _when(up)
            return InteractionUpdate(event.call_id, columns, keep=frozenset({"talk_started_at"}))
        if isinstance(event, ev.ChannelCreated | ev.ChannelStateChanged):
            if event.state != "up":
                return None
            self._up[event.channel_id] = event.at
            if event.channel_id not in self._agent_legs:
                return None
            return InteractionUpdate(event.call_id, {"talk_started_at": _when(event.at)},
                                     if_unset=True)
        if isinstance(event, ev.ChannelHungUp):
            answered = self._up.pop(event.channel_id, None)
            agent_call = self._agent_legs.pop(event.channel_id, None)
            if agent_call is None or answered is None:
                return None
            return InteractionUpdate(agent_call, {"talk_ended_at": _when(event.at)})
        if isinstance(event, ev.ScreenPopped):
            # the pop knows who called (the agent leg's connected line) and who it was
            values: dict[str, Any] = {"agent": event.agent_id}
            if event.customer_id is not None:
                values["customer_id"] = event.customer_id
            if event.caller_number:
                values["caller_number"] = event.caller_number
            return InteractionUpdate(event.call_id, values)
        if isinstance(event, ev.CampaignLine):
            # closing the loop: a campaign's call carries its campaign and its line's outcome
            if not event.call_id or event.outcome not in FINAL_LINE_OUTCOMES:
                return None
            return InteractionUpdate(event.call_id, {"campaign": event.campaign[:64],
                                                     "outcome": event.outcome[:32]})
        if isinstance(event, ev.CallEnded):
            self.live.discard(event.call_id)
            cause = f"{event.hangup_cause} {event.hangup_cause_text}".strip()
            # a call the model closed as a ghost at a resync ended unseen, like CloseEnded's
            vanished = (event.hangup_cause == CAUSE_VANISHED
                        and event.hangup_cause_text == CAUSE_VANISHED_TEXT)
            return InteractionUpdate(event.call_id, {"ended_at": _when(event.at),
                                                     "hangup_cause": cause[:64],
                                                     "end_inferred": vanished})
        return None


class InteractionRecorder:
    """Applies tracker changes to the database, in order, off the event-publishing path."""

    def __init__(self, bus: ev.EventBus, sessions: async_sessionmaker[AsyncSession],
                 default_region: str, queue_size: int = 100_000,
                 live_calls: Callable[[], Iterable[str]] | None = None) -> None:
        """``live_calls`` (e.g. ``lambda: model.calls``) names the calls already up when the
        recorder starts; needed only when it starts after the PBX link (``build_app`` starts it
        before, so the tracker sees every ``call.started``)."""
        self.bus = bus
        self.sessions = sessions
        self.default_region = default_region
        self.live_calls = live_calls
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
            log.error("interaction queue full; change dropped", extra=_describe(change))

    async def start(self) -> None:
        if self.live_calls is not None:
            self.tracker.live.update(self.live_calls())
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
                log.exception("could not record interaction change", extra=_describe(change))
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
                await self._insert_or_continue(session, change)
            elif isinstance(change, CloseEnded):
                await self._close_ended(session, change)
            else:
                await self._update(session, change)

    async def _insert_or_continue(self, session: AsyncSession, change: NewInteraction) -> None:
        """A new row, unless the call has one: a call adopted after a restart continues it.

        Checked first (no customer look-up for an adopted call), and the insert itself does
        nothing on a ``call_id`` conflict, so a row written meanwhile by another writer is not
        an error either (SQLite and PostgreSQL both have ON CONFLICT DO NOTHING).
        """
        known = await session.scalar(select(Interaction.id)
                                     .where(Interaction.call_id == change.call_id))
        if known is not None:
            log.debug("interaction continued", extra={"call_id": change.call_id})
            return
        customer_id = None
        if change.caller_number:
            try:
                found = await find_customers(session, change.caller_number, self.default_region)
            except ValueError:
                found = []
            if len(found) == 1:
                customer_id = found[0].id
        dialect = session.get_bind().dialect.name
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        await session.execute(
            insert(Interaction)
            .values(call_id=change.call_id, customer_id=customer_id,
                    direction=change.direction,
                    caller_number=self._number(change.caller_number),
                    started_at=change.started_at)
            .on_conflict_do_nothing(index_elements=[Interaction.call_id]))

    async def _update(self, session: AsyncSession, change: InteractionUpdate) -> None:
        values = dict(change.values)
        if "caller_number" in values:
            values["caller_number"] = self._number(values["caller_number"])
        for column in change.keep & values.keys():
            values[column] = func.coalesce(getattr(Interaction, column), values[column])
        statement = update(Interaction).where(Interaction.call_id == change.call_id)
        if change.if_unset:
            for column in values:
                statement = statement.where(getattr(Interaction, column).is_(None))
        await session.execute(statement.values(**values))

    async def _close_ended(self, session: AsyncSession, change: CloseEnded) -> None:
        """Close the open rows of calls that are not live (see :class:`CloseEnded`).

        Open rows are few (the partial index ``ix_interactions_open`` holds only them), so they
        are read and compared here rather than sent as a ``NOT IN`` list of every live call.
        Rows without a ``call_id`` are no calls of ours and stay as they are.
        """
        open_rows = await session.execute(
            select(Interaction.id, Interaction.call_id)
            .where(Interaction.ended_at.is_(None), Interaction.call_id.is_not(None)))
        ended = [row_id for row_id, call_id in open_rows if call_id not in change.live]
        for first in range(0, len(ended), CLOSE_BATCH):
            await session.execute(
                update(Interaction)
                .where(Interaction.id.in_(ended[first:first + CLOSE_BATCH]),
                       Interaction.ended_at.is_(None))
                .values(ended_at=change.at, end_inferred=True,
                        hangup_cause=func.coalesce(Interaction.hangup_cause, INFERRED_CAUSE)))
        if ended:
            log.info("interactions of calls that ended unseen closed",
                     extra={"closed": len(ended), "live": len(change.live),
                            "ended_at": change.at.isoformat()})


def _describe(change: Change) -> dict[str, Any]:
    """Log fields of a change (a resync's close has no single call)."""
    if isinstance(change, CloseEnded):
        return {"change": "close_ended", "live": len(change.live)}
    return {"change": type(change).__name__, "call_id": change.call_id}
