"""Accounts as data: a user's name, role, agent id and password hash; where users are kept.

Roles are ranked: ``agent`` < ``supervisor`` < ``admin``; a higher role may do what a lower
one may (a supervisor can pause an agent, an admin can listen in). An ``agent`` account names
the ACD agent it is (``agent_id``), which is how the server knows whose calls and console
stream are its own. The :class:`UserDirectory` protocol is what the web layer reads;
``crm_bridge.users.DbUsers`` keeps users in the database, :class:`MemoryUsers` in the process
(tests, tools).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Protocol

ROLES = ("agent", "supervisor", "admin")
"""Every role, lowest first: a role may do everything the ones before it may."""
USERNAME_RE = re.compile(r"^[a-z0-9][a-z0-9_.@-]{0,63}$")
AGENT_ID_RE = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


class BadUser(ValueError):
    """A user that cannot be stored (bad name, unknown role, agent without agent id)."""


class UserExists(ValueError):
    """The username is taken."""


class NoSuchUser(LookupError):
    """No user has that name."""


def role_rank(role: str) -> int:
    return ROLES.index(role) if role in ROLES else -1


@dataclass(frozen=True, slots=True)
class User:
    """One account. ``password_hash`` never leaves the server (see :meth:`public`)."""

    username: str
    role: str
    password_hash: str
    agent_id: str | None = None
    disabled: bool = False

    def __post_init__(self) -> None:
        if not USERNAME_RE.match(self.username):
            raise BadUser(f"username {self.username!r}: lower-case letters, digits and "
                          "_.@- only, 1-64 characters")
        if self.role not in ROLES:
            raise BadUser(f"role {self.role!r} is not one of {', '.join(ROLES)}")
        if self.agent_id is not None and not AGENT_ID_RE.match(self.agent_id):
            raise BadUser(f"agent id {self.agent_id!r}: letters, digits and _.- only")
        if self.role == "agent" and self.agent_id is None:
            raise BadUser("an agent account needs the agent id it works as")

    def public(self) -> dict[str, object]:
        """The user as the API and CLI show it: no password hash."""
        return {"username": self.username, "role": self.role, "agent_id": self.agent_id,
                "disabled": self.disabled}

    def with_changes(self, **changes: object) -> User:
        return replace(self, **changes)  # type: ignore[arg-type]


class UserDirectory(Protocol):
    """Where users are kept. Writes raise :class:`UserExists` / :class:`NoSuchUser`."""

    async def get(self, username: str) -> User | None: ...

    async def list(self) -> list[User]: ...

    async def add(self, user: User) -> None: ...

    async def replace(self, user: User) -> None: ...

    async def remove(self, username: str) -> None: ...


class MemoryUsers:
    """Users in this process only: for tests and tools that have no database."""

    def __init__(self) -> None:
        self._users: dict[str, User] = {}

    async def get(self, username: str) -> User | None:
        return self._users.get(username)

    async def list(self) -> list[User]:
        return sorted(self._users.values(), key=lambda u: u.username)

    async def add(self, user: User) -> None:
        if user.username in self._users:
            raise UserExists(f"user {user.username!r} exists")
        self._users[user.username] = user

    async def replace(self, user: User) -> None:
        if user.username not in self._users:
            raise NoSuchUser(f"no user {user.username!r}")
        self._users[user.username] = user

    async def remove(self, username: str) -> None:
        if self._users.pop(username, None) is None:
            raise NoSuchUser(f"no user {username!r}")
