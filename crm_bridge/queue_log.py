"""The queue-event log: every step of every caller in a queue, one row each, written by the
server from the ACD's ``queue.*`` events (like app_queue's ``queue_log``).

Why a log and not counters: a wallboard tile, a 15-minute report and an audit of one call all
read the same rows (``crm_bridge.queue_figures`` computes the figures from them for any
interval), so a figure can always be recomputed and explained row by row.

:class:`QueueLogTracker` (pure) turns events into :class:`QueueLogEntry` values;
:class:`QueueLogRecorder` writes them in order, in batches, off the publishing path (the AMI
reader never waits for the database). A database outage does not lose rows: the batch is
retried (backoff up to :data:`MAX_RETRY_S`) while the queue keeps the newer ones; a row the
database refuses is logged (no traceback) and counted, and the rest of its batch is written.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Table, insert, select
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from callcenter import events as ev
from crm_bridge.models import QueueLogRow

log = logging.getLogger(__name__)

#: rows per INSERT (one transaction); a burst is written in a few statements, not row by row
BATCH = 500
#: longest pause between attempts while the database cannot be reached
MAX_RETRY_S = 5.0
_TABLE = cast(Table, QueueLogRow.__table__)
#: columns are bounded; longer text (a routing reason) is cut, never refused
_SHORT, _LONG = 64, 255


def _when(epoch: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(epoch, dt.UTC)


@dataclass(frozen=True, slots=True)
class QueueLogEntry:
    """One row of ``queue_log`` (see :class:`~crm_bridge.models.QueueLogRow` for the kinds);
    ``at`` is epoch seconds, so the figures need no datetime arithmetic."""

    at: float
    queue: str
    call_id: str
    channel_id: str
    kind: str
    agent: str | None = None
    wait_s: float | None = None
    priority: int | None = None
    waiting: int | None = None
    detail: str | None = None

    def to_row(self) -> dict[str, Any]:
        # by hand: dataclasses.asdict deep-copies every value, half the writer's time
        return {"at": _when(self.at), "queue": self.queue, "call_id": self.call_id,
                "channel_id": self.channel_id, "kind": self.kind, "agent": self.agent,
                "wait_s": self.wait_s, "priority": self.priority, "waiting": self.waiting,
                "detail": self.detail}

    @classmethod
    def from_row(cls, row: QueueLogRow) -> QueueLogEntry:
        return cls(at=row.at.timestamp(), queue=row.queue, call_id=row.call_id,
                   channel_id=row.channel_id, kind=row.kind, agent=row.agent,
                   wait_s=row.wait_s, priority=row.priority, waiting=row.waiting,
                   detail=row.detail)


def _cut(text: str, limit: int = _SHORT) -> str:
    return text[:limit]


class QueueLogTracker:
    """``queue.*`` events -> log entries. Pure: no clock, no I/O.

    Only an entry carries the caller's priority on the wire; the tracker remembers it per
    caller channel and copies it onto that caller's later rows (a VIP's answer row says VIP),
    forgetting it when the caller is answered, abandons or hangs up.
    """

    def __init__(self) -> None:
        self.priority: dict[str, int] = {}

    def on_event(self, event: ev.DomainEvent) -> QueueLogEntry | None:
        if isinstance(event, ev.CallQueued):
            self.priority[event.channel_id] = event.priority
            return QueueLogEntry(event.at, _cut(event.queue), _cut(event.call_id),
                                 _cut(event.channel_id),
                                 "requeue" if event.requeued else "enter",
                                 priority=event.priority, waiting=event.waiting)
        if isinstance(event, ev.CallOffered):
            return self._entry(event, "offer", agent=_cut(event.agent_id),
                               wait_s=event.waited_s, detail=event.reason[:_LONG] or None)
        if isinstance(event, ev.CallNotConnected):
            return self._entry(event, "not_connected", agent=_cut(event.agent_id),
                               detail=_cut(event.result) or None)
        if isinstance(event, ev.CallConnected):
            entry = self._entry(event, "answer", agent=_cut(event.agent_id),
                                wait_s=event.waited_s)
            self.priority.pop(event.channel_id, None)
            return entry
        if isinstance(event, ev.CallAbandoned):
            entry = self._entry(event, "abandon", wait_s=event.waited_s,
                                detail=_cut(event.stage) or None)
            self.priority.pop(event.channel_id, None)
            return entry
        if isinstance(event, ev.CallOverflowed):
            return self._entry(event, "overflow", wait_s=event.waited_s,
                               detail=_cut(event.to_queue))
        if isinstance(event, ev.CallTransferred):
            return self._entry(event, "transfer", wait_s=event.waited_s,
                               detail=f"{event.reason} -> {event.to_queue}"[:_LONG])
        if isinstance(event, ev.ChannelHungUp):
            self.priority.pop(event.channel_id, None)
        return None

    def _entry(self, event: ev.CallOffered | ev.CallNotConnected | ev.CallConnected
               | ev.CallAbandoned | ev.CallOverflowed | ev.CallTransferred, kind: str,
               **values: Any) -> QueueLogEntry:
        return QueueLogEntry(event.at, _cut(event.queue), _cut(event.call_id),
                             _cut(event.channel_id), kind,
                             priority=self.priority.get(event.channel_id), **values)


class QueueLogRecorder:
    """Writes the tracker's entries to ``queue_log``, in order, in batches, off the bus.

    Counters: ``written`` (rows stored), ``failed`` (rows the database refused), ``dropped``
    (rows never attempted: the bounded queue was full, or rows still queued when :meth:`stop`
    gave up waiting for an unreachable database), ``batches`` (INSERT statements).
    """

    def __init__(self, bus: ev.EventBus, sessions: async_sessionmaker[AsyncSession], *,
                 queue_size: int = 100_000, batch: int = BATCH) -> None:
        self.bus = bus
        self.sessions = sessions
        self.batch = batch
        self.tracker = QueueLogTracker()
        self.queue: asyncio.Queue[QueueLogEntry] = asyncio.Queue(queue_size)
        self.written = 0
        self.failed = 0
        self.dropped = 0
        self.batches = 0
        self._pending: list[QueueLogEntry] = []
        self._task: asyncio.Task[None] | None = None

    def on_event(self, event: ev.DomainEvent) -> None:
        entry = self.tracker.on_event(event)
        if entry is None or self.bus.relayed:
            return  # relayed from another server process: that process writes its row
        try:
            self.queue.put_nowait(entry)
        except asyncio.QueueFull:
            self.dropped += 1
            if self.dropped == 1 or self.dropped % 1000 == 0:
                log.error("queue log full; rows dropped",
                          extra={"dropped": self.dropped, "call_id": entry.call_id})

    async def start(self) -> None:
        self.bus.add_handler(self.on_event)
        self._task = asyncio.create_task(self._run(), name="queue-log-recorder")

    async def stop(self, drain_timeout_s: float = 5.0) -> None:
        """Stop listening, write what is queued (bounded wait), then stop the writer."""
        self.bus.remove_handler(self.on_event)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.queue.join(), drain_timeout_s)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        lost = self.queue.qsize() + len(self._pending)
        if lost:
            self.dropped += lost
            log.error("queue log stopped with rows unwritten (database unreachable)",
                      extra={"rows": lost})
        self._pending = []

    async def _run(self) -> None:
        while True:
            self._pending = [await self.queue.get()]
            while len(self._pending) < self.batch and not self.queue.empty():
                self._pending.append(self.queue.get_nowait())
            taken = len(self._pending)
            try:
                await self._write_until_stored()  # empties _pending unless cancelled
            finally:
                for _ in range(taken):
                    self.queue.task_done()

    async def _write_until_stored(self) -> None:
        """Write ``_pending``; while the database cannot be reached, wait and try again."""
        delay = 0.1
        while self._pending:
            try:
                await self._store_pending()
            except (OperationalError, InterfaceError) as exc:
                log.warning("queue log: database unreachable, retrying in %.1f s: %s", delay,
                            _reason(exc), extra={"rows": len(self._pending)})
                await asyncio.sleep(delay)
                delay = min(delay * 2, MAX_RETRY_S)

    async def _store_pending(self) -> None:
        """Insert ``_pending`` in one statement; if the database refuses it, row by row so
        that only the bad rows are lost (each logged, no traceback). ``_pending`` keeps what
        is not yet stored when the database becomes unreachable (raised to the caller)."""
        try:
            await self._insert(self._pending)
            self._pending = []
            return
        except (OperationalError, InterfaceError):
            raise
        except Exception:  # a bad row spoils the batch: find it below
            pass
        while self._pending:
            entry = self._pending[0]
            try:
                await self._insert([entry])
            except (OperationalError, InterfaceError):
                raise
            except Exception as exc:
                self.failed += 1
                log.error("queue log row refused: %s", _reason(exc),
                          extra={"call_id": entry.call_id, "kind": entry.kind})
            del self._pending[0]

    async def _insert(self, entries: Sequence[QueueLogEntry]) -> None:
        async with self.sessions() as session, session.begin():
            # Core insert (executemany): the ORM's bulk path only adds bookkeeping here
            await session.execute(insert(_TABLE),
                                  [entry.to_row() for entry in entries])
        self.batches += 1
        self.written += len(entries)


def _reason(exc: BaseException) -> str:
    """The database's own words, one line, without the SQL and parameters SQLAlchemy adds."""
    inner = getattr(exc, "orig", None) or exc
    return f"{type(inner).__name__}: {str(inner).splitlines()[0] if str(inner) else ''}"[:300]


# --- reading ----------------------------------------------------------------------------


async def read_entries(session: AsyncSession, start: dt.datetime, end: dt.datetime,
                       queue: str | None = None) -> list[QueueLogEntry]:
    """Every row with ``start <= at < end`` (of ``queue``, or of every queue), in order.

    Plain column tuples, not ORM objects: a day of a busy center is a few hundred thousand
    rows, and the figures need nothing but the values."""
    table = _TABLE
    statement = select(*(table.c[name] for name in _ENTRY_COLUMNS)).where(
        table.c.at >= start, table.c.at < end)
    if queue is not None:
        statement = statement.where(table.c.queue == queue)
    result = await session.execute(statement.order_by(table.c.at, table.c.id))
    return [QueueLogEntry(row[0].timestamp(), *row[1:]) for row in result]


_ENTRY_COLUMNS = ("at", "queue", "call_id", "channel_id", "kind", "agent", "wait_s",
                  "priority", "waiting", "detail")


async def read_log(session: AsyncSession, queue: str, *, call_id: str | None = None,
                   start: dt.datetime | None = None, end: dt.datetime | None = None,
                   limit: int = 100) -> list[dict[str, Any]]:
    """The newest ``limit`` rows of ``queue`` (of one call if ``call_id``), oldest first."""
    statement = select(QueueLogRow).where(QueueLogRow.queue == queue)
    if call_id is not None:
        statement = statement.where(QueueLogRow.call_id == call_id)
    if start is not None:
        statement = statement.where(QueueLogRow.at >= start)
    if end is not None:
        statement = statement.where(QueueLogRow.at < end)
    rows = list(await session.scalars(
        statement.order_by(QueueLogRow.at.desc(), QueueLogRow.id.desc()).limit(limit)))
    return [_row_json(row) for row in reversed(rows)]


def _row_json(row: QueueLogRow) -> dict[str, Any]:
    return {"id": row.id, "at": row.at.isoformat(), "queue": row.queue,
            "call_id": row.call_id, "channel_id": row.channel_id, "kind": row.kind,
            "agent": row.agent, "wait_s": row.wait_s, "priority": row.priority,
            "waiting": row.waiting, "detail": row.detail}


def entries_of(events: Iterable[ev.DomainEvent]) -> list[QueueLogEntry]:
    """The entries a fresh tracker makes of ``events`` (tests, what-if reports)."""
    tracker = QueueLogTracker()
    return [entry for event in events if (entry := tracker.on_event(event)) is not None]
