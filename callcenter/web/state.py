"""What the web app reads from the rest of the server: small protocols and the ``AppKey``s.

The web layer depends on these protocols, not on :mod:`callcenter.cti.model`, so it can be
tested with a fake and served from the simulator (``callcenter demo``) as well as from AMI.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Protocol
from weakref import WeakSet

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from callcenter.acd.controls import AgentControls
from callcenter.acd.definitions import AcdDefinitions
from callcenter.config import Settings
from callcenter.core.pbx import PbxStatus
from callcenter.events import EventBus, LatestStatus
from callcenter.metrics import CallCounts, Metrics
from callcenter.screenpop.hub import AgentHub
from callcenter.supervision import Supervision


class CallRecord(Protocol):
    """One call as the API shows it."""

    def to_dict(self) -> dict[str, Any]: ...


class CallView(CallCounts, Protocol):
    """Read-only view of the live call model (``callcenter.cti.model.CallModel`` fits).

    The sized ``calls``/``channels``/``bridges`` (from :class:`CallCounts`) feed the
    ``callcenter_active_*`` metrics; the API only uses the two methods below.
    """

    def snapshot(self) -> dict[str, Any]:
        """JSON-ready ``{"calls": [...], "channels": [...], "bridges": [...]}``."""
        ...

    def get_call(self, call_id: str) -> CallRecord | None: ...


class AgentView(Protocol):
    """Read-only view of the agents (``callcenter.acd.agents.AgentBoard`` fits)."""

    def snapshot(self) -> list[dict[str, Any]]: ...


PbxStatusSource = Callable[[], PbxStatus]
"""The PBX link's status now (``Pbx.status``): the web never reads an adapter's own class."""

HealthCheck = Callable[[], Awaitable[None]]
"""An async probe of one dependency (database, Redis …): returns when healthy, raises if not."""

class AcdRuntime(Protocol):
    """The running contact center as the configuration routes need it
    (:class:`callcenter.contact_center.ContactCenter` fits)."""

    definitions: AcdDefinitions

    async def apply(self, new: AcdDefinitions) -> None:
        """Run ``new`` from now on (and tell the bus)."""
        ...

    def waiting(self, queue: str) -> int:
        """Callers in ``queue``'s line now (0 for a queue not served)."""
        ...

    def transfer(self, call_id: str, queue: str) -> dict[str, str]:
        """Move a waiting caller to ``queue`` keeping priority and arrival (KeyError: no
        such queue, LookupError: not waiting, ValueError: already there)."""
        ...


SETTINGS = web.AppKey("settings", Settings)
BUS = web.AppKey("bus", EventBus)
CALLS = web.AppKey[CallView]("calls")
AGENTS = web.AppKey[AgentView]("agents")
AGENT_CONTROLS = web.AppKey("agent_controls", AgentControls)
SUPERVISION = web.AppKey("supervision", Supervision)
"""Agent actions (ready, pause, log-out, wrap-up); absent when the app has no ACD (503)."""
LATEST = web.AppKey("latest_status", LatestStatus)
"""Last queue and campaign status, for the WebSocket snapshot."""
"""The process's agent state machine; absent when the app was built without one."""
PBX_STATUS = web.AppKey[PbxStatusSource]("pbx_status")
METRICS = web.AppKey("metrics", Metrics)
HEALTH_CHECKS = web.AppKey[Mapping[str, HealthCheck]]("health_checks")
HEALTH_TIMEOUT = web.AppKey("health_timeout_s", float)
WS_HEARTBEAT = web.AppKey("ws_heartbeat_s", float)
WS_QUEUE_SIZE = web.AppKey("ws_queue_size", int)
AGENT_HUB = web.AppKey("agent_hub", AgentHub)
WEBSOCKETS = web.AppKey[WeakSet[web.WebSocketResponse]]("websockets")
CRM_SESSIONS = web.AppKey[async_sessionmaker[AsyncSession]]("crm_sessions")
"""Sessions on the CRM database; absent when the app was built without one (routes: 503)."""
ACD_RUNTIME = web.AppKey[AcdRuntime]("acd_runtime")
"""Where configuration changes are applied live; absent: they are stored for the next start."""
CRM_REGION = web.AppKey("crm_region", str)
"""Where numbers written without a country code are read (``crm_default_region``)."""
