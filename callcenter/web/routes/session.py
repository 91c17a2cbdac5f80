"""Signing in and out: ``/api/auth/login``, ``/logout``, ``/session``, ``/ws-ticket``.

``POST /api/auth/login`` ``{"username", "password"}`` opens a session: pages get the
``cc_session`` cookie (HttpOnly, SameSite=Strict) and, in the body, the CSRF token to echo in
``X-CSRF-Token``; with ``"bearer": true`` (scripts, bots) the body carries the session token
instead and no cookie is set. Wrong credentials are one 401 ``bad_credentials`` whatever was
wrong (unknown user, bad password, disabled), after the same work. Too many failures lock the
username and the address (429 ``too_many_attempts`` with ``Retry-After``).
"""

from __future__ import annotations

import asyncio
import math

from aiohttp import hdrs, web
from pydantic import BaseModel, ConfigDict, Field

from callcenter.accounts.passwords import (
    hash_password,
    needs_rehash,
    verify_dummy,
    verify_password,
)
from callcenter.accounts.sessions import Session
from callcenter.web.accounts_state import SESSIONS, THROTTLE, USERS
from callcenter.web.auth import SESSION_COOKIE, request_token
from callcenter.web.errors import ApiError
from callcenter.web.routes.customers import crm_route, read_body
from callcenter.web.state import SETTINGS


class Login(BaseModel):
    model_config = ConfigDict(extra="forbid")

    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=256)
    bearer: bool = False


def setup(app: web.Application) -> None:
    router = app.router
    router.add_post("/api/auth/login", login, name="auth_login")
    router.add_post("/api/auth/logout", logout, name="auth_logout")
    router.add_get("/api/auth/session", session, name="auth_session")
    router.add_post("/api/auth/ws-ticket", ws_ticket, name="auth_ws_ticket")


def _describe(found: Session) -> dict[str, object]:
    return {"username": found.username, "role": found.role, "agent_id": found.agent_id,
            "csrf_token": found.csrf_token}


def _token(request: web.Request) -> str:
    """The caller's session token (the access middleware already checked it is live)."""
    token = request_token(request) or request.cookies.get(SESSION_COOKIE)
    if not token:  # a ticket-authenticated WebSocket cannot reach these routes
        raise ApiError(401, "unauthorized", "sign in first")
    return token


@crm_route  # accounts in an unreachable database: 503, not a 500
async def login(request: web.Request) -> web.Response:
    body, _ = await read_body(request, Login)
    username = body.username.strip().lower()
    address = request.remote or "unknown"
    throttle = request.app[THROTTLE]
    wait = await throttle.retry_after(username, address)
    if wait > 0:
        raise ApiError(429, "too_many_attempts",
                       f"too many failed log-ins; try again in {math.ceil(wait)} s",
                       headers={hdrs.RETRY_AFTER: str(math.ceil(wait))})
    users = request.app[USERS]
    user = await users.get(username)
    if user is None:
        await asyncio.to_thread(verify_dummy, body.password)
        ok = False
    else:
        ok = await asyncio.to_thread(verify_password, user.password_hash, body.password)
    if user is None or not ok or user.disabled:
        await throttle.failed(username, address)
        raise ApiError(401, "bad_credentials", "wrong username or password")
    await throttle.succeeded(username)
    if needs_rehash(user.password_hash):  # cost raised since: store the stronger hash
        user = user.with_changes(password_hash=await asyncio.to_thread(hash_password,
                                                                       body.password))
        await users.replace(user)
    token, opened = await request.app[SESSIONS].open(user)
    if body.bearer:
        return web.json_response({**_describe(opened), "token": token})
    response = web.json_response(_describe(opened))
    response.set_cookie(SESSION_COOKIE, token, httponly=True, samesite="Strict", path="/",
                        secure=request.app[SETTINGS].auth.secure_cookie or request.secure)
    return response


async def logout(request: web.Request) -> web.Response:
    await request.app[SESSIONS].close(_token(request))
    response = web.Response(status=204)
    response.del_cookie(SESSION_COOKIE, path="/")
    return response


async def session(request: web.Request) -> web.Response:
    found = await request.app[SESSIONS].get(_token(request))
    if found is None:
        raise ApiError(401, "unauthorized", "the session has ended; sign in again")
    return web.json_response(_describe(found))


async def ws_ticket(request: web.Request) -> web.Response:
    sessions = request.app[SESSIONS]
    ticket = await sessions.ticket(_token(request))
    return web.json_response({"ticket": ticket, "expires_in_s": sessions.ticket_ttl_s})
