"""Outbound campaigns over REST (issue 13).

- ``/api/campaigns``: list (GET, supervisor), create (POST, admin; 409 if the name exists);
  ``/api/campaigns/{name}``: get, replace (PUT) and delete (admin). Bodies are the campaign
  document (:class:`callcenter.dialer.campaign.CampaignDefinition`); a bad one is 400
  ``invalid_campaign`` naming the field.
- ``/api/campaigns/{name}/leads``: list (GET, ``?status=``) and import (POST, admin):
  ``{"rows": [{"number": ..., "priority": ..., ...}]}`` or ``{"csv": "<text>"}``; the answer
  is the validation report (bad numbers, duplicates, do-not-call hits).
- ``/api/campaigns/{name}/dnc`` and ``/api/dnc`` (global): add numbers (POST, admin).
- ``/api/campaigns/{name}/control`` (POST, supervisor): ``{"action": "start" | "pause" |
  "resume" | "stop" | "mode", "mode": ...}``: the supervisor's controls, audited.
- ``/api/campaigns/{name}/preview`` (GET, agent; ``?skip=id,id`` passes over leads this agent
  skipped) and ``/api/campaigns/{name}/leads/{lead_id}/dial`` (POST, agent): preview mode: the
  lead an agent would call next, and dialling it now through the same compliance gate; the
  person who answers goes to the agent who dialled (who must be ready: 409
  ``agent_not_ready``), or to any free agent if that one is taken meanwhile.
- ``/api/agents/{agent_id}/campaigns`` (GET, the agent itself or a supervisor): the running
  campaigns in preview mode, for the agent console.
- ``/api/campaigns/{name}/leads/{lead_id}/false-positive`` (POST, supervisor): a MACHINE
  verdict that was a person (a review, a complaint), counted as an abandoned call.
- ``/api/campaigns/{name}/report`` and ``/api/campaigns/{name}/decisions`` (GET, supervisor):
  contact rate, conversion, abandonment, talk time, cost per contact; the dial audit.
"""

from __future__ import annotations

import csv
import io
from typing import Any

from aiohttp import web

from callcenter.acd.agents import AgentState
from callcenter.acd.controls import UnknownAgent
from callcenter.campaign_runner import CampaignControlError, CampaignRunner, CampaignService
from callcenter.dialer.campaign import CampaignDefinition, CampaignError
from callcenter.web.accounts_state import audit
from callcenter.web.auth import principal
from callcenter.web.body import read_json
from callcenter.web.errors import ApiError
from callcenter.web.routes.customers import crm_route, sessions
from callcenter.web.state import AGENT_CONTROLS, CRM_REGION
from crm_bridge import campaigns as store
from crm_bridge.phones import InvalidNumber

CAMPAIGNS = web.AppKey("campaign_service", CampaignService)
MAX_ROWS = 50_000


def setup(app: web.Application) -> None:
    r = app.router
    r.add_get("/api/campaigns", crm_route(list_campaigns), name="campaigns")
    r.add_post("/api/campaigns", crm_route(create), name="campaigns")
    r.add_get("/api/campaigns/{name}", crm_route(get_one), name="campaign")
    r.add_put("/api/campaigns/{name}", crm_route(replace), name="campaign")
    r.add_delete("/api/campaigns/{name}", crm_route(remove), name="campaign")
    r.add_get("/api/campaigns/{name}/leads", crm_route(leads), name="campaign_leads")
    r.add_post("/api/campaigns/{name}/leads", crm_route(import_leads), name="campaign_leads")
    r.add_post("/api/campaigns/{name}/dnc", crm_route(add_campaign_dnc), name="campaign_dnc")
    r.add_post("/api/dnc", crm_route(add_global_dnc), name="dnc")
    r.add_post("/api/campaigns/{name}/control", crm_route(control), name="campaign_control")
    r.add_get("/api/campaigns/{name}/report", crm_route(report), name="campaign_report")
    r.add_get("/api/campaigns/{name}/decisions", crm_route(audit_trail),
              name="campaign_decisions")
    r.add_get("/api/campaigns/{name}/preview", preview, name="campaign_preview")
    r.add_get("/api/agents/{agent_id}/campaigns", agent_campaigns, name="agent_campaigns")
    r.add_post("/api/campaigns/{name}/leads/{lead_id}/false-positive", false_positive,
               name="campaign_false_positive")
    r.add_post("/api/campaigns/{name}/leads/{lead_id}/dial", dial_lead,
               name="campaign_lead_dial")


def _service(request: web.Request) -> CampaignService:
    service = request.app.get(CAMPAIGNS)
    if service is None:
        raise ApiError(503, "campaigns_unavailable", "this server runs no campaigns")
    return service


def _definition(body: Any) -> CampaignDefinition:
    try:
        return CampaignDefinition.parse(body)
    except CampaignError as exc:
        raise ApiError(400, "invalid_campaign", str(exc)) from None


def _missing(name: str) -> ApiError:
    return ApiError(404, "campaign_not_found", f"no campaign {name!r}")


def _view(definition: CampaignDefinition, state: str, live: dict[str, object] | None
          ) -> dict[str, Any]:
    return {"name": definition.name, "state": live["state"] if live else state,
            "definition": definition.document(), "status": live}


async def list_campaigns(request: web.Request) -> web.Response:
    service = request.app.get(CAMPAIGNS)
    async with sessions(request)() as session:
        found = await store.list_campaigns(session)
    return web.json_response({"campaigns": [
        _view(d, state, service.status(d.name) if service else None) for d, state in found]})


async def create(request: web.Request) -> web.Response:
    _, body = await read_json(request)
    definition = _definition(body)
    async with sessions(request)() as session, session.begin():
        try:
            await store.save_campaign(session, definition, create=True)
        except KeyError:
            raise ApiError(409, "campaign_exists",
                           f"campaign {definition.name!r} exists") from None
    await audit(request, "campaign.create", definition.name)
    return web.json_response(_view(definition, "ready", None), status=201)


async def get_one(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    async with sessions(request)() as session:
        try:
            definition, state = await store.load_campaign(session, name)
        except LookupError:
            raise _missing(name) from None
    service = request.app.get(CAMPAIGNS)
    return web.json_response(_view(definition, state, service.status(name) if service else None))


async def replace(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    _, body = await read_json(request)
    if isinstance(body, dict):
        body.setdefault("name", name)
    definition = _definition(body)
    if definition.name != name:
        raise ApiError(400, "invalid_campaign", "the name in the body differs from the URL's")
    service = request.app.get(CAMPAIGNS)
    if service is not None and name in service.runners and \
            service.runners[name].state == "running":
        raise ApiError(409, "campaign_running", "pause or stop the campaign before changing it")
    async with sessions(request)() as session, session.begin():
        try:
            await store.save_campaign(session, definition, create=False)
        except LookupError:
            raise _missing(name) from None
    if service is not None and name in service.runners:
        await service.runners.pop(name).close()  # the next start runs the new document
    await audit(request, "campaign.update", name)
    return web.json_response(_view(definition, "ready", None))


async def remove(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    service = request.app.get(CAMPAIGNS)
    if service is not None and name in service.runners:
        if service.runners[name].state == "running":
            raise ApiError(409, "campaign_running", "stop the campaign before deleting it")
        await service.runners.pop(name).close()
    async with sessions(request)() as session, session.begin():
        if not await store.delete_campaign(session, name):
            raise _missing(name)
    await audit(request, "campaign.delete", name)
    return web.Response(status=204)


async def leads(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    status = request.query.get("status") or None
    async with sessions(request)() as session:
        try:
            await store.load_campaign(session, name)
        except LookupError:
            raise _missing(name) from None
        rows = await store.lead_rows(session, name, status)
    return web.json_response({"campaign": name, "leads": rows})


def _rows(body: Any) -> list[dict[str, str]]:
    if not isinstance(body, dict) or ("rows" in body) == ("csv" in body):
        raise ApiError(400, "invalid_leads", 'give either "rows" (a list of objects) or '
                       '"csv" (the text of a CSV file with a header row)')
    if "csv" in body:
        if not isinstance(body["csv"], str):
            raise ApiError(400, "invalid_leads", '"csv" must be text')
        reader = csv.DictReader(io.StringIO(body["csv"].lstrip("\ufeff")))
        if not {h.strip().lower() for h in reader.fieldnames or []} & {"number", "phone"}:
            raise ApiError(400, "invalid_leads", "the CSV needs a 'number' or 'phone' column")
        rows = [{(k or "").strip().lower(): (v or "") for k, v in row.items()}
                for row in reader]
    else:
        raw = body["rows"]
        if not isinstance(raw, list) or not all(isinstance(r, dict) for r in raw):
            raise ApiError(400, "invalid_leads", '"rows" must be a list of objects')
        rows = [{str(k).lower(): "" if v is None else str(v) for k, v in r.items()}
                for r in raw]
    if len(rows) > MAX_ROWS:
        raise ApiError(413, "too_many_leads", f"at most {MAX_ROWS} leads per request")
    return rows


async def import_leads(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    _, body = await read_json(request)
    rows = _rows(body)
    async with sessions(request)() as session, session.begin():
        try:
            result = await store.import_leads(session, name, rows, request.app[CRM_REGION])
        except LookupError:
            raise _missing(name) from None
    await audit(request, "campaign.import", name, {"imported": result.imported,
                                                   "rows": result.rows})
    return web.json_response(result.as_dict())


async def _add_dnc(request: web.Request, campaign: str | None) -> web.Response:
    _, body = await read_json(request)
    numbers = body.get("numbers") if isinstance(body, dict) else None
    if not isinstance(numbers, list) or not all(isinstance(n, str) for n in numbers):
        raise ApiError(400, "invalid_dnc", '"numbers" must be a list of phone numbers')
    reason = body.get("reason") if isinstance(body.get("reason"), str) else None
    async with sessions(request)() as session, session.begin():
        if campaign is not None:
            try:
                await store.load_campaign(session, campaign)
            except LookupError:
                raise _missing(campaign) from None
        try:
            added = await store.add_dnc(session, numbers, request.app[CRM_REGION], campaign,
                                        reason)
        except InvalidNumber as exc:
            raise ApiError(400, "invalid_number", str(exc)) from None
    await audit(request, "dnc.add", campaign or "global", {"added": len(added)})
    return web.json_response({"added": added, "campaign": campaign})


async def add_campaign_dnc(request: web.Request) -> web.Response:
    return await _add_dnc(request, request.match_info["name"])


async def add_global_dnc(request: web.Request) -> web.Response:
    return await _add_dnc(request, None)


async def control(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    _, body = await read_json(request)
    if not isinstance(body, dict) or not isinstance(body.get("action"), str):
        raise ApiError(400, "invalid_control", '"action" is required: start, pause, resume, '
                       "stop or mode")
    mode = body.get("mode")
    if mode is not None and not isinstance(mode, str):
        raise ApiError(400, "invalid_control", '"mode" must be text')
    service = _service(request)
    actor = principal(request).id
    try:
        status = await service.control(name, body["action"], actor, mode)
    except LookupError:
        raise _missing(name) from None
    except ValueError as exc:
        raise ApiError(400, "invalid_control", str(exc)) from None
    except CampaignControlError as exc:
        raise ApiError(409, "campaign_control", str(exc)) from None
    await audit(request, f"campaign.{body['action']}", name, {"mode": mode} if mode else None)
    return web.json_response(status, status=202 if "forwarded_to" in status else 200)


async def report(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    async with sessions(request)() as session:
        try:
            figures = await store.campaign_report(session, name)
        except LookupError:
            raise _missing(name) from None
    service = request.app.get(CAMPAIGNS)
    figures["live"] = service.status(name) if service else None
    return web.json_response(figures)


async def audit_trail(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    async with sessions(request)() as session:
        rows = await store.decisions(session, name)
    return web.json_response({"campaign": name, "decisions": rows})


def _running(request: web.Request) -> CampaignRunner:
    name = request.match_info["name"]
    runner = _service(request).runners.get(name)
    if runner is None or runner.state != "running":
        raise ApiError(409, "campaign_not_running", f"campaign {name!r} is not running")
    return runner


#: at most this many lead ids in ``?skip=`` (an agent passing over a whole list pages it)
MAX_SKIP = 200


def _skip(request: web.Request) -> frozenset[str]:
    raw = request.query.get("skip", "")
    ids = frozenset(item for item in raw.split(",") if item)
    if len(ids) > MAX_SKIP:
        raise ApiError(400, "invalid_parameter", f"skip: at most {MAX_SKIP} lead ids")
    return ids


async def preview(request: web.Request) -> web.Response:
    runner = _running(request)
    lead = runner.preview(_skip(request))
    if lead is None:
        return web.json_response({"campaign": runner.name, "lead": None})
    return web.json_response({"campaign": runner.name, "lead": {
        "lead_id": lead.lead_id, "number": lead.number, "name": lead.name,
        "priority": lead.priority, "value": lead.value, "attempts": lead.attempts,
        "customer_id": lead.customer_id, "last_outcome": lead.last_outcome}})


async def agent_campaigns(request: web.Request) -> web.Response:
    """The campaigns an agent may preview-dial now: running, in preview mode (the console's
    campaign list; a supervisor switches a campaign's mode with ``/control``)."""
    service = request.app.get(CAMPAIGNS)
    runners = service.runners.values() if service is not None else ()
    return web.json_response({"campaigns": [
        {"name": runner.name, "company": runner.definition.company, "mode": runner.pacer.mode,
         "state": runner.state}
        for runner in sorted(runners, key=lambda r: r.name)
        if runner.state == "running" and runner.pacer.mode == "preview"]})


async def dial_lead(request: web.Request) -> web.Response:
    runner = _running(request)
    lead_id = request.match_info["lead_id"]
    agent_id = principal(request).agent_id
    controls = request.app.get(AGENT_CONTROLS)
    if agent_id is not None and controls is not None:
        # the person who answers goes to the agent who dialled: that agent must be free for it
        # (otherwise another agent, or nobody and the call is an abandoned one)
        try:
            state = controls.agent(agent_id).state
        except UnknownAgent:
            raise ApiError(409, "agent_not_ready",
                           f"agent {agent_id} is not an agent of this server") from None
        if state is not AgentState.READY:
            raise ApiError(409, "agent_not_ready",
                           f"agent {agent_id} is {state.value}: be ready before dialling")
    try:
        decision = runner.dial_lead(lead_id, agent_id)
    except KeyError:
        raise ApiError(404, "lead_not_found", f"no lead {lead_id!r}") from None
    except ValueError as exc:
        raise ApiError(409, "lead_busy", str(exc)) from None
    return web.json_response(decision.as_dict(), status=200 if decision.dial else 409)


async def false_positive(request: web.Request) -> web.Response:
    """A supervisor reports that a MACHINE verdict was a person: counted as abandoned. The
    campaign must have run in this process since it started (running, paused, stopped or
    finished): its ledger is here."""
    name = request.match_info["name"]
    runner = _service(request).runners.get(name)
    if runner is None:
        raise ApiError(409, "campaign_not_running",
                       f"campaign {name!r} has not run in this server since it started")
    lead_id = request.match_info["lead_id"]
    try:
        runner.false_positive(lead_id, principal(request).id)
    except KeyError:
        raise ApiError(404, "lead_not_found", f"no lead {lead_id!r}") from None
    except ValueError as exc:
        raise ApiError(409, "not_a_machine", str(exc)) from None
    await audit(request, "campaign.false_positive", runner.name, {"lead_id": lead_id})
    return web.json_response(runner.status().to_dict())
