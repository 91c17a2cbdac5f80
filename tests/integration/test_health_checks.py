"""Health checks against the REAL Redis and PostgreSQL of the harness (and dead/hung ports)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest

from callcenter.health_checks import HealthCheckFailed, database_check, redis_check
from tests.harness import free_port


@pytest.fixture
async def hung_port() -> AsyncIterator[int]:
    """A loopback port that accepts connections and never answers (a hung service)."""
    held: list[asyncio.StreamWriter] = []

    async def swallow(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)

    server = await asyncio.start_server(swallow, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        for writer in held:
            writer.close()
        server.close()
        await server.wait_closed()


async def test_redis_check_passes_when_up(redis_url: str) -> None:
    check = redis_check(redis_url)
    await check()
    await check()  # each probe opens and closes its own connection


async def test_redis_check_raises_on_dead_port() -> None:
    check = redis_check(f"redis://127.0.0.1:{free_port()}/0")
    started = time.monotonic()
    with pytest.raises(HealthCheckFailed, match="redis"):
        await check()
    assert time.monotonic() - started < 2.5


async def test_redis_check_times_out_on_a_hung_server(hung_port: int) -> None:
    check = redis_check(f"redis://127.0.0.1:{hung_port}/0", timeout=0.5)
    started = time.monotonic()
    with pytest.raises(HealthCheckFailed, match=r"within 0\.5 s"):
        await check()
    assert time.monotonic() - started < 1.5


async def test_database_check_passes_on_postgres_and_reuses_its_engine(
    postgres_url: str,
) -> None:
    check = database_check(postgres_url)
    try:
        await check()
        engine = check.engine
        await check()
        assert check.engine is engine
    finally:
        await check.dispose()
    await check()  # usable again after dispose: a new engine is made
    await check.dispose()


async def test_database_check_raises_on_dead_port() -> None:
    dead = f"postgresql+asyncpg://cc:pw@127.0.0.1:{free_port()}/cc"
    check = database_check(dead)
    started = time.monotonic()
    try:
        with pytest.raises(HealthCheckFailed, match="database"):
            await check()
    finally:
        await check.dispose()
    assert time.monotonic() - started < 2.5


async def test_database_check_raises_on_wrong_password(postgres_server) -> None:
    url = postgres_server.url.replace(postgres_server.password, "wrong-password")
    check = database_check(url)
    try:
        with pytest.raises(HealthCheckFailed, match="database") as failure:
            await check()
    finally:
        await check.dispose()
    assert "wrong-password" not in str(failure.value)


async def test_database_check_times_out_on_a_hung_server(hung_port: int) -> None:
    check = database_check(f"postgresql+asyncpg://u:p@127.0.0.1:{hung_port}/db", timeout=0.5)
    started = time.monotonic()
    try:
        with pytest.raises(HealthCheckFailed, match=r"within 0\.5 s"):
            await check()
    finally:
        await check.dispose()
    assert time.monotonic() - started < 1.5


async def test_database_check_recovers_after_a_postgres_restart(postgres_server) -> None:
    check = database_check(postgres_server.url)
    try:
        await check()  # leaves a pooled connection that the restart kills
        postgres_server.restart()
        await check()  # pool_pre_ping replaces the dead connection
    finally:
        await check.dispose()


async def test_database_check_on_sqlite(tmp_path) -> None:
    check = database_check(f"sqlite+aiosqlite:///{tmp_path / 'health.db'}")
    try:
        await check()
    finally:
        await check.dispose()
