"""Who may dispatch a queue, and whether a ring may go out: the seam for several processes.

With several server processes on one center, each sees every caller (one Asterisk, one AMI
event stream each), so each would offer every caller to an agent. A **lease per queue** makes
exactly one process the queue's dispatcher at a time; the others stand by and take over when
its lease runs out (its process died). Leases carry a **fencing token** (a number that grows
with every new holder): a ring is claimed with it just before it goes out, and a holder whose
lease has meanwhile passed to another process is refused — a paused or partitioned process
cannot ring an agent on a stale belief.

The ring claim also reserves the caller and the agent across processes: two queues' dispatchers
in two processes never ring the same agent, and a caller whose ring from a dead process may
still be ringing is not offered again until that ring is over (:class:`RingClaim`).

This module is the core's side only (pure: a protocol and the one-process implementation).
:class:`HeldLease` is what a single process uses: always held, every claim granted — exactly
the behaviour before leases existed. The Redis implementation is an adapter
(``callcenter/redis_lease.py``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol

#: ``listener(held)``: the lease was just acquired (True) or lost (False)
LeaseListener = Callable[[bool], None]


class RingClaim(StrEnum):
    """The answer to "may this process ring ``agent`` for ``caller`` now?"."""

    GRANTED = "granted"
    #: this process's lease has passed to another (or its token is old): ring nothing
    STALE = "stale"
    #: another process has the agent (ringing or talking): choose someone else
    AGENT_BUSY = "agent_busy"
    #: another process (maybe dead) rang someone for this caller and that ring may go on
    CALLER_TAKEN = "caller_taken"


@dataclass(frozen=True, slots=True)
class ClaimAnswer:
    claim: RingClaim
    #: for ``CALLER_TAKEN``: how long the other claim may still last (seconds)
    retry_after_s: float = 0.0


class QueueLease(Protocol):
    """One queue's dispatch lease as its ACD sees it."""

    @property
    def queue(self) -> str: ...

    @property
    def held(self) -> bool:
        """This process is the queue's dispatcher now."""
        ...

    @property
    def token(self) -> int:
        """The fencing token of the current holding (0 when not held)."""
        ...

    def subscribe(self, listener: LeaseListener) -> None:
        """Hear every acquisition and loss, in the event loop, in order."""
        ...

    def unsubscribe(self, listener: LeaseListener) -> None:
        """Stop hearing them (a queue redefined at run time closes its old ACD)."""
        ...

    async def claim_ring(self, caller_id: str, agent_id: str,
                         ring_timeout_s: float) -> ClaimAnswer:
        """Claim ``caller_id`` and ``agent_id`` for a ring of up to ``ring_timeout_s``, with
        this holding's token. Granted claims last until :meth:`ring_ended` (the caller) and
        until the agent is free again (the agent), renewed while this process lives."""
        ...

    async def ring_ended(self, caller_id: str, agent_id: str, *, connected: bool) -> None:
        """The ring is over: not connected, both claims go; connected, the caller's claim is
        kept (renewed) until :meth:`caller_gone`, the agent's until the agent is free."""
        ...

    async def caller_gone(self, caller_id: str) -> None:
        """The caller hung up: its claim goes."""
        ...


@dataclass(slots=True)
class HeldLease:
    """One process alone: always the dispatcher (token 1), every ring granted."""

    queue: str
    listeners: list[LeaseListener] = field(default_factory=list)

    @property
    def held(self) -> bool:
        return True

    @property
    def token(self) -> int:
        return 1

    def subscribe(self, listener: LeaseListener) -> None:
        self.listeners.append(listener)  # never called: the lease is never lost

    def unsubscribe(self, listener: LeaseListener) -> None:
        if listener in self.listeners:
            self.listeners.remove(listener)

    async def claim_ring(self, caller_id: str, agent_id: str,
                         ring_timeout_s: float) -> ClaimAnswer:
        return ClaimAnswer(RingClaim.GRANTED)

    async def ring_ended(self, caller_id: str, agent_id: str, *, connected: bool) -> None:
        return None

    async def caller_gone(self, caller_id: str) -> None:
        return None


class Leases(Protocol):
    """Every queue's lease for one process (what the assembly hands each ACD)."""

    def lease(self, queue: str) -> QueueLease: ...


@dataclass(slots=True)
class HeldLeases:
    """The one-process default: each queue's lease is a :class:`HeldLease`."""

    _leases: dict[str, HeldLease] = field(default_factory=dict)

    def lease(self, queue: str) -> QueueLease:
        lease = self._leases.get(queue)
        if lease is None:
            lease = self._leases[queue] = HeldLease(queue)
        return lease
