"""Test harness: real components (Redis, PostgreSQL, the Asterisk sandbox) on loopback.

Each component runs on a free port in its own temporary directory and is stopped at the end of
the session. The fixtures live in ``tests/conftest.py``; the classes here do the work so that
they can also be used directly (e.g. by benchmarks).
"""

from .ports import free_port, wait_for
from .postgres_server import PostgresServer, find_pg_bindir
from .redis_server import RedisServer
from .require import in_ci, require, require_binary
from .sandbox import sandbox_is_running

__all__ = [
    "PostgresServer",
    "RedisServer",
    "find_pg_bindir",
    "free_port",
    "in_ci",
    "require",
    "require_binary",
    "sandbox_is_running",
    "wait_for",
]
