"""``callcenter simulate``: run a workload on the simulator with the server's own routing and
pacing code and print what an operator sizes a center with."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from callcenter.acd.definitions import AcdDefinitions, DefinitionError
from callcenter.acd.routing import ROUTING_STRATEGIES
from callcenter.acd_documents import DEMO_ACD_FILE


def _print_report(report: dict[str, Any]) -> None:
    rows: list[tuple[str, str, str]] = []

    def add(label: str, key: str, percent: bool = False) -> None:
        mean, p95 = report[key], report[f"{key}_p95"]
        fmt = (lambda v: f"{100 * v:.2f}%") if percent else (lambda v: f"{v:.2f}")
        rows.append((label, fmt(mean), fmt(p95)))

    click.echo(f"{report['workload']}  ({report['kind']}, {report['seeds']} seeds, "
               f"routing {report['routing']}"
               + (f", pacing {report['pacing']}" if "pacing" in report else "") + ")")
    if report["kind"] == "outbound":
        add("talk minutes per staffed agent-hour", "talk_min_per_agent_hour")
        add("occupancy", "occupancy", True)
        add("abandonment (of people answered)", "abandon_rate", True)
        add("lines dialled per agent-hour", "dials_per_agent_hour")
    else:
        add("service level", "service_level", True)
        add("average speed of answer (s)", "asa_s")
        add("abandonment", "abandon_rate", True)
        add("occupancy", "occupancy", True)
        add("P(wait)", "p_wait", True)
    width = max(len(r[0]) for r in rows)
    click.echo(f"{'':{width}}  {'mean':>9}  {'p95':>9}")
    for label, mean, p95 in rows:
        click.echo(f"{label:{width}}  {mean:>9}  {p95:>9}")
    if report["kind"] == "outbound":
        verdict = "within" if report["abandon_rate_p95"] <= report["abandon_limit"] else "OVER"
        click.echo(f"abandonment p95 is {verdict} the limit of "
                   f"{100 * report['abandon_limit']:g}%")
    if report.get("timed_out") or report.get("overflowed"):
        click.echo(f"queue rules: {report['timed_out']:.1f} callers a day sent away by the "
                   f"max wait, {report['overflowed']:.1f} overflowed to every agent "
                   f"(of {report['offered']:.1f} offered)")
    for name, figures in report.get("by_class", {}).items():
        click.echo(f"  class {name}: service level {100 * figures['service_level']:.1f}%, "
                   f"ASA {figures['asa_s']:.1f} s, abandoned "
                   f"{100 * figures['abandon_rate']:.2f}%"
                   + (f", overflowed {figures['overflowed']:.1f}" if figures["overflowed"]
                      else ""))
    if "note" in report:
        click.echo(f"note: {report['note']}")


@click.command()
@click.option("--workload", "workload_path", required=True,
              type=click.Path(path_type=Path, dir_okay=False),
              help="Workload JSON (see bench/workloads/README.md).")
@click.option("--pacing", default="progressive", show_default=True,
              help="progressive, ratio:X, predictive, vicidial-hard-limit, vicidial-tapered, "
                   "vicidial-average, clairvoyant (outbound only).")
@click.option("--routing", default="fifo-longest-idle", show_default=True,
              type=click.Choice(sorted(ROUTING_STRATEGIES)))
@click.option("--seeds", type=click.IntRange(min=1), default=None,
              help="Replications (default: the workload's).")
@click.option("--jobs", type=click.IntRange(min=1), default=None,
              help="Worker processes (default: one per CPU).")
@click.option("--base-seed", type=int, default=1, show_default=True,
              help="Changes every random stream; same value, same results.")
@click.option("--max-level", type=float, default=None, help="vicidial-*: maximum dial level.")
@click.option("--intensity", type=float, default=None, help="vicidial-*: intensity, -40..40.")
@click.option("--diff-target", type=float, default=None, help="vicidial-*: dl_diff_target.")
@click.option("--drop-target", type=float, default=None,
              help="vicidial-*: adaptive dropped percentage; predictive: its drop budget in "
                   "percent of people answered (default 1).")
@click.option("--tune", is_flag=True,
              help="Sweep the pacing family's settings; keep the best within the limit.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.option("--plot", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="Draw occupancy and abandonment over the day into this PNG.")
def simulate(workload_path: Path, pacing: str, routing: str, seeds: int | None,
             jobs: int | None, base_seed: int, max_level: float | None,
             intensity: float | None, diff_target: float | None, drop_target: float | None,
             tune: bool, as_json: bool, plot: Path | None) -> None:
    """Run a workload on the simulated PBX with the server's routing and pacing code."""
    from callcenter.sim.runner import RunSpec
    from callcenter.sim.runner import simulate as run_simulation
    from callcenter.sim.workload import OutboundWorkload, WorkloadError, load_workload

    try:
        workload = load_workload(workload_path)
    except WorkloadError as exc:
        raise click.ClickException(str(exc)) from exc
    options = {name: value for name, value in (
        ("max_level", max_level), ("intensity", intensity), ("diff_target", diff_target),
        ("drop_target_pct", drop_target)) if value is not None}
    if pacing == "predictive" and set(options) <= {"drop_target_pct"}:
        options = {"drop_target": options["drop_target_pct"] / 100.0} if options else {}
    elif options and not pacing.startswith("vicidial-"):
        raise click.UsageError("--max-level/--intensity/--diff-target apply to vicidial-* "
                               "pacing only, --drop-target to vicidial-* and predictive")
    if not isinstance(workload, OutboundWorkload) and pacing != "progressive":
        raise click.UsageError("--pacing applies to outbound workloads")
    spec = RunSpec(workload, pacing=pacing, pacing_options=options, routing=routing,
                   base_seed=base_seed)
    count = seeds or workload.seeds
    try:
        if tune:
            from callcenter.sim.tune import tune as run_tune

            report = run_tune(spec, count, jobs=jobs,
                              log=lambda line: click.echo(line, err=True))
        else:
            report = _run_with_progress(spec, count, jobs, run_simulation)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    if plot is not None:
        from callcenter.sim.plot import plot_day

        plot_day(report, plot)
    if as_json:
        report = {k: v for k, v in report.items() if k != "series"}
        click.echo(json.dumps(report, indent=2))
    else:
        _print_report(report)
        if plot is not None:
            click.echo(f"plot written to {plot}")


def _run_with_progress(spec: Any, count: int, jobs: int | None, run: Any) -> dict[str, Any]:
    if not sys.stderr.isatty():
        return run(spec, count, jobs=jobs)
    from tqdm import tqdm

    with tqdm(total=count, unit="seed", desc="simulating", file=sys.stderr) as bar:
        return run(spec, count, jobs=jobs, progress=bar.update)


def _demo_definitions(url: str, file: Path) -> AcdDefinitions:
    """``file`` stored in the demo's database (an upsert), then what the database holds: the
    demo runs what ``callcenter serve`` would run on that database."""
    import asyncio

    from callcenter.acd_documents import load_yaml
    from crm_bridge import acd_config
    from crm_bridge.db import make_engine, session_factory

    try:
        definitions = load_yaml(file)
    except DefinitionError as exc:
        raise click.ClickException(str(exc)) from None

    async def store() -> AcdDefinitions:
        engine = make_engine(url)
        try:
            change = await acd_config.seed(session_factory(engine), definitions)
            return change.definitions
        finally:
            await engine.dispose()

    try:
        return asyncio.run(store())
    except DefinitionError as exc:  # the file clashes with what the database holds
        raise click.ClickException(f"{file}: {exc}") from None


def _default_demo_db() -> Path:
    import os

    state = Path(os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state")
    return state / "callcenter" / "demo.db"


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Listen address.")
@click.option("--port", type=int, default=8080, show_default=True, help="Listen port.")
@click.option("--acd", "acd_file", type=click.Path(path_type=Path, dir_okay=False),
              default=None, help="Seed file of queues, agents and pause reasons, stored in the "
                                 "demo's database and run (default: callcenter/seed/acd.yaml).")
@click.option("--agents", type=click.IntRange(1, 200), default=None,
              help="Instead of a seed file: this many numbered bot agents (1001 ...) on one "
                   "queue, support.")
@click.option("--calls-per-minute", type=click.FloatRange(min=0), default=6.0,
              show_default=True, help="Inbound callers per minute.")
@click.option("--pacing", default="progressive", show_default=True,
              help="Outbound campaign pacing: progressive (its progressive mode), or a "
                   "predictive pacer (ratio:X, predictive, vicidial-*: its predictive mode).")
@click.option("--calling-window", default="00:00-23:59", show_default=True,
              help="The campaign's calling window, HH:MM-HH:MM in each callee's local time "
                   "(around the clock by default: the numbers are simulated; 08:00-21:00 "
                   "is a real campaign's default).")
@click.option("--customers", type=click.IntRange(min=0), default=2000, show_default=True,
              help="Demo customers seeded into an empty CRM.")
@click.option("--db", "db_path", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="SQLite CRM file (default: ~/.local/state/callcenter/demo.db).")
@click.option("--seed", type=int, default=7, show_default=True, help="Random seed.")
@click.option("--ivr-flow", default="main", show_default=True,
              help="IVR flow callers pass before they queue ('' for none).")
@click.option("--log-json", is_flag=True, default=False,
              help="JSON log lines even on a terminal (default: JSON only when not a TTY).")
def demo(host: str, port: int, acd_file: Path | None, agents: int | None,
         calls_per_minute: float, pacing: str, calling_window: str, customers: int,
         db_path: Path | None, seed: int, ivr_flow: str, log_json: bool) -> None:
    """Run the whole server in real time on the simulated PBX, with bot agents and traffic."""
    import asyncio
    import secrets

    from aiohttp import web

    from callcenter.config import Settings
    from callcenter.dialer.pacing import parse_pacing
    from callcenter.logs import configure_logging, wants_json
    from callcenter.sim.demo import DEMO_SUPERVISOR, DemoOptions, build_demo_app, prepare_crm
    from callcenter.sim.demo_campaign import DEMO_CAMPAIGN, parse_window

    try:
        parse_pacing(pacing)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from exc
    try:
        window = parse_window(calling_window)
    except ValueError as exc:
        raise click.UsageError(f"--calling-window: {exc}") from None
    from sqlalchemy.exc import SQLAlchemyError

    db = db_path or _default_demo_db()
    url = f"sqlite+aiosqlite:///{db}"
    settings = Settings(database_url=url, http={"host": host, "port": port})
    configure_logging(settings.log_level, log_json or wants_json(settings.log_json))
    supervisor_password = secrets.token_urlsafe(9)
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    base = f"http://{shown}:{port}"
    # The newcomer's first lines: where to look and with what login (fresh at every start).
    click.echo(f"callcenter demo on {base}\n"
               f"  live page:  {base}/live/\n"
               f"  wallboard:  {base}/wallboard/\n"
               f"  analytics:  {base}/analytics/\n"
               f"  campaigns:  {base}/campaigns/\n"
               f"  sign in as: {DEMO_SUPERVISOR} / {supervisor_password}\n"
               f"  campaign {DEMO_CAMPAIGN}: calling window {window[0]}-{window[1]} in each "
               f"callee's local time (simulated numbers; --calling-window 08:00-21:00 for a "
               f"real campaign's hours), through the do-not-call and consent checks")
    try:
        db.parent.mkdir(parents=True, exist_ok=True)
        count = asyncio.run(prepare_crm(url, customers))
    except (OSError, SQLAlchemyError) as exc:
        raise click.ClickException(f"cannot prepare the demo CRM at {db}: {exc}") from exc
    if agents is not None and acd_file is not None:
        raise click.UsageError("--agents and --acd exclude each other")
    definitions = None
    if agents is None:
        definitions = _demo_definitions(url, acd_file or DEMO_ACD_FILE)
    options = DemoOptions(agents=agents or 8, calls_per_minute=calls_per_minute, pacing=pacing,
                          calling_window=window,
                          seed=seed, customers=customers, definitions=definitions,
                          ivr_flow=ivr_flow, supervisor_password=supervisor_password)
    app = build_demo_app(settings, options)
    bots = len(definitions.agents) if definitions is not None else options.agents
    queues = (", ".join(q.name for q in definitions.queues) if definitions is not None
              else "support")
    click.echo(f"  ({count} CRM customers in {db}, {bots} bot agents, queues {queues}, "
               f"{calls_per_minute:g} callers/min, campaign pacing {pacing})")
    try:
        web.run_app(app, host=host, port=port, access_log=None,
                    print=lambda _: click.echo(f"open {base}/live/  (Ctrl+C stops)"))
    except OSError as exc:  # e.g. the port is taken
        raise click.ClickException(f"cannot listen on {host}:{port}: {exc.strerror or exc}") \
            from exc
