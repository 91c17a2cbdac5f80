"""Replay AMI transcripts recorded from the real Asterisk sandbox through adapter + model.

The fixtures come from bench/record_ami_transcript.py; each ``NAME.expected.json`` says what
the scenario that produced the transcript did (not what our model says). Every transcript is
fed to the real protocol parser in odd chunk sizes (1 byte, 97 bytes, 8 KiB), through the
AMI client, into a call model whose invariants (a channel is in at most the one bridge it
names; a bridge lists exactly the channels that name it; no channel of an ended call lives on)
are checked after every event. The last tests break the model on purpose and check that the
replays notice, so these tests can fail.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from callcenter.config import AmiSettings
from callcenter.cti.ami import AmiClient
from callcenter.cti.model import (
    CAUSE_VANISHED_TEXT,
    CallModel,
    CallState,
    ReconcileResult,
    SnapshotChannel,
)
from callcenter.cti.protocol import AmiProtocol
from callcenter.events import DomainEvent, EventBus

pytestmark = pytest.mark.unit

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "ami"
CHUNKS = [1, 97, 8192]
#: single-session scenarios with the common NAME.expected.json format
SCENARIOS = ["agent_connect", "blind_transfer", "masquerade"]
RESTART = "restart_resync"
#: the agent leg as the ACD originates it now (joined to the caller's call, issue 10)
JOINED = "agent_joined"


class Clock:
    """The model's clock during a replay: the recorded resync time while reconciling."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class CheckedModel(CallModel):
    """The call model, with its invariants checked after every event it applies."""

    def apply(self, headers: Any) -> None:
        super().apply(headers)
        check_invariants(self, headers)


def check_invariants(model: CallModel, headers: Any) -> None:
    where = f"after {headers.get('Event')} {headers.get('Uniqueid', '')}"
    members: dict[str, str] = {}
    for bridge in model.bridges.values():
        for uid in bridge.channels:
            assert uid not in members, f"{uid} in two bridges {where}"
            members[uid] = bridge.bridge_id
            channel = model.channels.get(uid)
            assert channel is not None, f"bridge {bridge.bridge_id} lists dead {uid} {where}"
            assert channel.bridge_id == bridge.bridge_id, f"{uid} bridge mismatch {where}"
    for uid, channel in model.channels.items():
        assert channel.bridge_id is None or members.get(uid) == channel.bridge_id, \
            f"{uid} names bridge {channel.bridge_id} that does not list it {where}"
        assert channel.call_id in model.calls, f"live {uid} of a call not live {where}"
    for call in model.calls.values():
        assert call.live == sum(1 for leg in call.legs.values() if leg.hungup_at is None), \
            f"call {call.call_id} live count {where}"


class Replay:
    """One model fed by one or more AMI sessions, as the AmiClient feeds it."""

    def __init__(self, model_class: type[CallModel] = CheckedModel) -> None:
        self.bus = EventBus()
        self.seen: list[DomainEvent] = []
        self.bus.add_handler(self.seen.append)
        self.clock = Clock()
        self.model = model_class(emit=self.bus.publish, clock=self.clock)
        self.malformed = 0
        self.resyncs: dict[int, ReconcileResult] = {}

    def session(self, data: bytes, chunk: int, snapshot: dict[str, Any] | None = None,
                index: int = 0) -> None:
        """Feed one connection's bytes; with a snapshot, reconcile where the client did."""
        client = AmiClient(AmiSettings(), self.model, self.bus)
        protocol = AmiProtocol(client)
        if snapshot is None:
            feed(protocol, data, chunk)
        else:
            self.model.begin_resync()
            feed(protocol, data[:snapshot["offset"]], chunk)
            self.clock.now = snapshot["now"]
            self.resyncs[index] = self.model.reconcile(
                [SnapshotChannel(headers=row["headers"], bridge_id=row["bridge_id"],
                                 variables=row["variables"]) for row in snapshot["channels"]],
                snapshot["bridges"])
            feed(protocol, data[snapshot["offset"]:], chunk)
        self.malformed += client.stats.frames_malformed

    def of_type(self, kind: str) -> list[Any]:
        return [e for e in self.seen if e.type == kind]


def feed(protocol: AmiProtocol, data: bytes, chunk: int) -> None:
    for i in range(0, len(data), chunk):
        protocol.data_received(data[i:i + chunk])


def replay(path: Path, chunk: int) -> tuple[CallModel, AmiClient, list[DomainEvent]]:
    bus = EventBus()
    seen: list[DomainEvent] = []
    bus.add_handler(seen.append)
    model = CheckedModel(emit=bus.publish)
    client = AmiClient(AmiSettings(), model, bus)
    feed(AmiProtocol(client), path.read_bytes(), chunk)
    return model, client, seen


def load(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / f"{name}.expected.json").read_text())


def replay_scenario(name: str, chunk: int,
                    model_class: type[CallModel] = CheckedModel) -> Replay:
    run = Replay(model_class)
    if name == RESTART:
        snapshots = {s["session"]: s for s in
                     json.loads((FIXTURES / f"{name}.snapshots.json").read_text())}
        for index, path in sessions(name):
            run.session(path.read_bytes(), chunk, snapshots.get(index), index)
    else:
        run.session((FIXTURES / f"{name}.ami").read_bytes(), chunk)
    return run


def sessions(name: str) -> Iterator[tuple[int, Path]]:
    paths = sorted(FIXTURES.glob(f"{name}.session*.ami"),
                   key=lambda p: int(p.suffixes[0].removeprefix(".session")))
    for path in paths:
        yield int(path.suffixes[0].removeprefix(".session")), path


def check_scenario(run: Replay, expected: dict[str, Any]) -> None:
    """The replayed model against what the scenario did (see Expected in the recorder)."""
    model = run.model
    assert run.malformed == 0 and model.skipped == 0
    assert not model.channels and not model.calls, "every call ended in the transcript"
    assert not model.bridges, "every bridge was destroyed"
    for call_id, want in expected["calls"].items():
        call = model.get_call(call_id)
        assert call is not None, call_id
        got = call.to_dict()
        assert call.state is CallState.ENDED, got
        assert (call.answered_at is not None) is want["answered"], (want, got)
        assert call.started_at <= (call.answered_at or call.started_at) <= call.ended_at  # type: ignore[operator]
        for key in ("legs",):
            if want[key] is not None:
                assert len(call.legs) == want[key], (call_id, sorted(call.legs))
        for key in ("caller_num", "caller_name"):
            if want[key] is not None:
                assert getattr(call, key) == want[key], (key, want, got)
        if want["cause"] is not None:
            assert call.hangup_cause == want["cause"], (want, got)
        vanished = [leg.hangup_cause_text == CAUSE_VANISHED_TEXT for leg in call.legs.values()]
        assert all(vanished) if want["vanished"] else not any(vanished), (want, got)
    for uid, want in expected["legs"].items():
        call = model.get_call(want["call"])
        assert call is not None and uid in call.legs, (uid, want)
        leg = call.legs[uid]
        assert leg.name == want["name"], (uid, leg.name, want["name"])
        for key in ("cause", "context", "exten"):
            if key in want:
                got_value = leg.hangup_cause if key == "cause" else getattr(leg, key)
                assert got_value == want[key], (uid, key, got_value, want[key])
        for name, value in want.get("variables", {}).items():
            assert name in leg.variables and (value == "" or leg.variables[name] == value), \
                (uid, name, leg.variables)
    assert bridge_groups(run) == {frozenset(group) for group in expected["bridges"]}
    transfers = [t.to_dict() | {"call": call_id}
                 for call_id, call in model.ended.items() for t in call.transfers]
    assert [{k: t[k] for k in ("call", "transferee", "transferer", "context", "exten")}
            for t in transfers] == expected["transfers"]
    ended = [e.call_id for e in run.of_type("call.ended")]
    assert len(set(ended)) == len(ended), "a call ended twice"
    assert set(ended) >= set(expected["calls"])


def bridge_groups(run: Replay) -> set[frozenset[str]]:
    """The channels that were in each bridge (by the model's channel.bridged events)."""
    groups: dict[str, set[str]] = defaultdict(set)
    for event in run.of_type("channel.bridged"):
        groups[event.bridge_id].add(event.channel_id)
    return {frozenset(group) for group in groups.values()}


# --- the fixtures ------------------------------------------------------------------------------


def test_the_recorded_transcripts_are_there() -> None:
    for name in ["mixed", *SCENARIOS, JOINED]:
        assert (FIXTURES / f"{name}.ami").is_file(), name
        assert (FIXTURES / f"{name}.expected.json").is_file(), name
    assert [index for index, _ in sessions(RESTART)] == [1, 2, 3]


@pytest.mark.parametrize("chunk", CHUNKS)
def test_mixed_replay_matches_the_scenario(chunk: int) -> None:
    path = FIXTURES / "mixed.ami"
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


@pytest.mark.parametrize("chunk", CHUNKS)
@pytest.mark.parametrize("name", SCENARIOS)
def test_scenario_replay_matches_what_the_scenario_did(name: str, chunk: int) -> None:
    check_scenario(replay_scenario(name, chunk), load(name))


@pytest.mark.parametrize("chunk", CHUNKS)
def test_agent_connect_caller_id_reaches_the_call(chunk: int) -> None:
    """Originated with a CallerID, a call starts with an empty one (Newchannel: <unknown>,
    or the endpoint's own number for the agent leg); the call must end up with the caller's."""
    run = replay_scenario("agent_connect", chunk)
    started = {e.call_id: e for e in run.of_type("call.started")}
    for call_id, want in load("agent_connect")["calls"].items():
        assert started[call_id].caller_num in ("", "2001")  # what Newchannel said
        call = run.model.get_call(call_id)
        assert call is not None and call.caller_num == want["caller_num"] == "+8613800138000"


def replay_joined(chunk: int, *, join: bool = True) -> Replay:
    """The agent_joined transcript, with the join AsteriskPbx.originate makes before sending."""
    run = Replay(CheckedModel)
    if join:
        for item in load(JOINED)["joins"]:
            run.model.join(item["channel_id"], item["call_id"], item["variables"])
    run.session((FIXTURES / f"{JOINED}.ami").read_bytes(), chunk)
    return run


@pytest.mark.parametrize("chunk", CHUNKS)
def test_an_agent_leg_originated_for_a_caller_is_one_call_with_it(chunk: int) -> None:
    """Issue 10: the caller's and the agent's legs are one call (one call.started, one
    call.ended), the agent's leg carries the ACD's variables though Asterisk sent no VarSet."""
    expected = load(JOINED)
    run = replay_joined(chunk)
    check_scenario(run, expected)
    (call_id,) = expected["calls"]
    assert [e.call_id for e in run.of_type("call.started")] == [call_id]
    assert [e.call_id for e in run.of_type("call.ended")] == [call_id]
    assert {(e.call_id, e.name, e.value) for e in run.of_type("channel.variable")
            if e.name in ("CC_AGENT", "CC_QUEUE")} == {(call_id, "CC_AGENT", "2001"),
                                                       (call_id, "CC_QUEUE", "default")}


def test_without_the_join_the_agent_leg_is_a_call_of_its_own() -> None:
    """What the transcript says by itself (the check above can fail)."""
    run = replay_joined(8192, join=False)
    with pytest.raises(AssertionError):
        check_scenario(run, load(JOINED))
    assert len(run.of_type("call.started")) == 2


@pytest.mark.parametrize("variable", [True, False])
def test_a_restarted_server_rebuilds_the_one_call_from_the_snapshot(variable: bool) -> None:
    """The snapshot a second client read while the two talked, reconciled into a fresh model
    (a restarted server): the agent's leg (listed first) is in the caller's call because of its
    CC_CALL_ID; without it, its own call (its uniqueid is nobody's linkedid, but Asterisk's
    linkedid of a bridged leg is the bridge's oldest, so it lands in the caller's call too:
    the variable is what does not depend on that)."""
    expected = load(JOINED)
    snapshot = expected["restart_snapshot"]
    (call_id,) = expected["calls"]
    agent_id = expected["joins"][0]["channel_id"]
    rows = []
    for row in snapshot["channels"]:
        headers, variables = dict(row["headers"]), dict(row["variables"])
        if not variable and headers["Uniqueid"] == agent_id:
            del variables["CC_CALL_ID"]
            headers["Linkedid"] = agent_id  # as before the bridge
        rows.append(SnapshotChannel(headers=headers, bridge_id=row["bridge_id"],
                                    variables=variables))
    assert rows[0].headers["Uniqueid"] == agent_id
    seen: list[DomainEvent] = []
    model = CheckedModel(emit=seen.append, clock=lambda: snapshot["now"])
    model.begin_resync()
    model.reconcile(rows, snapshot["bridges"])
    grouping = {uid: ch.call_id for uid, ch in model.channels.items()}
    assert set(grouping) == {row.headers["Uniqueid"] for row in rows}
    if variable:
        assert set(grouping.values()) == {call_id}, grouping
        assert [e.call_id for e in seen if e.type == "call.started"] == [call_id]
    else:
        assert grouping[agent_id] == agent_id


@pytest.mark.parametrize("chunk", CHUNKS)
def test_restart_resync_closes_ghosts_and_adopts_calls_placed_meanwhile(chunk: int) -> None:
    expected = load(RESTART)
    run = replay_scenario(RESTART, chunk)
    check_scenario(run, expected)
    snapshots = {s["session"]: s for s in
                 json.loads((FIXTURES / f"{RESTART}.snapshots.json").read_text())}
    for want in expected["resyncs"]:
        got = run.resyncs[want["session"]]
        assert (got.ghosts_removed, got.discovered) == (want["ghosts_removed"],
                                                         want["discovered"]), want
    discovered = {uid: leg for uid, leg in expected["legs"].items()
                  if leg.get("discovered_in_session")}
    assert len(discovered) == 12
    for uid, want in discovered.items():
        call = run.model.get_call(want["call"])
        assert call is not None
        leg = call.legs[uid]
        resync_at = snapshots[want["discovered_in_session"]]["now"]
        # up for 2 s when the resync read it: back-dated by CoreShowChannel's Duration
        assert resync_at - 3 <= leg.created_at <= resync_at - 1, (uid, leg.created_at)
    for call_id, want in expected["calls"].items():
        call = run.model.get_call(call_id)
        assert call is not None
        if want["vanished"]:  # closed by the resync after the crash, when it ran
            assert call.ended_at == snapshots[3]["now"]
            assert all(leg.hangup_cause == 0 for leg in call.legs.values())


# --- the replays can fail ----------------------------------------------------------------------


def _without(*events: str) -> type[CallModel]:
    class Broken(CheckedModel):
        def __init__(self, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            for event in events:
                self._handlers.pop(event)
    return Broken


class _CallerIdFrozenAtCreation(CheckedModel):
    """The model before issue 9: the call's caller id is the first Newchannel's."""

    def _follow_caller_id(self, channel: Any) -> None:
        return None


class _SnapshotLinkedid(CheckedModel):
    """Discovered channels grouped by the snapshot's linkedid as is (it changes on bridging)."""

    def _originators(self, rows: Any) -> set[str]:
        return set()


class _KeepsGhosts(CheckedModel):
    """A resync that believes every channel it had is still there."""

    def reconcile(self, snapshot: Any, bridges: Any = ()) -> ReconcileResult:
        assert self._touched is not None
        self._touched |= set(self.channels)
        return super().reconcile(snapshot, bridges)


class _DiscoversNothing(CheckedModel):
    def reconcile(self, snapshot: Any, bridges: Any = ()) -> ReconcileResult:
        return super().reconcile([], bridges)


BROKEN: dict[str, tuple[str, type[CallModel]]] = {
    # the caller moves bridges when Asterisk optimises a Local channel away
    "masquerade-ignores-BridgeLeave": ("masquerade", _without("BridgeLeave")),
    "masquerade-ignores-Hangup": ("masquerade", _without("Hangup")),
    "transfer-ignores-BlindTransfer": ("blind_transfer", _without("BlindTransfer")),
    # where a Redirect sent the channel is only in Newexten
    "transfer-ignores-Newexten": ("blind_transfer", _without("Newexten")),
    "agent-caller-id-frozen-at-creation": ("agent_connect", _CallerIdFrozenAtCreation),
    "agent-ignores-BridgeEnter": ("agent_connect", _without("BridgeEnter")),
    "restart-keeps-ghosts": (RESTART, _KeepsGhosts),
    "restart-discovers-nothing": (RESTART, _DiscoversNothing),
    "restart-groups-by-current-linkedid": (RESTART, _SnapshotLinkedid),
}


@pytest.mark.parametrize("broken", BROKEN)
def test_a_broken_model_fails_the_replay(broken: str) -> None:
    name, model_class = BROKEN[broken]
    with pytest.raises(AssertionError):
        check_scenario(replay_scenario(name, 8192, model_class), load(name))
