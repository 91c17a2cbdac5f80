"""Accounts: users and roles, password hashes, sessions and tickets, login throttling."""

from callcenter.accounts.passwords import (
    WeakPassword,
    check_strength,
    hash_password,
    needs_rehash,
    verify_dummy,
    verify_password,
)
from callcenter.accounts.sessions import Session, SessionStore
from callcenter.accounts.throttle import LoginThrottle
from callcenter.accounts.users import (
    ROLES,
    BadUser,
    MemoryUsers,
    NoSuchUser,
    User,
    UserDirectory,
    UserExists,
    role_rank,
)

__all__ = [
    "ROLES",
    "BadUser",
    "LoginThrottle",
    "MemoryUsers",
    "NoSuchUser",
    "Session",
    "SessionStore",
    "User",
    "UserDirectory",
    "UserExists",
    "WeakPassword",
    "check_strength",
    "hash_password",
    "needs_rehash",
    "role_rank",
    "verify_dummy",
    "verify_password",
]
