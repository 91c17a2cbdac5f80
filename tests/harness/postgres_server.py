"""A throw-away PostgreSQL cluster on loopback (initdb + pg_ctl from Debian's packages).

PostgreSQL refuses to run as root, so when the tests run as root the cluster belongs to the
``postgres`` system user (created by Debian's ``postgresql`` package) and every server command
runs through ``runuser -u postgres --``. The cluster lives in its own ``cc-pg-*`` directory
(:func:`~tests.harness.ports.make_workdir`; not pytest's ``tmp_path``, which is private to
root), listens on 127.0.0.1 only, keeps its Unix socket in that directory and runs with fsync
off: it is disposable.
"""

from __future__ import annotations

import os
import pwd
import re
import secrets
import shutil
import subprocess
import time
from collections.abc import Iterable
from pathlib import Path

from .ports import free_port, make_workdir

PG_ROOTS = ("/usr/lib/postgresql",)
BINDIR_ENV = "CALLCENTER_TEST_PG_BINDIR"


def find_pg_bindir(roots: Iterable[str | Path] = PG_ROOTS) -> Path | None:
    """Directory with ``initdb`` and ``pg_ctl``: ``$CALLCENTER_TEST_PG_BINDIR``, else the newest
    ``/usr/lib/postgresql/<version>/bin``, else wherever ``initdb`` is on PATH; None if none."""
    override = os.environ.get(BINDIR_ENV)
    if override:
        path = Path(override)
        return path if (path / "initdb").is_file() else None
    found: list[tuple[tuple[int, ...], Path]] = []
    for root in roots:
        for bindir in Path(root).glob("*/bin"):
            if (bindir / "initdb").is_file() and (bindir / "pg_ctl").is_file():
                version = tuple(int(part) for part in re.findall(r"\d+", bindir.parent.name))
                found.append((version, bindir))
    if found:
        return max(found)[1]
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


class PostgresServer:
    """One cluster, one database, one password user. ``url`` is the SQLAlchemy asyncpg URL."""

    def __init__(
        self,
        bindir: Path,
        port: int | None = None,
        user: str = "callcenter",
        database: str = "callcenter",
        password: str | None = None,
    ) -> None:
        self.bindir = Path(bindir)
        self.host = "127.0.0.1"
        self.port = port or free_port()
        self.user = user
        self.database = database
        self.password = password or secrets.token_hex(12)
        self.workdir = make_workdir("cc-pg-")
        self.datadir = self.workdir / "data"
        self.sockdir = self.workdir / "sock"
        self.logfile = self.workdir / "postgres.log"
        self.run_as = "postgres" if os.geteuid() == 0 else None
        self.running = False
        self.initdb_s: float | None = None
        self.startup_s: float | None = None

    @property
    def url(self) -> str:
        return (
            f"postgresql+asyncpg://{self.user}:{self.password}"
            f"@{self.host}:{self.port}/{self.database}"
        )

    @property
    def dsn(self) -> str:
        """libpq/asyncpg form of :attr:`url` (no SQLAlchemy driver suffix)."""
        return self.url.replace("postgresql+asyncpg://", "postgresql://", 1)

    def _run(self, *args: str, timeout: float = 60.0) -> str:
        command = [str(self.bindir / args[0]), *args[1:]]
        if self.run_as:
            command = ["runuser", "-u", self.run_as, "--", *command]
        try:
            done = subprocess.run(
                command, cwd=self.workdir, capture_output=True, text=True, timeout=timeout,
                check=True, stdin=subprocess.DEVNULL,
            )
        except subprocess.CalledProcessError as exc:
            raise RuntimeError(
                f"{' '.join(command)} exited with {exc.returncode}:\n{exc.stdout}{exc.stderr}"
                f"\n--- server log ---\n{self.log_tail()}"
            ) from exc
        return done.stdout

    def start(self) -> None:
        """initdb (first time only), start, create the user and the database."""
        if self.running:
            return
        began = time.monotonic()
        first = not self.datadir.exists()
        if first:
            self.sockdir.mkdir(parents=True, exist_ok=True)
            if self.run_as:
                owner = pwd.getpwnam(self.run_as)
                for path in (self.workdir, self.sockdir):
                    os.chown(path, owner.pw_uid, owner.pw_gid)
            self._run(
                "initdb", "-D", str(self.datadir), "-U", "postgres", "-E", "UTF8",
                "--locale=C", "--auth-local=trust", "--auth-host=scram-sha-256", "--no-sync",
            )
            self.initdb_s = time.monotonic() - began
        options = (
            f"-p {self.port} -k {self.sockdir} -c listen_addresses={self.host}"
            " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        )
        self._run(
            "pg_ctl", "-D", str(self.datadir), "-l", str(self.logfile), "-w", "-t", "60",
            "-o", options, "start",
        )
        self.running = True
        if first:
            self.psql(f"CREATE ROLE {self.user} LOGIN PASSWORD '{self.password}'")
            self.psql(f"CREATE DATABASE {self.database} OWNER {self.user}")
        self.startup_s = time.monotonic() - began

    def psql(self, sql: str, database: str = "postgres") -> str:
        """Run SQL as the superuser over the Unix socket."""
        return self._run(
            "psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", str(self.sockdir),
            "-p", str(self.port), "-U", "postgres", "-d", database, "-tA", "-c", sql,
        )

    def stop(self) -> None:
        """Fast shutdown. Judged by the pid file, so a start cut short is stopped as well."""
        self.running = False
        pidfile = self.datadir / "postmaster.pid"
        if not pidfile.exists():
            return
        try:
            self._run("pg_ctl", "-D", str(self.datadir), "-m", "fast", "-w", "-t", "30", "stop")
        except RuntimeError:
            if pidfile.exists() and _alive(pidfile):
                raise
            # a stale pid file (the server died): nothing to stop

    def restart(self) -> None:
        self.stop()
        self.start()

    def cleanup(self) -> None:
        """Stop (if running) and delete the cluster's directory."""
        try:
            self.stop()
        finally:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.logfile.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


def _alive(pidfile: Path) -> bool:
    try:
        os.kill(int(pidfile.read_text().split()[0]), 0)
    except (OSError, ValueError, IndexError):
        return False
    return True
