"""``callcenter demo``: the whole server, in real time, on the simulated PBX.

Nothing to install or start: an SQLite CRM seeded with demo customers, bot agents registered on
the simulated PBX (the agents and queues of a seed file, ``callcenter/seed/acd.yaml`` by
default, stored in the demo's database and run through the same definitions as ``callcenter
serve``), callers arriving at random (most of them CRM customers, some unknown), and the
outbound campaign ``renewals`` defined as data in the demo's database and run by the server's
campaign service like any campaign (:mod:`callcenter.sim.demo_campaign`: leads from the CRM's
customers, the compliance gate, the abandonment ledger, the campaigns page). The server is
built by the same assembly as ``callcenter serve`` (:func:`callcenter.app.build_services`,
which calls :func:`callcenter.contact_center.build_contact_center`, and
:func:`callcenter.app.build_app`); only the PBX differs. So what moves on the live page
(``/live/``) and the campaigns page (``/campaigns/``) is what would move with Asterisk.
"""

from __future__ import annotations

import asyncio
import logging
import random
import secrets
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web

from callcenter.accounts import User, UserDirectory, hash_password
from callcenter.acd.agents import Agent, AgentState
from callcenter.acd.definitions import AcdDefinitions
from callcenter.acd.identity import AgentEndpoints
from callcenter.acd.queueing import TIER_PRIORITY
from callcenter.app import PbxParts, Services, build_app, build_services
from callcenter.config import AcdSettings, CampaignSettings, Settings
from callcenter.core.clock import Clock, RealtimeClock, Timer
from callcenter.cti.model import CallModel
from callcenter.events import EventBus
from callcenter.ivr import Flow, FlowRegistry, IvrSession
from callcenter.ivr.steps import CallerInfo, Lookup
from callcenter.ivr_media.crm import CrmEffects
from callcenter.sim.behaviour import Behaviour, Delay
from callcenter.sim.demo_campaign import (
    DEMO_CAMPAIGN,
    DEMO_WINDOW,
    DemoCampaign,
    demo_campaign_definition,
)
from callcenter.sim.ivr_caller import IvrCallerBehaviour, SimulatedIvrCaller
from callcenter.sim.pbx import SimulatedPbx
from callcenter.web.accounts_state import USERS
from callcenter.web.routes.campaigns import CAMPAIGNS

log = logging.getLogger(__name__)

#: the demo's inbound queues (those the sample main flow sends callers to; the first is where
#: callers go when the demo runs without IVR); its outbound campaign is ``DEMO_CAMPAIGN``
DEMO_QUEUES = ["support", "billing", "complaints"]
DEMO_QUEUE = DEMO_QUEUES[0]
__all__ = ["DEMO_CAMPAIGN", "DEMO_KEY", "DEMO_QUEUE", "DEMO_QUEUES", "DemoOptions",
           "DemoTraffic", "build_demo_app", "prepare_crm"]
#: the sample flows, next to the package in a source checkout
SAMPLE_FLOWS = Path(__file__).resolve().parents[2] / "ivr_flows"


@dataclass(slots=True)
class DemoOptions:
    agents: int = 8
    calls_per_minute: float = 6.0
    customers: int = 2000
    #: the campaign's pacing: ``progressive`` (its progressive mode) or a predictive pacer
    #: (``ratio:1.5``, ``predictive`` ...: its predictive mode), see demo_campaign_definition
    pacing: str = "progressive"
    #: the campaign's calling window, in each callee's local time (HH:MM, HH:MM)
    calling_window: tuple[str, str] = DEMO_WINDOW
    #: leads per batch of the campaign
    campaign_leads: int = 40
    seed: int = 7
    #: mean talk time (the demo keeps calls short so the page moves)
    talk_s: float = 40.0
    wrap_up_s: float = 8.0
    patience_s: float = 60.0
    unknown_callers: float = 0.15
    #: simulated seconds per wall-clock second (tests run a demo minute in a few seconds)
    speed: float = 1.0
    #: about this often a ready bot agent takes a short break (paused, reason "break")
    break_every_s: float = 90.0
    break_s: float = 30.0
    #: CRM numbers inbound callers call from (empty: read from the CRM)
    numbers: list[str] = field(default_factory=list)
    #: the IVR flow callers go through before they queue (empty: straight to the queue)
    ivr_flow: str = "main"
    #: the queues, agents and pause reasons to run (a seed file's); None: ``agents`` numbered
    #: bots (1001, 1002 ...) on one queue, ``support``. Callers of the major and vip tiers
    #: call ``vip`` when it is defined, the others any other queue but ``default``.
    definitions: AcdDefinitions | None = None
    #: the password of the demo's ``supervisor`` account, set at every start (None: no such
    #: account is touched); ``callcenter demo`` makes a fresh one and prints it
    supervisor_password: str | None = None


def demo_behaviour(options: DemoOptions) -> Behaviour:
    return Behaviour(human=0.45, machine=0.2, busy=0.08,
                     answer_after=Delay.uniform(2.0, 8.0),
                     talk=Delay.exponential(options.talk_s, 8.0),
                     agent_answer_after=Delay.uniform(0.3, 1.2))


async def _demo_numbers(url: str, limit: int) -> list[str]:
    from sqlalchemy import text

    from crm_bridge.db import make_engine

    engine = make_engine(url)
    try:
        async with engine.connect() as conn:
            rows = await conn.execute(text("SELECT e164 FROM phones ORDER BY id LIMIT :n"),
                                      {"n": limit})
            return [row[0] for row in rows]
    finally:
        await engine.dispose()


class DemoTraffic:
    """Random callers and bot agents' breaks on the simulated PBX of a built server."""

    def __init__(self, services: Services, pbx: SimulatedPbx, clock: RealtimeClock,
                 options: DemoOptions) -> None:
        self.services = services
        self.options = options
        self.rng = random.Random(options.seed)
        self.clock = clock
        self.pbx = pbx
        self.board = services.agents
        self.calls_injected = 0
        self._task: asyncio.Task[None] | None = None
        self._break_timer: Timer | None = None
        self.flow: Flow | None = None
        self.ivr_callers: set[asyncio.Task[None]] = set()
        self.ivr_finished = 0
        #: the outbound campaign (set by build_demo_app, started before the callers)
        self.campaign: DemoCampaign | None = None
        self.effects = CrmEffects(services.crm.sessions, services.lookup,
                                  callbacks=services.center.request_callback)
        if options.ivr_flow:
            self.flow = _demo_flow(services.settings, options.ivr_flow)
            if self.flow is not None:
                pbx.ivr = self._enter_ivr

    @property
    def acd(self) -> Any:
        return self.services.center.queues[DEMO_QUEUE]

    async def start(self) -> None:
        self._task = asyncio.create_task(self._callers())
        if self.options.break_every_s > 0:
            self._break_timer = self.clock.call_later(
                self.rng.expovariate(1.0 / self.options.break_every_s), self._take_a_break)

    def _enter_ivr(self, channel_id: str) -> None:
        """A caller reached ``[ivr]``: a simulated caller walks the flow with the engine."""
        assert self.flow is not None
        channel = self.pbx.calls.channel(channel_id)
        if channel is None:
            return
        session = IvrSession(self.flow, CallerInfo(channel.call_id, channel_id,
                                                   channel.caller_num), self.clock)
        caller = SimulatedIvrCaller(session, self.effects, self.services.bus, self.pbx, self.clock,
                                    random.Random(self.rng.random()), IvrCallerBehaviour())
        task = asyncio.get_running_loop().create_task(caller.run())
        self.ivr_callers.add(task)
        task.add_done_callback(self._ivr_done)

    def _ivr_done(self, task: asyncio.Task[None]) -> None:
        self.ivr_callers.discard(task)
        self.ivr_finished += 1
        if not task.cancelled() and task.exception() is not None:
            log.error("simulated IVR caller failed", exc_info=task.exception())

    def _take_a_break(self) -> None:
        """A ready bot agent pauses for a while, as people do: the wallboard shows it and the
        ACD and dialer stop counting on that agent until it is back."""
        ready = [a for a in self.board if a.state is AgentState.READY]
        if ready:
            agent = self.rng.choice(ready)
            self.board.move(agent, AgentState.PAUSED, self.clock.now(), reason="break")
            self.clock.call_later(self.options.break_s, self._back_from_break, agent)
        self._break_timer = self.clock.call_later(
            self.rng.expovariate(1.0 / self.options.break_every_s), self._take_a_break)

    def _back_from_break(self, agent: Agent) -> None:
        if agent.state is AgentState.PAUSED:
            self.board.move(agent, AgentState.READY, self.clock.now())

    async def _callers(self) -> None:
        rate = self.options.calls_per_minute / 60.0
        while True:
            await self.clock.sleep(self.rng.expovariate(rate))
            try:
                await self._one_caller()
            except Exception:  # one odd caller must not stop the demo
                log.exception("demo caller failed")

    async def _one_caller(self) -> None:
        if self.rng.random() < self.options.unknown_callers or not self.options.numbers:
            number = f"+1415555{self.rng.randrange(10_000):04d}"
        else:
            number = self.rng.choice(self.options.numbers)
        patience_s = self.rng.expovariate(1.0 / self.options.patience_s)
        self.calls_injected += 1
        if self.flow is not None:  # the IVR finds the customer and sets queue and priority
            self.pbx.inject_inbound_call(number, "8005550100", patience_s=patience_s,
                                         via_ivr=True)
            return
        found = await self.effects.lookup(Lookup("customer", "number", number))
        priority = found["priority"] if found else "0"
        self.pbx.inject_inbound_call(
            number, "8005550100", patience_s=patience_s,
            variables={"CC_QUEUE": self._queue_for(int(priority)), "CC_PRIORITY": priority})

    def _queue_for(self, priority: int) -> str:
        """The queue a caller without the IVR dials (see :attr:`DemoOptions.definitions`)."""
        definitions = self.options.definitions
        if definitions is None:
            return DEMO_QUEUE
        names = [queue.name for queue in definitions.queues]
        if priority >= TIER_PRIORITY["major"] and "vip" in names:
            return "vip"
        others = [name for name in names if name not in ("vip", "default")] or names
        return self.rng.choice(others)

    async def stop(self) -> None:
        self.pbx.ivr = None
        for task in list(self.ivr_callers):
            task.cancel()
        await asyncio.gather(*self.ivr_callers, return_exceptions=True)
        if self._break_timer is not None:
            self._break_timer.cancel()
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)


def demo_settings(settings: Settings, options: DemoOptions) -> Settings:
    """The demo's center: the inbound queues, the bot agents (logged in at start); with
    ``options.definitions`` those run instead (the settings keep the defaults). The campaign's
    abandonment message is rendered next to the demo's database unless a folder is
    configured (the default one is Asterisk's, which the demo does not have)."""
    if options.definitions is not None:
        acd = AcdSettings(wrap_up_s=options.wrap_up_s)
    else:
        acd = AcdSettings(queues=list(DEMO_QUEUES), wrap_up_s=options.wrap_up_s,
                          agents=[str(1001 + i) for i in range(options.agents)])
    update: dict[str, Any] = {"acd": acd}
    if settings.campaigns.message_dir == CampaignSettings().message_dir:
        update["campaigns"] = settings.campaigns.model_copy(
            update={"message_dir": _message_dir(settings.database_url.get_secret_value())})
    return settings.model_copy(update=update)


def _message_dir(url: str) -> Path:
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        return Path(str(parsed.database)).parent / "campaign-messages"
    return Path(tempfile.gettempdir()) / "callcenter-demo-campaign-messages"


def demo_definitions(settings: Settings, options: DemoOptions) -> AcdDefinitions:
    return options.definitions or settings.acd.definitions()


async def build_demo_app(settings: Settings, options: DemoOptions) -> web.Application:
    """The server of ``callcenter serve``, on a simulated PBX with bots and traffic. Built
    inside the running loop (the real-time clock is the loop's)."""
    settings = demo_settings(settings, options)
    definitions = demo_definitions(settings, options)
    endpoints = AgentEndpoints(settings.acd.agent_endpoint, overrides={
        agent.agent_id: agent.endpoint for agent in definitions.agents
        if agent.endpoint is not None})
    if not options.numbers:
        options.numbers = await _demo_numbers(settings.database_url.get_secret_value(), 500)
    clock = RealtimeClock(speed=options.speed)
    made: list[SimulatedPbx] = []

    def simulated_pbx(pbx_clock: Clock, model: CallModel, bus: EventBus) -> PbxParts:
        pbx = SimulatedPbx(pbx_clock, model, random.Random(options.seed + 1),
                           demo_behaviour(options))
        for agent in definitions.agents:  # every defined agent's phone is a bot
            pbx.register_endpoint(endpoints.endpoint(agent.agent_id))
        made.append(pbx)
        return PbxParts(pbx)

    wrap_rng = random.Random(options.seed + 2)
    services = build_services(
        settings, make_pbx=simulated_pbx, clock=clock,
        wrap_up_s=lambda _agent: wrap_rng.uniform(0.5, 1.5) * options.wrap_up_s,
        rng=random.Random(options.seed + 3), definitions=definitions)
    demo = DemoTraffic(services, made[0], clock, options)
    app = build_app(services)
    app[DEMO_KEY] = demo
    campaign = demo.campaign = DemoCampaign(
        app[CAMPAIGNS], services.bus,
        demo_campaign_definition(options.pacing, options.calling_window),
        region=settings.crm_default_region, leads=options.campaign_leads,
        rng=random.Random(options.seed + 4), now=clock.now)

    async def traffic(_: web.Application) -> AsyncIterator[None]:
        # after the center and the campaign service started: the bots are logged in
        await campaign.start()
        await demo.start()
        yield
        await demo.stop()
        await campaign.close()

    async def accounts(_: web.Application) -> AsyncIterator[None]:
        await demo_accounts(app[USERS], [agent.agent_id for agent in definitions.agents],
                            options.supervisor_password)
        yield

    app.cleanup_ctx.append(accounts)  # after the CRM context: the users table exists
    app.cleanup_ctx.append(traffic)
    return app


DEMO_SUPERVISOR = "supervisor"


async def demo_accounts(users: UserDirectory, agent_ids: list[str],
                        supervisor_password: str | None) -> None:
    """Accounts like a real center's: one per bot agent (``agent-<id>``, a random password
    nobody is told: the bots work in-process) and the newcomer's ``supervisor``, whose
    password is (re)set to ``supervisor_password`` at every start."""
    missing = [a for a in agent_ids if await users.get(f"agent-{a}".lower()) is None]
    if missing:  # one hash of a secret nobody keeps serves them all (scrypt costs ~50 ms)
        secret = await asyncio.to_thread(hash_password, secrets.token_urlsafe(18))
        for agent_id in missing:
            await users.add(User(f"agent-{agent_id}".lower(), "agent", secret, agent_id))
    if supervisor_password is None:
        return
    hashed = await asyncio.to_thread(hash_password, supervisor_password)
    found = await users.get(DEMO_SUPERVISOR)
    if found is None:
        await users.add(User(DEMO_SUPERVISOR, "supervisor", hashed))
    else:
        await users.replace(found.with_changes(password_hash=hashed, disabled=False,
                                               role="supervisor", agent_id=None))


DEMO_KEY = web.AppKey("demo", DemoTraffic)


def _demo_flow(settings: Settings, name: str) -> Flow | None:
    """The flow ``name`` from the configured flows folder, else from the sample flows."""
    for folder in (settings.ivr.flows_dir, SAMPLE_FLOWS):
        registry = FlowRegistry(folder)
        report = registry.reload()
        for issue in report.errors:
            log.warning("IVR flow problem: %s", issue)
        if name in registry:
            return registry.get(name)
    log.warning("no IVR flow %r in %s or %s: callers go straight to the queue", name,
                settings.ivr.flows_dir, SAMPLE_FLOWS)
    return None


async def prepare_crm(url: str, customers: int) -> int:
    """Seed ``customers`` demo customers once (a second start reuses them) and compute their
    value tiers and churn warnings. Returns how many customers the database has."""
    from sqlalchemy import text

    from crm_bridge.db import make_engine, upgrade_database
    from crm_bridge.seed import seed

    await upgrade_database(url)
    engine = make_engine(url)
    try:
        async with engine.connect() as conn:
            result = await conn.execute(text("SELECT count(*) FROM customers"))
            existing: int = result.scalar_one()
    finally:
        await engine.dispose()
    if existing == 0 and customers > 0:
        await seed(url, customers, 4, seed=7, progress=False)
        existing = customers
    # value tiers and churn warnings for screen pops and routing, as a nightly
    # ``callcenter analytics refresh`` keeps them (a second of work for the demo's customers)
    from crm_bridge.analytics.store import refresh

    engine = make_engine(url)
    try:
        await refresh(engine)
    finally:
        await engine.dispose()
    return int(existing)
