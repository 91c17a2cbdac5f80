"""``callcenter ivr ...``: commands for operators editing IVR flows."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from callcenter.ivr.loader import FlowError, flow_files, load_flow


@click.group()
def ivr() -> None:
    """IVR flows: check them before they go live."""


@ivr.command("validate")
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.pass_context
def validate(ctx: click.Context, paths: tuple[Path, ...]) -> None:
    """Check flow files (default: the configured flows folder); exit 1 on any error.

    Every problem is printed as FILE:LINE: error|warning: message.
    """
    if not paths:
        from callcenter.cli import _settings

        paths = (_settings(ctx).ivr.flows_dir,)
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files.extend(flow_files(path))
        elif path.exists():
            files.append(path)
        else:
            raise click.ClickException(f"{path}: no such file or folder")
    if not files:
        raise click.ClickException(f"no flow files (*.yaml) in {', '.join(map(str, paths))}")
    failed = 0
    names: dict[str, Path] = {}
    for path in files:
        try:
            flow, warnings = load_flow(path)
        except FlowError as exc:
            failed += 1
            for issue in exc.issues:
                click.echo(str(issue), err=True)
            continue
        for warning in warnings:
            click.echo(str(warning), err=True)
        if flow.name in names:
            failed += 1
            click.echo(f"{path}:1: error: flow {flow.name!r} is already defined in "
                       f"{names[flow.name]}", err=True)
            continue
        names[flow.name] = path
        click.echo(f"{path}: flow {flow.name!r} ok: {len(flow.nodes)} nodes, languages "
                   f"{', '.join(lang.code for lang in flow.languages)}")
    if failed:
        click.echo(f"{failed} of {len(files)} flow files rejected", err=True)
        sys.exit(1)
