"""Users in the database (table ``users``): :class:`DbUsers` is the server's
:class:`~callcenter.accounts.UserDirectory`, shared by every process on the database, so an
account changed with ``callcenter user ...`` counts everywhere (sessions recheck it)."""

from __future__ import annotations

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from callcenter.accounts.users import NoSuchUser, User, UserExists
from crm_bridge.models import UserRow


def _user(row: UserRow) -> User:
    return User(row.username, row.role, row.password_hash, row.agent_id, row.disabled)


class DbUsers:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self.sessions = sessions

    async def get(self, username: str) -> User | None:
        async with self.sessions() as session:
            row = await session.get(UserRow, username)
            return None if row is None else _user(row)

    async def list(self) -> list[User]:
        async with self.sessions() as session:
            rows = await session.scalars(select(UserRow).order_by(UserRow.username))
            return [_user(row) for row in rows]

    async def add(self, user: User) -> None:
        try:
            async with self.sessions() as session, session.begin():
                session.add(UserRow(username=user.username, role=user.role,
                                    agent_id=user.agent_id, password_hash=user.password_hash,
                                    disabled=user.disabled))
        except IntegrityError:
            raise UserExists(f"user {user.username!r} exists") from None

    async def replace(self, user: User) -> None:
        async with self.sessions() as session, session.begin():
            row = await session.get(UserRow, user.username)
            if row is None:
                raise NoSuchUser(f"no user {user.username!r}")
            row.role, row.agent_id = user.role, user.agent_id
            row.password_hash, row.disabled = user.password_hash, user.disabled

    async def remove(self, username: str) -> None:
        async with self.sessions() as session, session.begin():
            result = await session.execute(delete(UserRow).where(UserRow.username == username))
            if not getattr(result, "rowcount", 0):
                raise NoSuchUser(f"no user {username!r}")
