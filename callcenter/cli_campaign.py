"""``callcenter campaign ...``: outbound campaigns in the configured database (``--db`` for
another): define them from a YAML/JSON document, import lead lists (CSV or Excel, with the
validation report), add do-not-call numbers, read the report and the dial audit.

These commands change the database; a running server's supervisors start, pause and stop
campaigns (``/campaigns/`` page, ``POST /api/campaigns/{name}/control``).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click
import yaml

from callcenter.cli_acd import _with_store
from callcenter.cli_crm import _db, _run, _settings, db_option, region_option
from callcenter.dialer.campaign import CampaignDefinition, CampaignError


def _print(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, ensure_ascii=False, default=str))


def _document(path: Path) -> CampaignDefinition:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise click.ClickException(f"{path}: {exc}") from exc
    try:
        return CampaignDefinition.parse(data)
    except CampaignError as exc:
        raise click.ClickException(f"{path}: {exc}") from exc


@click.group()
def campaign() -> None:
    """Outbound campaigns: definitions, lead lists, do-not-call numbers, reports."""


@campaign.command("create")
@click.argument("document", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--replace", is_flag=True, help="Replace the campaign of that name if it exists.")
@db_option
@click.pass_context
def create(ctx: click.Context, document: Path, replace: bool, db_url: str | None) -> None:
    """Store the campaign DOCUMENT (YAML or JSON: name, mode, caller_id, company,
    callback_number, window, retry rules, amd ...; docs/DIALER.md)."""
    from crm_bridge.campaigns import save_campaign

    definition = _document(document)

    async def work(sessions: Any) -> None:
        async with sessions() as session, session.begin():
            try:
                await save_campaign(session, definition, create=True)
            except KeyError:
                if not replace:
                    raise click.ClickException(
                        f"campaign {definition.name!r} exists (--replace to replace it)"
                    ) from None
                await save_campaign(session, definition, create=False)

    _run(_with_store(_db(ctx, db_url), work))
    click.echo(f"campaign {definition.name} stored ({definition.mode})")


@campaign.command("list")
@db_option
@click.pass_context
def list_(ctx: click.Context, db_url: str | None) -> None:
    """The campaigns with their state and mode."""
    from crm_bridge.campaigns import list_campaigns

    async def work(sessions: Any) -> list[tuple[CampaignDefinition, str]]:
        async with sessions() as session:
            return await list_campaigns(session)

    for definition, state in _run(_with_store(_db(ctx, db_url), work)):
        click.echo(f"{definition.name}\t{state}\t{definition.mode}\t{definition.caller_id}")


@campaign.command("show")
@click.argument("name")
@db_option
@click.pass_context
def show(ctx: click.Context, name: str, db_url: str | None) -> None:
    """A campaign's document (YAML)."""
    from crm_bridge.campaigns import load_campaign

    async def work(sessions: Any) -> CampaignDefinition:
        async with sessions() as session:
            try:
                return (await load_campaign(session, name))[0]
            except LookupError:
                raise click.ClickException(f"no campaign {name!r}") from None

    definition = _run(_with_store(_db(ctx, db_url), work))
    click.echo(yaml.safe_dump(definition.document(), sort_keys=False, allow_unicode=True))


@campaign.command("import")
@click.argument("name")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@db_option
@region_option
@click.pass_context
def import_(ctx: click.Context, name: str, file: Path, db_url: str | None,
            region: str | None) -> None:
    """Import the lead list FILE (.csv or .xlsx) into campaign NAME and print the validation
    report (bad numbers, duplicates, do-not-call hits are not imported). Columns: number (or
    phone), lead_id, name, priority, value, consent, callback_at, customer_code."""
    from crm_bridge.campaigns import import_leads, read_lead_file
    from crm_bridge.import_rows import ImportFileError

    try:
        rows = read_lead_file(file)
    except ImportFileError as exc:
        raise click.ClickException(str(exc)) from exc
    where = region or _settings(ctx).crm_default_region

    async def work(sessions: Any) -> dict[str, Any]:
        async with sessions() as session, session.begin():
            try:
                return (await import_leads(session, name, rows, where)).as_dict()
            except LookupError:
                raise click.ClickException(f"no campaign {name!r}") from None

    report = _run(_with_store(_db(ctx, db_url), work))
    _print(report)
    click.echo(f"{report['imported']} of {report['rows']} rows imported; "
               f"{len(report['invalid'])} invalid, {len(report['duplicates'])} duplicates, "
               f"{len(report['dnc'])} on a do-not-call list", err=True)


@campaign.command("dnc")
@click.argument("numbers", nargs=-1, required=True)
@click.option("--campaign", "name", default=None, help="The campaign's list (default: global).")
@click.option("--reason", default=None)
@db_option
@region_option
@click.pass_context
def dnc(ctx: click.Context, numbers: tuple[str, ...], name: str | None, reason: str | None,
        db_url: str | None, region: str | None) -> None:
    """Add NUMBERS to the global do-not-call list, or a campaign's (--campaign)."""
    from crm_bridge.campaigns import add_dnc
    from crm_bridge.phones import InvalidNumber

    where = region or _settings(ctx).crm_default_region

    async def work(sessions: Any) -> list[str]:
        async with sessions() as session, session.begin():
            try:
                return await add_dnc(session, numbers, where, name, reason)
            except InvalidNumber as exc:
                raise click.ClickException(str(exc)) from exc

    added = _run(_with_store(_db(ctx, db_url), work))
    click.echo(f"{len(added)} added to the {name or 'global'} do-not-call list: "
               f"{' '.join(added)}")


@campaign.command("report")
@click.argument("name")
@db_option
@click.pass_context
def report(ctx: click.Context, name: str, db_url: str | None) -> None:
    """Contact rate, conversion, abandonment, talk time and cost per contact (JSON)."""
    from crm_bridge.campaigns import campaign_report

    async def work(sessions: Any) -> dict[str, Any]:
        async with sessions() as session:
            try:
                return await campaign_report(session, name)
            except LookupError:
                raise click.ClickException(f"no campaign {name!r}") from None

    _print(_run(_with_store(_db(ctx, db_url), work)))


@campaign.command("decisions")
@click.argument("name")
@click.option("--limit", default=50, show_default=True)
@db_option
@click.pass_context
def decisions(ctx: click.Context, name: str, limit: int, db_url: str | None) -> None:
    """The dial audit: the last compliance decisions, newest first (one per line)."""
    from crm_bridge.campaigns import decisions as load

    async def work(sessions: Any) -> list[dict[str, Any]]:
        async with sessions() as session:
            return await load(session, name, limit)

    for row in _run(_with_store(_db(ctx, db_url), work)):
        sys.stdout.write(f"{row['at']}\t{row['lead_id']}\t{row['number']}\t{row['verdict']}\t"
                         f"{row['reason']}\t{row['local_times'] or ''}\n")
