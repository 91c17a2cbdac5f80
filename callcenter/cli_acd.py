"""``callcenter queue|agent|pause-reason ...`` and ``callcenter acd seed|export``: the ACD's
definitions in the configured database (``--db`` for another).

Thin: parsing and printing; the store is ``crm_bridge.acd_config`` and the checks are the
definitions' own, so a refused value names its field as the REST API does. Fields are set with
``-s FIELD=VALUE`` (the value read as YAML: ``-s max_wait_s=600``, ``-s 'required_skills={en:
2}'``, ``-s overflow_queue=null``); ``--skill NAME=LEVEL`` is short for one skill.

These commands change the database, not a running server: ``callcenter serve`` runs them from
its next start (use ``/api/config/...`` to change a running server). While the database holds
no definition the server runs its settings'; the first ``add``/``set``/``remove`` stores those
first, so it adds to them rather than replacing them (``acd seed`` stores just its file).
"""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
import yaml

from callcenter.acd.definitions import (
    AcdDefinitions,
    AgentDefinition,
    DefinitionError,
    PauseReason,
    QueueDefinition,
)
from callcenter.acd_documents import (
    KEY_FIELD,
    Definition,
    definitions_document,
    from_document,
    load_yaml,
    to_document,
)
from callcenter.cli_crm import _db, _run, _settings, db_option

_SECTION = {QueueDefinition: "queues", AgentDefinition: "agents", PauseReason: "pause_reasons"}
#: the field ``--skill`` fills, per kind
_SKILLS_FIELD = {QueueDefinition: "required_skills", AgentDefinition: "skills"}
#: columns of ``list``
_COLUMNS = {
    QueueDefinition: ("name", "strategy", "required_skills", "service_level_s",
                      "service_level_target", "max_wait_s", "overflow_queue",
                      "overflow_after_s", "callback_after_s", "wrap_up_s", "music_class"),
    AgentDefinition: ("agent_id", "name", "skills", "endpoint", "logged_in"),
    PauseReason: ("code", "label", "productive", "max_s"),
}


async def _with_store(url: str, work: Callable[[Any], Any]) -> Any:
    """Migrate ``url``, run ``await work(sessions)`` and close the engine."""
    from crm_bridge.db import make_engine, session_factory, upgrade_database

    await upgrade_database(url)
    engine = make_engine(url)
    try:
        return await work(session_factory(engine))
    finally:
        await engine.dispose()


def _running(ctx: click.Context, url: str) -> AcdDefinitions:
    """Stored definitions, else the settings' (what ``callcenter serve`` would run)."""
    from crm_bridge.acd_config import load_definitions

    stored = _run(_with_store(url, load_definitions))
    return stored if stored is not None else _settings(ctx).acd.definitions()


def _assignments(values: tuple[str, ...], skills: tuple[str, ...], kind: type[Definition],
                 current: Definition | None = None) -> dict[str, Any]:
    """The fields given; ``--skill`` adds to (or changes a level of) ``current``'s skills."""
    fields: dict[str, Any] = {}
    for item in values:
        name, sep, raw = item.partition("=")
        if not sep or not name.strip():
            raise click.BadParameter(f"{item!r}: expected FIELD=VALUE", param_hint="-s/--set")
        try:
            fields[name.strip()] = yaml.safe_load(raw) if raw.strip() else ""
        except yaml.YAMLError as exc:
            raise click.BadParameter(f"{name}: {exc}", param_hint="-s/--set") from None
    if skills:
        field = _SKILLS_FIELD.get(kind)
        if field is None:
            raise click.BadParameter("pause reasons have no skills", param_hint="--skill")
        base = to_document(current)[field] if current is not None else {}
        levels = dict(fields.get(field) or base)
        for item in skills:
            skill, sep, level = item.partition("=")
            if not sep or not level.strip().isdigit():
                raise click.BadParameter(f"{item!r}: expected SKILL=LEVEL (1..10)",
                                         param_hint="--skill")
            levels[skill.strip()] = int(level)
        fields[field] = levels
    return fields


def _parse(kind: type[Definition], document: dict[str, Any]) -> Definition:
    try:
        return from_document(kind, document)
    except DefinitionError as exc:
        raise click.ClickException(str(exc)) from None


def _store(ctx: click.Context, url: str, write: Callable[[Any], Any], *,
           adopt: bool = True) -> Any:
    """``write(sessions)``; with ``adopt``, after storing the settings' definitions into an
    empty store (one ``queue add`` then adds to what ran; a seed file says it all)."""
    from crm_bridge import acd_config

    running = _settings(ctx).acd.definitions() if adopt else None

    async def work(sessions: Any) -> Any:
        if running is not None:
            await acd_config.adopt(sessions, running)
        return await write(sessions)

    try:
        return _run(_with_store(url, work))
    except DefinitionError as exc:
        raise click.ClickException(str(exc)) from None
    except acd_config.AcdConfigError as exc:
        raise click.ClickException(str(exc)) from None


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, dict):
        return ",".join(f"{k}={v}" for k, v in value.items()) or "-"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _table(kind: type[Definition], items: tuple[Definition, ...]) -> str:
    columns = _COLUMNS[kind]
    rows = [list(columns)] + [[_cell(to_document(item)[c]) for c in columns] for item in items]
    widths = [max(len(row[i]) for row in rows) for i in range(len(columns))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
                     for row in rows)


def _group(kind: type[Definition], name: str, label: str) -> click.Group:
    key_field = KEY_FIELD[kind]
    section = _SECTION[kind]
    fields = ", ".join(item.name for item in dataclasses.fields(kind)
                       if item.name != key_field)
    set_option = click.option("-s", "--set", "assignments", multiple=True,
                              metavar="FIELD=VALUE",
                              help=f"A field, the value read as YAML; fields: {fields}.")
    skill_option = click.option("--skill", "skills", multiple=True, metavar="SKILL=LEVEL",
                                help="A skill and its level 1..10 (repeat for more).")

    @click.group(name=name, help=f"{label.capitalize()} definitions in the database (the "
                                 "server runs them from its next start).")
    def group() -> None:
        pass

    @group.command("list", help=f"Every {label}.")
    @click.option("--json", "as_json", is_flag=True, help="JSON instead of a table.")
    @db_option
    @click.pass_context
    def list_(ctx: click.Context, as_json: bool, db_url: str | None) -> None:
        items = getattr(_running(ctx, _db(ctx, db_url)), section)
        if as_json:
            import json

            click.echo(json.dumps([to_document(i) for i in items], indent=2))
        else:
            click.echo(_table(kind, items))

    @group.command("show", help=f"One {label}, as YAML.")
    @click.argument("key")
    @db_option
    @click.pass_context
    def show(ctx: click.Context, key: str, db_url: str | None) -> None:
        from crm_bridge.acd_config import UnknownDefinition, find

        try:
            item = find(_running(ctx, _db(ctx, db_url)), kind, key)
        except UnknownDefinition as exc:
            raise click.ClickException(str(exc)) from None
        click.echo(yaml.safe_dump(to_document(item), sort_keys=False, allow_unicode=True),
                   nl=False)

    @group.command("add", help=f"Add a {label}.")
    @click.argument("key")
    @set_option
    @skill_option
    @db_option
    @click.pass_context
    def add(ctx: click.Context, key: str, assignments: tuple[str, ...], skills: tuple[str, ...],
            db_url: str | None) -> None:
        from crm_bridge import acd_config

        fields = _assignments(assignments, skills, kind)
        item = _parse(kind, {key_field: key, **fields})
        _store(ctx, _db(ctx, db_url), lambda s: acd_config.create(s, item))
        click.echo(f"added {label} {key}")

    @group.command("set", help=f"Change fields of a {label} (the others are kept).")
    @click.argument("key")
    @set_option
    @skill_option
    @db_option
    @click.pass_context
    def set_(ctx: click.Context, key: str, assignments: tuple[str, ...], skills: tuple[str, ...],
             db_url: str | None) -> None:
        from crm_bridge import acd_config

        url = _db(ctx, db_url)
        try:
            current = acd_config.find(_running(ctx, url), kind, key)
        except acd_config.UnknownDefinition as exc:
            raise click.ClickException(str(exc)) from None
        fields = _assignments(assignments, skills, kind, current)
        if not fields:
            raise click.UsageError("nothing to change: give -s FIELD=VALUE or --skill")
        if key_field in fields and fields[key_field] != key:
            raise click.ClickException(f"{key_field} cannot be changed (remove and add)")
        item = _parse(kind, {**to_document(current), **fields})
        _store(ctx, url, lambda s: acd_config.put(s, item))
        click.echo(f"changed {label} {key}")

    @group.command("remove", help=f"Delete a {label}.")
    @click.argument("key")
    @db_option
    @click.pass_context
    def remove(ctx: click.Context, key: str, db_url: str | None) -> None:
        from crm_bridge import acd_config

        _store(ctx, _db(ctx, db_url), lambda s: acd_config.remove(s, kind, key))
        click.echo(f"removed {label} {key}")

    return group


queue = _group(QueueDefinition, "queue", "queue")
agent = _group(AgentDefinition, "agent", "agent")
pause_reason = _group(PauseReason, "pause-reason", "pause reason")


@click.group()
def acd() -> None:
    """The ACD's definitions as a whole: seed from a YAML file, export."""


@acd.command("seed")
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False))
@db_option
@click.pass_context
def seed(ctx: click.Context, file: Path, db_url: str | None) -> None:
    """Store FILE's queues, agents and pause reasons (an upsert: running it twice changes
    nothing; stored entries the file does not name are kept; into an empty database, exactly
    the file, not the settings' definitions)."""
    from crm_bridge import acd_config

    try:
        definitions = load_yaml(file)
    except DefinitionError as exc:
        raise click.ClickException(str(exc)) from None
    change = _store(ctx, _db(ctx, db_url), lambda s: acd_config.seed(s, definitions),
                    adopt=False)
    stored = change.definitions
    click.echo(f"seeded {file}: {len(definitions.queues)} queues, {len(definitions.agents)} "
               f"agents, {len(definitions.pause_reasons)} pause reasons (stored now: "
               f"{len(stored.queues)}, {len(stored.agents)}, {len(stored.pause_reasons)})")


@acd.command("export")
@click.option("-o", "--output", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="Write here instead of standard output.")
@db_option
@click.pass_context
def export(ctx: click.Context, output: Path | None, db_url: str | None) -> None:
    """What ``callcenter serve`` runs (stored, else the settings'), as a seed file."""
    document = definitions_document(_running(ctx, _db(ctx, db_url)))
    text = yaml.safe_dump(document, sort_keys=False, allow_unicode=True)
    if output is None:
        sys.stdout.write(text)
    else:
        output.write_text(text, encoding="utf-8")
        click.echo(f"wrote {output}")


__all__ = ["acd", "agent", "pause_reason", "queue"]
