"""``callcenter sip set|generate|list|remove|pjsip``: each agent's own SIP account, the one
the agent console's softphone registers with (``GET /api/agents/{id}/sip`` hands it to that
agent's session only). See docs/CONSOLE.md "SIP credentials".

- ``set AGENT --username U``: record the credentials of an endpoint that already exists on
  Asterisk (the sandbox's WebRTC endpoints 1001..1010, password ``secret<N>``); the password
  from a prompt or ``--password-stdin``, never the command line.
- ``generate AGENT``: a fresh random password (32 bytes) for a new endpoint named ``--username``
  (default: the agent id); then ``pjsip`` prints the PJSIP sections to put into Asterisk's
  ``pjsip.conf`` (or an included file) before ``pjsip reload``.
- ``list`` shows agents and usernames, never passwords.
- ``key`` prints a new storage key; with it set as ``sip.storage_key``
  (``CALLCENTER_SIP__STORAGE_KEY``) passwords are stored encrypted, and ``encrypt`` rewrites
  the rows stored before in clear.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from callcenter.cli_acd import _with_store
from callcenter.cli_crm import _db, _run, _settings, db_option


def _store(ctx: click.Context, db_url: str | None, work: Callable[[Any], Any]) -> Any:
    from crm_bridge.sip_credentials import BadCredential, KeyNeeded, SipCredentials

    key = _settings(ctx).sip.storage_key

    async def run(sessions: Any) -> Any:
        try:
            store = SipCredentials(sessions, key.get_secret_value() if key else None)
            return await work(store)
        except (BadCredential, KeyNeeded) as exc:
            raise click.ClickException(str(exc)) from exc

    return _run(_with_store(_db(ctx, db_url), run))


def _credential(agent_id: str, username: str, password: str) -> Any:
    from crm_bridge.sip_credentials import BadCredential, SipCredential

    try:
        return SipCredential(agent_id, username, password)
    except BadCredential as exc:
        raise click.ClickException(str(exc)) from exc


@click.group()
def sip() -> None:
    """Each agent's own SIP account for the console's softphone."""


@sip.command("set")
@click.argument("agent_id")
@click.option("--username", default=None,
              help="SIP user (= PJSIP endpoint); default: the agent id.")
@click.option("--password-stdin", is_flag=True,
              help="Read the password from the first line of standard input.")
@db_option
@click.pass_context
def set_credential(ctx: click.Context, agent_id: str, username: str | None,
                   password_stdin: bool, db_url: str | None) -> None:
    """Record the SIP account of an existing endpoint for AGENT_ID."""
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = str(click.prompt("SIP password", hide_input=True, confirmation_prompt=True))
    credential = _credential(agent_id, username or agent_id, password)
    _store(ctx, db_url, lambda store: store.put(credential))
    click.echo(f"agent {agent_id}: SIP user {credential.username}")


@sip.command("generate")
@click.argument("agent_ids", nargs=-1, required=True)
@db_option
@click.pass_context
def generate(ctx: click.Context, agent_ids: tuple[str, ...], db_url: str | None) -> None:
    """A new random SIP password for each AGENT_ID (user = the agent id); then run
    ``callcenter sip pjsip`` and give Asterisk its output."""
    from crm_bridge.sip_credentials import generate_password

    credentials = [_credential(a, a, generate_password()) for a in agent_ids]

    async def work(store: Any) -> None:
        for credential in credentials:
            await store.put(credential)

    _store(ctx, db_url, work)
    click.echo(f"new SIP passwords for {', '.join(agent_ids)} (callcenter sip pjsip prints "
               "the PJSIP sections for Asterisk)")


@sip.command("list")
@db_option
@click.pass_context
def list_credentials(ctx: click.Context, db_url: str | None) -> None:
    """Agents and their SIP users (never the passwords)."""
    async def work(store: Any) -> list[Any]:
        found: list[Any] = await store.list()
        return found

    for credential in _store(ctx, db_url, work):
        click.echo(f"{credential.agent_id:16} {credential.username}")


@sip.command("key")
def key() -> None:
    """Print a new storage key for sip.storage_key (CALLCENTER_SIP__STORAGE_KEY): keep it
    as you keep the AMI secret; a password encrypted with a lost key is lost."""
    from crm_bridge.sip_credentials import new_key

    click.echo(new_key())


@sip.command("encrypt")
@db_option
@click.pass_context
def encrypt(ctx: click.Context, db_url: str | None) -> None:
    """Rewrite the SIP passwords stored in clear with sip.storage_key."""
    if _settings(ctx).sip.storage_key is None:
        raise click.ClickException("set sip.storage_key (CALLCENTER_SIP__STORAGE_KEY) first: "
                                   "`callcenter sip key` makes one")

    async def work(store: Any) -> int:
        count: int = await store.encrypt_all()
        return count

    click.echo(f"encrypted {_store(ctx, db_url, work)} SIP password(s)")


@sip.command("remove")
@click.argument("agent_id")
@db_option
@click.pass_context
def remove(ctx: click.Context, agent_id: str, db_url: str | None) -> None:
    """Forget AGENT_ID's SIP account (its console can no longer register)."""
    async def work(store: Any) -> bool:
        removed: bool = await store.remove(agent_id)
        return removed

    if not _store(ctx, db_url, work):
        raise click.ClickException(f"agent {agent_id} has no SIP account")
    click.echo(f"removed the SIP account of agent {agent_id}")


@sip.command("pjsip")
@click.option("--template", default="agent-webrtc", show_default=True,
              help="The endpoint template of docker/asterisk/pjsip.conf to inherit.")
@click.option("--write", "target", default=None, type=click.Path(dir_okay=False, path_type=Path),
              help="Write the file (atomically, mode 0640, owned like its directory) instead "
                   "of printing it, e.g. "
                   "/etc/asterisk/pjsip_console.conf (pjsip.conf #tryinclude's it).")
@click.option("--reload", "reload_pbx", is_flag=True,
              help="Then reload PJSIP over AMI (Command: module reload res_pjsip.so).")
@db_option
@click.pass_context
def pjsip(ctx: click.Context, template: str, target: Path | None, reload_pbx: bool,
          db_url: str | None) -> None:
    """The PJSIP endpoint/auth/AOR sections of every stored account (with passwords: for
    Asterisk's configuration directory only)."""
    from crm_bridge.sip_credentials import pjsip_sections

    async def work(store: Any) -> list[Any]:
        found: list[Any] = await store.list()
        return found

    found = _store(ctx, db_url, work)
    text = "; generated by `callcenter sip pjsip`: the agent console's SIP accounts\n\n" + \
        "\n".join(pjsip_sections(credential, template) for credential in found)
    if target is None:
        click.echo(text, nl=False)
    else:
        partial = target.with_name(f".{target.name}.partial")
        descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o640)
        with os.fdopen(descriptor, "w") as out:
            out.write(text)
        if os.geteuid() == 0:  # Asterisk's own user reads it: the directory's owner and group
            folder = target.parent.stat()
            os.chown(partial, folder.st_uid, folder.st_gid)
        os.replace(partial, target)
        click.echo(f"wrote {len(found)} SIP account(s) to {target}")
    if reload_pbx:
        answer = _run(_ami_command(_settings(ctx).ami, "module reload res_pjsip.so"))
        click.echo(f"PJSIP reloaded: {answer}")


async def _ami_command(settings: Any, command: str) -> str:
    """One AMI ``Command`` on a short-lived link (the server's own link is another process)."""
    from callcenter.cti.ami import AmiClient, raise_for_error
    from callcenter.cti.model import CallModel
    from callcenter.events import EventBus

    bus = EventBus()
    client = AmiClient(settings, CallModel(emit=bus.publish), bus)
    await client.start()
    try:
        await client.wait_ready(settings.connect_timeout_s * 3)
        answer = await client.send({"Action": "Command", "Command": command})
        raise_for_error("Command", answer)
        messages = answer if isinstance(answer, list) else [answer]
        return " ".join(str(m.get("Output", m.get("Message", ""))) for m in messages).strip()
    finally:
        await client.stop()
