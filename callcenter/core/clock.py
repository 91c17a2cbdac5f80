"""The clock seam: code scheduled on a clock (the dialer loop, the ACD's timers, simulated
callers and agents) only sees ``now()`` and ``call_at()``, so it cannot tell virtual time (the
simulator's :class:`~callcenter.sim.clock.VirtualClock`) from real time (:class:`RealtimeClock`,
the server and the demo).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any, Protocol


class Timer(Protocol):
    def cancel(self) -> None: ...


class Clock(Protocol):
    def now(self) -> float: ...

    def call_at(self, when: float, callback: Callable[..., Any], *args: Any) -> Timer: ...


class RealtimeClock:
    """Timers on the running asyncio loop; ``now()`` is epoch seconds (from the moment the
    clock was made), so events and the CRM see real times.

    ``speed`` > 1 runs the world faster than the wall clock (a demo minute in six seconds
    with ``speed=10``): time still starts at the real epoch time."""

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
