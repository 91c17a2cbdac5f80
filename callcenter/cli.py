"""``callcenter`` command line: serve, sandbox, version (later: demo, simulate, crm, ...)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click
from pydantic import ValidationError

from callcenter import __version__
from callcenter.cli_acd import acd, agent, pause_reason, queue
from callcenter.cli_analytics import analytics, report
from callcenter.cli_campaign import campaign
from callcenter.cli_crm import crm
from callcenter.cli_dispositions import disposition
from callcenter.cli_ivr import ivr
from callcenter.cli_recognize import recognize
from callcenter.cli_sim import demo, simulate
from callcenter.cli_sip import sip
from callcenter.cli_users import audit, user
from callcenter.config import (
    ConfigError,
    Settings,
    describe_options,
    load_settings,
    one_line,
)

if TYPE_CHECKING:
    from callcenter.sandbox import Sandbox, SandboxError


def _settings(ctx: click.Context) -> Settings:
    try:
        return load_settings(ctx.obj.get("config_file"))
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from exc
    except ValidationError as exc:  # e.g. an unsupported database_url: one line, no input
        raise click.ClickException(f"invalid configuration: {one_line(exc)}") from exc


@click.group()
@click.option("--config", "config_file", type=click.Path(path_type=Path), default=None,
              help="TOML configuration file (default: $CALLCENTER_CONFIG).")
@click.pass_context
def cli(ctx: click.Context, config_file: Path | None) -> None:
    """Call-center server beside Asterisk."""
    ctx.ensure_object(dict)
    ctx.obj["config_file"] = config_file


@cli.command()
def version() -> None:
    """Print the version."""
    click.echo(__version__)


@cli.group()
def config() -> None:
    """Inspect the configuration."""


@config.command("show")
@click.pass_context
def config_show(ctx: click.Context) -> None:
    """Print the effective configuration as JSON (secrets masked)."""
    settings = _settings(ctx)
    click.echo(settings.model_dump_json(indent=2))


@config.command("options")
def config_options() -> None:
    """List every option as a Markdown table: environment variable, default, meaning."""
    click.echo("| variable | default | meaning |\n|---|---|---|")
    for env, default, description in describe_options():
        click.echo(f"| `{env}` | {default} | {description} |")


@cli.command()
@click.option("--host", default=None, help="Listen address (overrides CALLCENTER_HTTP__HOST).")
@click.option("--port", type=int, default=None,
              help="Listen port (overrides CALLCENTER_HTTP__PORT).")
@click.option("--log-json", is_flag=True, default=False,
              help="JSON log lines even on a terminal (default: JSON only when not a TTY).")
@click.pass_context
def serve(ctx: click.Context, host: str | None, port: int | None, log_json: bool) -> None:
    """Run the server: CTI link to Asterisk, REST API, WebSocket streams."""
    from aiohttp import web

    from callcenter.app import serve_app
    from callcenter.logs import configure_logging, wants_json

    settings = _settings(ctx)
    if host:
        settings.http.host = host
    if port:
        settings.http.port = port
    configure_logging(settings.log_level, log_json or wants_json(settings.log_json))
    web.run_app(serve_app(settings), host=settings.http.host, port=settings.http.port,
                print=lambda text: click.echo(text, err=True))


@cli.group()
def sandbox() -> None:
    """The real Asterisk 22 sandbox (Debian unstable chroot) for tests and development."""


def _sandbox(ctx: click.Context) -> tuple[Sandbox, type[SandboxError]]:
    from callcenter.sandbox import Sandbox, SandboxError  # lazy import: fast CLI

    return Sandbox(_settings(ctx).sandbox), SandboxError


@sandbox.command("up")
@click.pass_context
def sandbox_up(ctx: click.Context) -> None:
    """Build (once, cached) and start Asterisk on loopback."""
    box, error = _sandbox(ctx)
    try:
        box.up()
    except error as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(json.dumps(box.status(), indent=2))


@sandbox.command("down")
@click.pass_context
def sandbox_down(ctx: click.Context) -> None:
    """Stop Asterisk and unmount the sandbox."""
    box, error = _sandbox(ctx)
    try:
        box.down()
    except error as exc:
        raise click.ClickException(str(exc)) from exc


@sandbox.command("status")
@click.pass_context
def sandbox_status(ctx: click.Context) -> None:
    """Print whether the sandbox is built and running (JSON)."""
    box, _ = _sandbox(ctx)
    status = box.status()
    click.echo(json.dumps(status, indent=2))
    if not status.get("running"):
        sys.exit(3)


@cli.group()
def recordings() -> None:
    """Call recordings kept by the PBX."""


@recordings.command("purge")
@click.option("--dry-run", is_flag=True, help="List what would be deleted, delete nothing.")
@click.pass_context
def recordings_purge(ctx: click.Context, dry_run: bool) -> None:
    """Delete recordings older than CALLCENTER_RECORDINGS__RETENTION_DAYS."""
    from callcenter.recordings import purge

    settings = _settings(ctx)
    rec = settings.recordings
    if rec.dir is None or rec.retention_days is None:
        raise click.ClickException("set CALLCENTER_RECORDINGS__DIR and "
                                   "CALLCENTER_RECORDINGS__RETENTION_DAYS first")
    try:
        result = purge(rec.dir, rec.retention_days, dry_run=dry_run)
    except OSError as exc:
        raise click.ClickException(str(exc)) from exc
    for path in result.deleted:
        click.echo(f"{'would delete' if dry_run else 'deleted'} {path}")
    for path, why in result.failed:
        click.echo(f"could not delete {path}: {why}", err=True)
    click.echo(f"{len(result.deleted)} recordings, {result.bytes} bytes"
               f"{' (dry run)' if dry_run else ''}")
    if result.failed:
        sys.exit(1)


cli.add_command(crm)
cli.add_command(analytics)
cli.add_command(report)
cli.add_command(sip)
cli.add_command(queue)
cli.add_command(agent)
cli.add_command(pause_reason)
cli.add_command(disposition)
cli.add_command(acd)
cli.add_command(simulate)
cli.add_command(demo)
cli.add_command(ivr)
ivr.add_command(recognize)
cli.add_command(user)
cli.add_command(audit)
cli.add_command(campaign)


def main() -> None:
    cli(obj={})
