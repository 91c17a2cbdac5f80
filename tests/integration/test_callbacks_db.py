"""Pending callbacks in REAL SQLite and PostgreSQL (migration 0008): saved, replaced with a new
attempt count, listed per queue, removed; what a restarted server loads is what was saved."""

from __future__ import annotations

import pytest

from callcenter.acd.callbacks import Callback
from crm_bridge.callbacks import DbCallbacks
from crm_bridge.db import downgrade_database, make_engine, session_factory, upgrade_database

pytestmark = pytest.mark.integration


async def test_callbacks_are_kept_across_stores_and_removed(db_url: str) -> None:
    await upgrade_database(db_url)
    engine = make_engine(db_url)
    try:
        store = DbCallbacks(session_factory(engine))
        first = Callback("1733300000.11", "sales", "1733300000.10", "+14155550100",
                         1733300000.25, priority=5)
        await store.save(first)
        await store.save(Callback("1733300001.1", "support", "c2", "+14155550101", 1.0))
        await store.save(first.failed_once())  # replaced, not doubled
        restarted = DbCallbacks(session_factory(engine))  # what a new process reads
        assert await restarted.pending("sales") == [first.failed_once()]
        await restarted.remove(first.callback_id)
        await restarted.remove("never-there")  # harmless
        assert await store.pending("sales") == []
        assert [c.queue for c in await store.pending("support")] == ["support"]
    finally:
        await engine.dispose()
    await downgrade_database(db_url, "0007")
