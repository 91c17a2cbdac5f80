"""Who may call each route: ONE table, read by one middleware, deny by default.

Every route of the app is named (``router.add_get(..., name=...)``) and every name is in
:data:`ACCESS` with what it needs, per method when reads and writes differ. A route whose name
is missing here is refused to everyone (403 ``route_not_declared``) and fails
``tests/unit/test_web_access.py``, which walks every registered route and stream and checks
that an anonymous caller gets 401 and a too-low role 403. Handlers then only add checks that
need data (an agent may wrap up only its own interaction).

Needs:

- ``PUBLIC``: page code, the login form, the API description. No data.
- ``PROBE``: health and metrics; open to loopback by default
  (``CALLCENTER_AUTH__PROBES``: ``loopback``, ``everyone`` or ``signed-in``), otherwise a
  supervisor's.
- ``SIGNED_IN``: any account (log-out, the session, a WebSocket ticket).
- ``AGENT`` < ``SUPERVISOR`` < ``ADMIN``: that role or a higher one.
- ``OWN_AGENT``: the agent named by the path's ``{agent_id}`` itself, or a supervisor.
- ``SELF``: the agent named by the path's ``{agent_id}`` itself, nobody else (not even an
  admin): that agent's SIP password.
"""

from __future__ import annotations

import ipaddress
import logging
from enum import Enum

from aiohttp import hdrs, web
from aiohttp.typedefs import Handler, Middleware

from callcenter.web.auth import (
    ANONYMOUS,
    PRINCIPAL,
    AuthenticationError,
    Authenticator,
    Principal,
)
from callcenter.web.errors import ApiError

log = logging.getLogger(__name__)


class Need(Enum):
    PUBLIC = "public"
    PROBE = "probe"
    SIGNED_IN = "signed-in"
    AGENT = "agent"
    SUPERVISOR = "supervisor"
    ADMIN = "admin"
    OWN_AGENT = "own-agent"
    SELF = "self"


PUBLIC, PROBE, SIGNED_IN = Need.PUBLIC, Need.PROBE, Need.SIGNED_IN
AGENT, SUPERVISOR, ADMIN, OWN_AGENT = Need.AGENT, Need.SUPERVISOR, Need.ADMIN, Need.OWN_AGENT
SELF = Need.SELF

Rule = Need | dict[str, Need]
"""One need for every method of a route, or one per method (``"GET"``, ``"POST"`` ...)."""

_CONFIG_RULE: Rule = {"GET": SUPERVISOR, "POST": ADMIN, "PUT": ADMIN, "DELETE": ADMIN}

ACCESS: dict[str, Rule] = {
    # pages' code, the login form and the API description hold no data
    "root": PUBLIC, "live": PUBLIC, "live_file": PUBLIC,
    "wallboard": PUBLIC, "wallboard_file": PUBLIC,
    "analytics_page": PUBLIC, "analytics_file": PUBLIC,
    "login_page": PUBLIC, "login_file": PUBLIC,
    "console": PUBLIC, "console_file": PUBLIC,
    "openapi_json": PUBLIC, "openapi_yaml": PUBLIC,
    "health": PROBE, "metrics": PROBE,
    # accounts
    "auth_login": PUBLIC, "auth_logout": SIGNED_IN, "auth_session": SIGNED_IN,
    "auth_ws_ticket": SIGNED_IN,
    "users": ADMIN, "user": ADMIN, "audit_log": ADMIN,
    # calls and the CRM: agents work with customers; the whole call list is a supervisor's
    "calls": SUPERVISOR, "call": SUPERVISOR,
    "call_transfer": SUPERVISOR,  # moves a waiting caller to another queue
    "customers": AGENT, "customer_lookup": AGENT, "customer": AGENT,
    "customer_interactions": AGENT, "interaction": AGENT,  # handler: only one's own
    # a past call's recording: supervisors all; agents as CALLCENTER_RECORDINGS__AGENT_ACCESS
    # allows (the handler decides: callcenter/web/routes/recordings.py)
    "interaction_recording": AGENT,
    # complaints: agents register and see their callers'; department staff (handler: by
    # complaints.staff) and supervisors work them; the overview is a supervisor's
    "complaints": AGENT, "complaint": AGENT, "complaint_steps": AGENT,
    "complaint_options": AGENT, "complaints_summary": SUPERVISOR,
    "complaints_page": PUBLIC, "complaints_file": PUBLIC,
    # agents: each acts on itself; supervisors on anyone
    "agents": SUPERVISOR, "agent_state": OWN_AGENT, "agent_wrap_up": OWN_AGENT,
    "agent_spy": SUPERVISOR,
    # customer and center analytics: reports and the recompute of tiers are supervisors'
    "analytics_report": SUPERVISOR, "analytics_refresh": SUPERVISOR,
    "agent_sip": SELF,  # the agent's own SIP password: its console session only
    "queues_stats": SUPERVISOR, "queue_stats": SUPERVISOR, "queue_log": SUPERVISOR,
    # ACD configuration: supervisors read, admins change
    "acd_config": SUPERVISOR,
    "config_queues": _CONFIG_RULE, "config_queue": _CONFIG_RULE,
    "config_agents": _CONFIG_RULE, "config_agent": _CONFIG_RULE,
    # agents read the pause reasons (the console's pause menu)
    "config_pause_reasons": {"GET": AGENT, "POST": ADMIN, "PUT": ADMIN, "DELETE": ADMIN},
    "config_pause_reason": _CONFIG_RULE,
    # wrap-up dispositions: agents read them (the console's list), admins change them
    "dispositions": {"GET": AGENT, "POST": ADMIN}, "disposition": {"GET": AGENT, "PATCH": ADMIN},
    # outbound campaigns: supervisors read and run them, admins define them and their lists
    "campaigns": {"GET": SUPERVISOR, "POST": ADMIN},
    "campaign": {"GET": SUPERVISOR, "PUT": ADMIN, "DELETE": ADMIN},
    "campaign_leads": {"GET": SUPERVISOR, "POST": ADMIN},
    "campaign_dnc": ADMIN, "dnc": ADMIN,
    "campaign_control": SUPERVISOR, "campaign_report": SUPERVISOR,
    "campaign_decisions": SUPERVISOR,
    "campaign_preview": AGENT, "campaign_lead_dial": AGENT,  # preview mode: agents dial
    "agent_campaigns": OWN_AGENT,  # the console's list of preview campaigns
    "campaign_false_positive": SUPERVISOR,
    "campaigns_page": PUBLIC, "campaigns_file": PUBLIC,
    # streams
    "events_ws": SUPERVISOR, "agent_ws": OWN_AGENT,
}

PROBE_MODES = ("loopback", "everyone", "signed-in")


def need_of(route: web.AbstractRoute) -> Need | None:
    """What ``route`` needs, or None when it is not declared (then nobody may call it)."""
    name = route.resource.name if route.resource is not None else None
    rule = ACCESS.get(name or "")
    if isinstance(rule, dict):
        method = hdrs.METH_GET if route.method == hdrs.METH_HEAD else route.method
        return rule.get(method)
    return rule


def is_loopback(address: str | None) -> bool:
    try:
        return address is not None and ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


def allowed(who: Principal, need: Need, request: web.Request) -> bool:
    if need is SELF:
        return who.is_agent(request.match_info.get("agent_id", ""))
    if need is OWN_AGENT:
        return who.has_role("supervisor") or who.is_agent(request.match_info.get("agent_id", ""))
    if need is SIGNED_IN:
        return who is not ANONYMOUS
    if need is PROBE:
        return who.has_role("supervisor")
    return who.has_role(need.value)


def access_middleware(authenticator: Authenticator, probes: str = "loopback") -> Middleware:
    """Authenticate and authorize every request by :data:`ACCESS` before its handler runs."""
    if probes not in PROBE_MODES:
        raise ValueError(f"probes {probes!r} is not one of {', '.join(PROBE_MODES)}")

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        match = request.match_info
        declared = SIGNED_IN if match.http_exception is not None else need_of(match.route)
        # (404/405 only to the signed-in: no map of what exists for others)
        if declared is None:
            log.error("route %s %s is not declared in callcenter/web/access.py: refused",
                      request.method, match.route.resource and match.route.resource.name)
            raise ApiError(403, "route_not_declared",
                           "this route is not declared in the access table")
        need: Need = declared
        open_probe = need is PROBE and (probes == "everyone"
                                        or (probes == "loopback" and is_loopback(request.remote)))
        if need is PUBLIC or open_probe:
            request[PRINCIPAL] = ANONYMOUS
            return await handler(request)
        try:
            who = await authenticator.authenticate(request)
        except AuthenticationError as exc:
            raise ApiError(401, "unauthorized", str(exc) or "authentication required",
                           headers={hdrs.WWW_AUTHENTICATE: "Bearer"}) from None
        if not allowed(who, need, request):
            raise ApiError(403, "forbidden", f"this needs {need.value} access")
        request[PRINCIPAL] = who
        return await handler(request)

    return middleware
