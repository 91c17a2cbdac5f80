"""Composition root: the one place where a server process is built and wired together.

:func:`build_services` makes every live object of a process — bus, call model, the PBX (Asterisk
over AMI by default, or what ``make_pbx`` makes: the demo's simulated PBX), metrics, the CRM
and the contact center from :func:`callcenter.contact_center.build_contact_center` — complete
when constructed. :func:`build_app` serves them over HTTP and starts and stops them in order
(``cleanup_ctx``): Redis relay, CRM (migrations, warm-up), contact center, PBX link, dispatch
leases (with ``redis_url``: several processes, one dispatcher per queue), IVR.
``callcenter serve``, ``callcenter demo`` and the system tests all go through here.

Everything else receives its collaborators as arguments, so tests can assemble any subset
(e.g. a real AMI client against the Asterisk sandbox without the web app).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from callcenter.acd.agents import Agent, AgentBoard
from callcenter.acd.definitions import AcdDefinitions
from callcenter.campaign_ownership import CampaignOwnership
from callcenter.complaints.service import ComplaintDesk
from callcenter.config import Settings
from callcenter.contact_center import ContactCenter, build_contact_center
from callcenter.core.clock import Clock, RealtimeClock
from callcenter.core.pbx import Pbx
from callcenter.cti.ami import AmiClient
from callcenter.cti.asterisk_pbx import AsteriskPbx
from callcenter.cti.link import LinkStats
from callcenter.cti.model import CallModel
from callcenter.events import EventBus
from callcenter.ivr_media.crm import CrmEffects
from callcenter.ivr_media.service import IvrMediaService
from callcenter.metrics import Metrics
from callcenter.redis_lease import RedisLeases
from callcenter.screenpop.hub import AgentHub
from crm_bridge.callbacks import DbCallbacks
from crm_bridge.db import make_engine, session_factory
from crm_bridge.interactions import InteractionRecorder
from crm_bridge.queue_log import QueueLogRecorder

log = logging.getLogger(__name__)
HealthCheck = Callable[[], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class PbxParts:
    """A PBX and, for Asterisk, the AMI client whose link the app starts and stops."""

    pbx: Pbx
    ami: AmiClient | None = None


#: makes the PBX of a process from its clock, call model and bus
PbxFactory = Callable[[Clock, CallModel, EventBus], PbxParts]


def asterisk_pbx(settings: Settings) -> PbxFactory:
    """The production PBX: Asterisk over one AMI link (``settings.ami``)."""

    def make(clock: Clock, model: CallModel, bus: EventBus) -> PbxParts:
        ami = AmiClient(settings.ami, model, bus, LinkStats())
        return PbxParts(AsteriskPbx(ami), ami)

    return make


@dataclass(frozen=True, slots=True)
class Crm:
    """The CRM database as the server uses it: an engine (connects lazily), sessions and the
    screen-pop look-up."""

    url: str
    engine: Any
    sessions: Any
    lookup: Callable[[str], Awaitable[dict[str, Any]]]


def _crm(settings: Settings) -> Crm:
    from crm_bridge.lookup import lookup_card

    url = settings.database_url.get_secret_value()
    engine = make_engine(url)
    sessions = session_factory(engine)
    region = settings.crm_default_region

    async def lookup(text: str) -> dict[str, Any]:
        async with sessions() as session:
            return await lookup_card(session, text, region)

    return Crm(url, engine, sessions, lookup)


@dataclass(frozen=True, slots=True)
class Services:
    """The live objects of one server process, complete when built."""

    settings: Settings
    bus: EventBus
    clock: Clock
    model: CallModel
    pbx: Pbx
    #: the AMI client when the PBX is Asterisk (None for the simulated PBX)
    ami: AmiClient | None
    metrics: Metrics
    crm: Crm
    center: ContactCenter
    #: the IVR on AudioSocket (Asterisk only: the simulated PBX has no media)
    ivr: IvrMediaService | None = None
    #: who dispatches which queue, when several processes share one Redis (None: alone)
    leases: RedisLeases | None = None

    @property
    def agents(self) -> AgentBoard:
        """The one agent state machine of this process."""
        return self.center.board

    @property
    def hub(self) -> AgentHub:
        return self.center.hub

    @property
    def interactions(self) -> InteractionRecorder:
        assert self.center.interactions is not None
        return self.center.interactions

    @property
    def queue_log(self) -> QueueLogRecorder:
        assert self.center.queue_log is not None
        return self.center.queue_log

    @property
    def lookup(self) -> Callable[[str], Awaitable[dict[str, Any]]]:
        return self.crm.lookup


def build_services(settings: Settings, *, make_pbx: PbxFactory | None = None,
                   clock: Clock | None = None,
                   board: AgentBoard | None = None,
                   wrap_up_s: Callable[[Agent], float] | None = None,
                   rng: random.Random | None = None,
                   definitions: AcdDefinitions | None = None) -> Services:
    """Every live object of a process; call it inside the running event loop (the default
    clock is the loop's). Nothing is started: :func:`build_app` does that. ``definitions``:
    the queues, agents and pause reasons to run (None: the settings'; see
    :func:`stored_definitions`)."""
    clock = clock or RealtimeClock()
    bus = EventBus()
    model = CallModel(emit=bus.publish)
    parts = (make_pbx or asterisk_pbx(settings))(clock, model, bus)
    metrics = Metrics(link=parts.ami.stats if parts.ami is not None else None,
                      pbx_status=parts.pbx.status)
    bus.add_handler(metrics.on_event)
    crm = _crm(settings)
    recorder = InteractionRecorder(bus, crm.sessions, settings.crm_default_region)
    board = board if board is not None else AgentBoard()
    leases = None
    if settings.redis_url is not None:
        cluster = settings.cluster
        leases = RedisLeases(settings.redis_url.get_secret_value(), board, clock,
                             node_id=cluster.node_id or None, ttl_s=cluster.lease_ttl_s,
                             renew_s=cluster.lease_renew_s,
                             ready=lambda: parts.pbx.status().connected)
    center = build_contact_center(
        parts.pbx, bus, clock, settings.acd, hub=AgentHub(), lookup=crm.lookup,
        interactions=recorder, queue_log=QueueLogRecorder(bus, crm.sessions),
        board=board, wrap_up_s=wrap_up_s, rng=rng,
        definitions=definitions, leases=leases, follow_other_legs=leases is not None,
        callbacks=DbCallbacks(crm.sessions))
    metrics.agents = center.board
    metrics.leases = lambda: {name: acd.lease.held for name, acd in center.queues.items()}
    ivr = None
    if parts.ami is not None and settings.audiosocket.enabled:
        ivr = IvrMediaService(pbx=parts.pbx, bus=bus, clock=clock, ivr=settings.ivr,
                              audiosocket=settings.audiosocket, speech=settings.speech,
                              effects=CrmEffects(crm.sessions, crm.lookup,
                                                 callbacks=center.request_callback))
    return Services(settings=settings, bus=bus, clock=clock, model=model, pbx=parts.pbx,
                    ami=parts.ami, metrics=metrics, crm=crm, center=center, ivr=ivr,
                    leases=leases)


def build_app(services: Services) -> web.Application:
    """The aiohttp application serving ``services``; ``cleanup_ctx`` starts and stops them
    (in order: Redis relay, CRM, contact center, PBX link, dispatch leases, IVR (AudioSocket);
    stopped in reverse)."""
    from callcenter.campaign_runner import CampaignService
    from callcenter.health_checks import database_check, redis_check
    from callcenter.supervision import Supervision
    from callcenter.web.app import create_app
    from crm_bridge.db import upgrade_database
    from crm_bridge.users import DbUsers

    settings = services.settings
    crm = services.crm
    campaigns = CampaignService(
        services.center, crm.sessions, region=settings.crm_default_region,
        message_dir=settings.campaigns.message_dir,
        message_dir_pbx=settings.campaigns.message_dir_pbx, routing=settings.acd.routing,
        ownership=campaign_ownership(services))
    checks: dict[str, HealthCheck] = {
        "database": database_check(crm.url, engine=crm.engine)}  # probes the pool in use
    if settings.redis_url is not None:
        checks["redis"] = redis_check(settings.redis_url.get_secret_value())
    desk = complaint_desk(services)
    app = create_app(settings=settings, bus=services.bus, calls=services.model,
                     pbx_status=services.pbx.status, metrics=services.metrics,
                     health_checks=checks, agent_hub=services.hub,
                     crm_sessions=crm.sessions, users=DbUsers(crm.sessions),
                     agents=services.agents,
                     agent_controls=services.center.controls,
                     acd_runtime=services.center, complaints=desk,
                     campaigns=campaigns,
                     supervision=Supervision(services.pbx, services.bus, services.center.board,
                                             services.center.endpoints, services.clock))

    async def crm_context(_: web.Application) -> AsyncIterator[None]:
        """The CRM schema is brought to the current migration before anything records."""
        await upgrade_database(crm.url)
        async with crm.engine.connect():  # open the pool now, not on the first ringing phone
            pass
        # one look-up now compiles and caches the statements: the first ringing phone after
        # a start would otherwise wait ~30-50 ms for that instead of ~2 ms
        await crm.lookup("C-WARM-UP")
        yield
        await crm.engine.dispose()

    async def center_context(_: web.Application) -> AsyncIterator[None]:
        from callcenter.definitions_follower import DefinitionsFollower
        from crm_bridge.acd_config import load_definitions

        await services.center.start()
        # another process's definitions change (relayed over Redis): reload and run them
        follower = DefinitionsFollower(services.bus, services.center.origin,
                                       lambda: load_definitions(crm.sessions),
                                       services.center.apply)
        yield
        await follower.close()
        await services.center.close()

    async def campaign_service(_: web.Application) -> AsyncIterator[None]:
        """Campaigns record their events from the start; they dial when a supervisor starts
        them, and stop dialling (lines in progress end on their own) before the center closes."""
        await campaigns.start()
        yield
        await campaigns.close()

    async def redis_relay(_: web.Application) -> AsyncIterator[None]:
        if settings.redis_url is None:
            yield
            return
        from callcenter.redis_relay import RedisEventRelay, not_from_the_pbx

        relay = RedisEventRelay(services.bus, settings.redis_url.get_secret_value(),
                                relays=not_from_the_pbx)
        await relay.start()
        yield
        await relay.stop()

    async def pbx_link(_: web.Application) -> AsyncIterator[None]:
        if services.ami is None:
            yield
            return
        await services.ami.start()
        yield
        await services.ami.stop()

    async def ivr_media(_: web.Application) -> AsyncIterator[None]:
        """Callers reach the IVR once the PBX link is up (its channels match the sockets)."""
        if services.ivr is None:
            yield
            return
        await services.ivr.start()
        yield
        await services.ivr.stop()

    async def dispatch_leases(_: web.Application) -> AsyncIterator[None]:
        """After the PBX link: a new dispatcher adopts the callers its link shows. Released
        first on stop, so another process takes the queues over at once."""
        if services.leases is None:
            yield
            return
        await services.leases.start()
        yield
        await services.leases.stop()

    async def recordings(_: web.Application) -> AsyncIterator[None]:
        from callcenter.recordings import retention_task

        async for _step in retention_task(settings.recordings):
            yield

    async def complaint_deadlines(_: web.Application) -> AsyncIterator[None]:
        """After the CRM (its tables exist): overdue complaint steps are escalated on the
        server's clock (events on the stream, the webhook)."""
        task = asyncio.get_running_loop().create_task(desk.run_deadlines(),
                                                      name="complaint-deadlines")
        yield
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await desk.close()

    app.cleanup_ctx.extend([redis_relay, crm_context, center_context, complaint_deadlines,
                            campaign_service, pbx_link, dispatch_leases, ivr_media,
                            recordings])
    return app


def campaign_ownership(services: Services) -> CampaignOwnership:
    """One process per campaign: in Redis when several processes share it (the same node id
    as the dispatch leases, so logs name one process one way), else this process's own."""
    from callcenter.campaign_ownership import LocalOwnership, RedisOwnership

    settings = services.settings
    if settings.redis_url is None or services.leases is None:
        return LocalOwnership()
    cluster = settings.cluster
    return RedisOwnership(settings.redis_url.get_secret_value(),
                          node_id=services.leases.node_id,
                          ttl_s=max(10.0, cluster.lease_ttl_s),
                          renew_s=max(3.0, cluster.lease_renew_s))


def complaint_desk(services: Services) -> ComplaintDesk:
    """The complaint workflow's desk on the CRM database: the customer is called back through
    the ACD's callback line of ``complaints.callback_queue``."""
    from callcenter.complaints.service import SmtpConfig, Webhook
    from crm_bridge.complaints import ComplaintStore

    config = services.settings.complaints
    webhook = (Webhook(config.webhook_url, attempts=config.webhook_attempts,
                       backoff_s=config.webhook_backoff_s)
               if config.webhook_url else None)
    smtp = (SmtpConfig(config.smtp_host, config.smtp_port, config.smtp_from)
            if config.smtp_host else None)
    return ComplaintDesk(ComplaintStore(services.crm.sessions), services.bus, services.clock,
                         config.policy(), callbacks=services.center.request_callback,
                         callback_queue=config.callback_queue, webhook=webhook, smtp=smtp,
                         check_every_s=config.check_every_s)


async def stored_definitions(settings: Settings) -> AcdDefinitions | None:
    """The definitions stored in the database (brought to the current migration first), or
    None when none are: then the settings' run. The database wins as soon as it holds one
    queue, agent or pause reason (``/api/config``, ``callcenter queue ...``, ``acd seed``)."""
    from crm_bridge.acd_config import load_definitions
    from crm_bridge.db import make_engine, session_factory, upgrade_database

    url = settings.database_url.get_secret_value()
    await upgrade_database(url)
    engine = make_engine(url)
    try:
        return await load_definitions(session_factory(engine))
    finally:
        await engine.dispose()


async def serve_app(settings: Settings) -> web.Application:
    """``callcenter serve``: the contact center on Asterisk (built inside the server's loop),
    running the stored definitions if any, else the settings'."""
    definitions = await stored_definitions(settings)
    if definitions is not None:
        log.info("ACD definitions from the database: %d queues, %d agents, %d pause reasons",
                 len(definitions.queues), len(definitions.agents),
                 len(definitions.pause_reasons))
    return build_app(build_services(settings, definitions=definitions))
