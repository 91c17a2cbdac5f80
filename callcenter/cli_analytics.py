"""``callcenter analytics refresh`` and ``callcenter report``: customer analytics and the
analytics report (definitions: docs/ANALYTICS.md).

Thin: parsing options and printing; the work is in ``crm_bridge.analytics``.
"""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path
from typing import Any

import click

from callcenter.cli_crm import _db, _dump, _run, db_option


def _when(value: str | None, option: str) -> dt.datetime | None:
    """An ISO 8601 date or time (UTC when it names no offset)."""
    if value is None:
        return None
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError as exc:
        raise click.BadParameter(f"not an ISO 8601 date or time: {value!r}",
                                 param_hint=option) from exc
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


async def _with_engine(url: str, work: Any) -> Any:
    from crm_bridge.db import make_engine, upgrade_database

    await upgrade_database(url)
    engine = make_engine(url)
    try:
        return await work(engine)
    finally:
        await engine.dispose()


@click.group()
def analytics() -> None:
    """Customer analytics: value tiers, RFM segments, churn warnings."""


@analytics.command("refresh")
@click.option("--as-of", default=None, metavar="WHEN",
              help="The 'now' of the computation, ISO 8601 (default: now).")
@db_option
@click.option("--json", "as_json", is_flag=True, help="Print the counts as JSON.")
@click.pass_context
def refresh_command(ctx: click.Context, as_of: str | None, db_url: str | None,
                    as_json: bool) -> None:
    """Recompute every customer's value tier, RFM scores and churn warning and store them
    (what screen pops show and routing priority follows). Run it on a schedule, e.g. nightly."""
    from crm_bridge.analytics.store import refresh

    when = _when(as_of, "--as-of")
    report = _run(_with_engine(_db(ctx, db_url), lambda engine: refresh(engine, when)))
    if as_json:
        click.echo(_dump(report.to_dict(), compact=False))
        return
    click.echo(f"{report.customers:,} customers as of {report.as_of:%Y-%m-%d %H:%M} UTC in "
               f"{report.seconds:.1f} s: {report.scored:,} with orders in the window, "
               f"{report.churn_risk:,} with a churn warning")
    click.echo("tiers: " + ", ".join(f"{k} {v:,}" for k, v in report.tiers.items()))
    click.echo("segments: " + ", ".join(f"{k} {v:,}" for k, v in report.segments.items()))
    click.echo("churn reasons: " + ", ".join(f"{k} {v:,}" for k, v in report.reasons.items()))


@click.command("report")
@click.option("--format", "fmt", type=click.Choice(["html", "pdf"]), default="html",
              show_default=True)
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="File to write (default: standard output for HTML; PDF needs --out).")
@click.option("--days", type=click.IntRange(min=1, max=3660), default=7, show_default=True,
              help="The period: this many days up to --end.")
@click.option("--end", default=None, metavar="WHEN",
              help="End of the period, ISO 8601 (default: now).")
@click.option("--interval", "interval_min", type=click.IntRange(min=1, max=1440), default=60,
              show_default=True, help="Minutes per interval of the call-center results.")
@db_option
@click.pass_context
def report(ctx: click.Context, fmt: str, out: Path | None, days: int, end: str | None,
           interval_min: int, db_url: str | None) -> None:
    """Write the analytics report (tables and charts) as HTML or PDF."""
    from crm_bridge.analytics.report import FORMATS, build_report

    if fmt == "pdf" and out is None:
        raise click.UsageError("--format pdf needs --out FILE")
    finish = _when(end, "--end") or dt.datetime.now(dt.UTC).replace(microsecond=0)
    start = finish - dt.timedelta(days=days)

    async def work(engine: Any) -> Any:
        return await build_report(engine, start, finish, interval_s=interval_min * 60.0)

    try:
        built = _run(_with_engine(_db(ctx, db_url), work))
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    data = FORMATS[fmt](built)
    if out is None:
        sys.stdout.buffer.write(data)
        return
    try:
        out.write_bytes(data)
    except OSError as exc:
        raise click.ClickException(f"cannot write {out}: {exc.strerror}") from exc
    click.echo(f"wrote {out} ({len(data):,} bytes, {fmt})")
