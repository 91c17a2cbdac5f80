"""A campaign's leads: which to dial next, and what each line's outcome does to its lead. Pure.

Order (the first difference decides): a callback that is due, then higher priority, then higher
customer value, then fewer attempts so far (fresh leads before retries), then list order.

Every lead offered to the dialer first passes :func:`~callcenter.dialer.compliance.decide_dial`
through the ``gate`` given to :class:`LeadBook`; a lead refused for now waits until the moment
the decision names (the calling window opens in all the callee's zones), one refused for good
(do-not-call, no consent, not a number) is closed with that reason. Outcomes follow the
campaign's :class:`RetryRules`: busy, no answer and machine come back after their delay until
their attempts are used up; a person (connected or abandoned) closes the lead.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from callcenter.dialer.compliance import DialDecision, Verdict

__all__ = ["Lead", "LeadBook", "RetryRule", "RetryRules"]


@dataclass(slots=True)
class Lead:
    lead_id: str
    number: str
    priority: int = 0
    value: float = 0.0
    consent: bool = True
    #: epoch seconds of an agreed callback (first when due), None: none
    callback_at: float | None = None
    attempts: int = 0
    #: not before this (epoch seconds): a retry's delay
    next_attempt_at: float = 0.0
    #: new / waiting / dialing / done
    status: str = "new"
    #: why it is done: contacted, abandoned, max_attempts, dnc_global, ...
    result: str | None = None
    last_outcome: str | None = None
    customer_id: int | None = None
    name: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def order_key(self, now: float) -> tuple[int, int, float, int]:
        due_callback = self.callback_at is not None and self.callback_at <= now
        return (0 if due_callback else 1, -self.priority, -self.value, self.attempts)


@dataclass(frozen=True, slots=True)
class RetryRule:
    """Try again after ``delay_s``, at most ``max_attempts`` dials in all."""

    delay_s: float
    max_attempts: int

    def __post_init__(self) -> None:
        if self.delay_s < 0:
            raise ValueError(f"retry delay must be >= 0 s, got {self.delay_s!r}")
        if self.max_attempts < 1:
            raise ValueError(f"max attempts must be >= 1, got {self.max_attempts!r}")


@dataclass(frozen=True, slots=True)
class RetryRules:
    busy: RetryRule = RetryRule(600.0, 5)
    no_answer: RetryRule = RetryRule(3600.0, 4)
    machine: RetryRule = RetryRule(4 * 3600.0, 2)
    #: a line the PBX never placed (link down): not an attempt at the callee
    failed: RetryRule = RetryRule(60.0, 10)

    def rule(self, outcome: str) -> RetryRule | None:
        return {"busy": self.busy, "no_answer": self.no_answer, "machine": self.machine,
                # hung up still ringing after the minimum ring: nobody answered
                "cancelled": self.no_answer, "failed": self.failed}.get(outcome)


#: ``gate(lead, now)`` -> the compliance decision for dialling ``lead`` at ``now``
Gate = Callable[[Lead, float], DialDecision]


class LeadBook:
    """Leads in dial order. ``next_lead(now)`` returns a lead cleared by ``gate`` (status
    ``dialing``, attempts counted) or None when none may be dialled now; ``on_decision`` sees
    every gate decision (the audit)."""

    def __init__(self, leads: Iterable[Lead], gate: Gate, retry: RetryRules | None = None,
                 on_decision: Callable[[Lead, DialDecision], None] | None = None) -> None:
        self.gate = gate
        self.retry = retry or RetryRules()
        self.on_decision = on_decision
        self.leads: dict[str, Lead] = {}
        self._seq = itertools.count()
        #: ready to dial by order key (the key is computed when the lead becomes ready)
        self._ready: list[tuple[tuple[int, int, float, int], int, str]] = []
        #: not before a time: (time, seq, lead_id)
        self._later: list[tuple[float, int, str]] = []
        self.add(leads)

    def add(self, leads: Iterable[Lead]) -> None:
        for lead in leads:
            if lead.lead_id in self.leads:
                raise ValueError(f"lead {lead.lead_id!r} given twice")
            self.leads[lead.lead_id] = lead
            if lead.status != "done":
                self._schedule(lead, 0.0)

    def _schedule(self, lead: Lead, now: float) -> None:
        lead.status = "waiting" if lead.attempts else "new"
        at = max(lead.next_attempt_at, lead.callback_at or 0.0)
        if at > now:
            heapq.heappush(self._later, (at, next(self._seq), lead.lead_id))
        else:
            heapq.heappush(self._ready, (lead.order_key(now), next(self._seq), lead.lead_id))

    def _release(self, now: float) -> None:
        later, ready = self._later, self._ready
        while later and later[0][0] <= now:
            _, seq, lead_id = heapq.heappop(later)
            lead = self.leads.get(lead_id)
            if lead is not None and lead.status in ("new", "waiting"):
                heapq.heappush(ready, (lead.order_key(now), seq, lead_id))

    @property
    def pending(self) -> int:
        """Leads not done (ready, waiting for a time, or being dialled)."""
        return sum(1 for lead in self.leads.values() if lead.status != "done")

    def next_due_at(self) -> float | None:
        return self._later[0][0] if self._later else None

    def next_lead(self, now: float) -> Lead | None:
        self._release(now)
        while self._ready:
            _, _, lead_id = heapq.heappop(self._ready)
            lead = self.leads.get(lead_id)
            if lead is None or lead.status not in ("new", "waiting"):
                continue
            decision = self.gate(lead, now)
            if self.on_decision is not None:
                self.on_decision(lead, decision)
            if decision.verdict is Verdict.DIAL:
                lead.status = "dialing"
                lead.attempts += 1
                return lead
            if decision.verdict is Verdict.NEVER:
                self._close(lead, decision.reason)
                continue
            retry_at = decision.retry_at.timestamp() if decision.retry_at else now + 300.0
            lead.next_attempt_at = max(lead.next_attempt_at, retry_at)
            heapq.heappush(self._later, (lead.next_attempt_at, next(self._seq), lead_id))
        return None

    def close(self, lead: Lead, result: str) -> None:
        """Done with ``lead`` (refused for good by the gate outside :meth:`next_lead`)."""
        self._close(lead, result)

    def _close(self, lead: Lead, result: str) -> None:
        lead.status = "done"
        lead.result = result

    def outcome(self, lead: Lead, outcome: str, now: float) -> None:
        """What a line to ``lead`` came to: ``busy``, ``no_answer``, ``cancelled`` (hung up
        still ringing: retried as a no-answer), ``machine``, ``failed`` (retried per the
        rules), ``human``/``connected`` (contacted), ``dropped``, ``notsure_message`` or
        ``cancel_answered`` (a person abandoned: closed, the law forbids calling them back
        within the campaign's retry delay anyway)."""
        lead.last_outcome = outcome
        if outcome in ("human", "notsure"):
            return  # the connected / dropped that follows decides
        if outcome == "connected":
            self._close(lead, "contacted")
            return
        if outcome in ("dropped", "notsure_message", "cancel_answered"):
            self._close(lead, "abandoned")
            return
        rule = self.retry.rule(outcome)
        if rule is None:
            raise ValueError(f"unknown line outcome {outcome!r}")
        if outcome == "failed":
            lead.attempts -= 1  # never reached the callee
            if lead.extra.get("failures", 0) + 1 >= rule.max_attempts:
                self._close(lead, "failed")
                return
            lead.extra["failures"] = lead.extra.get("failures", 0) + 1
        elif lead.attempts >= rule.max_attempts:
            self._close(lead, f"max_attempts_{outcome}")
            return
        lead.next_attempt_at = now + rule.delay_s
        if lead.callback_at is not None and lead.callback_at <= now:
            lead.callback_at = None  # the callback was tried
        self._schedule(lead, now)
