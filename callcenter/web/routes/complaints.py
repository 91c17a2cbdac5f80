"""``/api/complaints``: register a complaint, list and read them, take the next workflow step;
and the complaint pages (``/complaints/``: the form module, the department work queue and the
supervisor overview, from ``agent_ui/complaints``).

Who sees what (the access table lets every agent in; these handlers narrow it by data):
supervisors see and work every complaint. Anyone else sees the complaints they registered,
those of their callers (a call they took) and those of the departments they staff
(``complaints.staff``), and works a complaint that is in one of their departments or not yet
assigned to any (accept, dismiss, assign) when they staff any department; whoever registered a
complaint may also enter the customer's feedback.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Literal

from aiohttp import hdrs, web
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

import agent_ui
from callcenter.complaints import workflow as w
from callcenter.complaints.service import ComplaintDesk
from callcenter.web.auth import Principal, principal
from callcenter.web.errors import ApiError
from callcenter.web.routes.customers import (
    IDEMPOTENCY,
    MAX_ID,
    MAX_IDEMPOTENCY_KEY,
    NO_NUL,
    Text64,
    bounded,
    crm_route,
    int_param,
    path_id,
    read_body,
)
from callcenter.web.routes.live import CONTENT_TYPES, live_file
from callcenter.web.state import SETTINGS
from crm_bridge.complaints import (
    ComplaintNotFound,
    ConcurrentChange,
    Filters,
    UnknownCustomer,
    Viewer,
)

COMPLAINTS = web.AppKey("complaints", ComplaintDesk)
"""The complaint desk; absent when the app has no CRM database (routes: 503)."""

PAGES_DIR = Path(agent_ui.__file__).resolve().parent / "complaints"

Text1000 = Annotated[str, bounded(1000), NO_NUL]
LongText = Annotated[str, StringConstraints(strip_whitespace=True, max_length=w.MAX_TEXT),
                     NO_NUL]


class ComplaintCreate(BaseModel):
    """``POST /api/complaints`` (the contract with the agent console)."""

    model_config = ConfigDict(extra="forbid")

    customer_id: int = Field(ge=1, le=MAX_ID)
    call_id: Annotated[str, bounded(64), NO_NUL] | None = None
    category: Text64
    object: Text1000
    request: Text1000
    severity: Literal["low", "normal", "high", "critical"] = "normal"
    text: LongText = ""


class StepBody(BaseModel):
    """``POST /api/complaints/{id}/steps``: the action and its fields."""

    model_config = ConfigDict(extra="forbid")

    action: Literal["accept", "dismiss", "assign", "analyse", "propose_remedy", "carry_out",
                    "collect_feedback", "evaluate"]
    text: LongText = ""
    department: Text64 | None = None
    cause: LongText | None = None
    responsible: Annotated[str, StringConstraints(strip_whitespace=True, max_length=200),
                           NO_NUL] | None = None
    remedy: Literal["return", "exchange", "repair", "discount", "compensation"] | None = None
    amount: Annotated[str, StringConstraints(max_length=20)] | int | float | None = None
    rating: int | None = None
    source: Literal["ivr", "agent"] | None = None
    #: the complaint's version the person saw: a step taken meanwhile makes this a 409
    version: int | None = Field(None, ge=1)


def desk(request: web.Request) -> ComplaintDesk:
    found = request.app.get(COMPLAINTS)
    if found is None:
        raise ApiError(503, "crm_unavailable", "this server has no CRM database configured")
    return found


def username(who: Principal) -> str:
    return who.id.removeprefix("user:")


def viewer(request: web.Request) -> Viewer:
    who = principal(request)
    name = username(who)
    return Viewer(principal=name, agent_id=who.agent_id,
                  departments=request.app[SETTINGS].complaints.departments_of(name),
                  sees_all=who.has_role("supervisor"))


def _now(request: web.Request) -> dt.datetime:
    return desk(request).now()


@crm_route
async def list_complaints(request: web.Request) -> web.Response:
    """``GET /api/complaints?department=&status=&overdue=&customer_id=``."""
    status = request.query.get("status") or None
    if status is not None and status != "open" and status not in w.Stage.__members__.values():
        raise ApiError(400, "invalid_parameter",
                       f"status must be open or one of {', '.join(s.value for s in w.Stage)}")
    overdue_raw = request.query.get("overdue", "")
    if overdue_raw not in ("", "true", "false"):
        raise ApiError(400, "invalid_parameter", "overdue must be true or false")
    department = request.query.get("department") or None
    if department is not None and (len(department) > 64 or "\x00" in department):
        raise ApiError(400, "invalid_parameter", "department must be at most 64 characters")
    customer = request.query.get("customer_id")
    filters = Filters(
        department=department, status=status,
        overdue=None if not overdue_raw else overdue_raw == "true",
        customer_id=int_param(request, "customer_id", 0, 1, MAX_ID) if customer else None,
        limit=int_param(request, "limit", 50, 1, 200),
        offset=int_param(request, "offset", 0, 0, MAX_ID))
    found, total = await desk(request).store.list(viewer(request), filters, _now(request))
    return web.json_response({"complaints": found, "total": total})


@crm_route
async def summary(request: web.Request) -> web.Response:
    """``GET /api/complaints/summary``: open complaints by department and status."""
    return web.json_response(await desk(request).store.summary(viewer(request), _now(request)))


async def options(request: web.Request) -> web.Response:
    """``GET /api/complaints/options``: what the forms offer."""
    settings = request.app[SETTINGS].complaints
    policy = desk(request).policy
    name = username(principal(request))
    return web.json_response({
        "categories": policy.categories(), "departments": policy.all_departments(),
        "routing": {c: policy.department_for(c) for c in policy.categories()},
        "severities": [s.value for s in w.Severity], "remedies": [r.value for r in w.Remedy],
        "statuses": [s.value for s in w.Stage],
        "deadline_hours": {s.value: policy.step_allowance_s[s] / 3600 for s in w.Severity},
        "my_departments": list(settings.departments_of(name)),
        "works_all": principal(request).has_role("supervisor"),
    })


@crm_route
async def get_complaint(request: web.Request) -> web.Response:
    complaint_id = path_id(request, "complaint_id", "complaint_not_found")
    try:
        body = await desk(request).store.read(complaint_id, viewer(request), _now(request))
    except ComplaintNotFound:
        raise ApiError(404, "complaint_not_found", f"no complaint {complaint_id}") from None
    return web.json_response(body)


@crm_route
async def create(request: web.Request) -> web.Response:
    """``POST /api/complaints`` → 201, the complaint, ``Location``."""
    the_desk = desk(request)
    key = request.headers.get("Idempotency-Key")
    if key is not None and not 0 < len(key) <= MAX_IDEMPOTENCY_KEY:
        raise ApiError(400, "invalid_idempotency_key",
                       f"Idempotency-Key must be 1 to {MAX_IDEMPOTENCY_KEY} characters")
    body, raw = await read_body(request, ComplaintCreate)
    who = principal(request)

    async def insert() -> tuple[int, Any, str | None]:
        try:
            outcome = await the_desk.register(
                customer_id=body.customer_id, category=body.category, object=body.object,
                request=body.request, severity=w.Severity(body.severity), details=body.text,
                actor=username(who), call_id=body.call_id, agent=who.agent_id)
        except UnknownCustomer:
            raise ApiError(400, "unknown_customer",
                           f"customer_id {body.customer_id}: no such customer") from None
        except w.InvalidStep as exc:
            raise ApiError(400, "invalid_complaint", str(exc)) from None
        complaint_id = outcome.complaint.id
        assert complaint_id is not None
        card = await the_desk.store.read(complaint_id, Viewer("", sees_all=True),
                                         the_desk.now())
        location = str(request.app.router["complaint"].url_for(
            complaint_id=str(complaint_id)))
        return 201, card, location

    if key is None:
        status, card, location = await insert()
        return web.json_response(card, status=status, headers={"Location": str(location)})
    return await request.app[IDEMPOTENCY].run((f"complaint:{principal(request).id}", key),
                                              raw, insert)


def _may_work(request: web.Request, complaint: dict[str, Any], action: str) -> bool:
    who = principal(request)
    if who.has_role("supervisor"):
        return True
    mine = request.app[SETTINGS].complaints.departments_of(username(who))
    department = complaint.get("department")
    if department is None and mine and action in ("accept", "dismiss", "assign"):
        return True
    if department is not None and department in mine:
        return True
    return action == "collect_feedback" and complaint.get("registered_by") == username(who)


@crm_route
async def take_step(request: web.Request) -> web.Response:
    """``POST /api/complaints/{id}/steps``: the next step, by the signed-in person."""
    complaint_id = path_id(request, "complaint_id", "complaint_not_found")
    the_desk = desk(request)
    body, _ = await read_body(request, StepBody)
    try:
        seen = await the_desk.store.read(complaint_id, viewer(request), the_desk.now())
    except ComplaintNotFound:
        raise ApiError(404, "complaint_not_found", f"no complaint {complaint_id}") from None
    if not _may_work(request, seen, body.action):
        raise ApiError(403, "forbidden", f"{body.action} on complaint {complaint_id} is for "
                       f"the {seen.get('department') or 'complaint desk'} staff or a supervisor")
    fields = body.model_dump(exclude={"action", "version"}, exclude_none=True)
    if "amount" in fields:
        fields["amount"] = str(fields["amount"])
        try:
            Decimal(fields["amount"])
        except ArithmeticError:
            raise ApiError(400, "invalid_step", f"amount {fields['amount']!r} is not a number"
                           ) from None
    try:
        await the_desk.step(complaint_id, body.action, fields,
                            actor=username(principal(request)), version=body.version)
    except w.IllegalTransition as exc:
        raise ApiError(409, "illegal_transition", str(exc), details=[{
            "status": exc.stage.value, "action": exc.action,
            "allowed": list(exc.allowed)}]) from None
    except w.InvalidStep as exc:
        raise ApiError(400, "invalid_step", str(exc)) from None
    except ConcurrentChange:
        raise ApiError(409, "concurrent_change", f"complaint {complaint_id} was changed "
                       "meanwhile: reload it and try again") from None
    except ComplaintNotFound:
        raise ApiError(404, "complaint_not_found", f"no complaint {complaint_id}") from None
    body_out = await the_desk.store.read(complaint_id, Viewer("", sees_all=True),
                                         the_desk.now())
    return web.json_response(body_out)


# --- pages --------------------------------------------------------------------------------


def _serve(name: str) -> web.FileResponse:
    path = live_file(name, PAGES_DIR)
    if path is None:
        raise ApiError(404, "not_found", f"no such file: {name}")
    return web.FileResponse(path, headers={
        hdrs.CONTENT_TYPE: CONTENT_TYPES[path.suffix.lower()], hdrs.CACHE_CONTROL: "no-cache"})


async def page_index(request: web.Request) -> web.StreamResponse:
    return _serve("index.html")


async def page_asset(request: web.Request) -> web.StreamResponse:
    return _serve(request.match_info["name"])


def setup(app: web.Application) -> None:
    router = app.router
    router.add_get("/api/complaints", list_complaints, name="complaints")
    router.add_post("/api/complaints", create, name="complaints")
    router.add_get("/api/complaints/summary", summary, name="complaints_summary")
    router.add_get("/api/complaints/options", options, name="complaint_options")
    router.add_get("/api/complaints/{complaint_id}", get_complaint, name="complaint")
    router.add_post("/api/complaints/{complaint_id}/steps", take_step, name="complaint_steps")
    router.add_get("/complaints/", page_index, name="complaints_page")
    router.add_get("/complaints/{name}", page_asset, name="complaints_file")
