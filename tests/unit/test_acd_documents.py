"""ACD definitions as documents (JSON bodies, the YAML seed): a round trip keeps every field,
and every mistake is refused with a message naming the file, the line, the entry and the
field."""

from __future__ import annotations

from pathlib import Path

import pytest

from callcenter.acd.definitions import (
    AcdDefinitions,
    AgentDefinition,
    DefinitionError,
    PauseReason,
    QueueDefinition,
)
from callcenter.acd.identity import AgentEndpoints
from callcenter.acd_documents import (
    DEMO_ACD_FILE,
    definitions_document,
    definitions_from_document,
    from_document,
    load_yaml,
)

pytestmark = pytest.mark.unit

ALL = AcdDefinitions(
    queues=(QueueDefinition("support", required_skills={"en": 2}, max_wait_s=600,
                            callback_after_s=120, announce_every_s=30, music_class="calm"),
            QueueDefinition("complaints", overflow_queue="support", overflow_after_s=60,
                            record=True)),
    agents=(AgentDefinition("2001", name="Alice", skills={"en": 5}, endpoint="PJSIP/alice",
                            logged_in=True),),
    pause_reasons=(PauseReason("coaching", label="Coaching", productive=True, max_s=1800),))


def test_a_document_round_trip_keeps_every_field() -> None:
    assert definitions_from_document(definitions_document(ALL)) == ALL


def test_the_shipped_seed_file_loads() -> None:
    seed = load_yaml(DEMO_ACD_FILE)
    names = {q.name for q in seed.queues}
    assert {"support", "billing", "complaints", "vip"} <= names
    assert seed.queue("complaints").overflow_queue == "support"
    assert [a.agent_id for a in seed.agents] == [str(n) for n in range(2001, 2011)]
    vip = seed.queue("vip")
    assert any(agent.serves(vip) for agent in seed.agents)
    assert all(any(agent.serves(queue) for agent in seed.agents) for queue in seed.queues)


@pytest.mark.parametrize(("text", "expected"), [
    ("queues:\n  - name: support\n  - name: vip\n    max_wait_s: -3\n",
     r"acd\.yaml:4: queues\[1\]: queue vip: max_wait_s must be > 0"),
    ("queues:\n  - name: support\n    colour: blue\n",
     r"acd\.yaml:3: queues\[0\]: queue support: colour: Extra inputs"),
    ("agents:\n  - agent_id: '2001'\n    skills: {en: 12}\n",
     r"acd\.yaml:3: agents\[0\]: agent 2001: skills: level of 'en' must be 1\.\.10"),
    ("queues:\n  - name: a\n    overflow_queue: b\n    overflow_after_s: 9\n",
     r"acd\.yaml:2: queues\[0\]: queue a: overflow queue 'b' is not defined"),
    ("pause_reasons:\n  - code: lunch\n  - code: lunch\n",
     r"acd\.yaml:3: pause_reasons\[1\]: pause reason 'lunch' defined twice"),
    ("queue:\n  - name: a\n", r"acd\.yaml: unknown section\(s\) queue"),
    ("queues: [1\n", r"acd\.yaml: not valid YAML"),
    ("- 1\n", r"acd\.yaml: expected a mapping"),
])
def test_yaml_errors_name_the_file_line_entry_and_field(
        tmp_path: Path, text: str, expected: str) -> None:
    path = tmp_path / "acd.yaml"
    path.write_text(text)
    with pytest.raises(DefinitionError, match=expected):
        load_yaml(path)


def test_a_missing_file_is_a_definition_error(tmp_path: Path) -> None:
    with pytest.raises(DefinitionError, match=r"missing\.yaml"):
        load_yaml(tmp_path / "missing.yaml")


@pytest.mark.parametrize("body", [
    {"name": "q", "max_wait_s": float("nan")}, {"name": "q", "max_wait_s": float("inf")},
    {"name": "q", "record": "maybe"}, {"name": "q", "required_skills": {"en": "x"}},
    {"name": 5}, {}, [], "q",
])
def test_bad_bodies_are_definition_errors(body: object) -> None:
    with pytest.raises(DefinitionError):
        from_document(QueueDefinition, body)


def test_an_agent_endpoint_override_is_its_phone_both_ways() -> None:
    endpoints = AgentEndpoints("PJSIP/{agent}", is_agent={"2001", "2002"}.__contains__,
                               overrides={"2001": "PJSIP/alice"})
    assert endpoints.endpoint("2001") == "PJSIP/alice"
    assert endpoints.endpoint("2002") == "PJSIP/2002"
    assert endpoints.agent_of("PJSIP/alice-0000002a") == "2001"
    assert endpoints.agent_of("PJSIP/2001-0000002b") is None  # not its phone any more
    assert endpoints.agent_of("PJSIP/2002-0000002c") == "2002"
