"""The complaint desk: the adapter around the pure workflow. It takes the time from the
server's clock, stores through :class:`crm_bridge.complaints.ComplaintStore`, publishes the
domain events (``complaint.registered / step / escalated``), carries out the workflow's
effects (notify the customer: an outbound callback task in the ACD's callback line and,
when SMTP is configured and the customer has an address, an e-mail) and runs the deadline
checker (escalations to the event stream and the webhook).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import smtplib
from collections.abc import Callable
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any

import aiohttp

from callcenter import events as ev
from callcenter.complaints import workflow as w
from callcenter.core.clock import Clock
from crm_bridge.cards import iso
from crm_bridge.complaints import ComplaintStore, outcome_json

log = logging.getLogger(__name__)

#: the ACD's callback line: (queue, call id, channel id, number, priority) -> taken or not
CallbackRequester = Callable[[str, str, str, str, int], bool]


@dataclass(frozen=True, slots=True)
class SmtpConfig:
    host: str
    port: int = 25
    sender: str = "complaints@localhost"
    timeout_s: float = 10.0


def send_mail(config: SmtpConfig, to: str, subject: str, body: str) -> None:
    """Blocking (run it in a thread): one plain-text message over SMTP."""
    message = EmailMessage()
    message["From"] = config.sender
    message["To"] = to
    message["Subject"] = subject
    message.set_content(body)
    with smtplib.SMTP(config.host, config.port, timeout=config.timeout_s) as smtp:
        smtp.send_message(message)


class Webhook:
    """POSTs JSON to one URL; a failed POST (connection error, timeout, non-2xx) is tried
    again after ``backoff_s``, doubling, ``attempts`` times in all. Each delivery runs as its
    own task, so the deadline checker never waits for a slow receiver."""

    def __init__(self, url: str, *, attempts: int = 4, backoff_s: float = 1.0,
                 timeout_s: float = 5.0) -> None:
        self.url = url
        self.attempts = attempts
        self.backoff_s = backoff_s
        self.timeout_s = timeout_s
        self.delivered = 0
        self.failed = 0
        self._tasks: set[asyncio.Task[bool]] = set()
        self._session: aiohttp.ClientSession | None = None

    def send(self, payload: dict[str, Any]) -> asyncio.Task[bool]:
        task = asyncio.get_running_loop().create_task(self.deliver(payload))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def deliver(self, payload: dict[str, Any]) -> bool:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self.timeout_s))
        delay = self.backoff_s
        for attempt in range(1, self.attempts + 1):
            try:
                async with self._session.post(self.url, json=payload) as resp:
                    if 200 <= resp.status < 300:
                        self.delivered += 1
                        return True
                    problem = f"HTTP {resp.status}"
            except (aiohttp.ClientError, TimeoutError) as exc:
                problem = type(exc).__name__
            if attempt < self.attempts:
                log.warning("complaint webhook %s: attempt %d failed (%s), again in %.1f s",
                            self.url, attempt, problem, delay)
                await asyncio.sleep(delay)
                delay *= 2
        self.failed += 1
        log.error("complaint webhook %s: %s not delivered after %d attempts",
                  self.url, payload.get("type"), self.attempts)
        return False

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._session is not None:
            await self._session.close()
            self._session = None


def utc(clock: Clock) -> dt.datetime:
    return dt.datetime.fromtimestamp(clock.now(), dt.UTC)


class ComplaintDesk:
    """Everything the REST routes and the server ask of complaints (see the module)."""

    def __init__(self, store: ComplaintStore, bus: ev.EventBus, clock: Clock,
                 policy: w.WorkflowPolicy, *, callbacks: CallbackRequester | None = None,
                 callback_queue: str = "complaints", webhook: Webhook | None = None,
                 smtp: SmtpConfig | None = None, check_every_s: float = 60.0) -> None:
        self.store = store
        self.bus = bus
        self.clock = clock
        self.policy = policy
        self.callbacks = callbacks
        self.callback_queue = callback_queue
        self.webhook = webhook
        self.smtp = smtp
        self.check_every_s = check_every_s
        self.escalations = 0

    def now(self) -> dt.datetime:
        return utc(self.clock)

    async def register(self, *, customer_id: int, category: str, object: str, request: str,
                       severity: w.Severity, details: str, actor: str,
                       call_id: str | None = None, agent: str | None = None) -> w.Outcome:
        at = self.now()
        if agent is None and call_id:
            agent = await self.store.call_agent(call_id)
        outcome = await self.store.register(
            customer_id=customer_id, category=category, object=object, request=request,
            severity=severity, details=details, actor=actor, at=at, policy=self.policy,
            call_id=call_id, agent=agent)
        c = outcome.complaint
        assert c.id is not None
        self.bus.publish(ev.ComplaintRegistered(
            at=self.clock.now(), complaint_id=c.id, customer_id=c.customer_id,
            category=c.category, severity=c.severity.value, registered_by=actor,
            deadline=iso(c.deadline) or "",
            duplicate_of=c.duplicate_of or 0))
        return outcome

    async def step(self, complaint_id: int, kind: str, fields: dict[str, Any], *, actor: str,
                   version: int | None = None) -> w.Outcome:
        """Take the next step; ``collect_feedback`` from the IVR without a rating reads the
        customer's survey answer given since the remedy was carried out."""
        if kind == "collect_feedback" and fields.get("source") == "ivr" \
                and fields.get("rating") is None:
            current, _ = await self.store.load(complaint_id)
            rating = await self.store.ivr_rating_since(current.customer_id, current.stage_at)
            if rating is None:
                raise w.InvalidStep("the customer has not answered the IVR survey since the "
                                    "remedy was carried out: enter the rating")
            fields = {**fields, "rating": rating}
        action = w.parse_action(kind, fields)
        outcome = await self.store.step(complaint_id, action, actor=actor, at=self.now(),
                                        policy=self.policy, version=version)
        c = outcome.complaint
        self.bus.publish(ev.ComplaintStepped(
            at=self.clock.now(), complaint_id=complaint_id, kind=outcome.step.kind, actor=actor,
            status=c.stage.value, department=c.department or "",
            deadline=iso(c.deadline) or ""))
        for effect in outcome.effects:
            if isinstance(effect, w.NotifyCustomer):
                try:
                    await self._notify(complaint_id, effect)
                except Exception:  # the step is written; say loudly that nobody was told
                    log.exception("complaint %d: the customer could not be notified",
                                  complaint_id)
        return outcome

    async def _notify(self, complaint_id: int, effect: w.NotifyCustomer) -> None:
        """The customer is told: a callback task in the complaints queue's line (the ACD
        reserves an agent, dials the customer and bridges), an e-mail if configured. What was
        done is the ``notify`` step of the history."""
        number, email, name = await self.store.notify_number(effect.customer_id)
        data: dict[str, str] = {}
        if number is None:
            data["callback"] = "no phone number"
        elif self.callbacks is None:
            data["callback"] = "no ACD in this server"
        else:
            taken = self.callbacks(self.callback_queue, f"complaint-{complaint_id}",
                                   f"complaint-{complaint_id}-notify-{int(self.clock.now())}",
                                   number, 0)
            data["callback"] = "queued" if taken else f"queue {self.callback_queue} not served"
            data["number"] = number
            data["queue"] = self.callback_queue
        if self.smtp is not None and email:
            try:
                await asyncio.to_thread(send_mail, self.smtp, email,
                                        f"Your complaint #{complaint_id}",
                                        f"Dear {name},\n\n{effect.message}\n")
                data["email"] = "sent"
            except (OSError, smtplib.SMTPException) as exc:
                log.warning("complaint %d: e-mail to the customer failed: %s", complaint_id, exc)
                data["email"] = f"failed: {type(exc).__name__}"
        current, _ = await self.store.load(complaint_id)
        await self.store.note(complaint_id, w.Step(
            "notify", w.SYSTEM, self.now(), effect.message, current.stage, current.stage, data))

    # --- deadlines ---------------------------------------------------------------------------

    async def check_deadlines(self) -> int:
        """Escalate every open complaint past its deadline now; how many were."""
        at = self.now()
        made = 0
        for complaint_id in await self.store.overdue_ids(at):
            outcome = await self.store.escalate(complaint_id, at=at, policy=self.policy)
            if outcome is None:
                continue
            made += 1
            self._announce(outcome)
        self.escalations += made
        return made

    def _announce(self, outcome: w.Outcome) -> None:
        c = outcome.complaint
        assert c.id is not None
        for effect in outcome.effects:
            if not isinstance(effect, w.Escalated):
                continue
            event = ev.ComplaintEscalated(
                at=self.clock.now(), complaint_id=c.id, customer_id=c.customer_id,
                level=effect.level, status=effect.overdue_stage.value,
                severity=c.severity.value, department=effect.department or "",
                overdue_s=round((outcome.step.at - effect.deadline_was).total_seconds(), 3),
                deadline=iso(c.deadline) or "")
            self.bus.publish(event)
            if self.webhook is not None:
                self.webhook.send({**event.to_dict(), "step": outcome_json(outcome)})

    async def run_deadlines(self) -> None:
        """The deadline checker: every ``check_every_s`` (on the server's clock) until
        cancelled; a database failure is logged and the next round tries again."""
        while True:
            try:
                await self.check_deadlines()
            except Exception:
                log.exception("complaint deadline check failed; trying again in %.0f s",
                              self.check_every_s)
            await self._sleep(self.check_every_s)

    async def _sleep(self, seconds: float) -> None:
        """Wait ``seconds`` of the server's clock (a faster demo clock checks sooner)."""
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        def wake() -> None:
            if not done.done():
                done.set_result(None)

        timer = self.clock.call_at(self.clock.now() + seconds, wake)
        try:
            await done
        finally:
            timer.cancel()

    async def close(self) -> None:
        if self.webhook is not None:
            await self.webhook.close()
