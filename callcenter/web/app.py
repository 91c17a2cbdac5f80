"""The aiohttp application factory: everything the web layer needs is passed in.

The composition root owns the long-lived parts (bus, calls, PBX link, metrics, database)
and hands them over; the app only reads them. That keeps this module free of I/O set-up and
lets tests build many independent apps with fakes.

Middlewares, outermost first: errors (every failure becomes the JSON error shape, oversized
bodies and URLs are refused), cross-site request forgery (foreign ``Origin`` and non-JSON
bodies refused, :mod:`callcenter.web.csrf`), then access (who is calling, by
:mod:`callcenter.web.auth`, and whether the route's entry in :mod:`callcenter.web.access`
lets them: deny by default).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Mapping
from weakref import WeakSet

from aiohttp import WSCloseCode, web
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from callcenter.accounts.sessions import Sessions, SessionStore
from callcenter.accounts.throttle import LoginThrottle, Throttle
from callcenter.accounts.users import MemoryUsers, UserDirectory
from callcenter.acd.controls import AgentControls
from callcenter.campaign_runner import CampaignService
from callcenter.complaints.service import ComplaintDesk
from callcenter.config import Settings
from callcenter.core.pbx import PbxStatus
from callcenter.events import EventBus, LatestStatus
from callcenter.metrics import Metrics
from callcenter.redis_sessions import RedisLoginThrottle, RedisSessionStore
from callcenter.screenpop.hub import AgentHub
from callcenter.supervision import Supervision
from callcenter.web.access import access_middleware
from callcenter.web.accounts_state import SESSIONS, THROTTLE, USERS
from callcenter.web.auth import Authenticator, SessionAuthenticator
from callcenter.web.csrf import csrf_middleware
from callcenter.web.errors import HTTP_PARSER_ARGS, error_middleware
from callcenter.web.routes import campaigns as campaign_routes
from callcenter.web.routes import complaints as complaint_routes
from callcenter.web.routes import live, session, setup_routes
from callcenter.web.routes import users as user_routes
from callcenter.web.state import (
    ACD_RUNTIME,
    AGENT_CONTROLS,
    AGENT_HUB,
    AGENTS,
    BUS,
    CALLS,
    CRM_REGION,
    CRM_SESSIONS,
    HEALTH_CHECKS,
    HEALTH_TIMEOUT,
    LATEST,
    METRICS,
    PBX_STATUS,
    SETTINGS,
    SUPERVISION,
    WEBSOCKETS,
    WS_HEARTBEAT,
    WS_QUEUE_SIZE,
    AcdRuntime,
    AgentView,
    CallView,
    HealthCheck,
    PbxStatusSource,
)


def _accounts_stores(settings: Settings) -> tuple[Sessions, Throttle]:
    """Sessions and login throttling in Redis when the server has one (every process on it
    shares them; a restart signs nobody out), else in this process."""
    auth = settings.auth
    if settings.redis_url is None:
        return (SessionStore(ttl_s=auth.session_ttl_s, ticket_ttl_s=auth.ticket_ttl_s,
                             recheck_s=auth.recheck_s),
                LoginThrottle(user_limit=auth.login_user_limit,
                              address_limit=auth.login_address_limit,
                              window_s=auth.login_window_s))
    url = settings.redis_url.get_secret_value()
    return (RedisSessionStore(url, ttl_s=auth.session_ttl_s, ticket_ttl_s=auth.ticket_ttl_s,
                              recheck_s=auth.recheck_s),
            RedisLoginThrottle(url, user_limit=auth.login_user_limit,
                               address_limit=auth.login_address_limit,
                               window_s=auth.login_window_s))


def create_app(
    *,
    settings: Settings,
    bus: EventBus,
    calls: CallView,
    pbx_status: PbxStatusSource | None = None,
    metrics: Metrics,
    health_checks: Mapping[str, HealthCheck] | None = None,
    users: UserDirectory | None = None,
    authenticator: Authenticator | None = None,
    agent_hub: AgentHub | None = None,
    crm_sessions: async_sessionmaker[AsyncSession] | None = None,
    agents: AgentView | None = None,
    agent_controls: AgentControls | None = None,
    supervision: Supervision | None = None,
    acd_runtime: AcdRuntime | None = None,
    complaints: ComplaintDesk | None = None,
    campaigns: CampaignService | None = None,
    health_timeout_s: float = 3.0,
    ws_heartbeat_s: float = 20.0,
    ws_queue_size: int = 1000,
) -> web.Application:
    """Build the app. ``health_checks`` maps a component name (``"database"``, ``"redis"``)
    to an async probe that raises when the component is unhealthy; ``"pbx"`` is reserved.

    Wiring in the composition root::

        metrics = Metrics(link=ami.stats)  # create_app binds ``calls`` if unbound
        bus.add_handler(metrics.on_event)
        app = create_app(settings=settings, bus=bus, calls=pbx.calls, pbx_status=pbx.status,
                         metrics=metrics, health_checks={"database": db.ping})
        web.run_app(app, host=settings.http.host, port=settings.http.port)

    ``ws_queue_size`` bounds each WebSocket client's backlog (beyond it: ``lagged`` and a
    fresh snapshot); ``ws_heartbeat_s`` is the protocol ping period.

    ``crm_sessions`` (``crm_bridge.db.session_factory(engine)``) serves the customer and
    interaction routes; without it they answer 503 ``crm_unavailable``. The caller owns the
    engine (migrations before, ``dispose()`` after). ``acd_runtime`` (the contact center)
    runs configuration changes made through ``/api/config/...`` at once; without it they are
    stored for the next start. ``campaigns`` runs the outbound campaigns the supervisors start
    (``/api/campaigns/{name}/control``); without it campaigns can be defined but not run.

    ``users`` is where accounts are (``crm_bridge.users.DbUsers`` in the server; an empty
    in-process directory otherwise, where nobody can sign in until a user is added). Sessions
    over them authenticate every request unless another ``authenticator`` is given.

    ``complaints`` (a :class:`~callcenter.complaints.service.ComplaintDesk` on the CRM
    database) serves ``/api/complaints``; without it those routes answer 503. The caller runs
    its deadline checker.
    """
    checks = dict(health_checks or {})
    if "pbx" in checks:
        raise ValueError("health check name 'pbx' is reserved for the PBX link")
    max_body = settings.http.max_body_bytes
    auth = settings.auth
    directory = users if users is not None else MemoryUsers()
    sessions, throttle = _accounts_stores(settings)
    app = web.Application(
        client_max_size=max_body,
        handler_args=HTTP_PARSER_ARGS,  # long URLs reach error_middleware: JSON 414
        middlewares=[error_middleware(max_body), csrf_middleware(settings.http.allowed_origins),
                     access_middleware(authenticator or SessionAuthenticator(sessions, directory),
                                       auth.probes)],
    )
    app[USERS] = directory
    app[SESSIONS] = sessions
    app[THROTTLE] = throttle

    async def _close_stores(_: web.Application) -> None:
        await sessions.aclose()
        if isinstance(throttle, RedisLoginThrottle):
            await throttle.aclose()

    app.on_cleanup.append(_close_stores)
    # Metrics read live counts at scrape time; bind them to what this app serves unless
    # the caller already bound other sources.
    if metrics.calls is None:
        metrics.calls = calls
    app[SETTINGS] = settings
    app[BUS] = bus
    app[CALLS] = calls
    if agents is not None:
        app[AGENTS] = agents
    if agent_controls is not None:
        app[AGENT_CONTROLS] = agent_controls
    if supervision is not None:
        app[SUPERVISION] = supervision
    app[PBX_STATUS] = pbx_status or _no_pbx
    app[METRICS] = metrics
    app[HEALTH_CHECKS] = checks
    app[HEALTH_TIMEOUT] = health_timeout_s
    app[WS_HEARTBEAT] = ws_heartbeat_s
    app[WS_QUEUE_SIZE] = ws_queue_size
    app[AGENT_HUB] = agent_hub or AgentHub()
    app[CRM_REGION] = settings.crm_default_region
    if crm_sessions is not None:
        app[CRM_SESSIONS] = crm_sessions
    if acd_runtime is not None:
        app[ACD_RUNTIME] = acd_runtime
    if complaints is not None:
        app[complaint_routes.COMPLAINTS] = complaints
    if campaigns is not None:
        app[campaign_routes.CAMPAIGNS] = campaigns
    latest = LatestStatus()
    app[LATEST] = latest

    async def _latest_status(_: web.Application) -> AsyncIterator[None]:
        bus.add_handler(latest.on_event)
        yield
        bus.remove_handler(latest.on_event)

    app.cleanup_ctx.append(_latest_status)
    app.cleanup_ctx.append(_websockets)
    app.on_shutdown.append(_close_websockets)
    setup_routes(app)
    live.setup(app)
    session.setup(app)
    user_routes.setup(app)
    complaint_routes.setup(app)
    return app


def _no_pbx() -> PbxStatus:
    return PbxStatus(pbx="none", connected=False, last_error="no PBX configured")


async def _websockets(app: web.Application) -> AsyncIterator[None]:
    """The open event streams, so shutdown can close them (weak: handlers remove their own)."""
    app[WEBSOCKETS] = WeakSet()
    yield
    await _close_websockets(app)


async def _close_websockets(app: web.Application) -> None:
    """On shutdown: without this, open streams would hold graceful shutdown for its timeout."""
    for ws in list(app.get(WEBSOCKETS, ())):
        with contextlib.suppress(Exception):
            await ws.close(code=WSCloseCode.GOING_AWAY, message=b"server shutdown")
