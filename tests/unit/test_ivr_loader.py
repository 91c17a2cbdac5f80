"""Flow files: the samples load; broken ones are refused with every problem named by file
and line; the registry keeps the running version of a flow when its file breaks."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from callcenter.ivr import FlowError, FlowRegistry, load_flow, parse_flow
from callcenter.ivr.model import MenuNode

pytestmark = pytest.mark.unit

FLOWS = Path(__file__).resolve().parents[2] / "ivr_flows"

GOOD = """\
flow: tiny
languages:
  en: {voice: en-us}
  ko: {voice: ko}
start: menu
nodes:
  menu:
    type: menu
    prompt: {en: "Press 1 for sales.", ko: "영업은 1번."}
    options:
      - {key: "1", say: {en: [sales], ko: [영업]}, intent: sales, next: sales}
    on_failure: bye
  sales:
    type: queue
    queue: sales
  bye:
    type: hangup
"""


def errors_of(text: str) -> list[str]:
    with pytest.raises(FlowError) as caught:
        parse_flow(textwrap.dedent(text), "f.yaml")
    return [str(issue) for issue in caught.value.issues]


@pytest.mark.parametrize("path", sorted(FLOWS.glob("*.yaml")), ids=lambda p: p.name)
def test_the_sample_flows_load_without_warnings(path: Path) -> None:
    flow, warnings = load_flow(path)
    assert warnings == []
    assert flow.start in flow.nodes
    assert [lang.code for lang in flow.languages] == ["en", "ko", "zh"]


def test_a_good_flow_loads_with_its_grammar() -> None:
    flow, warnings = parse_flow(GOOD, "tiny.yaml")
    assert warnings == []
    menu = flow.nodes["menu"]
    assert isinstance(menu, MenuNode)
    assert menu.phrases("ko") == ("영업",) and menu.phrases("en") == ("sales",)
    assert menu.line == 8


def test_bad_yaml_names_the_line() -> None:
    assert errors_of("flow: x\nnodes:\n  a: [unclosed\n") == [
        "f.yaml:4: error: not valid YAML: expected ',' or ']', but got '<stream end>'"]


def test_an_unknown_target_is_refused_with_its_line() -> None:
    found = errors_of(GOOD.replace("next: sales}", "next: sails}"))
    assert found == ["f.yaml:8: error: node 'menu': options[0].next names no node 'sails'"]


def test_a_cycle_without_exit_is_refused() -> None:
    text = """\
    flow: loop
    start: a
    nodes:
      a: {type: play, prompt: "A", next: b}
      b: {type: play, prompt: "B", next: a}
      c: {type: hangup}
    """
    found = errors_of(text)
    assert "f.yaml:4: error: node 'a' never reaches an exit (queue or hangup): cycle a -> b -> a" \
        in found
    assert any("node 'b' never reaches an exit" in line for line in found)


def test_a_missing_prompt_and_unknown_fields_and_types_are_all_reported_at_once() -> None:
    text = """\
    flow: broken
    start: a
    nodes:
      a:
        type: menu
        options:
          - {key: "1", next: z}
          - {key: "1", next: z}
        on_failure: z
        colour: blue
      b:
        type: dance
      z: {type: hangup}
    """
    found = errors_of(text)
    assert found == [
        "f.yaml:5: error: node 'a': missing prompt",
        "f.yaml:8: error: node 'a' option 2: key 1 is already option 1",
        "f.yaml:10: error: node 'a': unknown field 'colour' (allowed: barge_in, "
        "low_confidence, min_confidence, no_input, no_match, on_failure, options, prompt, "
        "retries, timeout_s, type)",
        "f.yaml:12: error: node 'b': unknown type 'dance' (one of play, menu, collect, "
        "lookup, complaint_status, hours, set, queue, callback, survey, hangup)",
    ]


def test_a_prompt_missing_in_the_default_language_is_an_error() -> None:
    found = errors_of(GOOD.replace('prompt: {en: "Press 1 for sales.", ko: "영업은 1번."}',
                                   'prompt: {ko: "영업은 1번."}'))
    assert found == ["f.yaml:9: error: node 'menu': missing prompt in the default language 'en'"]


def test_a_prompt_missing_in_another_language_is_a_warning() -> None:
    _, warnings = parse_flow(GOOD.replace(', ko: "영업은 1번."', ""), "f.yaml")
    assert [str(w) for w in warnings] == [
        "f.yaml:9: warning: node 'menu': no 'ko' prompt: the 'en' one is played"]


def test_yaml_booleans_in_phrases_are_explained() -> None:
    found = errors_of(GOOD.replace("[sales]", "[sales, no]"))
    assert any('quote words YAML reads as true/false/null: "no"' in line for line in found)


def test_duplicate_keys_are_refused() -> None:
    found = errors_of(GOOD.replace("  bye:\n", "  sales:\n    type: hangup\n  bye:\n"))
    assert found == ["f.yaml:16: error: not valid YAML: key 'sales' appears twice (first on "
                     "line 13)"]


def test_unreachable_nodes_are_warned_about() -> None:
    _, warnings = parse_flow(GOOD + "  orphan: {type: hangup}\n", "f.yaml")
    assert [str(w) for w in warnings] == [
        "f.yaml:18: warning: node 'orphan' is never reached from 'menu'"]


def test_collect_and_hours_settings_are_checked() -> None:
    text = """\
    flow: c
    start: a
    nodes:
      a:
        type: collect
        prompt: "Code?"
        variable: Code
        min_digits: 8
        max_digits: 4
        pattern: "[0-9"
        checksum: crc
        next: h
        on_failure: z
      h:
        type: hours
        timezone: Mars/Olympus
        schedule: {mon-fri: "20:00-08:00", funday: "09:00-10:00"}
        holidays: [tomorrow]
        open: z
        closed: z
      z: {type: hangup}
    """
    found = "\n".join(errors_of(text))
    for part in ("variable 'Code' must be lower_case", "min_digits 8 > max_digits 4",
                 "pattern '[0-9'", "checksum is 'luhn'", "unknown time zone 'Mars/Olympus'",
                 "20:00-08:00 closes before it opens", "schedule funday",
                 "holiday 'tomorrow' is not a date"):
        assert part in found, part


def test_the_registry_keeps_a_flow_in_service_when_its_file_breaks(tmp_path: Path) -> None:
    (tmp_path / "tiny.yaml").write_text(GOOD, encoding="utf-8")
    registry = FlowRegistry(tmp_path)
    report = registry.reload()
    assert report.ok and report.loaded == ["tiny"]
    running = registry.get("tiny")
    assert not registry.changed()
    (tmp_path / "tiny.yaml").write_text(GOOD.replace("next: sales}", "next: nowhere}"),
                                        encoding="utf-8")
    report = registry.reload()
    assert not report.ok and report.kept == ["tiny"]
    assert "names no node 'nowhere'" in str(report.errors[0])
    assert registry.get("tiny") is running  # the last good version still serves calls
    (tmp_path / "tiny.yaml").write_text(GOOD.replace("queue: sales", "queue: sales2"),
                                        encoding="utf-8")
    report = registry.reload()
    assert report.ok and registry.get("tiny") is not running
    assert running.nodes["sales"].queue == "sales"  # type: ignore[attr-defined]
    (tmp_path / "tiny.yaml").unlink()
    assert registry.reload().withdrawn == ["tiny"] and "tiny" not in registry
    with pytest.raises(KeyError, match="no IVR flow 'tiny'"):
        registry.get("tiny")


def test_two_files_with_one_flow_name_are_refused(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(GOOD, encoding="utf-8")
    (tmp_path / "b.yaml").write_text(GOOD, encoding="utf-8")
    report = FlowRegistry(tmp_path).reload()
    assert report.loaded == ["tiny"]
    assert "flow 'tiny' is already defined in" in str(report.errors[0])
