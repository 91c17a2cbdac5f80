"""Database URLs as users type them: mapped to the async drivers, or refused in one clear line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from pydantic import ValidationError

from callcenter.cli import cli
from callcenter.config import Settings
from crm_bridge.db import UnsupportedDatabaseUrl, async_database_url, make_engine
from tests.harness.ports import free_port

pytestmark = pytest.mark.unit

PASSWORD = "s3cr3t-pw"


@pytest.mark.parametrize(("typed", "used"), [
    ("sqlite:///x.db", "sqlite+aiosqlite:///x.db"),
    ("sqlite:////abs/path/x.db", "sqlite+aiosqlite:////abs/path/x.db"),
    ("sqlite://", "sqlite+aiosqlite://"),
    ("sqlite+pysqlite:///x.db", "sqlite+aiosqlite:///x.db"),
    ("SQLite:///x.db", "sqlite+aiosqlite:///x.db"),
    ("  sqlite:///x.db\n", "sqlite+aiosqlite:///x.db"),
    ("postgresql://u:p%40ss@db:5433/crm", "postgresql+asyncpg://u:p%40ss@db:5433/crm"),
    ("postgres://u:pw@db/crm", "postgresql+asyncpg://u:pw@db/crm"),
    ("postgresql+psycopg2://u:pw@db/crm", "postgresql+asyncpg://u:pw@db/crm"),
    ("postgresql+psycopg://u:pw@db/crm", "postgresql+asyncpg://u:pw@db/crm"),
    ("postgresql://u:pw@db/crm?sslmode=require&application_name=x",
     "postgresql+asyncpg://u:pw@db/crm?ssl=require&application_name=x"),
    ("postgresql://u:pw@db/crm?application_name=x&sslmode=verify-full",
     "postgresql+asyncpg://u:pw@db/crm?application_name=x&ssl=verify-full"),
])
def test_plain_urls_get_the_async_driver(typed: str, used: str) -> None:
    assert async_database_url(typed) == used
    assert async_database_url(used) == used  # idempotent


@pytest.mark.parametrize("url", [
    "sqlite+aiosqlite:///x.db",
    "postgresql+asyncpg://u:pw@db/crm?sslmode=require",  # async: left exactly as written
])
def test_async_urls_are_unchanged(url: str) -> None:
    assert async_database_url(url) == url


@pytest.mark.parametrize(("url", "says"), [
    (f"mysql://root:{PASSWORD}@db/crm", "'mysql://'"),
    (f"mysql+aiomysql://root:{PASSWORD}@db/crm", "'mysql+aiomysql://'"),
    (f"oracle://scott:{PASSWORD}@db", "'oracle://'"),
    ("garbage", "not a database URL"),
    (f"user:{PASSWORD}@host/db", "not a database URL"),
    ("/var/lib/crm.db", "not a database URL"),
    ("", "empty database URL"),
    ("   ", "empty database URL"),
])
def test_other_urls_are_refused_clearly_without_the_password(url: str, says: str) -> None:
    with pytest.raises(UnsupportedDatabaseUrl) as caught:
        async_database_url(url)
    message = str(caught.value)
    assert says in message
    assert "sqlite:///" in message and "postgresql://" in message  # what would work
    assert PASSWORD not in message
    assert isinstance(caught.value, ValueError)


def test_make_engine_takes_plain_urls_and_refuses_before_importing_a_driver() -> None:
    engine = make_engine("sqlite://")
    assert engine.url.drivername == "sqlite+aiosqlite"
    with pytest.raises(UnsupportedDatabaseUrl):
        make_engine(f"mysql://u:{PASSWORD}@h/db")


def test_settings_normalise_the_url_and_hide_it_in_errors(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CALLCENTER_CONFIG", raising=False)
    monkeypatch.setenv("CALLCENTER_DATABASE_URL", f"postgres://u:{PASSWORD}@db/crm")
    settings = Settings()
    assert settings.database_url.get_secret_value() == f"postgresql+asyncpg://u:{PASSWORD}@db/crm"
    assert PASSWORD not in repr(settings)
    monkeypatch.setenv("CALLCENTER_DATABASE_URL", f"mysql://u:{PASSWORD}@db/crm")
    with pytest.raises(ValidationError) as caught:
        Settings()
    assert "'mysql://'" in str(caught.value) and PASSWORD not in str(caught.value)


def _one_line_error(result: object, *must_say: str) -> None:
    output: str = result.output  # type: ignore[attr-defined]
    assert result.exit_code not in (0, None), output  # type: ignore[attr-defined]
    assert output.count("\n") == 1 and output.startswith("Error: "), output
    assert "Traceback" not in output and PASSWORD not in output
    for text in must_say:
        assert text in output, output


def test_cli_seed_and_import_with_a_plain_sqlite_url(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'x.db'}"
    runner = CliRunner()
    seeded = runner.invoke(cli, ["crm", "seed", "--customers", "5", "--no-progress",
                                 "--db", url], obj={})
    assert seeded.exit_code == 0, seeded.output
    assert json.loads(seeded.output)["rows"]["customers"] == 5
    csv = tmp_path / "customers.csv"
    csv.write_text("name,customer_code,phone\nAda Lovelace,ADA-1,+14155550132\n")
    imported = runner.invoke(cli, ["crm", "import", str(csv), "--db", url], obj={})
    assert imported.exit_code == 0, imported.output
    assert "1 created" in imported.output
    found = runner.invoke(cli, ["crm", "lookup", "ADA-1", "--json", "--db", url], obj={})
    assert json.loads(found.output)["match"]["name"] == "Ada Lovelace"
    migrated = runner.invoke(cli, ["crm", "migrate", "--db", url], obj={})
    assert migrated.exit_code == 0 and "schema at" in migrated.output


@pytest.mark.parametrize("command", [["migrate"], ["seed", "--customers", "1"],
                                     ["lookup", "+14155550132"]])
def test_cli_refuses_mysql_in_one_line(command: list[str]) -> None:
    result = CliRunner().invoke(cli, ["crm", *command, "--db",
                                      f"mysql://root:{PASSWORD}@127.0.0.1/crm"], obj={})
    _one_line_error(result, "--db", "'mysql://'", "postgresql://")


@pytest.mark.parametrize("scheme", ["postgresql", "postgres", "postgresql+psycopg2"])
def test_cli_postgresql_on_a_closed_port_is_one_line(scheme: str) -> None:
    url = f"{scheme}://crm:{PASSWORD}@127.0.0.1:{free_port()}/crm"
    result = CliRunner().invoke(cli, ["crm", "migrate", "--db", url], obj={})
    _one_line_error(result, "database error", "Connect call failed")


def test_cli_configured_url_is_checked_too(monkeypatch: pytest.MonkeyPatch,
                                           tmp_path: Path) -> None:
    monkeypatch.delenv("CALLCENTER_CONFIG", raising=False)
    monkeypatch.setenv("CALLCENTER_DATABASE_URL", f"mysql://root:{PASSWORD}@db/crm")
    _one_line_error(CliRunner().invoke(cli, ["crm", "migrate"], obj={}),
                    "invalid configuration: database_url", "'mysql://'")
    _one_line_error(CliRunner().invoke(cli, ["serve"], obj={}),
                    "invalid configuration: database_url")
    monkeypatch.setenv("CALLCENTER_DATABASE_URL", f"sqlite:///{tmp_path / 'env.db'}")
    result = CliRunner().invoke(cli, ["crm", "migrate"], obj={})
    assert result.exit_code == 0 and "schema at" in result.output
    assert (tmp_path / "env.db").is_file()
