"""Per-agent SIP credentials (table ``sip_credentials``): what an agent's console softphone
registers to Asterisk with. Server-side only; see docs/CONSOLE.md "SIP credentials".

``generate_password`` makes a random one (32 bytes of ``secrets``, URL-safe text) for an
endpoint the operator provisions on Asterisk with it (``callcenter sip pjsip`` prints the
PJSIP sections); ``set`` records the credentials of an endpoint that already exists (the
sandbox's static 1001..1010).

At rest: with a storage key (``sip.storage_key``, a Fernet key from ``callcenter sip key``)
the passwords are written encrypted (``fernet:<token>``: AES-128-CBC with HMAC-SHA256, the
``cryptography`` package), so a copy of the database alone does not give them away. Asterisk
and the browser need them in clear, so the server decrypts on use. Rows written without a key
stay readable (``callcenter sip encrypt`` rewrites them); an encrypted row without the right
key is :class:`KeyNeeded`, never garbage handed to a phone.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass

from cryptography.fernet import Fernet, InvalidToken
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crm_bridge.models import SipCredentialRow

#: what a SIP user part and a PJSIP section name may hold here (no quoting games in configs)
USERNAME = re.compile(r"^[A-Za-z0-9_.+-]{1,64}$")
MIN_PASSWORD = 8


#: how an encrypted password starts in the database
ENCRYPTED = "fernet:"


class BadCredential(ValueError):
    """A username or password that cannot be used (the message says why)."""


class KeyNeeded(RuntimeError):
    """A stored password is encrypted and no key, or not the key it was written with, is set."""


def new_key() -> str:
    """A fresh storage key (``CALLCENTER_SIP__STORAGE_KEY``)."""
    return Fernet.generate_key().decode("ascii")


class PasswordVault:
    """Encrypts passwords for the table and decrypts them back (no key: stored as given)."""

    def __init__(self, key: str | None = None) -> None:
        try:
            self._fernet = Fernet(key.encode("ascii")) if key else None
        except (ValueError, UnicodeEncodeError):
            raise BadCredential("sip.storage_key is not a Fernet key (32 url-safe base64 "
                                "bytes: make one with `callcenter sip key`)") from None

    @property
    def encrypts(self) -> bool:
        return self._fernet is not None

    def seal(self, password: str) -> str:
        if self._fernet is None:
            return password
        return ENCRYPTED + self._fernet.encrypt(password.encode("utf-8")).decode("ascii")

    def open(self, stored: str, agent_id: str) -> str:
        if not stored.startswith(ENCRYPTED):
            return stored  # written before a key was set
        if self._fernet is None:
            raise KeyNeeded(f"agent {agent_id}'s SIP password is encrypted: set "
                            "sip.storage_key (CALLCENTER_SIP__STORAGE_KEY)")
        try:
            return self._fernet.decrypt(stored[len(ENCRYPTED):].encode("ascii")).decode("utf-8")
        except InvalidToken:
            raise KeyNeeded(f"agent {agent_id}'s SIP password was encrypted with another "
                            "storage key") from None


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
    def __init__(self, sessions: async_sessionmaker[AsyncSession],
                 key: str | None = None) -> None:
        self.sessions = sessions
        self.vault = PasswordVault(key)

    def _credential(self, row: SipCredentialRow) -> SipCredential:
        return SipCredential(row.agent_id, row.username,
                             self.vault.open(row.password, row.agent_id))

    async def get(self, agent_id: str) -> SipCredential | None:
        async with self.sessions() as session:
            row = await session.get(SipCredentialRow, agent_id)
            return None if row is None else self._credential(row)

    async def list(self) -> list[SipCredential]:
        async with self.sessions() as session:
            rows = await session.scalars(select(SipCredentialRow)
                                         .order_by(SipCredentialRow.agent_id))
            return [self._credential(r) for r in rows]

    async def encrypt_all(self) -> int:
        """Rewrite the rows stored in clear with the key; how many (0 without a key)."""
        if not self.vault.encrypts:
            return 0
        count = 0
        async with self.sessions() as session, session.begin():
            for row in await session.scalars(select(SipCredentialRow)):
                if not row.password.startswith(ENCRYPTED):
                    row.password = self.vault.seal(row.password)
                    count += 1
        return count

    async def put(self, credential: SipCredential) -> None:
        async with self.sessions() as session, session.begin():
            taken = await session.scalar(select(SipCredentialRow.agent_id).where(
                SipCredentialRow.username == credential.username,
                SipCredentialRow.agent_id != credential.agent_id))
            if taken is not None:
                raise BadCredential(f"SIP username {credential.username!r} is agent "
                                    f"{taken}'s already")
            row = await session.get(SipCredentialRow, credential.agent_id)
            stored = self.vault.seal(credential.password)
            if row is None:
                session.add(SipCredentialRow(agent_id=credential.agent_id,
                                             username=credential.username, password=stored))
            else:
                row.username, row.password = credential.username, stored

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
