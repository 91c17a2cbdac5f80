"""Call model rules on small hand-written event sequences (real ones: test_transcripts)."""

from __future__ import annotations

from typing import Any

import pytest

from callcenter.cti.model import CAUSE_VANISHED, CallModel, CallState, SnapshotChannel
from callcenter.events import DomainEvent

pytestmark = pytest.mark.unit


def chan(event: str, uid: str, linked: str | None = None, state: str = "0",
         at: float = 100.0, **extra: str) -> dict[str, Any]:
    headers = {"Event": event, "Uniqueid": uid, "Linkedid": linked or uid,
               "Channel": f"PJSIP/{uid}", "ChannelState": state, "Timestamp": str(at)}
    headers.update(extra)
    return headers


def recorder() -> tuple[CallModel, list[DomainEvent]]:
    seen: list[DomainEvent] = []
    return CallModel(emit=seen.append, clock=lambda: 500.0), seen


def test_two_leg_call_lifecycle() -> None:
    model, seen = recorder()
    model.apply_all([
        chan("Newchannel", "a", state="4", at=100, CallerIDNum="+8613800138000"),
        chan("Newchannel", "b", "a", state="0", at=100.5),
        chan("Newstate", "b", "a", state="5", at=101),
        chan("Newstate", "b", "a", state="6", at=104),
        chan("Newstate", "a", state="6", at=104.01),
        {"Event": "BridgeCreate", "BridgeUniqueid": "br1", "BridgeType": "basic"},
        chan("BridgeEnter", "a", BridgeUniqueid="br1"),
        chan("BridgeEnter", "b", "a", BridgeUniqueid="br1"),
        chan("Hangup", "b", "a", at=130, Cause="16", **{"Cause-txt": "Normal Clearing"}),
    ])
    call = model.get_call("a")
    assert call is not None and call.state is CallState.UP
    assert call.caller_num == "+8613800138000"
    assert call.answered_at == 104
    assert model.bridges["br1"].channels == {"a"}
    model.apply(chan("Hangup", "a", at=130.2, Cause="16"))
    assert call.state is CallState.ENDED and call.ended_at == 130.2
    assert call.hangup_cause == 16 and call.hangup_cause_text == "Normal Clearing"
    assert not model.channels and not model.calls
    types = [e.type for e in seen]
    assert types.count("call.started") == 1 and types[-1] == "call.ended"
    assert types.count("call.answered") == 1
    assert seen[-1].to_dict()["duration_s"] == pytest.approx(30.2)


def test_unknown_channel_is_created_from_any_event_and_late_events_ignored() -> None:
    model, seen = recorder()
    model.apply(chan("Newstate", "x", state="6"))
    assert model.channels["x"].state.value == "up"
    model.apply(chan("Hangup", "x", Cause="17"))
    model.apply(chan("Hangup", "x", Cause="17"))  # duplicate
    model.apply(chan("VarSet", "x", Variable="CC_LATE", Value="1"))  # after the end
    assert [e.type for e in seen].count("call.ended") == 1
    assert "x" not in model.channels


def test_only_our_variables_and_received_dtmf_are_kept() -> None:
    model, seen = recorder()
    model.apply_all([
        chan("Newchannel", "a"),
        chan("VarSet", "a", Variable="CC_QUEUE", Value="sales"),
        chan("VarSet", "a", Variable="DIALSTATUS", Value="ANSWER"),
        chan("DTMFEnd", "a", Digit="5", Direction="Received"),
        chan("DTMFEnd", "a", Digit="9", Direction="Sent"),
    ])
    assert model.channels["a"].variables == {"CC_QUEUE": "sales"}
    assert model.channels["a"].dtmf == "5"
    assert [e.type for e in seen].count("channel.dtmf") == 2


def test_rename_keeps_identity() -> None:
    model, _ = recorder()
    model.apply(chan("Newchannel", "a"))
    model.apply(chan("Rename", "a", Newname="Local/x@y-0001;1<ZOMBIE>"))
    assert model.channels["a"].name.endswith("<ZOMBIE>")
    assert model.channel_by_name("Local/x@y-0001;1<ZOMBIE>") is model.channels["a"]


def test_reconcile_removes_ghosts_adds_missing_and_respects_live_events() -> None:
    model, seen = recorder()
    model.apply_all([chan("Newchannel", "ghost", state="6"), chan("Newchannel", "kept", state="4"),
                     chan("Newchannel", "touched", state="4")])
    model.begin_resync()
    model.apply(chan("Newstate", "touched", state="6"))  # newer than the snapshot below
    model.apply(chan("Newchannel", "born", state="4"))
    model.apply(chan("Hangup", "born", Cause="16"))       # born and died during the resync
    snapshot = [
        SnapshotChannel(chan("CoreShowChannel", "kept", state="6"), "b9"),
        SnapshotChannel(chan("CoreShowChannel", "touched", state="4"), None),
        SnapshotChannel(chan("CoreShowChannel", "born", state="4"), None),
        SnapshotChannel(chan("CoreShowChannel", "new", state="6", Duration="00:01:05"), None),
    ]
    result = model.reconcile(snapshot, [{"BridgeUniqueid": "b9", "BridgeType": "basic"}])
    assert result.ghosts_removed == 1 and result.discovered == 1
    assert set(model.channels) == {"kept", "touched", "new"}
    assert model.channels["kept"].state.value == "up"
    assert model.channels["kept"].bridge_id == "b9" and model.bridges["b9"].channels == {"kept"}
    assert model.channels["touched"].state.value == "up"  # the live event won
    assert model.channels["new"].created_at == pytest.approx(500.0 - 65)
    ghost_end = [e for e in seen if e.type == "call.ended" and e.call_id == "ghost"]  # type: ignore[attr-defined]
    assert ghost_end and ghost_end[0].hangup_cause == CAUSE_VANISHED  # type: ignore[attr-defined]


def test_retention_of_ended_calls_is_bounded() -> None:
    model = CallModel(retain_ended=3)
    for i in range(10):
        model.apply(chan("Newchannel", f"c{i}"))
        model.apply(chan("Hangup", f"c{i}", Cause="16"))
    assert list(model.ended) == ["c7", "c8", "c9"]


def test_snapshot_is_json_ready() -> None:
    import json

    model, _ = recorder()
    model.apply(chan("Newchannel", "a", state="6"))
    model.apply(chan("VarSet", "a", Variable="CC_X", Value="1"))
    data = json.loads(json.dumps(model.snapshot()))
    assert data["calls"][0]["variables"] == {"CC_X": "1"}
    assert data["calls"][0]["state"] == "up"


def test_reconcile_brings_variables_changed_during_the_outage() -> None:
    model, seen = recorder()
    model.apply(chan("Newchannel", "a", state="6"))
    model.apply(chan("VarSet", "a", Variable="CC_QUEUE", Value="sales"))
    model.begin_resync()
    model.reconcile([SnapshotChannel(chan("CoreShowChannel", "a", state="6"), None,
                                     {"CC_QUEUE": "support", "CC_NEXT": "x,s,1"})])
    assert model.channels["a"].variables == {"CC_QUEUE": "support", "CC_NEXT": "x,s,1"}
    assert [e.value for e in seen if e.type == "channel.variable"] == [  # type: ignore[attr-defined]
        "sales", "support", "x,s,1"]


def test_newexten_as_asterisk_22_spells_it_moves_the_channel() -> None:
    """The recorded transcript has ``Event: Newexten`` (not the documented ``NewExten``)."""
    from callcenter.cti.model import CallModel

    model = CallModel()
    model.apply({"Event": "Newchannel", "Uniqueid": "1.1", "Linkedid": "1.1",
                 "Channel": "PJSIP/trunk-00000001", "ChannelState": "4", "Context": "inbound",
                 "Exten": "100"})
    model.apply({"Event": "Newexten", "Uniqueid": "1.1", "Linkedid": "1.1",
                 "Channel": "PJSIP/trunk-00000001", "Context": "holding", "Exten": "s",
                 "Priority": "1"})
    channel = model.channels["1.1"]
    assert (channel.context, channel.exten) == ("holding", "s")
