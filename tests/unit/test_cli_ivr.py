"""``callcenter ivr validate``: the samples pass; a broken file fails with FILE:LINE."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from callcenter.cli import cli

pytestmark = pytest.mark.unit

FLOWS = Path(__file__).resolve().parents[2] / "ivr_flows"


def test_the_sample_flows_validate() -> None:
    result = CliRunner().invoke(cli, ["ivr", "validate", str(FLOWS)], obj={})
    assert result.exit_code == 0, result.output
    assert "flow 'main' ok: 19 nodes, languages en, ko, zh" in result.output


def test_a_broken_flow_fails_with_its_file_and_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text('flow: x\nstart: a\nnodes:\n  a: {type: play, prompt: "hi", next: b}\n',
                   encoding="utf-8")
    result = CliRunner().invoke(cli, ["ivr", "validate", str(bad), str(FLOWS / "survey.yaml")],
                                obj={})
    assert result.exit_code == 1
    assert f"{bad}:4: error: node 'a': next names no node 'b'" in result.output
    assert "1 of 2 flow files rejected" in result.output
    assert "flow 'survey' ok" in result.output


def test_a_missing_path_is_a_clear_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["ivr", "validate", str(tmp_path / "nope")], obj={})
    assert result.exit_code == 1 and "no such file or folder" in result.output
