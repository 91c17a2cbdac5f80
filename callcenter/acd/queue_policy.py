"""What a queue does to a caller besides waiting: overflow, max wait, callback offer,
announcements.

Pure functions of the queue's definition, the caller's timeline and a time: no clock, no PBX.
The inbound ACD (:mod:`callcenter.acd.service`) asks :func:`next_due` when to look at a
caller again, sets one timer for that moment on its clock, and acts on the step that is due;
the simulator can ask the same questions in virtual time.

Why the timers count from ``joined`` and the line from ``arrived``: a caller keeps its *place*
(first arrival, priority) when it moves between queues, but each queue's patience rules start
when the caller reached *that* queue. Otherwise a caller handed over to an overflow queue after
its max wait would at once run out of that queue's max wait too, and bounce on.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass

from callcenter.acd.definitions import QueueDefinition


class Step(enum.Enum):
    """What is due for a waiting caller; the order breaks ties (a caller whose wait runs out
    at the very moment it would overflow leaves the line: overflowing it would be moot)."""

    MAX_WAIT = "max_wait"
    OVERFLOW = "overflow"
    CALLBACK = "callback"
    ANNOUNCE = "announce"


_TIE_ORDER = {step: index for index, step in enumerate(Step)}


@dataclass(slots=True)
class Timeline:
    """One caller in one queue: when it got there, and what was already done."""

    #: when it joined this queue (its timers count from here)
    joined: float
    overflowed: bool = False
    #: the callback offer was made (once per queue)
    callback_offered: bool = False
    #: when it was last told its position (None: never)
    announced_at: float | None = None


@dataclass(frozen=True, slots=True)
class Due:
    at: float
    step: Step


def next_due(queue: QueueDefinition, timeline: Timeline) -> Due | None:
    """The next step due for a caller waiting in ``queue`` (None: nothing, ever)."""
    joined = timeline.joined
    candidates: list[Due] = []
    if queue.max_wait_s is not None:
        candidates.append(Due(joined + queue.max_wait_s, Step.MAX_WAIT))
    if queue.overflow_after_s is not None and not timeline.overflowed:
        candidates.append(Due(joined + queue.overflow_after_s, Step.OVERFLOW))
    if queue.callback_after_s is not None and not timeline.callback_offered:
        candidates.append(Due(joined + queue.callback_after_s, Step.CALLBACK))
    if queue.announce_every_s is not None:
        since = timeline.announced_at if timeline.announced_at is not None else joined
        candidates.append(Due(since + queue.announce_every_s, Step.ANNOUNCE))
    if not candidates:
        return None
    return min(candidates, key=lambda due: (due.at, _TIE_ORDER[due.step]))


def expected_wait_s(position: int, answer_times: Sequence[float]) -> float | None:
    """A caller's expected wait at ``position`` (1 = next in line): the queue answers a caller
    every ``gap`` seconds on average (from its recent answers, oldest first), so the caller
    at position ``p`` should wait about ``p * gap``. None with fewer than two answers to go
    by (say only the position then)."""
    if position < 1:
        raise ValueError(f"position must be >= 1, not {position}")
    if len(answer_times) < 2:
        return None
    gap = (answer_times[-1] - answer_times[0]) / (len(answer_times) - 1)
    return position * max(gap, 0.0)
