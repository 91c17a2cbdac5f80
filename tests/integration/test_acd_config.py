"""The ACD's configuration tables on REAL SQLite and PostgreSQL: migration 0005 up and down
(with rows), definitions written and read back exactly, every refusal (duplicate, unknown,
a queue still another's overflow target, invalid data) writing nothing, a seed idempotent."""

from __future__ import annotations

import pytest
from sqlalchemy import inspect, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from callcenter.acd.definitions import (
    AcdDefinitions,
    AgentDefinition,
    DefinitionError,
    PauseReason,
    QueueDefinition,
)
from crm_bridge import acd_config
from crm_bridge.db import downgrade_database, make_engine, session_factory, upgrade_database

pytestmark = pytest.mark.integration

ACD_TABLES = {"acd_queues", "acd_queue_skills", "acd_agents", "acd_agent_skills",
              "acd_pause_reasons"}

SUPPORT = QueueDefinition("support", strategy="skills-level", required_skills={"en": 2},
                          service_level_s=30, service_level_target=0.9, max_wait_s=600,
                          callback_after_s=120, wrap_up_s=15, ring_timeout_s=18,
                          music_class="calm", announce_every_s=45, record=True)
COMPLAINTS = QueueDefinition("complaints", required_skills={"en": 1, "complaints": 3},
                             overflow_queue="support", overflow_after_s=60)
ALICE = AgentDefinition("2001", name="Alice Martin", skills={"en": 5, "complaints": 4},
                        endpoint="PJSIP/alice", logged_in=True)
BOB = AgentDefinition("2002", name="Bob", skills={"en": 2})
LUNCH = PauseReason("lunch", label="Lunch", max_s=3600)
COACHING = PauseReason("coaching", label="Coaching", productive=True)
ALL = AcdDefinitions(queues=(COMPLAINTS, SUPPORT), agents=(ALICE, BOB),
                     pause_reasons=(COACHING, LUNCH))


async def test_definitions_round_trip_exactly(
        sessions: async_sessionmaker[AsyncSession]) -> None:
    assert await acd_config.load_definitions(sessions) is None  # nothing stored yet
    change = await acd_config.seed(sessions, ALL)
    assert change.definitions == await acd_config.load_definitions(sessions) == ALL


async def test_create_replace_delete_and_the_refusals(
        sessions: async_sessionmaker[AsyncSession]) -> None:
    await acd_config.create(sessions, SUPPORT)
    with pytest.raises(acd_config.DuplicateDefinition):
        await acd_config.create(sessions, SUPPORT)
    # an overflow target that does not exist: refused, nothing written
    orphan = QueueDefinition("orphan", overflow_queue="nowhere", overflow_after_s=5)
    with pytest.raises(DefinitionError, match="nowhere"):
        await acd_config.create(sessions, orphan)
    change = await acd_config.create(sessions, COMPLAINTS)
    assert [q.name for q in change.definitions.queues] == ["support", "complaints"]
    with pytest.raises(acd_config.DefinitionInUse, match="complaints"):
        await acd_config.remove(sessions, QueueDefinition, "support")
    with pytest.raises(acd_config.UnknownDefinition):
        await acd_config.remove(sessions, QueueDefinition, "nope")
    with pytest.raises(acd_config.UnknownDefinition):
        await acd_config.put(sessions, QueueDefinition("nope"))

    faster = QueueDefinition("complaints", required_skills={"complaints": 5})
    change = await acd_config.put(sessions, faster)
    assert change.action == "replaced"
    stored = await acd_config.load_definitions(sessions)
    assert stored is not None and stored.queue("complaints") == faster
    await acd_config.remove(sessions, QueueDefinition, "support")  # no longer a target
    stored = await acd_config.load_definitions(sessions)
    assert stored is not None and [q.name for q in stored.queues] == ["complaints"]

    await acd_config.create(sessions, ALICE)
    await acd_config.put(sessions, BOB, must_exist=False)
    await acd_config.create(sessions, LUNCH)
    change = await acd_config.remove(sessions, AgentDefinition, "2001")
    assert change.definitions.agents == (BOB,)
    stored = await acd_config.load_definitions(sessions)
    assert stored is not None and stored.agents == (BOB,) and stored.pause_reasons == (LUNCH,)
    async with sessions() as session:  # the agent's skills went with it
        left = (await session.execute(text("SELECT count(*) FROM acd_agent_skills "
                                           "WHERE agent_id = '2001'"))).scalar_one()
    assert left == 0


async def test_a_seed_is_idempotent_and_keeps_what_it_does_not_name(
        sessions: async_sessionmaker[AsyncSession]) -> None:
    extra = AgentDefinition("3001", skills={"fr": 9})
    await acd_config.create(sessions, extra)
    await acd_config.seed(sessions, ALL)
    first = await acd_config.load_definitions(sessions)
    await acd_config.seed(sessions, ALL)
    assert await acd_config.load_definitions(sessions) == first
    assert first is not None and extra in first.agents and ALICE in first.agents


async def test_the_database_refuses_bad_levels_itself(
        sessions: async_sessionmaker[AsyncSession]) -> None:
    """The CHECK constraint holds for rows written around the store (by hand)."""
    await acd_config.create(sessions, BOB)
    with pytest.raises(IntegrityError):
        async with sessions() as session, session.begin():
            await session.execute(text("INSERT INTO acd_agent_skills (agent_id, skill, level) "
                                       "VALUES ('2002', 'fr', 11)"))


async def test_migration_0005_up_and_down_with_rows(db_url: str) -> None:
    await upgrade_database(db_url)
    engine = make_engine(db_url)
    try:
        await acd_config.seed(session_factory(engine), ALL)
        await downgrade_database(db_url, "0004")
        async with engine.connect() as conn:
            tables = await conn.run_sync(lambda sync: set(inspect(sync).get_table_names()))
        assert not tables & ACD_TABLES and "queue_log" in tables
        await upgrade_database(db_url)
        assert await acd_config.load_definitions(session_factory(engine)) is None
        async with engine.connect() as conn:
            checks = await conn.run_sync(
                lambda sync: inspect(sync).get_check_constraints("acd_queue_skills"))
        assert [c["name"] for c in checks] == ["ck_acd_queue_skills_level"]
    finally:
        await engine.dispose()


async def test_serve_runs_the_stored_definitions_else_the_settings(db_url: str) -> None:
    """Precedence: the database as soon as it holds a definition, else the settings."""
    from callcenter.app import stored_definitions
    from callcenter.config import Settings

    settings = Settings(database_url=db_url)
    assert await stored_definitions(settings) is None  # migrates an empty database first
    engine = make_engine(db_url)
    try:
        await acd_config.create(session_factory(engine), LUNCH)
    finally:
        await engine.dispose()
    stored = await stored_definitions(settings)
    assert stored == AcdDefinitions(pause_reasons=(LUNCH,))
