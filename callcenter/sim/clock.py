"""Discrete-event clocks: the same timers in virtual time (simulations run as fast as the CPU
allows) or in real time (the demo, on the asyncio loop).

Code scheduled on a clock (the dialer loop, simulated callers and agents) only sees
``now()`` and ``call_at()``, so it cannot tell which clock drives it.
"""

from __future__ import annotations

import asyncio
import heapq
import time
from collections.abc import Callable
from typing import Any, Protocol


class Timer(Protocol):
    def cancel(self) -> None: ...


class Clock(Protocol):
    def now(self) -> float: ...

    def call_at(self, when: float, callback: Callable[..., Any], *args: Any) -> Timer: ...


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


class RealtimeClock:
    """Timers on the running asyncio loop; ``now()`` is epoch seconds (from the moment the
    clock was made), so events and the CRM see real times.

    ``speed`` > 1 runs the world faster than the wall clock (a demo minute in six seconds
    with ``speed=10``): simulated time still starts at the real epoch time."""

    def __init__(self, loop: asyncio.AbstractEventLoop | None = None, speed: float = 1.0) -> None:
        if speed <= 0:
            raise ValueError("speed must be positive")
        self._loop = loop or asyncio.get_running_loop()
        self.speed = speed
        self._start_loop = self._loop.time()
        self._start_epoch = time.time()

    def now(self) -> float:
        return self._start_epoch + (self._loop.time() - self._start_loop) * self.speed

    def call_at(self, when: float, callback: Callable[..., Any], *args: Any) -> Timer:
        loop_time = self._start_loop + (when - self._start_epoch) / self.speed
        return self._loop.call_at(loop_time, callback, *args)

    def call_later(self, delay: float, callback: Callable[..., Any], *args: Any) -> Timer:
        return self._loop.call_later(max(0.0, delay) / self.speed, callback, *args)

    async def sleep(self, delay: float) -> None:
        """``asyncio.sleep`` in this clock's time."""
        await asyncio.sleep(max(0.0, delay) / self.speed)
