"""The ACD's configuration in the database: queues, agents (skills with levels), pause reasons.

Tables ``acd_queues``, ``acd_queue_skills``, ``acd_agents``, ``acd_agent_skills``,
``acd_pause_reasons`` (migration 0005), read and written as the frozen definitions of
:mod:`callcenter.acd.definitions`: the REST routes, the CLI and the YAML seed all come through
here, and ``callcenter serve`` runs what :func:`load_definitions` returns.

Every change is checked against the *whole* configuration inside its transaction before it is
committed (an overflow target must exist, a queue still named as another's overflow target
cannot be deleted): a refused change raises and writes nothing. Errors are typed so the web
layer and the CLI map them without guessing: :class:`~callcenter.acd.definitions.
DefinitionError` (invalid: 400), :class:`UnknownDefinition` (404), :class:`DuplicateDefinition`
and :class:`DefinitionInUse` (409).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import delete, func, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from callcenter.acd.definitions import (
    AcdDefinitions,
    AgentDefinition,
    DefinitionError,
    PauseReason,
    QueueDefinition,
)
from crm_bridge.models import (
    AcdAgentRow,
    AcdAgentSkillRow,
    AcdQueueRow,
    AcdQueueSkillRow,
    PauseReasonRow,
)

Definition = QueueDefinition | AgentDefinition | PauseReason
Sessions = Callable[[], AsyncSession]

#: the section of :class:`AcdDefinitions` each kind lives in, and the field that names it
_SECTION = {QueueDefinition: "queues", AgentDefinition: "agents", PauseReason: "pause_reasons"}
_KEY = {QueueDefinition: "name", AgentDefinition: "agent_id", PauseReason: "code"}
_KIND = {QueueDefinition: "queue", AgentDefinition: "agent", PauseReason: "pause reason"}


class AcdConfigError(Exception):
    """Base of the store's refusals that are not invalid data."""


class UnknownDefinition(AcdConfigError, LookupError):
    """No queue, agent or pause reason by that name."""


class DuplicateDefinition(AcdConfigError):
    """Create of a name that exists."""


class DefinitionInUse(AcdConfigError):
    """Delete of a queue another queue overflows to."""


def key_of(definition: Definition) -> str:
    return str(getattr(definition, _KEY[type(definition)]))


# --- reading ------------------------------------------------------------------------------------


async def read_definitions(session: AsyncSession) -> AcdDefinitions:
    """Everything stored, checked as a whole (rows written by hand that cannot run raise
    DefinitionError naming the entry)."""
    queue_skills: dict[str, dict[str, int]] = {}
    for skill_row in (await session.scalars(select(AcdQueueSkillRow))).all():
        queue_skills.setdefault(skill_row.queue, {})[skill_row.skill] = skill_row.level
    agent_skills: dict[str, dict[str, int]] = {}
    for agent_skill in (await session.scalars(select(AcdAgentSkillRow))).all():
        agent_skills.setdefault(agent_skill.agent_id, {})[agent_skill.skill] = agent_skill.level
    queues = tuple(
        QueueDefinition(
            row.name, strategy=row.strategy, required_skills=queue_skills.get(row.name, {}),
            service_level_s=row.service_level_s, service_level_target=row.service_level_target,
            max_wait_s=row.max_wait_s, overflow_queue=row.overflow_queue,
            overflow_after_s=row.overflow_after_s, callback_after_s=row.callback_after_s,
            wrap_up_s=row.wrap_up_s, ring_timeout_s=row.ring_timeout_s,
            music_class=row.music_class, announce_every_s=row.announce_every_s,
            record=row.record)
        for row in (await session.scalars(select(AcdQueueRow).order_by(AcdQueueRow.name))).all())
    agents = tuple(
        AgentDefinition(row.agent_id, name=row.name, skills=agent_skills.get(row.agent_id, {}),
                        endpoint=row.endpoint, logged_in=row.logged_in)
        for row in (await session.scalars(
            select(AcdAgentRow).order_by(AcdAgentRow.agent_id))).all())
    reasons = tuple(
        PauseReason(row.code, label=row.label, productive=row.productive, max_s=row.max_s)
        for row in (await session.scalars(
            select(PauseReasonRow).order_by(PauseReasonRow.code))).all())
    return AcdDefinitions(queues=queues, agents=agents, pause_reasons=reasons)


async def load_definitions(sessions: Sessions) -> AcdDefinitions | None:
    """What is stored, or None when nothing is (the server then runs its settings'
    definitions: the database takes precedence as soon as one row exists)."""
    async with sessions() as session:
        counts = [await session.scalar(select(func.count()).select_from(model))
                  for model in (AcdQueueRow, AcdAgentRow, PauseReasonRow)]
        if not any(counts):
            return None
        return await read_definitions(session)


async def adopt(sessions: Sessions, running: AcdDefinitions) -> None:
    """Before the first change of an empty store: store ``running`` (what the server runs
    from its settings), so the change adds to it instead of replacing it (the database takes
    precedence over the settings as soon as it holds anything)."""
    if await load_definitions(sessions) is None:
        await seed(sessions, running)


def find(definitions: AcdDefinitions, kind: type[Definition], key: str) -> Definition:
    for item in getattr(definitions, _SECTION[kind]):
        if key_of(item) == key:
            return item
    raise UnknownDefinition(f"no {_KIND[kind]} {key!r}")


# --- writing ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Change:
    """What one write did: the configuration after it (what the server now runs)."""

    definitions: AcdDefinitions
    kind: str
    key: str
    action: str  # created | replaced | deleted | seeded


def _with(definitions: AcdDefinitions, item: Definition) -> AcdDefinitions:
    """``definitions`` with ``item`` added or put in place of its namesake; checked."""
    section = _SECTION[type(item)]
    items = list(getattr(definitions, section))
    keys = [key_of(other) for other in items]
    if key_of(item) in keys:
        items[keys.index(key_of(item))] = item
    else:
        items.append(item)
    return replace(definitions, **{section: tuple(items)})


async def create(sessions: Sessions, item: Definition) -> Change:
    """Add a new queue, agent or pause reason (DuplicateDefinition if the name exists)."""
    async with sessions() as session, session.begin():
        current = await read_definitions(session)
        try:
            find(current, type(item), key_of(item))
        except UnknownDefinition:
            pass
        else:
            raise DuplicateDefinition(f"{_KIND[type(item)]} {key_of(item)!r} exists")
        after = _with(current, item)
        await _write(session, item)
        try:
            await session.flush()
        except IntegrityError:  # created meanwhile by another writer
            raise DuplicateDefinition(
                f"{_KIND[type(item)]} {key_of(item)!r} exists") from None
    return Change(after, _KIND[type(item)], key_of(item), "created")


async def put(sessions: Sessions, item: Definition, *, must_exist: bool = True) -> Change:
    """Replace a definition whole (UnknownDefinition if ``must_exist`` and it does not)."""
    async with sessions() as session, session.begin():
        current = await read_definitions(session)
        existed = True
        try:
            find(current, type(item), key_of(item))
        except UnknownDefinition:
            if must_exist:
                raise
            existed = False
        after = _with(current, item)
        await _remove(session, type(item), key_of(item))
        await _write(session, item)
    return Change(after, _KIND[type(item)], key_of(item), "replaced" if existed else "created")


async def remove(sessions: Sessions, kind: type[Definition], key: str) -> Change:
    """Delete one (UnknownDefinition; DefinitionInUse for another queue's overflow target)."""
    async with sessions() as session, session.begin():
        current = await read_definitions(session)
        find(current, kind, key)
        if kind is QueueDefinition:
            users = [q.name for q in current.queues if q.overflow_queue == key]
            if users:
                raise DefinitionInUse(f"queue {key!r} is the overflow target of "
                                      f"{', '.join(users)}")
        section = _SECTION[kind]
        after = replace(current, **{section: tuple(
            item for item in getattr(current, section) if key_of(item) != key)})
        await _remove(session, kind, key)
    return Change(after, _KIND[kind], key, "deleted")


async def seed(sessions: Sessions, definitions: AcdDefinitions) -> Change:
    """Upsert every definition of a seed (idempotent: the same file twice changes nothing);
    stored entries the seed does not name are kept. Checked as a whole first."""
    async with sessions() as session, session.begin():
        current = await read_definitions(session)
        sections: dict[str, tuple[Definition, ...]] = {}
        for section in _SECTION.values():
            by_key = {key_of(item): item for item in getattr(current, section)}
            by_key.update((key_of(item), item) for item in getattr(definitions, section))
            sections[section] = tuple(by_key.values())
        merged = AcdDefinitions(**sections)  # type: ignore[arg-type]
        for section in _SECTION.values():
            for item in getattr(definitions, section):
                await _remove(session, type(item), key_of(item))
                await _write(session, item)
    return Change(merged, "all", "", "seeded")


async def _remove(session: AsyncSession, kind: type[Definition], key: str) -> None:
    # skills first: SQLite's cascade needs the foreign-key pragma, this does not
    if kind is QueueDefinition:
        await session.execute(delete(AcdQueueSkillRow).where(AcdQueueSkillRow.queue == key))
        await session.execute(delete(AcdQueueRow).where(AcdQueueRow.name == key))
    elif kind is AgentDefinition:
        await session.execute(delete(AcdAgentSkillRow).where(AcdAgentSkillRow.agent_id == key))
        await session.execute(delete(AcdAgentRow).where(AcdAgentRow.agent_id == key))
    else:
        await session.execute(delete(PauseReasonRow).where(PauseReasonRow.code == key))


async def _write(session: AsyncSession, item: Definition) -> None:
    if isinstance(item, QueueDefinition):
        values: dict[str, Any] = {
            name: getattr(item, name) for name in (
                "name", "strategy", "service_level_s", "service_level_target", "max_wait_s",
                "overflow_queue", "overflow_after_s", "callback_after_s", "wrap_up_s",
                "ring_timeout_s", "music_class", "announce_every_s", "record")}
        await session.execute(insert(AcdQueueRow).values(**values))
        if item.required_skills:
            await session.execute(insert(AcdQueueSkillRow), [
                {"queue": item.name, "skill": skill, "level": level}
                for skill, level in item.required_skills.items()])
    elif isinstance(item, AgentDefinition):
        await session.execute(insert(AcdAgentRow).values(
            agent_id=item.agent_id, name=item.name, endpoint=item.endpoint,
            logged_in=item.logged_in))
        if item.skills:
            await session.execute(insert(AcdAgentSkillRow), [
                {"agent_id": item.agent_id, "skill": skill, "level": level}
                for skill, level in item.skills.items()])
    else:
        await session.execute(insert(PauseReasonRow).values(
            code=item.code, label=item.label, productive=item.productive, max_s=item.max_s))


__all__ = [
    "AcdConfigError",
    "Change",
    "DefinitionError",
    "DefinitionInUse",
    "DuplicateDefinition",
    "UnknownDefinition",
    "adopt",
    "create",
    "find",
    "load_definitions",
    "put",
    "read_definitions",
    "remove",
    "seed",
]
