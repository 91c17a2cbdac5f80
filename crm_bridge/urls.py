"""Database URLs as people type them -> the async URLs the server needs.

The server talks to its database through SQLAlchemy's asyncio extension, which needs an async
driver (``sqlite+aiosqlite``, ``postgresql+asyncpg``). People write the plain form they know from
every other tool (``sqlite:///crm.db``, ``postgresql://user:pw@db/crm``, Heroku's
``postgres://``), so every place that takes a URL (settings, ``--db``, :func:`crm_bridge.db.
make_engine`, the migrations) passes it through :func:`async_database_url` first.

Only the scheme is rewritten, textually: the rest of the URL (password, host, path, query) is
left byte for byte as written, so nothing is re-quoted. This module imports nothing heavy: the
configuration (loaded by every CLI command) uses it.

Errors never repeat the URL, only its scheme: the rest may hold a password.
"""

from __future__ import annotations

import re

SQLITE = "sqlite+aiosqlite"
POSTGRESQL = "postgresql+asyncpg"
SUPPORTED = (
    f"sqlite:///PATH ({SQLITE}) or postgresql://USER:PASSWORD@HOST/DB ({POSTGRESQL})"
)

#: schemes (lower case) that mean the same database with another (sync or async) driver
_ASYNC_SCHEME = {
    "sqlite": SQLITE,
    "sqlite+pysqlite": SQLITE,
    "sqlite+aiosqlite": SQLITE,
    **{f"{backend}{driver}": POSTGRESQL
       for backend in ("postgresql", "postgres")
       for driver in ("", "+psycopg2", "+psycopg2cffi", "+psycopg", "+psycopg_async",
                      "+pg8000", "+asyncpg")},
}
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]*)://")
#: libpq's ``sslmode`` is asyncpg's ``ssl`` (same values: disable ... verify-full)
_SSLMODE = re.compile(r"([?&])sslmode=")


class UnsupportedDatabaseUrl(ValueError):
    """The URL is empty, unreadable or names a database the server cannot use.

    The message names the scheme and the supported ones, never the rest of the URL.
    """


def async_database_url(url: str) -> str:
    """``url`` with the async driver of its database; already-async URLs come back unchanged.

    ``sqlite://...`` -> ``sqlite+aiosqlite://...``; ``postgresql://``, ``postgres://``,
    ``postgresql+psycopg2://`` (and the other PostgreSQL drivers) -> ``postgresql+asyncpg://``,
    with libpq's ``sslmode=`` renamed to asyncpg's ``ssl=``. Anything else (MySQL, a path
    without a scheme, an empty string) raises :class:`UnsupportedDatabaseUrl`.
    """
    text = url.strip()
    if not text:
        raise UnsupportedDatabaseUrl(f"empty database URL: use {SUPPORTED}")
    match = _SCHEME.match(text)
    if match is None:
        raise UnsupportedDatabaseUrl(
            f"not a database URL (no SCHEME:// at the start): use {SUPPORTED}")
    scheme = match.group(1).lower()
    target = _ASYNC_SCHEME.get(scheme)
    if target is None:
        raise UnsupportedDatabaseUrl(
            f"unsupported database URL scheme '{scheme}://': use {SUPPORTED}")
    if scheme == target:
        return text
    rest = text[match.end():]
    if target == POSTGRESQL:
        rest = _SSLMODE.sub(r"\1ssl=", rest)
    return f"{target}://{rest}"

