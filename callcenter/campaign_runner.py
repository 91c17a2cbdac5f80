"""A campaign running on a PBX: its leads, the compliance gate, the abandonment ledger, the
pacer and the dialer's line port, tied together and reported on the bus. The adapter around the
pure parts of :mod:`callcenter.dialer` (compliance, leads, campaign).

Every gate decision is published as ``dial.decision`` (the audit, stored by
``crm_bridge.campaigns.CampaignRecorder``), every line outcome as ``campaign.line`` (the lead's
new state; the CRM interaction of the call gets the campaign and the outcome), and the
campaign's state and abandonment gauge as ``campaign.status`` (on every control, on every
answered or abandoned line and when the effective mode changes).

Supervisor controls: :meth:`CampaignRunner.start`, :meth:`pause` (no new lines; lines in
progress run to their end), :meth:`resume`, :meth:`stop` (like pause, and final until started
again), :meth:`set_mode`.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import hashlib
import logging
import shutil
from collections.abc import Collection, Coroutine, Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from callcenter import events as ev
from callcenter.acd.agents import AgentBoard
from callcenter.acd.connect import AgentConnector
from callcenter.acd.routing import RoutingStrategy
from callcenter.core.clock import Clock, Timer
from callcenter.core.pbx import Pbx
from callcenter.dialer.campaign import CampaignDefinition
from callcenter.dialer.compliance import (
    AbandonmentLedger,
    CompliantPacer,
    DialDecision,
    Verdict,
    decide_dial,
)
from callcenter.dialer.leads import Lead, LeadBook
from callcenter.dialer.loop import Line
from callcenter.dialer.pacing import LineOutcome, Pacer, parse_pacing
from callcenter.dialer.pbx_port import PbxCampaign

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

    from callcenter.campaign_ownership import CampaignOwnership
    from callcenter.contact_center import ContactCenter

log = logging.getLogger(__name__)

#: outcomes after which the gauge is published at once
_GAUGE_OUTCOMES = frozenset({"human", "dropped", "notsure_message", "cancel_answered",
                             "machine", "connected"})
#: a line's last word: its channel's call is forgotten after it
_LINE_OVER = frozenset({"ended", "dropped", "notsure_message", "machine", "busy", "no_answer",
                        "cancelled", "cancel_answered", "failed"})
_STATUS_EVERY_S = 5.0


class CampaignRunner:
    """One campaign on one PBX (see the module docstring). Complete when constructed; dials
    once :meth:`start` is called."""

    def __init__(self, definition: CampaignDefinition, leads: Iterable[Lead], *, pbx: Pbx,
                 bus: ev.EventBus, board: AgentBoard, connector: AgentConnector, clock: Clock,
                 routing: RoutingStrategy, global_dnc: Collection[str] = frozenset(),
                 campaign_dnc: Collection[str] = frozenset(), abandon_file: str | None = None,
                 ledger: AbandonmentLedger | None = None, pacer: Pacer | None = None,
                 connect_timeout_s: float = 2.0) -> None:
        self.definition = definition
        self.bus = bus
        self.pbx = pbx
        self.clock = clock
        self.name = definition.name
        self.global_dnc = global_dnc
        self.campaign_dnc = campaign_dnc
        self.rules = definition.rules()
        self.ledger = ledger or AbandonmentLedger(
            limit_pct=definition.abandon_limit_pct, zone=definition.timezone,
            amd_false_positive_rate=definition.amd.false_positive_rate)
        self.pacer = CompliantPacer(pacer or parse_pacing(definition.pacing), self.ledger,
                                    definition.mode)
        self.book = LeadBook(leads, self._gate, definition.retry_rules(),
                             on_decision=self._audit)
        amd = definition.amd
        self.port = PbxCampaign(
            pbx, bus, board, connector, clock, self.pacer, routing, self._next_lead,
            campaign=definition.name, number_of=lambda lead: lead.number,
            ring_timeout_s=definition.ring_timeout_s, connect_timeout_s=connect_timeout_s,
            amd=amd.enabled, notsure=amd.notsure, caller_id=definition.caller_id,
            trunk=definition.trunk, amd_args=amd.args(), abandon_file=abandon_file,
            on_line=self._on_line, has_more=lambda: self.book.pending > 0,
            hang_up_after_s=definition.hang_up_after_s)
        self.state = "ready"
        self.decisions = 0
        self._timer: Timer | None = None
        self._last_status: tuple[str, str, str] | None = None
        #: a line's channel -> its call, while the line lasts
        self._line_calls: dict[str, str] = {}

    # --- the gate and the audit -----------------------------------------------------------

    def _gate(self, lead: Lead, now: float) -> DialDecision:
        return decide_dial(lead.lead_id, lead.number, lead.consent,
                           dt.datetime.fromtimestamp(now, dt.UTC), self.rules,
                           self.global_dnc, self.campaign_dnc)

    def _audit(self, lead: Lead, decision: DialDecision) -> None:
        self.decisions += 1
        self.bus.publish(ev.DialDecided(
            at=self.clock.now(), campaign=self.name, lead_id=lead.lead_id,
            number=decision.number, verdict=decision.verdict.value, reason=decision.reason,
            zones=",".join(decision.zones), local_times=",".join(decision.local_times),
            retry_at=decision.retry_at.timestamp() if decision.retry_at else 0.0))

    def _next_lead(self) -> Lead | None:
        if self.state != "running":
            return None
        lead = self.book.next_lead(self.clock.now())
        if lead is None:  # the gate may have closed the last leads, after the last line
            self._finish_if_done()
        return lead

    def _finish_if_done(self) -> None:
        """Every lead done and no line left: the campaign is ``finished`` (told once)."""
        if self.state == "running" and self.book.pending == 0 and not self.port.loop.lines:
            self.state = "finished"
            self.publish_status()

    # --- line outcomes ----------------------------------------------------------------------

    def _on_line(self, line: Line, outcome: str) -> None:
        lead: Lead = line.record
        now = self.clock.now()
        if outcome in ("human", "dropped", "machine", "notsure", "notsure_message",
                       "cancel_answered"):
            self.ledger.record(outcome if outcome.startswith(("notsure", "cancel"))
                               else LineOutcome(outcome), now)
        if outcome not in ("dialed", "ended"):
            self.book.outcome(lead, outcome, now)
        call_id = self._call_of_line(line, outcome)
        self.bus.publish(ev.CampaignLine(
            at=now, campaign=self.name, lead_id=lead.lead_id, line_id=line.line_id,
            outcome=outcome, channel_id=line.port_data or "", call_id=call_id,
            agent_id=line.agent_id or "", attempts=lead.attempts, lead_status=lead.status,
            lead_result=lead.result or "", next_attempt_at=lead.next_attempt_at))
        if outcome in _GAUGE_OUTCOMES:
            self.publish_status()
        self._finish_if_done()

    def _call_of_line(self, line: Line, outcome: str) -> str:
        """The line's call, remembered from when its channel was live: a drop or a machine is
        told after the customer's channel hung up, and its interaction still needs the
        outcome (the abandonment the law caps must be on record)."""
        channel_id = line.port_data or ""
        channel = self.pbx.calls.channel(channel_id) if channel_id else None
        if channel is not None:
            self._line_calls[channel_id] = channel.call_id
        if outcome in _LINE_OVER:
            return self._line_calls.pop(channel_id, "")
        return self._line_calls.get(channel_id, "")

    # --- controls ---------------------------------------------------------------------------

    def start(self, actor: str = "") -> None:
        if self.state == "running":
            return
        self.state = "running"
        self.port.loop.exhausted = False
        self.port.start()
        if self._timer is not None:  # a resume: one status timer, not two
            self._timer.cancel()
        self._tick()
        self.publish_status(actor)

    def pause(self, actor: str = "") -> None:
        self._halt("paused", actor)

    def resume(self, actor: str = "") -> None:
        self.start(actor)

    def stop(self, actor: str = "") -> None:
        self._halt("stopped", actor)

    def _halt(self, state: str, actor: str) -> None:
        self.port.loop.stop()
        self.state = state
        self.publish_status(actor)

    def set_mode(self, mode: str, actor: str = "") -> None:
        if mode not in ("preview", "progressive", "predictive"):
            raise ValueError(f"mode must be preview, progressive or predictive, got {mode!r}")
        self.pacer.mode = mode
        self.definition = self.definition.model_copy(update={"mode": mode})
        self.publish_status(actor)

    def dial_lead(self, lead_id: str, agent_id: str | None = None) -> DialDecision:
        """Preview: dial this lead now (an agent accepted it), through the same gate; the
        person who answers goes to ``agent_id`` if that agent is free then (else to any)."""
        lead = self.book.leads.get(lead_id)
        if lead is None:
            raise KeyError(lead_id)
        if lead.status not in ("new", "waiting"):
            raise ValueError(f"lead {lead_id} is {lead.status}")
        decision = self._gate(lead, self.clock.now())
        self._audit(lead, decision)
        if decision.dial:
            lead.status = "dialing"
            lead.attempts += 1
            self.port.loop.place_now(lead, agent_id)
        elif decision.verdict is Verdict.NEVER:
            self.book.close(lead, decision.reason)
        return decision

    def false_positive(self, lead_id: str, actor: str = "") -> None:
        """A call AMD called a machine was a person (a review, a complaint): one more person
        answered and abandoned, on the ledger and on record (``campaign.line`` outcome
        ``amd_false_positive``)."""
        lead = self.book.leads.get(lead_id)
        if lead is None:
            raise KeyError(lead_id)
        if lead.last_outcome != "machine" and "machine" not in (lead.result or ""):
            raise ValueError(f"lead {lead_id}'s last line was not a machine verdict")
        now = self.clock.now()
        self.ledger.false_positive(now)
        self.bus.publish(ev.CampaignLine(
            at=now, campaign=self.name, lead_id=lead_id, line_id="", outcome="amd_false_positive",
            attempts=lead.attempts, lead_status=lead.status, lead_result=lead.result or "",
            next_attempt_at=lead.next_attempt_at))
        self.publish_status(actor)

    def preview(self, skip: Collection[str] = ()) -> Lead | None:
        """The lead an agent would dial next (not taken from the list), past the ones in
        ``skip`` (what this agent passed over: they stay for the others and the pacer)."""
        now = self.clock.now()
        order = sorted((lead for lead in self.book.leads.values()
                        if lead.status in ("new", "waiting") and lead.lead_id not in skip
                        and max(lead.next_attempt_at, lead.callback_at or 0.0) <= now),
                       key=lambda lead: lead.order_key(now))
        return order[0] if order else None

    async def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        await self.port.close()

    # --- status -------------------------------------------------------------------------------

    def _tick(self) -> None:
        """Publish the status when the effective mode changed (the budget ran out or came
        back) and re-arm."""
        key = (self.state, self.pacer.mode, self.pacer.explain(self.clock.now())[0])
        if key != self._last_status:
            self.publish_status()
        self._timer = self.clock.call_at(self.clock.now() + _STATUS_EVERY_S, self._tick)

    def status(self) -> ev.CampaignStatus:
        now = self.clock.now()
        figures = self.ledger.figures(now)
        effective, reason = self.pacer.explain(now)
        if self.state != "running":
            effective = "none"
        return ev.CampaignStatus(
            at=now, campaign=self.name, state=self.state, mode=self.pacer.mode,
            effective_mode=effective, reason=reason,
            rate_30d_pct=round(figures.rate_30d_pct, 3),
            rate_today_pct=round(figures.rate_today_pct, 3), limit_pct=figures.limit_pct,
            answered_today=figures.answered_today, abandoned_today=figures.abandoned_today,
            answered_30d=figures.answered_30d, abandoned_30d=figures.abandoned_30d,
            pending_leads=self.book.pending, placed=self.port.loop.placed)

    def publish_status(self, actor: str = "") -> None:
        status = self.status()
        if actor:
            status = dataclasses.replace(status, actor=actor)
        self._last_status = (self.state, self.pacer.mode, status.effective_mode)
        self.bus.publish(status)


# --- the abandonment message ------------------------------------------------------------------


class MessageError(RuntimeError):
    """The abandonment message cannot be rendered (espeak-ng or sox missing or failing)."""


async def render_message(definition: CampaignDefinition, out_dir: Path) -> Path:
    """The campaign's abandonment message (:meth:`CampaignDefinition.message_text`) spoken by
    espeak-ng, as an 8 kHz mono WAV in ``out_dir`` named by a hash of voice and text (kept:
    rendered once). Returns the file's path; Asterisk plays it by that path without ``.wav``."""
    text = definition.message_text()
    digest = hashlib.sha256(f"{definition.message_voice}\0{text}".encode()).hexdigest()[:16]
    target = out_dir / f"abandon-{digest}.wav"
    if await asyncio.to_thread(target.is_file):
        return target
    for tool in ("espeak-ng", "sox"):
        if shutil.which(tool) is None:
            raise MessageError(f"{tool} is not installed (Debian package {tool})")
    await asyncio.to_thread(out_dir.mkdir, parents=True, exist_ok=True)
    raw = out_dir / f".{digest}.espeak.wav"
    part = out_dir / f".{digest}.part.wav"
    try:
        await _run(["espeak-ng", "-v", definition.message_voice, "-w", str(raw), text])
        await _run(["sox", str(raw), "-r", "8000", "-c", "1", "-b", "16", str(part)])
        await asyncio.to_thread(_publish, part, target)
    finally:
        await asyncio.to_thread(_cleanup, raw, part)
    return target


def _publish(part: Path, target: Path) -> None:
    part.chmod(0o644)
    part.replace(target)


def _cleanup(*paths: Path) -> None:
    for path in paths:
        path.unlink(missing_ok=True)


async def _run(argv: list[str]) -> None:
    process = await asyncio.create_subprocess_exec(
        *argv, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
    _, err = await process.communicate()
    if process.returncode != 0:
        raise MessageError(f"{argv[0]} failed ({process.returncode}): "
                           f"{err.decode(errors='replace').strip()[:300]}")


def pbx_path(path: Path, host_dir: Path, pbx_dir: str | None) -> str:
    """``path`` (under ``host_dir``) as the PBX sees it, without the extension (Playback)."""
    inner = path.with_suffix("")
    if pbx_dir is None:
        return str(inner)
    return f"{pbx_dir.rstrip('/')}/{inner.relative_to(host_dir)}"



# --- the service: campaigns from the database, run on the contact center -------------------


class CampaignControlError(RuntimeError):
    """A control that cannot be done now (the message says why)."""


class CampaignService:
    """The campaigns this server process runs: each started one runs on the center's agents and
    PBX with its leads, lists and figures from the database; its events are recorded there
    (:class:`crm_bridge.campaigns.CampaignRecorder`). ``message_dir`` is where abandonment
    messages are rendered, ``message_dir_pbx`` the same folder as the PBX sees it.

    A campaign runs in one process only, the one that owns it (``ownership``,
    :mod:`callcenter.campaign_ownership`). A control made on a process that does not own the
    campaign is handed to its owner (``campaign.control`` over the event relay). A supervisor's
    ``running`` is kept across restarts: on shutdown this process stops dialling without
    recording a pause, and every ``adopt_every_s`` it takes up any campaign stored as
    ``running`` that no process owns (after a restart, or when its owner died)."""

    def __init__(self, center: ContactCenter, sessions: async_sessionmaker[AsyncSession], *,
                 region: str, message_dir: Path, message_dir_pbx: str | None = None,
                 routing: str = "fifo-longest-idle", ownership: CampaignOwnership | None = None,
                 adopt_every_s: float = 5.0) -> None:
        from callcenter.campaign_ownership import LocalOwnership
        from crm_bridge.campaigns import CampaignRecorder

        self.center = center
        self.sessions = sessions
        self.region = region
        self.message_dir = message_dir
        self.message_dir_pbx = message_dir_pbx
        self.routing = routing
        self.ownership: CampaignOwnership = ownership or LocalOwnership()
        self.adopt_every_s = adopt_every_s
        self.runners: dict[str, CampaignRunner] = {}
        self.zones: dict[str, str] = {}
        self.recorder = CampaignRecorder(center.bus, sessions, self.zones)
        self._lock = asyncio.Lock()
        self._adopter: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[object]] = set()

    async def start(self) -> None:
        await self.recorder.start()
        self.ownership.on_lost = self._lost
        await self.ownership.start()
        self.center.bus.add_handler(self._on_event)
        self._adopter = asyncio.get_running_loop().create_task(self._adopt_loop(),
                                                               name="campaign-adopter")

    async def close(self) -> None:
        """Stop dialling (lines in progress end on their own) without recording a pause: a
        campaign a supervisor left running is taken up again by the next process."""
        self.center.bus.remove_handler(self._on_event)
        if self._adopter is not None:
            self._adopter.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._adopter
        for name, runner in list(self.runners.items()):
            runner.port.loop.stop()
            await runner.close()
            await self.ownership.release(name)
        self.runners.clear()
        await self.ownership.close()
        for task in list(self._tasks):
            task.cancel()
        await self.recorder.stop()

    def status(self, name: str) -> dict[str, object] | None:
        runner = self.runners.get(name)
        return runner.status().to_dict() if runner is not None else None

    async def _build(self, name: str) -> CampaignRunner:
        from callcenter.acd.routing import make_routing
        from crm_bridge.campaigns import dnc_lists, ledger_history, load_campaign, load_leads

        async with self.sessions() as session:
            definition, _state = await load_campaign(session, name)
            leads = await load_leads(session, name, self.center.clock.now())
            global_dnc, campaign_dnc = await dnc_lists(session, name)
            history = await ledger_history(session, name)
        try:
            message = await render_message(definition, self.message_dir)
        except MessageError as exc:
            raise CampaignControlError(f"the abandonment message cannot be made: {exc}") \
                from exc
        ledger = AbandonmentLedger(limit_pct=definition.abandon_limit_pct,
                                   zone=definition.timezone,
                                   amd_false_positive_rate=definition.amd.false_positive_rate,
                                   history=history)
        center = self.center
        self.zones[name] = definition.timezone
        return CampaignRunner(
            definition, leads, pbx=center.pbx, bus=center.bus, board=center.board,
            connector=center.connector, clock=center.clock,
            routing=make_routing(self.routing, center.rng), global_dnc=global_dnc,
            campaign_dnc=campaign_dnc, ledger=ledger,
            abandon_file=pbx_path(message, self.message_dir, self.message_dir_pbx),
            connect_timeout_s=center.settings.connect_timeout_s)

    async def control(self, name: str, action: str, actor: str = "",
                      mode: str | None = None) -> dict[str, object]:
        """start / pause / resume / stop / mode (with ``mode``). LookupError: no such
        campaign; ValueError: a bad action or mode; CampaignControlError: cannot now.
        Returns the campaign's status, or ``{"campaign", "action", "forwarded_to"}`` when
        another process owns it (the control was handed to it)."""
        if action not in ("start", "resume", "pause", "stop", "mode"):
            raise ValueError(f"unknown action {action!r} (start, pause, resume, stop, mode)")
        if action == "mode" and mode is None:
            raise ValueError("mode is required to change the mode")
        async with self._lock:
            runner = self.runners.get(name)
            if runner is None:
                holder = await self._claim(name)
                if holder is not None:
                    return self._forward(name, action, actor, mode, holder)
                if action not in ("start", "resume"):
                    await self.ownership.release(name)
                    raise CampaignControlError(f"campaign {name} is not running")
            if action in ("start", "resume"):
                if runner is None or runner.state in ("stopped", "finished"):
                    holder = await self._claim(name)
                    if holder is not None:
                        return self._forward(name, action, actor, mode, holder)
                    if runner is not None:
                        await runner.close()
                    try:
                        runner = self.runners[name] = await self._build(name)
                    except BaseException:
                        self.runners.pop(name, None)
                        await self.ownership.release(name)
                        raise
                runner.start(actor)
            elif action in ("pause", "stop"):
                assert runner is not None
                runner.pause(actor) if action == "pause" else runner.stop(actor)
            else:
                assert runner is not None and mode is not None
                runner.set_mode(mode, actor)
            return runner.status().to_dict()

    async def _claim(self, name: str) -> str | None:
        """None: ``name`` is this process's now; else the process that has it."""
        import redis

        try:
            return await self.ownership.claim(name)
        except (redis.RedisError, OSError) as exc:
            raise CampaignControlError(f"cannot tell which server runs campaign {name} "
                                       f"(Redis: {exc}); not dialling it") from exc

    def _forward(self, name: str, action: str, actor: str, mode: str | None,
                 holder: str) -> dict[str, object]:
        self.center.bus.publish(ev.CampaignControlRequested(
            at=self.center.clock.now(), campaign=name, action=action, node=holder,
            mode=mode or "", actor=actor))
        return {"campaign": name, "action": action, "forwarded_to": holder}

    def _on_event(self, event: ev.DomainEvent) -> None:
        """A control another process handed to this one, the campaign's owner."""
        if not isinstance(event, ev.CampaignControlRequested) or not self.center.bus.relayed \
                or event.node != self.ownership.node_id:
            return
        self._spawn(self._apply_forwarded(event), f"campaign-control-{event.campaign}")

    async def _apply_forwarded(self, event: ev.CampaignControlRequested) -> None:
        try:
            await self.control(event.campaign, event.action, event.actor, event.mode or None)
        except (LookupError, ValueError, CampaignControlError) as exc:
            log.warning("campaign %s: handed-over %s refused: %s", event.campaign,
                        event.action, exc)

    def _lost(self, name: str) -> None:
        """Another process owns ``name`` now (or Redis was out of reach too long): stop
        dialling it here, without recording any state (the owner reports it)."""
        runner = self.runners.pop(name, None)
        if runner is not None:
            runner.port.loop.stop()
            self._spawn(runner.close(), f"campaign-close-{name}")

    async def adopt(self) -> list[str]:
        """Take up the campaigns stored as ``running`` that no process runs; release the ones
        this process no longer dials (stopped, finished). Returns those taken up."""
        import redis

        from crm_bridge.campaigns import running_campaigns

        async with self.sessions() as session:
            wanted = await running_campaigns(session)
        taken: list[str] = []
        async with self._lock:
            for name, runner in list(self.runners.items()):
                if runner.state in ("stopped", "finished") and name in getattr(
                        self.ownership, "held", ()):
                    await self.ownership.release(name)
            for name in wanted:
                if name in self.runners:
                    continue
                try:
                    if await self.ownership.claim(name) is not None:
                        continue
                except (redis.RedisError, OSError) as exc:
                    log.warning("campaign %s: cannot claim it (%r)", name, exc)
                    continue
                try:
                    runner = self.runners[name] = await self._build(name)
                except (LookupError, CampaignControlError) as exc:
                    self.runners.pop(name, None)
                    await self.ownership.release(name)
                    log.error("campaign %s: stored as running but cannot run: %s", name, exc)
                    continue
                runner.start(f"server {self.ownership.node_id} (resumed)")
                log.info("campaign %s: resumed (stored as running)", name)
                taken.append(name)
        return taken

    async def _adopt_loop(self) -> None:
        while True:
            try:
                await self.adopt()
            except Exception:
                log.exception("campaign adoption failed")
            await asyncio.sleep(self.adopt_every_s)

    def _spawn(self, coro: Coroutine[object, object, object], name: str) -> None:
        task: asyncio.Task[object] = asyncio.get_running_loop().create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
