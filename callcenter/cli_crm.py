"""``callcenter crm ...``: seed, import, look up and migrate the CRM database.

Thin: parsing options and printing; the work is in ``crm_bridge``. Every command takes
``--db URL`` (default: the configured ``database_url``) and brings the schema up to date first,
so a fresh database needs no separate step.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

import click
from pydantic import ValidationError

from callcenter.config import ConfigError, Settings, load_settings, one_line


def _settings(ctx: click.Context) -> Settings:
    root = ctx.find_root()
    try:
        return load_settings((root.obj or {}).get("config_file"))
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from exc
    except ValidationError as exc:
        raise click.ClickException(f"invalid configuration: {one_line(exc)}") from exc


def _db(ctx: click.Context, url: str | None) -> str:
    """``--db`` as typed (``sqlite:///x.db``, ``postgresql://...``) made async, else the
    configured ``database_url`` (already made async by the settings)."""
    if url is None:
        return _settings(ctx).database_url.get_secret_value()
    from crm_bridge.urls import UnsupportedDatabaseUrl, async_database_url

    try:
        return async_database_url(url)
    except UnsupportedDatabaseUrl as exc:
        raise click.ClickException(f"--db: {exc}") from exc


def _region(ctx: click.Context, region: str | None) -> str:
    from crm_bridge.phones import check_region

    try:
        return check_region(region or _settings(ctx).crm_default_region)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--region") from exc


def _run(coro: Any) -> Any:
    """Run ``coro``; database and migration failures become one clear line, not a traceback."""
    from alembic.util import CommandError
    from sqlalchemy.exc import ArgumentError, SQLAlchemyError

    try:
        return asyncio.run(coro)
    except (CommandError, ArgumentError) as exc:
        raise click.ClickException(_first_line(exc)) from exc
    except (SQLAlchemyError, OSError) as exc:
        raise click.ClickException(f"database error: {_first_line(exc)}") from exc


def _first_line(exc: BaseException) -> str:
    """The first line of ``exc``: SQLAlchemy appends the SQL and a link on further lines.

    Neither SQLAlchemy nor the drivers put the URL (or its password) in their messages."""
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]


def _dump(data: Any, compact: bool) -> str:
    return json.dumps(data, ensure_ascii=False, indent=None if compact else 2)


db_option = click.option("--db", "db_url", default=None, metavar="URL",
                         help="Database URL, e.g. sqlite:///crm.db or postgresql://user:pw@host/db "
                              "(default: the configured database_url).")
region_option = click.option(
    "--region", default=None, metavar="CC",
    help="Region for numbers without a country code (default: crm_default_region).")


@click.group()
def crm() -> None:
    """The CRM database: seed, import, look up, migrate."""


@crm.command("seed")
@click.option("--customers", type=click.IntRange(min=0), required=True,
              help="How many synthetic customers to add.")
@click.option("--orders-per-customer", type=click.FloatRange(min=0), default=10.0,
              show_default=True, help="Mean number of orders per customer.")
@click.option("--seed", "random_seed", type=int, default=0, show_default=True,
              help="Random seed (same seed, same data).")
@click.option("--no-progress", is_flag=True, help="No progress bar.")
@db_option
@click.pass_context
def seed_command(ctx: click.Context, customers: int, orders_per_customer: float,
                 random_seed: int, no_progress: bool, db_url: str | None) -> None:
    """Add a realistic synthetic CRM (names, numbers of several countries, orders ...)."""
    from crm_bridge.seed import seed

    report = _run(seed(_db(ctx, db_url), customers, orders_per_customer, random_seed,
                              progress=not no_progress))
    click.echo(_dump(report.to_dict(), compact=False))


@crm.command("import")
@click.argument("file", type=click.Path(path_type=Path))
@db_option
@region_option
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.pass_context
def import_command(ctx: click.Context, file: Path, db_url: str | None, region: str | None,
                   as_json: bool) -> None:
    """Import customers from CSV or .xlsx (exit 1 if any row was rejected).

    Understood columns: name, customer_code, phone, mobile, work_phone, home_phone, email,
    company, title, address, region, industry, birthday, consent, do_not_call, tags.
    """
    from crm_bridge.importer import ImportFileError, import_file

    try:
        report = _run(import_file(_db(ctx, db_url), file, _region(ctx, region)))
    except ImportFileError as exc:
        raise click.ClickException(str(exc)) from exc
    if as_json:
        click.echo(_dump(report.to_dict(), compact=False))
    else:
        click.echo(f"{report.path}: {report.rows} rows: {report.created} created, "
                   f"{report.updated} updated, {report.unchanged} unchanged, "
                   f"{len(report.rejected)} rejected")
        if report.ignored_columns:
            click.echo(f"ignored columns: {', '.join(report.ignored_columns)}")
        for row in report.rejected:
            click.echo(f"  row {row.row}: {row.reason}")
    if report.rejected:
        sys.exit(1)


@crm.command("lookup")
@click.argument("number_or_code")
@db_option
@region_option
@click.option("--json", "as_json", is_flag=True, help="One line of JSON (for scripts).")
@click.pass_context
def lookup_command(ctx: click.Context, number_or_code: str, db_url: str | None,
                   region: str | None, as_json: bool) -> None:
    """Print the customer card for a phone number (any format) or a customer code.

    Exit status: 0 a match or a pick list of candidates, 1 unknown caller, 2 unreadable input.
    """
    result = _run(_lookup(_db(ctx, db_url), number_or_code, _region(ctx, region)))
    click.echo(_dump(result, compact=as_json))
    if result.get("error"):
        sys.exit(2)
    if result["match"] is None and not result.get("candidates"):
        sys.exit(1)


async def _lookup(url: str, text: str, region: str) -> dict[str, Any]:
    from crm_bridge.db import make_engine, session_factory, upgrade_database
    from crm_bridge.lookup import lookup_card

    await upgrade_database(url)
    engine = make_engine(url)
    try:
        async with session_factory(engine)() as session:
            return await lookup_card(session, text, region)
    finally:
        await engine.dispose()


@crm.command("migrate")
@click.option("--revision", default="head", show_default=True, help="Target revision.")
@db_option
@click.pass_context
def migrate_command(ctx: click.Context, revision: str, db_url: str | None) -> None:
    """Upgrade the CRM schema (alembic) to REVISION."""
    from crm_bridge.db import current_revision, upgrade_database

    url = _db(ctx, db_url)
    _run(upgrade_database(url, revision))
    click.echo(f"schema at {_run(current_revision(url))}")


@crm.command("downgrade")
@click.option("--revision", required=True, help="Target revision ('base' drops every table).")
@db_option
@click.pass_context
def downgrade_command(ctx: click.Context, revision: str, db_url: str | None) -> None:
    """Downgrade the CRM schema to REVISION."""
    from crm_bridge.db import current_revision, downgrade_database

    url = _db(ctx, db_url)
    _run(downgrade_database(url, revision))
    click.echo(f"schema at {_run(current_revision(url)) or 'base'}")
