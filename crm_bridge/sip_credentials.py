"""Per-agent SIP credentials (table ``sip_credentials``): what an agent's console softphone
registers to Asterisk with. Server-side only; see docs/CONSOLE.md "SIP credentials".

``generate_password`` makes a random one (32 bytes of ``secrets``, URL-safe text) for an
endpoint the operator provisions on Asterisk with it (``callcenter sip pjsip`` prints the
PJSIP sections); ``set`` records the credentials of an endpoint that already exists (the
sandbox's static 1001..1010).
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crm_bridge.models import SipCredentialRow

#: what a SIP user part and a PJSIP section name may hold here (no quoting games in configs)
USERNAME = re.compile(r"^[A-Za-z0-9_.+-]{1,64}$")
MIN_PASSWORD = 8


class BadCredential(ValueError):
    """A username or password that cannot be used (the message says why)."""


@dataclass(frozen=True, slots=True)
class SipCredential:
    agent_id: str
    username: str
    password: str

    def __post_init__(self) -> None:
        if not USERNAME.match(self.username):
            raise BadCredential(f"SIP username {self.username!r} must be 1-64 of "
                                "A-Z a-z 0-9 _ . + -")
        if not USERNAME.match(self.agent_id):
            raise BadCredential(f"agent id {self.agent_id!r} must be 1-64 of "
                                "A-Z a-z 0-9 _ . + -")
        if len(self.password) < MIN_PASSWORD or len(self.password) > 128:
            raise BadCredential(f"a SIP password has {MIN_PASSWORD} to 128 characters")
        if any(c in self.password for c in "\r\n\x00;"):
            raise BadCredential("a SIP password has no line breaks, NUL or ';'")

    def __repr__(self) -> str:  # never print the password by accident
        return f"SipCredential(agent_id={self.agent_id!r}, username={self.username!r})"


def generate_password() -> str:
    return secrets.token_urlsafe(32)


class SipCredentials:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self.sessions = sessions

    async def get(self, agent_id: str) -> SipCredential | None:
        async with self.sessions() as session:
            row = await session.get(SipCredentialRow, agent_id)
            return None if row is None else SipCredential(row.agent_id, row.username,
                                                          row.password)

    async def list(self) -> list[SipCredential]:
        async with self.sessions() as session:
            rows = await session.scalars(select(SipCredentialRow)
                                         .order_by(SipCredentialRow.agent_id))
            return [SipCredential(r.agent_id, r.username, r.password) for r in rows]

    async def put(self, credential: SipCredential) -> None:
        async with self.sessions() as session, session.begin():
            taken = await session.scalar(select(SipCredentialRow.agent_id).where(
                SipCredentialRow.username == credential.username,
                SipCredentialRow.agent_id != credential.agent_id))
            if taken is not None:
                raise BadCredential(f"SIP username {credential.username!r} is agent "
                                    f"{taken}'s already")
            row = await session.get(SipCredentialRow, credential.agent_id)
            if row is None:
                session.add(SipCredentialRow(agent_id=credential.agent_id,
                                             username=credential.username,
                                             password=credential.password))
            else:
                row.username, row.password = credential.username, credential.password

    async def remove(self, agent_id: str) -> bool:
        async with self.sessions() as session, session.begin():
            result = await session.execute(delete(SipCredentialRow)
                                           .where(SipCredentialRow.agent_id == agent_id))
            return bool(getattr(result, "rowcount", 0))


def pjsip_sections(credential: SipCredential, template: str = "agent-webrtc") -> str:
    """The PJSIP endpoint, auth and AOR of one agent, from the templates of
    docker/asterisk/pjsip.conf (``agent-webrtc``, ``agent-auth``, ``agent-aor``)."""
    name = credential.username
    return (f"[{name}]({template})\nauth = {name}\naors = {name}\n"
            f"callerid = \"Agent {credential.agent_id}\" <{name}>\n\n"
            f"[{name}](agent-auth)\nusername = {name}\npassword = {credential.password}\n\n"
            f"[{name}](agent-aor)\n")
