"""Login throttling: too many failed log-ins lock a username, and a client address, for a while.

Failures are counted per key (``user:<name>`` and ``ip:<address>``) in a sliding window;
once a key reaches its limit, every attempt on it is refused without checking the password
(so a guess that happens to be right teaches nothing) until the oldest failure leaves the
window. A successful log-in clears the username's count, not the address's (one user's
success must not unlock an address guessing others' passwords). Memory is bounded: keys
beyond ``max_keys`` push out the stalest.

:class:`LoginThrottle` counts in this process;
:class:`callcenter.redis_sessions.RedisLoginThrottle` counts in Redis, so guesses
spread over several server processes add up (the interface: :class:`Throttle`).
"""

from __future__ import annotations

import time
from collections import OrderedDict, deque
from collections.abc import Callable
from typing import Protocol


class Throttle(Protocol):
    async def retry_after(self, username: str, address: str) -> float: ...

    async def failed(self, username: str, address: str) -> None: ...

    async def succeeded(self, username: str) -> None: ...


class LoginThrottle:
    """Failures counted in this process (see the module docstring)."""

    def __init__(self, *, user_limit: int = 5, address_limit: int = 20,
                 window_s: float = 900.0, max_keys: int = 100_000,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.user_limit = user_limit
        self.address_limit = address_limit
        self.window_s = window_s
        self.max_keys = max_keys
        self._clock = clock
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()

    def _recent(self, key: str) -> deque[float]:
        found = self._failures.get(key)
        if found is None:
            return deque()
        cutoff = self._clock() - self.window_s
        while found and found[0] <= cutoff:
            found.popleft()
        if not found:
            del self._failures[key]
        return found

    def _wait(self, key: str, limit: int) -> float:
        recent = self._recent(key)
        if len(recent) < limit:
            return 0.0
        return max(0.0, recent[-limit] + self.window_s - self._clock())

    async def retry_after(self, username: str, address: str) -> float:
        """Seconds until a log-in as ``username`` from ``address`` may be tried (0: now)."""
        return max(self._wait(f"user:{username}", self.user_limit),
                   self._wait(f"ip:{address}", self.address_limit))

    async def failed(self, username: str, address: str) -> None:
        now = self._clock()
        for key in (f"user:{username}", f"ip:{address}"):
            self._failures.setdefault(key, deque()).append(now)
            self._failures.move_to_end(key)
        while len(self._failures) > self.max_keys:
            self._failures.popitem(last=False)

    async def succeeded(self, username: str) -> None:
        self._failures.pop(f"user:{username}", None)
