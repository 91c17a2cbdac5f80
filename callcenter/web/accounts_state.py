"""The app keys of accounts (users, sessions, throttle) and the audit helper routes share."""

from __future__ import annotations

import logging
from typing import Any

from aiohttp import web

from callcenter.accounts.sessions import Sessions
from callcenter.accounts.throttle import Throttle
from callcenter.accounts.users import UserDirectory
from callcenter.web.auth import principal
from callcenter.web.state import CRM_SESSIONS

audit_log = logging.getLogger("callcenter.audit")

USERS = web.AppKey[UserDirectory]("users")
SESSIONS = web.AppKey[Sessions]("sessions")
THROTTLE = web.AppKey[Throttle]("login_throttle")


async def audit(request: web.Request, action: str, target: str | None = None,
                detail: dict[str, Any] | None = None) -> None:
    """Record a supervisor or admin action: always in the log, in ``audit_log`` when the app
    has a database (imported here, not at the top, so the web layer loads without one)."""
    actor = principal(request).id
    audit_log.info("audit %s by %s on %s", action, actor, target,
                   extra={"audit": {"action": action, "actor": actor, "target": target}})
    sessions = request.app.get(CRM_SESSIONS)
    if sessions is not None:
        from crm_bridge.audit import record

        await record(sessions, actor, action, target, detail)
