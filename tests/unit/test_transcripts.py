"""Replay AMI transcripts recorded from the real Asterisk sandbox through adapter + model.

The fixtures come from bench/record_ami_transcript.py; each ``NAME.expected.json`` says what
every call did according to the scenario that placed it (not according to our model).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from callcenter.config import AmiSettings
from callcenter.cti.ami import AmiClient
from callcenter.cti.model import CallModel, CallState
from callcenter.cti.protocol import AmiProtocol
from callcenter.events import DomainEvent, EventBus

pytestmark = pytest.mark.unit

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "ami"
TRANSCRIPTS = sorted(FIXTURES.glob("*.ami"))


def replay(path: Path, chunk: int) -> tuple[CallModel, AmiClient, list[DomainEvent]]:
    bus = EventBus()
    seen: list[DomainEvent] = []
    bus.add_handler(seen.append)
    model = CallModel(emit=bus.publish)
    client = AmiClient(AmiSettings(), model, bus)
    protocol = AmiProtocol(client)
    data = path.read_bytes()
    for i in range(0, len(data), chunk):
        protocol.data_received(data[i:i + chunk])
    return model, client, seen


def test_there_are_recorded_transcripts() -> None:
    assert TRANSCRIPTS, f"no transcripts in {FIXTURES}"


@pytest.mark.parametrize("path", TRANSCRIPTS, ids=lambda p: p.stem)
@pytest.mark.parametrize("chunk", [1, 97, 8192])
def test_replay_matches_the_scenario(path: Path, chunk: int) -> None:
    expected: dict[str, dict[str, Any]] = json.loads(
        path.with_suffix(".expected.json").read_text())
    model, client, seen = replay(path, chunk)
    assert client.stats.frames_malformed == 0 and model.skipped == 0
    assert not model.channels and not model.calls, "every call ended in the transcript"
    for call_id, want in expected.items():
        call = model.get_call(call_id)
        assert call is not None, call_id
        assert call.state is CallState.ENDED
        assert call.hangup_cause == want["cause"], (want, call.to_dict())
        assert (call.answered_at is not None) is want["answered"], want
        assert call.started_at <= (call.answered_at or call.started_at) <= call.ended_at  # type: ignore[operator]
        assert len(call.legs) == 2
        if want["dtmf"]:  # the digits the dialplan sent arrive on the other Local half
            assert want["dtmf"] in "".join(leg.dtmf for leg in call.legs.values())
    ended = [e for e in seen if e.type == "call.ended"]
    assert len({e.call_id for e in ended}) == len(ended)  # type: ignore[attr-defined]
    assert {e.call_id for e in ended} >= set(expected)  # type: ignore[attr-defined]
    bridged = [e for e in seen if e.type == "channel.bridged"]
    # one bridge per pair of parked calls; each call's ;1 half entered it once
    assert len(bridged) == sum(1 for w in expected.values() if w.get("bridged"))
