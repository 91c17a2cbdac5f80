"""Idempotency keys in Redis (``redis_url`` set): a request retried on another server process
(another app, same Redis, same database) gets the first answer, not a second customer, and
nothing is written to the database's ``idempotency_keys`` table."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from pydantic import SecretStr
from sqlalchemy import func, select

from callcenter.config import Settings
from callcenter.events import EventBus
from callcenter.metrics import Metrics
from callcenter.web import create_app
from crm_bridge.db import make_engine, session_factory, upgrade_database
from crm_bridge.models import Customer, IdempotencyKeyRow
from crm_bridge.users import DbUsers
from tests.accounts import add_user, sign_in_as
from tests.fakes import NoCalls

pytestmark = pytest.mark.integration


def _app(sessions: Any, redis_url: str) -> Any:
    settings = Settings(redis_url=SecretStr(redis_url))
    return create_app(settings=settings, bus=EventBus(), calls=NoCalls(), metrics=Metrics(),
                      crm_sessions=sessions, users=DbUsers(sessions))  # one account, two servers


async def _count(sessions: Any, model: Any) -> int:
    async with sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


async def test_a_retry_on_another_process_replays_the_first_answer(
        redis_url: str, tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'crm.db'}"
    await upgrade_database(url)
    engine = make_engine(url)
    sessions = session_factory(engine)
    headers = {"Idempotency-Key": "two-processes-1"}
    body = {"name": "Grace Hopper", "phones": ["+1 212 555 0177"]}
    try:
        async with TestClient(TestServer(_app(sessions, redis_url))) as one, \
                TestClient(TestServer(_app(sessions, redis_url))) as two:
            name = await add_user(one, "agent", "2001")  # the same principal on both
            await sign_in_as(one, name)
            await sign_in_as(two, name)
            first = await one.post("/api/customers", json=body, headers=headers)
            assert first.status == 201, await first.text()
            again = await two.post("/api/customers", json=body, headers=headers)
            assert again.status == 201 and again.headers["Idempotent-Replayed"] == "true"
            assert await again.json() == await first.json()
            reused = await two.post("/api/customers", json={"name": "Other"}, headers=headers)
            assert reused.status == 422
            assert (await reused.json())["error"]["code"] == "idempotency_key_reused"
        assert await _count(sessions, Customer) == 1
        assert await _count(sessions, IdempotencyKeyRow) == 0  # kept in Redis instead
    finally:
        await engine.dispose()
