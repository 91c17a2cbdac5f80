"""Alembic environment for the CRM schema.

Normally run through :func:`crm_bridge.db.upgrade_database`, which hands over an open (sync face
of an async) connection in ``config.attributes["connection"]``. Run by the ``alembic`` command
instead, it connects itself to ``sqlalchemy.url`` (or ``$CALLCENTER_DATABASE_URL``) with an async
engine. ``render_as_batch`` lets future migrations alter tables on SQLite, which has almost no
ALTER TABLE.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

from alembic import context
from sqlalchemy import Connection

from crm_bridge.models import Base

config = context.config
target_metadata = Base.metadata


def _configure(**kwargs: Any) -> None:
    context.configure(
        target_metadata=target_metadata,
        render_as_batch=True,
        compare_type=True,
        **kwargs,
    )


def _migrate(connection: Connection) -> None:
    _configure(connection=connection)
    with context.begin_transaction():
        context.run_migrations()


def _url() -> str:
    url = config.get_main_option("sqlalchemy.url") or os.environ.get("CALLCENTER_DATABASE_URL")
    if not url:
        raise RuntimeError("no database: set sqlalchemy.url or CALLCENTER_DATABASE_URL")
    return url


async def _migrate_standalone() -> None:
    from sqlalchemy.pool import NullPool

    from crm_bridge.db import make_engine

    engine = make_engine(_url(), poolclass=NullPool)
    try:
        async with engine.begin() as connection:
            await connection.run_sync(_migrate)
    finally:
        await engine.dispose()


if context.is_offline_mode():
    _configure(url=_url(), literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
elif (shared := config.attributes.get("connection")) is not None:
    _migrate(shared)
else:
    asyncio.run(_migrate_standalone())
