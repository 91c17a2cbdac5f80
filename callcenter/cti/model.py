"""The call model: calls, channels (legs) and bridges, built from AMI events. Pure, no I/O.

Asterisk is the truth; this model is the server's copy of it. It is fed raw AMI event
headers (``dict[str, str]``, exact Asterisk casing) and turns the changes it sees into typed
domain events handed to ``emit``. After every (re)connect the AMI adapter feeds a snapshot
(CoreShowChannels + BridgeList) to :meth:`CallModel.reconcile`, which removes ghosts and adds
what the model missed while the link was down.

A *call* is Asterisk's linkedid: every channel created on behalf of the first one (dialled
agent legs, Local channel halves, originated legs) shares it. A call ends when its last
channel hangs up. One exception: a channel the server originates *for* a call (the agent's
leg the ACD or the dialer bridges with a waiting party) starts with a linkedid of its own, so
the server names the call it belongs to: :meth:`CallModel.join` before the Originate (live),
and the channel variable :data:`CALL_ID_VARIABLE` on the channel (read back at a resync, so a
restarted server rebuilds the same grouping). Channels that channel creates (a Local pair's
``;2`` half, the phone it dials) carry its uniqueid as linkedid and join the same call.

Events that name an unknown channel are not errors: after a reconnect or when a channel was
created before we connected, the first event we see of it may be a Newstate or a Hangup.
The model creates the channel from whatever headers it has rather than dropping information.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from callcenter import events as ev

Headers = Mapping[str, Any]
Emit = Callable[[ev.DomainEvent], None]

#: Prefix of the channel variables the server owns (set in the dialplan or over AMI).
OUR_VARIABLE_PREFIX = "CC_"
#: The call (its call id) an originated channel belongs to (see :meth:`CallModel.join`).
CALL_ID_VARIABLE = "CC_CALL_ID"
#: Hangup cause recorded for a channel that vanished while the link was down.
CAUSE_VANISHED = 0
CAUSE_VANISHED_TEXT = "Vanished while the PBX link was down"


class ChannelState(StrEnum):
    """Asterisk's channel states (``ChannelState`` header, numeric) plus our ``hungup``."""

    DOWN = "down"
    RESERVED = "reserved"
    OFFHOOK = "offhook"
    DIALING = "dialing"
    RING = "ring"
    RINGING = "ringing"
    UP = "up"
    BUSY = "busy"
    DIALING_OFFHOOK = "dialing_offhook"
    PRERING = "prering"
    UNKNOWN = "unknown"
    HUNGUP = "hungup"


_STATE_BY_NUMBER = {
    "0": ChannelState.DOWN,
    "1": ChannelState.RESERVED,
    "2": ChannelState.OFFHOOK,
    "3": ChannelState.DIALING,
    "4": ChannelState.RING,
    "5": ChannelState.RINGING,
    "6": ChannelState.UP,
    "7": ChannelState.BUSY,
    "8": ChannelState.DIALING_OFFHOOK,
    "9": ChannelState.PRERING,
}


class CallState(StrEnum):
    SETUP = "setup"
    RINGING = "ringing"
    UP = "up"
    ENDED = "ended"


@dataclass(slots=True)
class Channel:
    """One leg of a call, keyed by Asterisk's Uniqueid (names change on masquerade)."""

    channel_id: str
    call_id: str
    name: str
    state: ChannelState
    created_at: float
    caller_num: str = ""
    caller_name: str = ""
    connected_num: str = ""
    connected_name: str = ""
    context: str = ""
    exten: str = ""
    priority: str = ""
    account_code: str = ""
    answered_at: float | None = None
    hungup_at: float | None = None
    hangup_cause: int | None = None
    hangup_cause_text: str = ""
    bridge_id: str | None = None
    variables: dict[str, str] = field(default_factory=dict)
    dtmf: str = ""
    #: originated for a call that was already there (see CallModel.join), e.g. an agent's leg
    joined: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "channel_id": self.channel_id,
            "call_id": self.call_id,
            "name": self.name,
            "state": self.state.value,
            "created_at": self.created_at,
            "answered_at": self.answered_at,
            "hungup_at": self.hungup_at,
            "hangup_cause": self.hangup_cause,
            "hangup_cause_text": self.hangup_cause_text,
            "caller_num": self.caller_num,
            "caller_name": self.caller_name,
            "connected_num": self.connected_num,
            "connected_name": self.connected_name,
            "context": self.context,
            "exten": self.exten,
            "bridge_id": self.bridge_id,
            "variables": dict(self.variables),
            "dtmf": self.dtmf,
        }


@dataclass(slots=True)
class Transfer:
    """A transfer Asterisk reported (``BlindTransfer``), kept on the transferee's call.

    Reporting needs to know a call was transferred and where to, even after the legs that
    took part are gone; the bridges alone do not say it (a Redirect out of a bridge looks
    the same as a hangup of one side followed by a new bridge).
    """

    at: float
    kind: str
    transferee: str
    transferer: str
    context: str
    exten: str
    result: str

    def to_dict(self) -> dict[str, Any]:
        return {"at": self.at, "kind": self.kind, "transferee": self.transferee,
                "transferer": self.transferer, "context": self.context, "exten": self.exten,
                "result": self.result}


@dataclass(slots=True)
class Call:
    """All channels sharing one linkedid (as it was when each channel was created)."""

    call_id: str
    started_at: float
    caller_num: str = ""
    caller_name: str = ""
    context: str = ""
    exten: str = ""
    answered_at: float | None = None
    ended_at: float | None = None
    hangup_cause: int | None = None
    hangup_cause_text: str = ""
    #: every leg, live or hung up, in creation order
    legs: dict[str, Channel] = field(default_factory=dict)
    live: int = 0
    transfers: list[Transfer] = field(default_factory=list)

    @property
    def state(self) -> CallState:
        if self.ended_at is not None:
            return CallState.ENDED
        if self.answered_at is not None:
            return CallState.UP
        for leg in self.legs.values():
            if leg.state in (ChannelState.RING, ChannelState.RINGING):
                return CallState.RINGING
        return CallState.SETUP

    def variables(self) -> dict[str, str]:
        merged: dict[str, str] = {}
        for leg in self.legs.values():
            merged.update(leg.variables)
        return merged

    def to_dict(self) -> dict[str, Any]:
        return {
            "call_id": self.call_id,
            "state": self.state.value,
            "started_at": self.started_at,
            "answered_at": self.answered_at,
            "ended_at": self.ended_at,
            "hangup_cause": self.hangup_cause,
            "hangup_cause_text": self.hangup_cause_text,
            "caller_num": self.caller_num,
            "caller_name": self.caller_name,
            "context": self.context,
            "exten": self.exten,
            "variables": self.variables(),
            "legs": [leg.to_dict() for leg in self.legs.values()],
            "transfers": [transfer.to_dict() for transfer in self.transfers],
        }


@dataclass(slots=True)
class Bridge:
    bridge_id: str
    bridge_type: str = ""
    technology: str = ""
    created_at: float = 0.0
    channels: set[str] = field(default_factory=set)

    def to_dict(self) -> dict[str, Any]:
        return {
            "bridge_id": self.bridge_id,
            "bridge_type": self.bridge_type,
            "technology": self.technology,
            "created_at": self.created_at,
            "channels": sorted(self.channels),
        }


@dataclass(slots=True)
class SnapshotChannel:
    """One row of the PBX's own view (CoreShowChannel), used by :meth:`CallModel.reconcile`."""

    headers: Headers
    bridge_id: str | None
    #: our variables as Asterisk has them now (from the Status action)
    variables: Mapping[str, str] = field(default_factory=dict)


@dataclass(slots=True)
class ReconcileResult:
    ghosts_removed: int
    discovered: int


def _ignore(_: ev.DomainEvent) -> None:
    return None


#: the ``Uniqueid`` (and ``Channel``) of an event about no channel, e.g. the VarSet of a global
#: variable (the IVR's heartbeat, ``CC_IVR_ALIVE``)
NO_CHANNEL = "none"


class CallModel:
    """Calls, channels and bridges as Asterisk reports them.

    ``apply(headers)`` takes one AMI event; unknown event names are ignored cheaply.
    ``retain_ended`` finished calls are kept for look-ups (history consumers should listen
    to ``call.ended`` events instead of reading them from here).
    """

    def __init__(self, emit: Emit = _ignore, retain_ended: int = 10_000,
                 clock: Callable[[], float] = time.time) -> None:
        self.emit = emit
        self.clock = clock
        self.retain_ended = retain_ended
        self.channels: dict[str, Channel] = {}
        self.calls: dict[str, Call] = {}
        self.bridges: dict[str, Bridge] = {}
        self.ended: OrderedDict[str, Call] = OrderedDict()
        #: events that could not be applied (malformed headers)
        self.skipped = 0
        #: uniqueids touched by live events since the last resync began (see reconcile)
        self._touched: set[str] | None = None
        self._hung_up_since: set[str] | None = None
        #: uniqueids of channels closed lately (bounded): their late events must not revive
        #: them, and the event's Linkedid cannot find their call (bridging changes it)
        self._closed: OrderedDict[str, None] = OrderedDict()
        self._closed_limit = max(1024, 8 * retain_ended)
        #: uniqueid of a channel originated for a call -> that call (see :meth:`join`)
        self._joins: OrderedDict[str, str] = OrderedDict()
        self._join_variables: dict[str, dict[str, str]] = {}
        self._handlers: dict[str, Callable[[Headers], None]] = {
            "Newchannel": self._on_newchannel,
            "Newstate": self._on_newstate,
            "NewCallerid": self._on_callerid,
            "NewConnectedLine": self._on_connected_line,
            # Asterisk 22 sends "Newexten" (see tests/fixtures/ami/mixed.ami); its docs spell
            # it "NewExten": accept both
            "Newexten": self._on_newexten,
            "NewExten": self._on_newexten,
            "VarSet": self._on_varset,
            "Hangup": self._on_hangup,
            "Rename": self._on_rename,
            "BridgeCreate": self._on_bridge_create,
            "BridgeDestroy": self._on_bridge_destroy,
            "BridgeEnter": self._on_bridge_enter,
            "BridgeLeave": self._on_bridge_leave,
            "BlindTransfer": self._on_blind_transfer,
            "DTMFEnd": self._on_dtmf_end,
        }

    # --- queries ----------------------------------------------------------------------

    def channel(self, channel_id: str) -> Channel | None:
        """The live channel by id (Asterisk's Uniqueid); None once it hung up, or if never seen."""
        return self.channels.get(channel_id)

    def get_call(self, call_id: str) -> Call | None:
        return self.calls.get(call_id) or self.ended.get(call_id)

    def live_channels(self) -> list[Channel]:
        """The live channels (a copy: the caller may act on the model while reading it)."""
        return [channel for channel in self.channels.values() if channel.hungup_at is None]

    def channel_by_name(self, name: str) -> Channel | None:
        for channel in self.channels.values():
            if channel.name == name:
                return channel
        return None

    def snapshot(self) -> dict[str, Any]:
        return {
            "calls": [call.to_dict() for call in self.calls.values()],
            "channels": [ch.to_dict() for ch in self.channels.values()],
            "bridges": [br.to_dict() for br in self.bridges.values()],
        }

    # --- feeding ----------------------------------------------------------------------

    def apply(self, headers: Headers) -> None:
        """Apply one AMI event (its headers). Never raises on odd input: skips it."""
        try:
            handler = self._handlers.get(headers.get("Event"))  # type: ignore[arg-type]
            if handler is None:
                return
            uid = headers.get("Uniqueid")
            if self._touched is not None and isinstance(uid, str):
                self._touched.add(uid)
            handler(headers)
        except (TypeError, ValueError, AttributeError, KeyError):
            # repeated or mistyped headers (lists where strings belong): skip, count
            self.skipped += 1

    def apply_all(self, stream: Iterable[Headers]) -> None:
        for headers in stream:
            self.apply(headers)

    def _at(self, headers: Headers) -> float:
        stamp = headers.get("Timestamp")
        if stamp:
            try:
                return float(stamp)
            except (TypeError, ValueError):
                pass
        return self.clock()

    def _channel(self, headers: Headers) -> Channel | None:
        """The channel an event is about, created on first sight."""
        uid = headers.get("Uniqueid")
        if not uid or not isinstance(uid, str) or uid == NO_CHANNEL:
            return None
        channel = self.channels.get(uid)
        if channel is not None:
            return channel
        if self._hung_up_since is not None and uid in self._hung_up_since:
            return None
        if uid in self._closed:
            return None  # a late event (a NewCallerid after the Hangup) about a closed leg
        known_call = self.get_call(str(headers.get("Linkedid") or uid))
        if known_call is not None and uid in known_call.legs:
            return None  # the same, closed long ago but its call still retained
        return self._create_channel(headers, uid)

    def join(self, channel_id: str, call_id: str,
             variables: Mapping[str, str] | None = None) -> None:
        """The channel ``channel_id``, when it appears, belongs to the call ``call_id``.

        For a channel the server originates on behalf of a live call (Originate's
        ``ChannelId``): Asterisk gives it a linkedid of its own, yet it is a leg of that call
        (one call in the API, one interaction in the CRM). Channels whose linkedid is
        ``channel_id`` (what it creates) follow it. Ignored if the call is not live when the
        channel appears (the caller left meanwhile: the leg is a call of its own).

        ``variables``: those the Originate sets on the channel. Asterisk sets them as it
        creates the channel but announces none of them (no VarSet); a resync reads them back
        (Status). Applied when the channel appears, so the live model equals what a resync
        would build, and the call's queue and agent reach its consumers (the CRM interaction).
        """
        self._joins[channel_id] = call_id
        if variables:
            self._join_variables[channel_id] = {
                name: value for name, value in variables.items()
                if name.startswith(OUR_VARIABLE_PREFIX)}
        self._joins.move_to_end(channel_id)
        while len(self._joins) > self._closed_limit:
            self._join_variables.pop(self._joins.popitem(last=False)[0], None)

    def _call_id_for(self, headers: Headers, uid: str) -> tuple[str, bool]:
        """The call a new channel belongs to, and whether it was joined to it."""
        linkedid = headers.get("Linkedid") or uid
        if not isinstance(linkedid, str):
            linkedid = uid
        for key in (uid, linkedid):
            joined = self._joins.get(key)
            if joined is not None and joined in self.calls:
                return joined, True
        return linkedid, False

    def _create_channel(self, headers: Headers, uid: str) -> Channel:
        at = self._at(headers)
        call_id, joined = self._call_id_for(headers, uid)
        state = _STATE_BY_NUMBER.get(headers.get("ChannelState"), ChannelState.UNKNOWN)  # type: ignore[arg-type]
        channel = Channel(
            channel_id=uid,
            call_id=call_id,
            name=str(headers.get("Channel", "")),
            state=state,
            created_at=at,
            caller_num=_text(headers.get("CallerIDNum")),
            caller_name=_text(headers.get("CallerIDName")),
            connected_num=_text(headers.get("ConnectedLineNum")),
            connected_name=_text(headers.get("ConnectedLineName")),
            context=str(headers.get("Context", "")),
            exten=str(headers.get("Exten", "")),
            priority=str(headers.get("Priority", "")),
            account_code=str(headers.get("AccountCode", "")),
            joined=joined,
        )
        if state is ChannelState.UP:
            channel.answered_at = at
        self.channels[uid] = channel
        call = self.calls.get(call_id)
        if call is None:
            call = Call(call_id=call_id, started_at=at, caller_num=channel.caller_num,
                        caller_name=channel.caller_name, context=channel.context,
                        exten=channel.exten)
            self.calls[call_id] = call
            self.emit(ev.CallStarted(at=at, call_id=call_id, caller_num=call.caller_num,
                                     caller_name=call.caller_name, context=call.context,
                                     exten=call.exten))
        call.legs[uid] = channel
        call.live += 1
        self.emit(ev.ChannelCreated(at=at, call_id=call_id, channel_id=uid, name=channel.name,
                                    state=state.value, caller_num=channel.caller_num,
                                    context=channel.context, exten=channel.exten))
        if state is ChannelState.UP:
            self._mark_answered(call, at)
        for name, value in self._join_variables.pop(uid, {}).items():
            self._set_variable(channel, name, value, at)
        return channel

    def _mark_answered(self, call: Call, at: float) -> None:
        if call.answered_at is None:
            call.answered_at = at
            self.emit(ev.CallAnswered(at=at, call_id=call.call_id))

    # --- handlers -----------------------------------------------------------------------

    def _on_newchannel(self, headers: Headers) -> None:
        self._channel(headers)

    def _on_newstate(self, headers: Headers) -> None:
        channel = self._channel(headers)
        if channel is None:
            return
        num = headers.get("CallerIDNum")
        if num and isinstance(num, str) and num != "<unknown>":
            channel.caller_num = num
            self._follow_caller_id(channel)
        num = headers.get("ConnectedLineNum")
        if num and isinstance(num, str) and num != "<unknown>":
            channel.connected_num = num
        # numbers first: consumers of the state event (screen pops) read who is calling
        state = _STATE_BY_NUMBER.get(headers.get("ChannelState"), ChannelState.UNKNOWN)  # type: ignore[arg-type]
        self._set_state(channel, state, self._at(headers))

    def _set_state(self, channel: Channel, state: ChannelState, at: float) -> None:
        previous = channel.state
        if state is previous or previous is ChannelState.HUNGUP:
            return
        channel.state = state
        self.emit(ev.ChannelStateChanged(at=at, call_id=channel.call_id,
                                         channel_id=channel.channel_id, name=channel.name,
                                         state=state.value, previous=previous.value))
        if state is ChannelState.UP:
            if channel.answered_at is None:
                channel.answered_at = at
            call = self.calls.get(channel.call_id)
            if call is not None:
                self._mark_answered(call, at)

    def _on_callerid(self, headers: Headers) -> None:
        channel = self._channel(headers)
        if channel is not None:
            channel.caller_num = _text(headers.get("CallerIDNum"))
            channel.caller_name = _text(headers.get("CallerIDName"))
            self._follow_caller_id(channel)

    def _follow_caller_id(self, channel: Channel) -> None:
        """Keep the call's caller id equal to its originating leg's.

        A call originated with a CallerID starts without one: Asterisk's Newchannel says
        ``<unknown>`` (or the endpoint's own number) and a NewCallerid follows at once, so
        the call-level number cannot be frozen when the call is created. The originating leg
        is the call's first; another leg only fills in a call that has no number at all.
        """
        call = self.calls.get(channel.call_id)
        if call is None or not channel.caller_num:
            return
        if channel is next(iter(call.legs.values())) or not call.caller_num:
            call.caller_num = channel.caller_num
            call.caller_name = channel.caller_name

    def _on_connected_line(self, headers: Headers) -> None:
        channel = self._channel(headers)
        if channel is not None:
            channel.connected_num = _text(headers.get("ConnectedLineNum"))
            channel.connected_name = _text(headers.get("ConnectedLineName"))

    def _on_newexten(self, headers: Headers) -> None:
        channel = self.channels.get(headers.get("Uniqueid"))  # type: ignore[arg-type]
        if channel is not None:
            channel.context = str(headers.get("Context", channel.context))
            channel.exten = str(headers.get("Exten", channel.exten))
            channel.priority = str(headers.get("Priority", channel.priority))

    def _on_varset(self, headers: Headers) -> None:
        name = headers.get("Variable")
        if not isinstance(name, str) or not name.startswith(OUR_VARIABLE_PREFIX):
            return
        channel = self._channel(headers)
        if channel is None:
            return
        self._set_variable(channel, name, str(headers.get("Value", "")), self._at(headers))

    def _set_variable(self, channel: Channel, name: str, value: str, at: float) -> None:
        if channel.variables.get(name) == value:
            return
        channel.variables[name] = value
        self.emit(ev.ChannelVariableSet(at=at, call_id=channel.call_id,
                                        channel_id=channel.channel_id, name=name, value=value))

    def _on_rename(self, headers: Headers) -> None:
        channel = self.channels.get(headers.get("Uniqueid"))  # type: ignore[arg-type]
        new_name = headers.get("Newname")
        if channel is not None and isinstance(new_name, str) and new_name:
            channel.name = new_name

    def _on_blind_transfer(self, headers: Headers) -> None:
        uid = headers.get("TransfereeUniqueid")
        channel = self.channels.get(uid) if isinstance(uid, str) else None
        call = self.calls.get(channel.call_id) if channel is not None else None
        if channel is None or call is None:
            return
        call.transfers.append(Transfer(
            at=self._at(headers), kind="blind", transferee=channel.channel_id,
            transferer=_text(headers.get("TransfererUniqueid")),
            context=_text(headers.get("Context")), exten=_text(headers.get("Extension")),
            result=_text(headers.get("Result"))))

    def _on_dtmf_end(self, headers: Headers) -> None:
        channel = self._channel(headers)
        digit = headers.get("Digit")
        if channel is None or not isinstance(digit, str) or len(digit) != 1:
            return
        direction = str(headers.get("Direction", "Received")).lower()
        if direction == "received":
            channel.dtmf += digit
        self.emit(ev.DtmfReceived(at=self._at(headers), call_id=channel.call_id,
                                  channel_id=channel.channel_id, digit=digit,
                                  direction=direction))

    def _on_hangup(self, headers: Headers) -> None:
        channel = self._channel(headers)
        if channel is None or channel.state is ChannelState.HUNGUP:
            return
        cause = _int(headers.get("Cause"))
        self._close_channel(channel, self._at(headers), cause, _text(headers.get("Cause-txt")))

    def _close_channel(self, channel: Channel, at: float, cause: int, cause_text: str) -> None:
        channel.state = ChannelState.HUNGUP
        channel.hungup_at = at
        channel.hangup_cause = cause
        channel.hangup_cause_text = cause_text
        if channel.bridge_id is not None:
            bridge = self.bridges.get(channel.bridge_id)
            if bridge is not None:
                bridge.channels.discard(channel.channel_id)
            channel.bridge_id = None
        del self.channels[channel.channel_id]
        self._joins.pop(channel.channel_id, None)
        self._join_variables.pop(channel.channel_id, None)
        self._closed[channel.channel_id] = None
        if len(self._closed) > self._closed_limit:
            self._closed.popitem(last=False)
        if self._hung_up_since is not None:
            self._hung_up_since.add(channel.channel_id)
        self.emit(ev.ChannelHungUp(at=at, call_id=channel.call_id, channel_id=channel.channel_id,
                                   name=channel.name, cause=cause, cause_text=cause_text))
        call = self.calls.get(channel.call_id)
        if call is None:
            return
        call.live -= 1
        if not call.hangup_cause and (not channel.joined or call.live <= 0):
            # the first leg to hang up with a real cause says why the call ended (who hung
            # up, busy, ...); 0 means "unknown" (e.g. a Local half torn down by its peer).
            # Not a joined leg while the call goes on: an agent's phone that did not answer
            # (the caller waits on) is not why the caller's call ended
            call.hangup_cause = cause
            call.hangup_cause_text = cause_text
        if call.live <= 0:
            call.ended_at = at
            del self.calls[call.call_id]
            self.ended[call.call_id] = call
            while len(self.ended) > self.retain_ended:
                self.ended.popitem(last=False)
            self.emit(ev.CallEnded(at=at, call_id=call.call_id, hangup_cause=call.hangup_cause or 0,
                                   hangup_cause_text=call.hangup_cause_text,
                                   duration_s=max(0.0, at - call.started_at),
                                   answered=call.answered_at is not None))

    def _on_bridge_create(self, headers: Headers) -> None:
        self._bridge(headers)

    def _bridge(self, headers: Headers) -> Bridge | None:
        bridge_id = headers.get("BridgeUniqueid")
        if not isinstance(bridge_id, str) or not bridge_id:
            return None
        bridge = self.bridges.get(bridge_id)
        if bridge is None:
            bridge = Bridge(bridge_id=bridge_id, bridge_type=str(headers.get("BridgeType", "")),
                            technology=str(headers.get("BridgeTechnology", "")),
                            created_at=self._at(headers))
            self.bridges[bridge_id] = bridge
        return bridge

    def _on_bridge_destroy(self, headers: Headers) -> None:
        bridge = self.bridges.pop(headers.get("BridgeUniqueid"), None)  # type: ignore[arg-type]
        if bridge is None:
            return
        for uid in bridge.channels:
            channel = self.channels.get(uid)
            if channel is not None and channel.bridge_id == bridge.bridge_id:
                channel.bridge_id = None

    def _on_bridge_enter(self, headers: Headers) -> None:
        bridge = self._bridge(headers)
        channel = self._channel(headers)
        if bridge is None or channel is None:
            return
        bridge.channels.add(channel.channel_id)
        channel.bridge_id = bridge.bridge_id
        self.emit(ev.ChannelBridged(at=self._at(headers), call_id=channel.call_id,
                                    channel_id=channel.channel_id, bridge_id=bridge.bridge_id))

    def _on_bridge_leave(self, headers: Headers) -> None:
        bridge = self.bridges.get(headers.get("BridgeUniqueid"))  # type: ignore[arg-type]
        channel = self.channels.get(headers.get("Uniqueid"))  # type: ignore[arg-type]
        if bridge is not None and channel is not None:
            bridge.channels.discard(channel.channel_id)
        if channel is not None and bridge is not None and channel.bridge_id == bridge.bridge_id:
            channel.bridge_id = None
            self.emit(ev.ChannelUnbridged(at=self._at(headers), call_id=channel.call_id,
                                          channel_id=channel.channel_id,
                                          bridge_id=bridge.bridge_id))

    # --- resync -----------------------------------------------------------------------

    def begin_resync(self) -> None:
        """Start noting which channels live events touch while a snapshot is being read."""
        self._touched = set()
        self._hung_up_since = set()

    def reconcile(self, snapshot: Iterable[SnapshotChannel],
                  bridges: Iterable[Headers] = ()) -> ReconcileResult:
        """Make the model equal the PBX's snapshot, keeping what live events said since.

        Rules: a channel the PBX no longer has (and no live event mentioned since the resync
        began) is a ghost: it is closed with cause 0 "vanished". A channel the PBX has that
        we do not know (and that did not hang up meanwhile) is added. For channels both
        know, the snapshot's state wins unless a live event was newer.
        """
        touched = self._touched or set()
        hung_up = self._hung_up_since or set()
        self._touched = None
        self._hung_up_since = None
        now = self.clock()
        rows = list(snapshot)
        originators = self._originators(rows)
        for row in rows:  # legs the previous process originated for a call (see join)
            joined = row.variables.get(CALL_ID_VARIABLE)
            uid = row.headers.get("Uniqueid")
            if joined and isinstance(uid, str) and uid not in self.channels:
                self.join(uid, joined)
        seen: set[str] = set()
        discovered = 0
        # a joined leg after the channels of its call, so that call is live when it is added
        for row in sorted(rows, key=self._is_joined):
            uid = row.headers.get("Uniqueid")
            if not isinstance(uid, str) or not uid or uid in hung_up:
                continue
            seen.add(uid)
            channel = self.channels.get(uid)
            if channel is None:
                headers = dict(row.headers)
                duration = _duration_s(headers.get("Duration"))
                if duration is not None:
                    headers["Timestamp"] = str(now - duration)
                if uid in originators:
                    headers["Linkedid"] = uid
                channel = self._create_channel(headers, uid)
                discovered += 1
            elif uid not in touched:
                state = _STATE_BY_NUMBER.get(row.headers.get("ChannelState"), ChannelState.UNKNOWN)  # type: ignore[arg-type]
                self._set_state(channel, state, now)
            if uid not in touched:
                self._place_in_bridge(channel, row.bridge_id, now)
                for name, value in row.variables.items():
                    self._set_variable(channel, name, value, now)
        ghosts = [ch for uid, ch in self.channels.items() if uid not in seen and uid not in touched]
        for channel in ghosts:
            self._close_channel(channel, now, CAUSE_VANISHED, CAUSE_VANISHED_TEXT)
        known_bridges = {str(h.get("BridgeUniqueid")) for h in bridges if h.get("BridgeUniqueid")}
        for bridge_headers in bridges:
            self._bridge(bridge_headers)
        for bridge_id in list(self.bridges):
            bridge = self.bridges[bridge_id]
            if bridge_id not in known_bridges and not bridge.channels:
                del self.bridges[bridge_id]
        return ReconcileResult(ghosts_removed=len(ghosts), discovered=discovered)

    def _is_joined(self, row: SnapshotChannel) -> bool:
        return any(key in self._joins for key in (row.headers.get("Uniqueid"),
                                                   row.headers.get("Linkedid")))

    def _originators(self, rows: list[SnapshotChannel]) -> set[str]:
        """Uniqueids of channels that started a call: their own uniqueid is a linkedid.

        The snapshot gives a channel's linkedid as it is *now*, and Asterisk changes it when a
        channel is bridged (it takes the oldest linkedid of the bridge). Created from events,
        a Local channel's ``;1`` half bridged to another call stays in its own call; read from
        a snapshot it would land in the other call. A channel whose uniqueid is the linkedid
        of another channel (its own ``;2`` half, what it dialled) or of a call we follow is
        that call's first channel, so its call is itself, as it would have been live.
        """
        linked = {str(row.headers.get("Linkedid")) for row in rows if row.headers.get("Linkedid")}
        linked.update(self.calls)
        return {str(row.headers.get("Uniqueid")) for row in rows
                if row.headers.get("Uniqueid") in linked
                and row.headers.get("Linkedid") != row.headers.get("Uniqueid")}

    def _place_in_bridge(self, channel: Channel, bridge_id: str | None, at: float) -> None:
        if channel.bridge_id == bridge_id:
            return
        if channel.bridge_id is not None:
            old = self.bridges.get(channel.bridge_id)
            if old is not None:
                old.channels.discard(channel.channel_id)
            self.emit(ev.ChannelUnbridged(at=at, call_id=channel.call_id,
                                          channel_id=channel.channel_id,
                                          bridge_id=channel.bridge_id))
            channel.bridge_id = None
        if bridge_id:
            bridge = self.bridges.get(bridge_id)
            if bridge is None:
                bridge = Bridge(bridge_id=bridge_id, created_at=at)
                self.bridges[bridge_id] = bridge
            bridge.channels.add(channel.channel_id)
            channel.bridge_id = bridge_id
            self.emit(ev.ChannelBridged(at=at, call_id=channel.call_id,
                                        channel_id=channel.channel_id, bridge_id=bridge_id))


def _text(value: Any) -> str:
    if not isinstance(value, str) or value == "<unknown>":
        return ""
    return value


def _int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


def _duration_s(value: Any) -> float | None:
    """CoreShowChannel's ``Duration`` (HH:MM:SS) in seconds."""
    if not isinstance(value, str):
        return None
    parts = value.split(":")
    if len(parts) != 3:
        return None
    try:
        hours, minutes, seconds = (int(p) for p in parts)
    except ValueError:
        return None
    return float(hours * 3600 + minutes * 60 + seconds)
