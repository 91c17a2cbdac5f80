"""Fixtures of the integration tests: an empty CRM database of each backend."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crm_bridge.db import make_engine, session_factory, upgrade_database


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database of each backend (PostgreSQL: its own CREATE DATABASE), as a plain
    URL as users type it."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'crm.db'}"
        return
    server = request.getfixturevalue("postgres_server")
    name = f"crm_{uuid.uuid4().hex[:12]}"
    server.psql(f"CREATE DATABASE {name} OWNER {server.user}")
    try:
        yield server.url.rsplit("/", 1)[0] + "/" + name
    finally:
        server.psql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture
async def sessions(db_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """Sessions on ``db_url`` migrated to the current schema."""
    await upgrade_database(db_url)
    engine = make_engine(db_url)
    try:
        yield session_factory(engine)
    finally:
        await engine.dispose()
