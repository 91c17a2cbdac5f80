"""Callbacks that keep the caller's place in line: the record, the retry rule and the store port.

A caller who asks to be called back (a key in ``[queue-callback-offer]``) hangs up, and stays
in the line as a *virtual* caller: same arrival time, same priority. When its turn comes the ACD
reserves the agent, dials the customer and rings the agent once the customer answered. Pure:
the inbound ACD (:mod:`callcenter.acd.service`) drives it; a :class:`CallbackStore` keeps the
pending callbacks so that a restarted server calls them back (``crm_bridge.callbacks`` is the
database one; :class:`MemoryCallbacks` keeps them for the life of one process).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Protocol

#: dials to the customer before the callback fails for good
MAX_ATTEMPTS = 3
#: seconds between a customer who did not answer and the next attempt
RETRY_AFTER_S = 60.0


@dataclass(frozen=True, slots=True)
class Callback:
    """A caller's kept place: ``callback_id`` is the caller's original channel (its key in the
    dispatcher's line), ``arrived`` its first arrival (epoch seconds)."""

    callback_id: str
    queue: str
    call_id: str
    number: str
    arrived: float
    priority: int = 0
    #: dials already made (none answered)
    attempts: int = 0

    def failed_once(self) -> Callback:
        return replace(self, attempts=self.attempts + 1)


def retry_after_s(callback: Callback, retry_s: float = RETRY_AFTER_S,
                  max_attempts: int = MAX_ATTEMPTS) -> float | None:
    """When to dial again after ``callback``'s last attempt failed (its ``attempts`` already
    counting it); None: give up, the customer was tried ``max_attempts`` times."""
    if callback.attempts >= max_attempts:
        return None
    return retry_s


class CallbackStore(Protocol):
    async def save(self, callback: Callback) -> None:
        """Insert or replace (by ``callback_id``)."""
        ...

    async def remove(self, callback_id: str) -> None: ...

    async def pending(self, queue: str) -> list[Callback]:
        """The queue's callbacks still to make, in no particular order."""
        ...


class MemoryCallbacks:
    """Callbacks kept in this process only (no database configured): lost with it."""

    def __init__(self) -> None:
        self.callbacks: dict[str, Callback] = {}

    async def save(self, callback: Callback) -> None:
        self.callbacks[callback.callback_id] = callback

    async def remove(self, callback_id: str) -> None:
        self.callbacks.pop(callback_id, None)

    async def pending(self, queue: str) -> list[Callback]:
        return [cb for cb in self.callbacks.values() if cb.queue == queue]
