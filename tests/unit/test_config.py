"""Configuration: environment, TOML file, secrets, and README kept true to the code."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from callcenter.cli import cli
from callcenter.config import ConfigError, load_settings

pytestmark = pytest.mark.unit

README = Path(__file__).resolve().parents[2] / "README.md"


def test_environment_and_toml(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    toml = tmp_path / "cc.toml"
    toml.write_text('log_level = "DEBUG"\n[ami]\nport = 6000\nsecret = "s3cret"\n')
    monkeypatch.setenv("CALLCENTER_CONFIG", str(toml))
    monkeypatch.setenv("CALLCENTER_AMI__HOST", "10.1.2.3")
    monkeypatch.setenv("CALLCENTER_LOG_LEVEL", "WARNING")
    settings = load_settings()
    assert settings.ami.host == "10.1.2.3"      # from the environment
    assert settings.ami.port == 6000            # from the file
    assert settings.log_level == "WARNING"      # the environment wins over the file
    assert settings.ami.secret.get_secret_value() == "s3cret"
    assert "s3cret" not in repr(settings) and "s3cret" not in settings.model_dump_json()


def test_missing_file_and_bad_values_are_clear(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CALLCENTER_CONFIG", str(tmp_path / "nope.toml"))
    with pytest.raises(ConfigError, match="no such file"):
        load_settings()
    monkeypatch.delenv("CALLCENTER_CONFIG")
    monkeypatch.setenv("CALLCENTER_AMI__PORT", "not-a-port")
    result = CliRunner().invoke(cli, ["config", "show"], obj={})
    assert result.exit_code != 0 and "invalid configuration" in result.output


def test_unknown_keys_are_rejected(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    toml = tmp_path / "cc.toml"
    toml.write_text("lgo_level = 'DEBUG'\n")
    monkeypatch.setenv("CALLCENTER_CONFIG", str(toml))
    with pytest.raises(ValueError, match="lgo_level"):
        load_settings()


def test_config_show_masks_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CALLCENTER_AMI__SECRET", "hunter2")
    monkeypatch.setenv("CALLCENTER_DATABASE_URL", "postgresql+asyncpg://u:pw@h/db")
    result = CliRunner().invoke(cli, ["config", "show"], obj={})
    assert result.exit_code == 0
    assert "hunter2" not in result.output and "pw@h" not in result.output


def test_readme_documents_every_option_exactly() -> None:
    result = CliRunner().invoke(cli, ["config", "options"], obj={})
    text = README.read_text()
    begin, end = text.index("<!-- options:begin"), text.index("<!-- options:end -->")
    documented = text[begin:end].split("\n", 1)[1].strip()
    assert documented == result.output.strip(), "run `callcenter config options` into README"


def test_version_command() -> None:
    result = CliRunner().invoke(cli, ["version"], obj={})
    assert result.exit_code == 0 and result.output.strip()
