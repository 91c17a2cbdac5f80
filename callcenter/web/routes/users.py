"""Accounts over REST, for admins: ``/api/users`` and ``/api/users/{username}``; the audit log
``GET /api/audit``.

A password is taken only to be hashed (scrypt, :mod:`callcenter.accounts.passwords`); no answer
ever carries a hash. Disabling a user, changing its role, agent id or password, or removing
it ends its sessions at once. Every change is audited.
"""

from __future__ import annotations

import asyncio
from typing import Literal

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from callcenter.accounts.passwords import WeakPassword, hash_password
from callcenter.accounts.users import BadUser, NoSuchUser, User, UserExists
from callcenter.web.accounts_state import SESSIONS, USERS, audit
from callcenter.web.errors import ApiError
from callcenter.web.routes.customers import crm_route, int_param, read_body
from callcenter.web.state import CRM_SESSIONS

Role = Literal["agent", "supervisor", "admin"]


class NewUser(BaseModel):
    model_config = ConfigDict(extra="forbid")

    username: str = Field(min_length=1, max_length=64)
    role: Role
    password: str = Field(min_length=1, max_length=256)
    agent_id: str | None = Field(None, min_length=1, max_length=64)


class UserChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: Role | None = None
    password: str | None = Field(None, min_length=1, max_length=256)
    agent_id: str | None = Field(None, min_length=1, max_length=64)
    disabled: bool | None = None


def setup(app: web.Application) -> None:
    router = app.router
    router.add_get("/api/users", list_users, name="users")
    router.add_post("/api/users", add_user, name="users")
    router.add_get("/api/users/{username}", get_user, name="user")
    router.add_patch("/api/users/{username}", change_user, name="user")
    router.add_delete("/api/users/{username}", remove_user, name="user")
    router.add_get("/api/audit", audit_entries, name="audit_log")


async def _hash(password: str) -> str:
    try:
        return await asyncio.to_thread(hash_password, password)
    except WeakPassword as exc:
        raise ApiError(400, "weak_password", str(exc)) from None


async def _existing(request: web.Request) -> User:
    username = request.match_info["username"]
    user = await request.app[USERS].get(username)
    if user is None:
        raise ApiError(404, "user_not_found", f"no user {username[:64]!r}")
    return user


@crm_route
async def list_users(request: web.Request) -> web.Response:
    return web.json_response({"users": [u.public() for u in await request.app[USERS].list()]})


@crm_route
async def get_user(request: web.Request) -> web.Response:
    return web.json_response((await _existing(request)).public())


@crm_route
async def add_user(request: web.Request) -> web.Response:
    body, _ = await read_body(request, NewUser)
    try:
        user = User(body.username, body.role, "-", body.agent_id)
        user = user.with_changes(password_hash=await _hash(body.password))
        await request.app[USERS].add(user)
    except BadUser as exc:
        raise ApiError(400, "invalid_user", str(exc)) from None
    except UserExists as exc:
        raise ApiError(409, "user_exists", str(exc)) from None
    await audit(request, "user.add", user.username, {"role": user.role,
                                                     "agent_id": user.agent_id})
    return web.json_response(user.public(), status=201)


@crm_route
async def change_user(request: web.Request) -> web.Response:
    user = await _existing(request)
    body, _ = await read_body(request, UserChange)
    changes = body.model_dump(exclude_unset=True, exclude={"password"})
    try:
        changed = user.with_changes(**changes)
        if body.password is not None:
            changed = changed.with_changes(password_hash=await _hash(body.password))
        await request.app[USERS].replace(changed)
    except BadUser as exc:
        raise ApiError(400, "invalid_user", str(exc)) from None
    except NoSuchUser as exc:
        raise ApiError(404, "user_not_found", str(exc)) from None
    if changed != user:
        await request.app[SESSIONS].close_user(user.username)
    await audit(request, "user.change", user.username,
                {**changes, **({"password": "changed"} if body.password else {})})
    return web.json_response(changed.public())


@crm_route
async def remove_user(request: web.Request) -> web.Response:
    username = request.match_info["username"]
    try:
        await request.app[USERS].remove(username)
    except NoSuchUser as exc:
        raise ApiError(404, "user_not_found", str(exc)) from None
    await request.app[SESSIONS].close_user(username)
    await audit(request, "user.remove", username)
    return web.Response(status=204)


@crm_route
async def audit_entries(request: web.Request) -> web.Response:
    sessions = request.app.get(CRM_SESSIONS)
    if sessions is None:
        raise ApiError(503, "crm_unavailable", "this server keeps no audit log database")
    from crm_bridge.audit import recent

    limit = int_param(request, "limit", 100, 1, 1000)
    offset = int_param(request, "offset", 0, 0, 1_000_000)
    return web.json_response({"entries": await recent(sessions, limit, offset)})
