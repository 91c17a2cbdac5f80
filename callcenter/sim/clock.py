"""Virtual time: the discrete-event :class:`VirtualClock` that lets a simulated day run as fast
as the CPU allows. It implements the core's :class:`~callcenter.core.clock.Clock`; real time is
:class:`~callcenter.core.clock.RealtimeClock`. Code scheduled on a clock only sees ``now()`` and
``call_at()``, so it cannot tell which clock drives it.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable
from typing import Any


class _VirtualTimer:
    __slots__ = ("args", "callback", "cancelled", "when")

    def __init__(self, when: float, callback: Callable[..., Any], args: tuple[Any, ...]) -> None:
        self.when = when
        self.callback = callback
        self.args = args
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class VirtualClock:
    """A heap of timers; :meth:`run` jumps from one to the next. Ties run in scheduling order,
    so a run is a pure function of its seed."""

    __slots__ = ("_heap", "_now", "_seq", "events_run")

    def __init__(self, start: float = 0.0) -> None:
        self._heap: list[tuple[float, int, _VirtualTimer]] = []
        self._now = start
        self._seq = 0
        self.events_run = 0

    def now(self) -> float:
        return self._now

    def call_at(self, when: float, callback: Callable[..., Any], *args: Any) -> _VirtualTimer:
        if when < self._now:
            when = self._now
        timer = _VirtualTimer(when, callback, args)
        self._seq += 1
        heapq.heappush(self._heap, (when, self._seq, timer))
        return timer

    def call_later(self, delay: float, callback: Callable[..., Any], *args: Any) -> _VirtualTimer:
        return self.call_at(self._now + delay, callback, *args)

    def run(self, until: float | None = None) -> None:
        """Run timers in time order up to ``until`` (inclusive), or until none is left."""
        heap = self._heap
        pop = heapq.heappop
        count = 0
        while heap:
            when = heap[0][0]
            if until is not None and when > until:
                self._now = until
                break
            timer = pop(heap)[2]
            if timer.cancelled:
                continue
            self._now = when
            count += 1
            timer.callback(*timer.args)
        else:
            if until is not None and until > self._now:
                self._now = until
        self.events_run += count

    @property
    def pending(self) -> int:
        return len(self._heap)
