"""``callcenter demo``: the whole server, in real time, on the simulated PBX.

Nothing to install or start: an SQLite CRM seeded with demo customers, bot agents registered on
the simulated PBX, callers arriving at random (most of them CRM customers, some unknown), an
outbound campaign dialling CRM numbers. The parts that route and dial are the server's own —
:class:`~callcenter.acd.service.InboundAcd`, :class:`~callcenter.dialer.loop.DialerLoop` over
:class:`~callcenter.dialer.pbx_port.PbxLinePort`, :class:`~callcenter.acd.phones.AgentPhones` —
so what moves on the live page (``/live/``) is what would move with Asterisk.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from callcenter.acd.agents import Agent, AgentState
from callcenter.acd.phones import AgentPhones
from callcenter.acd.routing import LongestIdle
from callcenter.acd.service import InboundAcd
from callcenter.app import Services, build_app
from callcenter.config import Settings
from callcenter.cti.link import LinkStats
from callcenter.cti.model import CallModel
from callcenter.dialer.loop import DialerLoop
from callcenter.dialer.pacing import Pacer, parse_pacing
from callcenter.dialer.pbx_port import PbxLinePort
from callcenter.events import EventBus
from callcenter.metrics import Metrics
from callcenter.sim.behaviour import Behaviour, Delay
from callcenter.sim.clock import RealtimeClock, Timer
from callcenter.sim.pbx import SimulatedPbx

log = logging.getLogger(__name__)

#: CRM value tier -> queue priority (the ACD serves higher first)
TIER_PRIORITY = {"platinum": 30, "gold": 20, "silver": 10}


@dataclass(slots=True)
class DemoOptions:
    agents: int = 8
    calls_per_minute: float = 6.0
    customers: int = 2000
    pacing: str = "progressive"
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


def demo_behaviour(options: DemoOptions) -> Behaviour:
    return Behaviour(human=0.45, machine=0.2, busy=0.08,
                     answer_after=Delay.uniform(2.0, 8.0),
                     talk=Delay.exponential(options.talk_s, 8.0),
                     agent_answer_after=Delay.uniform(0.3, 1.2))


def build_demo_services(settings: Settings) -> Services:
    bus = EventBus()
    model = CallModel(emit=bus.publish)
    metrics = Metrics()
    bus.add_handler(metrics.on_event)
    link = LinkStats(pbx="simulated", connected=True, asterisk_version="simulated")
    # the PBX needs the running loop's clock: built in the demo context, set there
    services = Services(settings=settings, bus=bus, model=model, link=link, ami=None,
                        pbx=None, metrics=metrics)  # type: ignore[arg-type]
    return services


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
    """Bot agents, random callers and one outbound campaign on a simulated PBX."""

    def __init__(self, services: Services, options: DemoOptions, numbers: list[str]) -> None:
        self.services = services
        self.options = options
        self.numbers = numbers or ["+14155550100"]
        self.rng = random.Random(options.seed)
        self.clock = RealtimeClock(speed=options.speed)
        self.pbx = SimulatedPbx(self.clock, services.model, random.Random(options.seed + 1),
                                demo_behaviour(options))
        services.pbx = self.pbx
        self.board = services.agents
        now = self.clock.now()
        for i in range(options.agents):
            agent = self.board.add(str(1001 + i), now=now)
            self.pbx.register_endpoint(f"PJSIP/{agent.agent_id}")
        wrap_rng = random.Random(options.seed + 2)
        self.phones = AgentPhones(
            self.board, services.bus, self.clock,
            wrap_up_s=lambda _: wrap_rng.uniform(0.5, 1.5) * options.wrap_up_s)
        self.acd = InboundAcd(self.pbx, services.bus, self.board, self.phones, LongestIdle(),
                              self.clock, queue="support")
        self.port = PbxLinePort(self.pbx, services.bus, self.phones, campaign="renewals")
        pacer: Pacer = parse_pacing(options.pacing)
        self.dialer = DialerLoop(self.clock, pacer, self.board, LongestIdle(), self.port,
                                 self._next_number, line_prefix="renewals")
        self.port.loop = self.dialer
        self.calls_injected = 0
        self._task: asyncio.Task[None] | None = None
        self._break_timer: Timer | None = None

    def _next_number(self) -> str:
        return self.rng.choice(self.numbers)

    async def start(self) -> None:
        now = self.clock.now()
        for agent in self.board:
            self.board.log_in(agent, now)
        self.dialer.start()
        self._task = asyncio.create_task(self._callers())
        if self.options.break_every_s > 0:
            self._break_timer = self.clock.call_later(
                self.rng.expovariate(1.0 / self.options.break_every_s), self._take_a_break)

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
        if self.rng.random() < self.options.unknown_callers:
            number = f"+1415555{self.rng.randrange(10_000):04d}"
        else:
            number = self.rng.choice(self.numbers)
        priority = 0
        lookup = self.services.lookup
        if lookup is not None:
            card: dict[str, Any] = await lookup(number)
            match = card.get("match")
            if match:
                priority = TIER_PRIORITY.get(match.get("value_tier", ""), 0)
        self.calls_injected += 1
        self.pbx.inject_inbound_call(
            number, "8005550100",
            patience_s=self.rng.expovariate(1.0 / self.options.patience_s),
            variables={"CC_QUEUE": "support", "CC_PRIORITY": str(priority)})

    async def stop(self) -> None:
        self.dialer.stop()
        if self._break_timer is not None:
            self._break_timer.cancel()
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        await self.acd.close()
        await self.port.close()
        self.phones.close()


def build_demo_app(settings: Settings, options: DemoOptions) -> web.Application:
    services = build_demo_services(settings)
    app = build_app(settings, services)
    crm_url = settings.database_url.get_secret_value()

    async def traffic(application: web.Application) -> AsyncIterator[None]:
        numbers = await _demo_numbers(crm_url, 500)
        demo = DemoTraffic(services, options, numbers)
        application[DEMO_KEY] = demo
        await demo.start()
        yield
        await demo.stop()

    app.cleanup_ctx.append(traffic)
    return app


DEMO_KEY = web.AppKey("demo", DemoTraffic)


async def prepare_crm(url: str, customers: int) -> int:
    """Seed ``customers`` demo customers once (a second start reuses them). Returns how many
    customers the database has."""
    from sqlalchemy import text

    from crm_bridge.db import make_engine, upgrade_database
    from crm_bridge.seed import seed

    await upgrade_database(url)
    engine = make_engine(url)
    try:
        async with engine.connect() as conn:
            existing = (await conn.execute(text("SELECT count(*) FROM customers"))).scalar_one()
    finally:
        await engine.dispose()
    if existing == 0 and customers > 0:
        await seed(url, customers, 4, seed=7, progress=False)
        return customers
    return int(existing)
