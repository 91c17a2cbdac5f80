"""Run-to-completion delivery, the one rule the event bus and the agent board share.

An item handed over while another is being delivered waits until that delivery has finished
(every receiver called), then goes out in the order it came. So receivers never see an effect
before its cause, whatever order they registered in: a handler that reacts to "channel up" by
moving an agent does not get "agent on call" told to the others before they heard of the
channel.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class RunToCompletion(Generic[T]):
    """``submit(item)`` calls ``deliver(item)`` now, or after the delivery in progress."""

    __slots__ = ("_busy", "_deliver", "_pending")

    def __init__(self, deliver: Callable[[T], None]) -> None:
        self._deliver = deliver
        self._pending: deque[T] = deque()
        self._busy = False

    def submit(self, item: T) -> None:
        if self._busy:
            self._pending.append(item)
            return
        self._busy = True
        try:
            pending = self._pending
            if pending:  # left behind by an exception out of ``deliver``: they came first
                pending.append(item)
                item = pending.popleft()
            deliver = self._deliver
            deliver(item)
            while pending:
                deliver(pending.popleft())
        finally:
            # an exception out of ``deliver`` leaves later items queued: they go out (in
            # order, before the new one) at the next submit
            self._busy = False
