"""``callcenter disposition list|show|add|set|disable|enable``: the wrap-up dispositions in
the configured database (``--db`` for another), like ``callcenter pause-reason ...``.

Thin: parsing and printing; the store and its checks are ``crm_bridge.dispositions``, the
same the REST API (``/api/dispositions``) uses, so a refused value reads the same. Labels are
given per language: ``--label en="Callback promised" --label zh-CN=承诺回电``. A running
server reads the table on every wrap-up and every console start: no restart needed. With
``redis_url`` configured (and no ``--db``), a change is also announced to the running servers
as REST announces it (``dispositions.changed`` through their Redis relay), so open consoles
reload their list at once; without Redis they do at their next start or reconnect.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import click

from callcenter.cli_acd import _with_store
from callcenter.cli_crm import _db, _run, _settings, db_option


def _call(ctx: click.Context, db_url: str | None, work: Callable[[Any], Any]) -> Any:
    from crm_bridge.dispositions import (
        DispositionError,
        Dispositions,
        DuplicateDisposition,
        UnknownDisposition,
    )

    async def run(sessions: Any) -> Any:
        return await work(Dispositions(sessions))

    try:
        return _run(_with_store(_db(ctx, db_url), run))
    except (DispositionError, DuplicateDisposition, UnknownDisposition) as exc:
        raise click.ClickException(str(exc)) from None


def _announce(ctx: click.Context, db_url: str | None, item: Any) -> None:
    """Tell the running servers (through Redis) that ``item`` changed, as REST does."""
    if db_url is not None:
        return  # another database than the servers'
    redis_url = _settings(ctx).redis_url
    if redis_url is None:
        return
    import socket
    import time

    from redis.exceptions import RedisError

    from callcenter.events import DispositionsChanged
    from callcenter.redis_relay import publish_once

    event = DispositionsChanged(at=time.time(), code=item.code, active=item.active)
    node = f"cli-{socket.gethostname()}"
    try:
        told = _run(publish_once(redis_url.get_secret_value(), event, node))
    except (RedisError, OSError) as exc:
        click.echo(f"stored; the running servers were not told ({exc}): open consoles see the "
                   "change at their next reconnect", err=True)
        return
    click.echo(f"told {told} running server process(es)")


def _labels(values: tuple[str, ...]) -> dict[str, str]:
    labels: dict[str, str] = {}
    for item in values:
        lang, sep, text = item.partition("=")
        if not sep or not lang.strip():
            raise click.BadParameter(f"{item!r}: expected LANG=TEXT (en, zh-CN)",
                                     param_hint="--label")
        labels[lang.strip()] = text
    return labels


label_option = click.option("--label", "labels", multiple=True, metavar="LANG=TEXT",
                            help="A label in one language (en, zh-CN); repeat for more.")
position_option = click.option("--position", type=int, default=None,
                               help="Place in the console's list (smaller first).")


@click.group()
def disposition() -> None:
    """Wrap-up dispositions (what agents file calls under) in the database."""


@disposition.command("list")
@click.option("--json", "as_json", is_flag=True, help="JSON instead of a table.")
@db_option
@click.pass_context
def list_(ctx: click.Context, as_json: bool, db_url: str | None) -> None:
    """Every disposition, disabled ones too, in the console's order."""
    items = _call(ctx, db_url, lambda store: store.list())
    if as_json:
        click.echo(json.dumps([i.as_dict() for i in items], indent=2, ensure_ascii=False))
        return
    rows = [["code", "position", "active", "en", "zh-CN"]] + [
        [i.code, str(i.position), "yes" if i.active else "no", i.labels.get("en", "-"),
         i.labels.get("zh-CN", "-")] for i in items]
    widths = [max(len(row[c]) for row in rows) for c in range(len(rows[0]))]
    for row in rows:
        click.echo("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True))
                   .rstrip())


@disposition.command("show")
@click.argument("code")
@db_option
@click.pass_context
def show(ctx: click.Context, code: str, db_url: str | None) -> None:
    """One disposition, as JSON."""
    item = _call(ctx, db_url, lambda store: store.get(code))
    click.echo(json.dumps(item.as_dict(), indent=2, ensure_ascii=False))


@disposition.command("add")
@click.argument("code")
@label_option
@position_option
@db_option
@click.pass_context
def add(ctx: click.Context, code: str, labels: tuple[str, ...], position: int | None,
        db_url: str | None) -> None:
    """Add a disposition (offered at once; ``--label en=...`` is required)."""
    from crm_bridge.dispositions import DispositionError, from_document

    try:
        item = from_document({"code": code, "labels": _labels(labels),
                              "position": position or 0})
    except DispositionError as exc:
        raise click.ClickException(str(exc)) from None
    stored = _call(ctx, db_url, lambda store: store.create(item))
    click.echo(f"added disposition {stored.code} (position {stored.position})")
    _announce(ctx, db_url, stored)


@disposition.command("set")
@click.argument("code")
@label_option
@position_option
@db_option
@click.pass_context
def set_(ctx: click.Context, code: str, labels: tuple[str, ...], position: int | None,
         db_url: str | None) -> None:
    """Change labels (per language; the others are kept) or the position."""
    changes: dict[str, Any] = {}
    if labels:
        changes["labels"] = _labels(labels)
    if position is not None:
        changes["position"] = position
    if not changes:
        raise click.UsageError("nothing to change: give --label LANG=TEXT or --position")
    changed = _call(ctx, db_url, lambda store: store.update(code, changes))
    click.echo(f"changed disposition {code}")
    _announce(ctx, db_url, changed)


def _toggle(name: str, active: bool, text: str) -> None:
    @disposition.command(name, help=text)
    @click.argument("code")
    @db_option
    @click.pass_context
    def command(ctx: click.Context, code: str, db_url: str | None) -> None:
        changed = _call(ctx, db_url, lambda store: store.update(code, {"active": active}))
        click.echo(f"{name}d disposition {code}")
        _announce(ctx, db_url, changed)


_toggle("disable", False, "No longer offered nor accepted at wrap-up (calls filed under it "
                          "keep it).")
_toggle("enable", True, "Offered again.")


__all__ = ["disposition"]
