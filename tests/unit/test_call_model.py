"""Call model rules on small hand-written event sequences (real ones: test_transcripts)."""

from __future__ import annotations

from typing import Any

import pytest

from callcenter import events as ev
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


def test_a_global_variable_is_about_no_channel() -> None:
    """Setvar without a channel (the IVR's heartbeat) comes back as a VarSet with Channel and
    Uniqueid "none": it makes no channel, no call and no event."""
    model, seen = recorder()
    model.apply({"Event": "VarSet", "Channel": "none", "Uniqueid": "none",
                 "Variable": "CC_IVR_ALIVE", "Value": "1796371046"})
    assert not model.channels and not model.calls and not seen


def check_rename_keeps_identity(model: CallModel) -> None:
    """Asterisk's Rename (Channel, Newname, Uniqueid): the leg keeps its id, changes its name.

    (Asterisk 22 does not send Rename on masquerades any more -- see the masquerade
    transcript -- but the event exists and older versions send it.)
    """
    model.apply(chan("Newchannel", "a", Channel="PJSIP/2001-00000001"))
    model.apply(chan("Rename", "a", Channel="PJSIP/2001-00000001",
                     Newname="Local/x@y-0001;1<ZOMBIE>"))
    assert model.channels["a"].name == "Local/x@y-0001;1<ZOMBIE>"
    assert model.channel_by_name("Local/x@y-0001;1<ZOMBIE>") is model.channels["a"]
    assert model.channel_by_name("PJSIP/2001-00000001") is None
    model.apply(chan("Hangup", "a", Channel="Local/x@y-0001;1<ZOMBIE>", Cause="16"))
    call = model.get_call("a")
    assert call is not None and call.legs["a"].name == "Local/x@y-0001;1<ZOMBIE>"


def test_rename_keeps_identity() -> None:
    check_rename_keeps_identity(recorder()[0])


def test_a_model_ignoring_rename_fails_the_rename_check() -> None:
    model, _ = recorder()
    del model._handlers["Rename"]
    with pytest.raises(AssertionError):
        check_rename_keeps_identity(model)


def test_call_caller_id_follows_the_originating_leg() -> None:
    """Originate with CallerID: Newchannel says <unknown> (or, for a PJSIP endpoint, the
    endpoint's own number), then NewCallerid gives the number: the call must show it."""
    model, seen = recorder()
    model.apply_all([
        chan("Newchannel", "o", CallerIDNum="<unknown>", CallerIDName="<unknown>"),
        chan("Newchannel", "o-2", "o", CallerIDNum="<unknown>"),
        chan("NewCallerid", "o", CallerIDNum="+8613800138000", CallerIDName="Alice"),
        # the other half hears it too, then a dialled leg shows another number: not the caller
        chan("NewCallerid", "o-2", "o", CallerIDNum="+8613800138000", CallerIDName="Alice"),
        chan("Newchannel", "d", "o", CallerIDNum="2001", CallerIDName="Agent 2001"),
        chan("Newstate", "d", "o", state="6", CallerIDNum="2001"),
    ])
    call = model.get_call("o")
    assert call is not None
    assert (call.caller_num, call.caller_name) == ("+8613800138000", "Alice")
    started = [e for e in seen if e.type == "call.started"]
    assert started[0].caller_num == ""  # type: ignore[attr-defined]  # what was known then
    # an agent leg originated alone: the endpoint's number first, the customer's right after
    model.apply_all([
        chan("Newchannel", "ag", CallerIDNum="2001", CallerIDName="Agent 2001"),
        chan("NewCallerid", "ag", CallerIDNum="+4930123456", CallerIDName="Bob"),
    ])
    agent_call = model.get_call("ag")
    assert agent_call is not None and agent_call.caller_num == "+4930123456"
    # a call whose first leg has no number takes the first number any leg shows
    model.apply_all([chan("Newchannel", "q"), chan("Newchannel", "q2", "q"),
                     chan("Newstate", "q2", "q", state="5", CallerIDNum="+33123")])
    q_call = model.get_call("q")
    assert q_call is not None and q_call.caller_num == "+33123"


def test_late_event_after_the_linkedid_changed_does_not_revive_a_leg() -> None:
    """Bridged, a channel takes the bridge's oldest linkedid; an event Asterisk sends after
    its Hangup (a NewCallerid, seen in the recordings) carries that linkedid, not its call's."""
    model, seen = recorder()
    model.apply_all([
        chan("Newchannel", "caller", state="6"),
        chan("Newchannel", "agent", state="6"),
        chan("BridgeEnter", "caller", BridgeUniqueid="b1"),
        chan("BridgeEnter", "agent", "caller", BridgeUniqueid="b1"),
        chan("BridgeLeave", "agent", "caller", BridgeUniqueid="b1"),
        chan("Hangup", "agent", "caller", Cause="16"),
        chan("NewCallerid", "agent", "caller", CallerIDNum="2001"),
    ])
    assert set(model.channels) == {"caller"}
    caller_call = model.get_call("caller")
    assert caller_call is not None and set(caller_call.legs) == {"caller"}
    assert [e.type for e in seen].count("call.ended") == 1  # the agent's own call


def test_blind_transfer_is_kept_on_the_transferee_call() -> None:
    model, _ = recorder()
    model.apply_all([
        chan("Newchannel", "c", state="6"),
        chan("Newchannel", "a", state="6"),
        {"Event": "BlindTransfer", "Timestamp": "120.5", "Result": "Success",
         "TransfererUniqueid": "a", "TransfereeUniqueid": "c", "Context": "agents",
         "Extension": "2002", "IsExternal": "Yes"},
    ])
    call = model.get_call("c")
    assert call is not None
    assert call.to_dict()["transfers"] == [{
        "at": 120.5, "kind": "blind", "transferee": "c", "transferer": "a",
        "context": "agents", "exten": "2002", "result": "Success"}]
    agent_call = model.get_call("a")
    assert agent_call is not None and agent_call.transfers == []


def test_reconcile_keeps_a_bridged_originator_in_its_own_call() -> None:
    """A snapshot gives today's linkedid: x;1 bridged with y;1 shows y's. Created from the
    snapshot it must still be its own call's first leg, as it was when seen live."""
    model, _ = recorder()
    model.begin_resync()
    result = model.reconcile([
        SnapshotChannel(chan("CoreShowChannel", "y", state="6"), "b1"),
        SnapshotChannel(chan("CoreShowChannel", "y-2", "y", state="6"), None),
        SnapshotChannel(chan("CoreShowChannel", "x", "y", state="6"), "b1"),
        SnapshotChannel(chan("CoreShowChannel", "x-2", "x", state="6"), None),
        # a dialled leg bridged elsewhere keeps the linkedid it shows (no better knowledge)
        SnapshotChannel(chan("CoreShowChannel", "1.5", "y", state="6"), None),
    ])
    assert result.discovered == 5
    assert model.channels["x"].call_id == "x" and model.channels["x-2"].call_id == "x"
    assert model.channels["y"].call_id == "y" and model.channels["1.5"].call_id == "y"
    assert model.bridges["b1"].channels == {"x", "y"}


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


def test_a_joined_leg_and_what_it_creates_belong_to_the_named_call() -> None:
    """The agent's leg, originated with its own linkedid for a waiting caller, is a leg of
    the caller's call: one call.started, one call.ended (issue 10)."""
    model, seen = recorder()
    model.apply(chan("Newchannel", "caller", state="6"))
    model.join("agent", "caller", {"CC_AGENT": "1001", "CC_QUEUE": "sales", "NOT_OURS": "x"})
    model.join("agent-2", "caller")
    model.apply_all([chan("Newchannel", "agent"), chan("Newchannel", "agent-2", "agent"),
                     chan("Newchannel", "phone", "agent", state="5")])
    call = model.get_call("caller")
    assert call is not None and list(call.legs) == ["caller", "agent", "agent-2", "phone"]
    assert [e.call_id for e in seen if isinstance(e, ev.CallStarted)] == ["caller"]
    # the Originate's variables, which Asterisk sets but never announces, are the call's
    assert [(e.call_id, e.channel_id, e.name, e.value) for e in seen
            if isinstance(e, ev.ChannelVariableSet)] == [
        ("caller", "agent", "CC_AGENT", "1001"), ("caller", "agent", "CC_QUEUE", "sales")]
    for uid in ("caller", "phone", "agent-2", "agent"):
        model.apply(chan("Hangup", uid, Cause="16"))
    assert [e.call_id for e in seen if isinstance(e, ev.CallEnded)] == ["caller"]
    # a leg joined to a call that has ended meanwhile is a call of its own
    model.join("late", "caller")
    model.apply(chan("Newchannel", "late"))
    assert model.channels["late"].call_id == "late"


def test_reconcile_rebuilds_the_grouping_of_joined_legs_from_their_variable() -> None:
    """After a restart the model knows only the snapshot: the CC_CALL_ID variable puts the
    agent's leg (listed first, still with its own linkedid) in the caller's call."""
    model, seen = recorder()
    model.begin_resync()
    model.reconcile([
        SnapshotChannel(chan("CoreShowChannel", "agent", state="6"), "b1",
                        {"CC_CALL_ID": "caller", "CC_AGENT": "1001"}),
        SnapshotChannel(chan("CoreShowChannel", "caller", state="6"), "b1"),
    ])
    call = model.get_call("caller")
    assert call is not None and set(call.legs) == {"caller", "agent"}
    assert [e.call_id for e in seen if isinstance(e, ev.CallStarted)] == ["caller"]
    assert model.get_call("agent") is None


def test_an_agent_phone_that_did_not_answer_is_not_why_the_callers_call_ended() -> None:
    model, _ = recorder()
    model.apply(chan("Newchannel", "caller", state="6"))
    model.join("agent", "caller")
    model.apply(chan("Newchannel", "agent", state="5"))
    model.apply(chan("Hangup", "agent", Cause="19", **{"Cause-txt": "No answer"}))
    model.apply(chan("Hangup", "caller", Cause="16", **{"Cause-txt": "Normal Clearing"}))
    call = model.get_call("caller")
    assert call is not None and call.hangup_cause == 16
    # a joined leg that is the last to go does say why
    model.apply(chan("Newchannel", "caller2", state="6"))
    model.join("agent2", "caller2")
    model.apply(chan("Newchannel", "agent2", state="6"))
    model.apply(chan("Hangup", "caller2", Cause="0"))
    model.apply(chan("Hangup", "agent2", Cause="16"))
    assert model.get_call("caller2").hangup_cause == 16  # type: ignore[union-attr]
