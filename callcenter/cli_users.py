"""``callcenter user add|list|set-password|disable|enable|remove`` and ``callcenter audit``:
accounts in the configured database (``--db`` for another).

Passwords are read from a prompt (twice, not echoed) or, for scripts, from standard input with
``--password-stdin``; never from the command line, where ``ps`` and shell histories show them.
A running server notices a change within ``CALLCENTER_AUTH__RECHECK_S`` (sessions of a
disabled or removed user, or one with a new password, end).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import Any

import click

from callcenter.accounts import (
    ROLES,
    BadUser,
    NoSuchUser,
    User,
    UserExists,
    WeakPassword,
    hash_password,
)
from callcenter.cli_acd import _with_store
from callcenter.cli_crm import _db, _run, db_option


def _password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    return str(click.prompt("Password", hide_input=True, confirmation_prompt=True))


def _hashed(password: str) -> str:
    try:
        return hash_password(password)
    except WeakPassword as exc:
        raise click.ClickException(str(exc)) from exc


def _users(ctx: click.Context, db_url: str | None, work: Callable[[Any], Any]) -> Any:
    """Run ``await work(DbUsers)`` on the database (migrated first)."""
    from crm_bridge.users import DbUsers

    async def run(sessions: Any) -> Any:
        try:
            return await work(DbUsers(sessions))
        except (BadUser, UserExists, NoSuchUser) as exc:
            raise click.ClickException(str(exc).strip("'\"")) from exc

    return _run(_with_store(_db(ctx, db_url), run))


@click.group()
def user() -> None:
    """Accounts that sign in: agents, supervisors, admins."""


password_stdin = click.option("--password-stdin", is_flag=True,
                              help="Read the password from the first line of standard input.")


@user.command("add")
@click.argument("username")
@click.option("--role", type=click.Choice(ROLES), required=True)
@click.option("--agent-id", default=None, help="The ACD agent this account works as "
                                               "(required for --role agent).")
@password_stdin
@db_option
@click.pass_context
def add(ctx: click.Context, username: str, role: str, agent_id: str | None,
        password_stdin: bool, db_url: str | None) -> None:
    """Add an account."""
    try:
        User(username, role, "-", agent_id)  # refuse a bad name before asking a password
    except BadUser as exc:
        raise click.ClickException(str(exc)) from exc
    hashed = _hashed(_password(password_stdin))

    async def work(users: Any) -> None:
        await users.add(User(username, role, hashed, agent_id))

    _users(ctx, db_url, work)
    click.echo(f"added {role} {username}")


@user.command("list")
@click.option("--json", "as_json", is_flag=True, help="One JSON document.")
@db_option
@click.pass_context
def list_users(ctx: click.Context, as_json: bool, db_url: str | None) -> None:
    """List the accounts (never their password hashes)."""
    async def work(users: Any) -> list[User]:
        found: list[User] = await users.list()
        return found

    found = _users(ctx, db_url, work)
    if as_json:
        click.echo(json.dumps([u.public() for u in found], indent=2))
        return
    for u in found:
        click.echo(f"{u.username:24} {u.role:10} {u.agent_id or '-':10} "
                   f"{'disabled' if u.disabled else 'active'}")


def _change(ctx: click.Context, db_url: str | None, username: str, **changes: Any) -> None:
    async def work(users: Any) -> None:
        found = await users.get(username)
        if found is None:
            raise NoSuchUser(f"no user {username!r}")
        await users.replace(found.with_changes(**changes))

    _users(ctx, db_url, work)


@user.command("set-password")
@click.argument("username")
@password_stdin
@db_option
@click.pass_context
def set_password(ctx: click.Context, username: str, password_stdin: bool,
                 db_url: str | None) -> None:
    """Give an account a new password (its sessions end)."""
    _change(ctx, db_url, username, password_hash=_hashed(_password(password_stdin)))
    click.echo(f"new password for {username}")


@user.command("disable")
@click.argument("username")
@db_option
@click.pass_context
def disable(ctx: click.Context, username: str, db_url: str | None) -> None:
    """Stop an account from signing in (its sessions end); ``enable`` undoes it."""
    _change(ctx, db_url, username, disabled=True)
    click.echo(f"disabled {username}")


@user.command("enable")
@click.argument("username")
@db_option
@click.pass_context
def enable(ctx: click.Context, username: str, db_url: str | None) -> None:
    """Let a disabled account sign in again."""
    _change(ctx, db_url, username, disabled=False)
    click.echo(f"enabled {username}")


@user.command("remove")
@click.argument("username")
@db_option
@click.pass_context
def remove(ctx: click.Context, username: str, db_url: str | None) -> None:
    """Remove an account."""
    async def work(users: Any) -> None:
        await users.remove(username)

    _users(ctx, db_url, work)
    click.echo(f"removed {username}")


@click.command()
@click.option("--limit", type=click.IntRange(1, 10_000), default=50, show_default=True)
@db_option
@click.pass_context
def audit(ctx: click.Context, limit: int, db_url: str | None) -> None:
    """The newest audited supervisor and admin actions, one JSON object a line."""
    from crm_bridge.audit import recent

    for entry in _run(_with_store(_db(ctx, db_url), lambda s: recent(s, limit))):
        click.echo(json.dumps(entry, ensure_ascii=False))
