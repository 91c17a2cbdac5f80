"""Signing tests in the way people sign in: an account in the app's user directory (what
``callcenter user add`` writes), then ``POST /api/auth/login``. No bypass: an app knows
nobody until a test adds someone."""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

from aiohttp.test_utils import TestClient

from callcenter.accounts import User, hash_password
from callcenter.web.accounts_state import USERS

PASSWORD = "correct horse battery"
_numbers = itertools.count(1)


async def add_user(client: TestClient[Any, Any], role: str, agent_id: str | None = None,
                   username: str | None = None, password: str = PASSWORD) -> str:
    """Add an account to the served app's directory; returns its username."""
    name = username or f"{role}-{agent_id or next(_numbers)}"
    hashed = await asyncio.to_thread(hash_password, password)
    await client.app[USERS].add(User(name, role, hashed, agent_id))
    return name


async def login(client: TestClient[Any, Any], username: str,
                password: str = PASSWORD) -> dict[str, Any]:
    """``POST /api/auth/login`` as a script does (bearer); the answer's JSON."""
    response = await client.post("/api/auth/login", json={
        "username": username, "password": password, "bearer": True})
    assert response.status == 200, await response.text()
    body: dict[str, Any] = await response.json()
    return body


async def token_for(client: TestClient[Any, Any], role: str = "admin",
                    agent_id: str | None = None) -> str:
    """A fresh account with ``role`` and a session token for it."""
    return str((await login(client, await add_user(client, role, agent_id)))["token"])


async def sign_in(client: TestClient[Any, Any], role: str = "admin",
                  agent_id: str | None = None) -> TestClient[Any, Any]:
    """Make every later request of ``client`` carry a fresh ``role`` account's session."""
    client.session.headers["Authorization"] = f"Bearer {await token_for(client, role, agent_id)}"
    return client


async def sign_in_as(client: TestClient[Any, Any], username: str,
                     password: str = PASSWORD) -> TestClient[Any, Any]:
    """Make every later request of ``client`` carry a session of the existing ``username``."""
    token = (await login(client, username, password))["token"]
    client.session.headers["Authorization"] = f"Bearer {token}"
    return client
