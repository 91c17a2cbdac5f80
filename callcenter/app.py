"""Composition root: the one place where the server's parts are built and wired together.

Everything else receives its collaborators as arguments, so tests can assemble any subset
(e.g. a real AMI client against the Asterisk sandbox without the web app).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aiohttp import web

from callcenter.acd.agents import AgentBoard
from callcenter.config import Settings
from callcenter.cti.ami import AmiClient
from callcenter.cti.asterisk_pbx import AsteriskPbx
from callcenter.cti.link import LinkStats
from callcenter.cti.model import CallModel
from callcenter.events import EventBus
from callcenter.metrics import Metrics
from callcenter.pbx import Pbx

if TYPE_CHECKING:
    from crm_bridge.interactions import InteractionRecorder

HealthCheck = Callable[[], Awaitable[None]]


@dataclass(slots=True)
class Services:
    """The live objects of one server process."""

    settings: Settings
    bus: EventBus
    model: CallModel
    link: LinkStats
    #: None when the PBX is not Asterisk (``callcenter demo`` runs the simulated PBX)
    ami: AmiClient | None
    pbx: Pbx
    metrics: Metrics
    #: the one agent state machine of this process (ACD, dialer, wallboard read it)
    agents: AgentBoard = field(default_factory=AgentBoard)
    health_checks: dict[str, HealthCheck] = field(default_factory=dict)
    #: set once the CRM is up (build_app): every call's interaction row writer
    interactions: InteractionRecorder | None = None
    #: set once the CRM is up: customer card by number or customer code
    lookup: Callable[[str], Awaitable[dict[str, Any]]] | None = None


def build_services(settings: Settings) -> Services:
    bus = EventBus()
    model = CallModel(emit=bus.publish)
    link = LinkStats()
    ami = AmiClient(settings.ami, model, bus, link)
    metrics = Metrics()
    bus.add_handler(metrics.on_event)
    return Services(settings=settings, bus=bus, model=model, link=link, ami=ami,
                    pbx=AsteriskPbx(ami), metrics=metrics)


def build_app(settings: Settings, services: Services | None = None) -> web.Application:
    """The aiohttp application of ``callcenter serve`` with every part started and stopped
    by ``cleanup_ctx`` (in order: Redis relay, CRM + screen pops, AMI link)."""
    from callcenter.health_checks import database_check, redis_check
    from callcenter.screenpop.hub import AgentHub
    from callcenter.screenpop.service import ScreenPopService
    from callcenter.web.app import create_app
    from crm_bridge.db import make_engine, session_factory, upgrade_database
    from crm_bridge.interactions import InteractionRecorder
    from crm_bridge.lookup import lookup_card

    services = services or build_services(settings)
    if services.metrics.agents is None:
        services.metrics.agents = services.agents
    crm_url = settings.database_url.get_secret_value()
    engine = make_engine(crm_url)  # connects lazily; opened by the ``crm`` context below
    sessions = session_factory(engine)
    checks: dict[str, HealthCheck] = dict(services.health_checks)
    checks["database"] = database_check(crm_url, engine=engine)  # probes the pool in use
    if settings.redis_url is not None:
        checks["redis"] = redis_check(settings.redis_url.get_secret_value())

    hub = AgentHub()
    app = create_app(settings=settings, bus=services.bus, calls=services.model,
                     link=services.link, metrics=services.metrics, health_checks=checks,
                     agent_hub=hub, crm_sessions=sessions, agents=services.agents)

    async def crm(_: web.Application) -> AsyncIterator[None]:
        """The CRM schema is brought to the current migration, then screen pops start."""
        await upgrade_database(crm_url)
        async with engine.connect():  # open the pool now, not on the first ringing phone
            pass

        async def lookup(text: str) -> dict[str, Any]:
            async with sessions() as session:
                return await lookup_card(session, text, settings.crm_default_region)

        # one look-up now compiles and caches the statements: the first ringing phone after
        # a start would otherwise wait ~30-50 ms for that instead of ~2 ms
        await lookup("C-WARM-UP")
        recorder = InteractionRecorder(services.bus, sessions, settings.crm_default_region)
        await recorder.start()
        pops = ScreenPopService(services.bus, services.model, hub, lookup)
        services.interactions = recorder
        services.lookup = lookup
        yield
        await pops.close()
        await recorder.stop()
        await engine.dispose()

    async def redis_relay(_: web.Application) -> AsyncIterator[None]:
        if settings.redis_url is None:
            yield
            return
        from callcenter.redis_relay import RedisEventRelay

        relay = RedisEventRelay(services.bus, settings.redis_url.get_secret_value())
        await relay.start()
        yield
        await relay.stop()

    async def ami_link(_: web.Application) -> AsyncIterator[None]:
        if services.ami is None:
            yield
            return
        await services.ami.start()
        yield
        await services.ami.stop()

    app.cleanup_ctx.extend([redis_relay, crm, ami_link])
    return app
