"""Engines, sessions and schema migrations for the CRM database.

One URL picks the backend: ``sqlite:///path.db`` (default, single node) or
``postgresql://user:pw@host/db`` (production). Every function here takes the URL as people write
it and runs it through :func:`crm_bridge.urls.async_database_url` (-> ``sqlite+aiosqlite``,
``postgresql+asyncpg``; anything else is an :class:`UnsupportedDatabaseUrl`). The schema is
owned by alembic (``crm_bridge/migrations``); the alembic configuration is built here in code so
an installed wheel needs no ``alembic.ini`` and no working directory.

SQLite connections get ``journal_mode=WAL`` (readers never wait for the writer: screen pops keep
working during an import), ``foreign_keys=ON`` (SQLite ignores FOREIGN KEY clauses otherwise),
``synchronous=NORMAL`` (safe with WAL, much faster commits) and a ``busy_timeout`` so a second
writer waits instead of failing at once. Reads get a 16 MiB page cache per connection, a 256 MiB
memory map and in-memory temporary sorts (see ``bench/screen_pop.py``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.pool import NullPool

from crm_bridge.urls import UnsupportedDatabaseUrl, async_database_url

__all__ = [
    "UnsupportedDatabaseUrl",
    "async_database_url",
    "current_revision",
    "downgrade_database",
    "head_revision",
    "is_sqlite",
    "make_engine",
    "session_factory",
    "upgrade_database",
]

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
SQLITE_BUSY_TIMEOUT_MS = 10_000
SQLITE_CACHE_KIB = 16 * 1024
"""Page cache per connection (SQLite's default is 2 MiB): the hot index pages of a screen pop."""
SQLITE_MMAP_BYTES = 256 * 1024 * 1024
"""Memory-mapped reads; shared with the OS page cache, not extra memory per connection."""


def is_sqlite(url: str) -> bool:
    return make_url(async_database_url(url)).get_backend_name() == "sqlite"


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA journal_mode=WAL")
        if cursor.fetchone()[0] == "wal":  # an in-memory database stays in "memory" mode
            cursor.execute("PRAGMA synchronous=NORMAL")
        # reads: index pages stay in the connection's cache, the rest is read through a memory
        # map (no read() copy per page), sorts of a few rows stay in memory
        cursor.execute(f"PRAGMA cache_size=-{SQLITE_CACHE_KIB}")
        cursor.execute(f"PRAGMA mmap_size={SQLITE_MMAP_BYTES}")
        cursor.execute("PRAGMA temp_store=MEMORY")
    finally:
        cursor.close()


def make_engine(url: str, **kwargs: Any) -> AsyncEngine:
    """An async engine for ``url`` with the settings above; ``kwargs`` go to SQLAlchemy.

    PostgreSQL gets a pre-pinged pool (a restarted server costs one retry, not an error per
    pooled connection). SQLite keeps SQLAlchemy's default pool for files; an in-memory database
    lives only as long as one connection, so it is pinned to a single one.

    ``url`` may be a plain ``sqlite://`` / ``postgresql://`` URL (see :func:`async_database_url`);
    an unsupported one raises :class:`UnsupportedDatabaseUrl` before any driver is imported.
    """
    url = async_database_url(url)
    parsed = make_url(url)
    options: dict[str, Any] = {}
    if parsed.get_backend_name() == "sqlite":
        if parsed.database in (None, "", ":memory:"):
            from sqlalchemy.pool import StaticPool

            options["poolclass"] = StaticPool
    elif "poolclass" not in kwargs:
        options.update(pool_size=10, max_overflow=20, pool_pre_ping=True, pool_recycle=1800)
    options.update(kwargs)
    engine = create_async_engine(url, **options)
    if parsed.get_backend_name() == "sqlite":
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
    return engine


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions that keep loaded attributes after commit (no surprise lazy loads under asyncio)."""
    return async_sessionmaker(engine, expire_on_commit=False)


def alembic_config() -> Config:
    """The alembic configuration, in code. Callers pass the connection in ``attributes``."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


def head_revision() -> str:
    """The newest migration shipped with this code."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None, "crm_bridge/migrations has no revisions"
    return head


def _current(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


def _run(connection: Connection, action: str, revision: str) -> None:
    config = alembic_config()
    config.attributes["connection"] = connection
    getattr(command, action)(config, revision)


async def _with_connection(url: str, fn: Any, *args: Any) -> Any:
    # NullPool: migrations are one-off; they must not leave pooled connections behind.
    engine = make_engine(url, poolclass=NullPool)
    try:
        async with engine.begin() as connection:
            return await connection.run_sync(fn, *args)
    finally:
        await engine.dispose()


async def current_revision(url: str) -> str | None:
    """The schema revision of the database at ``url`` (None: never migrated)."""
    return await _with_connection(url, _current)


async def upgrade_database(url: str, revision: str = "head") -> None:
    """Migrate the database at ``url`` up to ``revision``; a no-op when it is already there.

    Async because the drivers are: alembic runs on the sync face of an async connection
    (``run_sync``), so this works inside a running event loop (server, tests) and from the CLI.
    """
    await _with_connection(url, _run, "upgrade", revision)


async def downgrade_database(url: str, revision: str) -> None:
    """Migrate down to ``revision`` (``"base"``: drop every CRM table)."""
    await _with_connection(url, _run, "downgrade", revision)
