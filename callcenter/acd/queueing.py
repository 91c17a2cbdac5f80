"""Queue orders: which waiting caller a freed agent takes first.

An order gives each call a *static* sort key at the moment it is offered (smaller goes first),
so the dispatcher can keep waiting calls in heaps: taking the next call costs O(log n), never a
scan of the line. Both orders below have static keys, including the one that ages.
"""

from __future__ import annotations

from typing import Protocol

from callcenter.acd.calls import WaitingCall

QueueKey = tuple[float, float]


class QueueOrder(Protocol):
    name: str

    def key(self, call: WaitingCall) -> QueueKey:
        """Sort key, fixed when the call is offered: smaller is served first."""
        ...

    def describe(self, call: WaitingCall, now: float) -> str:
        """Why this call is next in line (for the routing decision's reason)."""
        ...


class StrictPriority:
    """Higher ``priority`` first, then arrival (the first release's order, kept for the
    baseline strategies). A caller of lower priority can wait for ever while higher-priority
    callers keep arriving: use :class:`AgedPriority` when that matters."""

    name = "strict priority"

    def key(self, call: WaitingCall) -> QueueKey:
        return (-call.priority, call.arrived)

    def describe(self, call: WaitingCall, now: float) -> str:
        return f"priority {call.priority}, waited {now - call.arrived:.0f} s"


#: the queue priority of a value-pyramid tier (the card's ``value_tier``, computed by
#: ``callcenter analytics refresh``), one mapping for the IVR and the demo: with AgedPriority's
#: 6 s per point (capped at 60 s) a VIP customer is served as if it had called 60 s earlier, a
#: major one 30 s, an ordinary one 12 s; small customers and unknown callers get no head start
TIER_PRIORITY = {"vip": 10, "major": 5, "ordinary": 2}
#: extra priority for a customer with a churn warning (the card's ``churn.at_risk``): 18 s more
#: head start, so a small customer about to leave is served like an ordinary-plus one
CHURN_PRIORITY = 3


def routing_priority(tier: str | None, at_risk: bool = False) -> int:
    """The queue priority of a caller from its card: :data:`TIER_PRIORITY` of its value tier
    plus :data:`CHURN_PRIORITY` when it has a churn warning."""
    return TIER_PRIORITY.get(tier or "none", 0) + (CHURN_PRIORITY if at_risk else 0)


class AgedPriority:
    """Priority with bounded aging: a caller of priority ``p`` is served as if it had arrived
    ``head_start(p) = min(p * seconds_per_point, max_head_start_s)`` seconds earlier
    (priorities below 0 get no head start).

    Why this rule. Read it two ways, both exact:

    - *aging*: a caller's effective priority is ``p + wait / seconds_per_point``; every waiting
      caller ages at the same rate, so comparing effective priorities *now* is comparing
      ``arrived - head_start(p)``, a key fixed at arrival — the queue stays a heap;
    - *hard bound*: a caller is served after a later arrival only if that one arrived less than
      ``head_start(theirs) - head_start(mine) <= max_head_start_s`` seconds later. So **no
      caller waits behind anyone who arrived more than ``max_head_start_s`` after them**: a
      regular caller who has waited that long is never overtaken again, however many VIPs
      come — no starvation — while a VIP still jumps every regular caller who has waited less.

    Defaults: 6 s per priority point, capped at 60 s (a VIP at priority 10 jumps callers who
    have waited up to a minute; with a 20 s service-level target that is the whole line in
    normal operation, and a bound a supervisor can state)."""

    name = "aged priority"

    def __init__(self, seconds_per_point: float = 6.0, max_head_start_s: float = 60.0) -> None:
        if seconds_per_point < 0 or max_head_start_s < 0:
            raise ValueError("aging parameters must not be negative")
        self.seconds_per_point = seconds_per_point
        self.max_head_start_s = max_head_start_s

    def head_start(self, priority: int) -> float:
        if priority <= 0:
            return 0.0
        return min(priority * self.seconds_per_point, self.max_head_start_s)

    def key(self, call: WaitingCall) -> QueueKey:
        # ties (same aged arrival) go to the caller who really arrived first
        return (call.arrived - self.head_start(call.priority), call.arrived)

    def describe(self, call: WaitingCall, now: float) -> str:
        head = self.head_start(call.priority)
        return (f"priority {call.priority} (head start {head:.0f} s of max "
                f"{self.max_head_start_s:.0f} s), waited {now - call.arrived:.0f} s")


STRICT_PRIORITY = StrictPriority()
