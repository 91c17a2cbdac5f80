"""``SimulatedPbx``: the second :class:`~callcenter.pbx.Pbx`, a simulated telephone world.

Why it exists: the demo (``callcenter demo``, real time), what-if runs and benchmarks
(``callcenter simulate``, virtual time) need calls without a switch, carriers and people.
It is never a stand-in for Asterisk in system tests: those run against the real sandbox,
because only Asterisk can tell us what Asterisk does.

How it fits: it feeds the *same* :class:`~callcenter.cti.model.CallModel` the AMI link
feeds, with AMI-shaped event dicts (``Newchannel``, ``Newstate``, ``NewExten``, ``VarSet``,
``Hangup``, ``BridgeCreate``/``Enter``/``Leave``/``Destroy``; ``ContactStatus`` when a phone
registers or unregisters, into the same registrations tracker the AMI link keeps), exact
Asterisk casing and a ``Timestamp`` of the clock's ``now()``. So the domain events on the bus,
and everything downstream (``/ws/events``, metrics, interactions, screen pops), are those of a
real switch.
It runs on a :class:`~callcenter.sim.clock.Clock`: virtual in tests and simulations, real
time (epoch seconds) in the demo. A run is a pure function of the clock, the ``rng`` seed and
the calls made on it: ids and channel names come from counters, never from ``uuid4``.

Behaviour contract (the dialplan of ``docker/asterisk/extensions.conf``, simulated):

* Endpoints. ``PJSIP/<agent>`` is an agent's phone: it must be registered
  (:meth:`SimulatedPbx.register_endpoint`), else originate fails at once with CONGESTION and
  no channel (Asterisk's "chan_unavailable"). A registered bot rings (``Ringing``, its
  connected line = the originate's caller id, which is what pops the screen) and answers after
  its delay, or never (``answers=False``). ``Local/<agent>@agents-local`` is the same phone
  behind a Local pair: ``;1`` (the originate's ``channel_id``), ``;2`` (``<id>-2``, runs
  ``[agents-local]``, sets ``CC_AGENT``) and the dialled ``PJSIP/<agent>-xxxxxxxx`` leg, all
  sharing one linkedid; an unregistered agent hangs ``;2``/``;1`` up with cause 20.
  ``Local/<number>@outbound`` (or ``PJSIP/<number>@trunk`` directly) is a customer: the
  :class:`Behaviour` decides human / machine / busy (cause 17) / congestion (cause 34) /
  no answer, and when. Ringing longer than the originate's ``timeout_s`` (for Local also
  ``CC_RING_TIMEOUT``, default 30) ends with NO_ANSWER, cause 19. Other techs: FAILED.
  Local channels behave like ``/n`` (never optimised away).
* Answer. The dialled leg, ``;2`` and ``;1`` go Up, ``;2`` and the leg share a Dial bridge,
  the outcome resolves ANSWERED and the originated channel continues at the request's
  context/exten (``NewExten``) or application (``Bridge``: join the named channel;
  ``ChanSpy``: stay up, hang up with the target when the options hold ``E``; anything else:
  stay up until hung up). Request variables are set (``VarSet``) on the channel (and copied
  to ``;2``, as Local channels do).
* Contexts. ``agent-connect``: ``CC_AGENT_ANSWERED``, then bridge at once with
  ``CC_BRIDGE_TO`` (a channel id or name; gone = hang up), else ``CC_AGENT_WAITING`` and
  wait 600 s.
  ``outbound-amd``: ``CC_DIRECTION=outbound``; after the Behaviour's verdict delay
  ``CC_AMD_STATUS``/``CC_AMD_CAUSE``; MACHINE -> ``outbound-machine`` (hang up, cause 16),
  else -> ``outbound-connect``: ``CC_CONNECT_START``, wait ``CC_CONNECT_TIMEOUT`` (default
  2 s) for a bridge, else ``outbound-abandon``: ``CC_ABANDONED=1``, the message plays
  (Behaviour's ``abandon_message``), hang up cause 16. ``CC_AMD=no`` skips detection.
  ``holding``: ``CC_HOLD_START`` (kept if the caller has one: a transfer), not on the
  ``moh`` extension; a caller with a patience hangs up (16) when it runs out.
  ``queue-announce``: after 4 s back to ``holding,moh``; ``queue-timeout``:
  ``CC_TIMED_OUT``, the message plays 4 s, hang up (16).
  ``ivr``: no AudioSocket here: straight on to ``CC_NEXT`` or ``holding``. Other contexts:
  the channel idles there until hung up or redirected.
* Inbound. :meth:`SimulatedPbx.inject_inbound_call` makes ``PJSIP/trunk-xxxxxxxx`` in
  ``inbound`` (``CC_DIRECTION``, ``CC_DNIS``), answers it, sets the given variables (what
  the IVR would have stored: ``CC_QUEUE``, ``CC_CUSTOMER_CODE``) and puts it in ``holding``.
* Bridges. A bridge joining a customer's channel and an agent's starts the talk time
  (Behaviour's); then the customer hangs up (cause 16). A channel that hangs up takes its
  Local half and dialled leg with it, and the other side of its bridge (hangup propagation),
  i.e. both sides of a two-party bridge end. A redirected channel leaves its bridge; the
  other side stays (alone) in it, as in Asterisk.
* Errors. Unknown channel ids raise :class:`~callcenter.core.errors.UnknownChannel`;
  bridging a channel that is not Up, or with itself, or redirecting a channel that is not Up
  raises :class:`~callcenter.core.errors.ActionFailed`.

Outcome reasons are the informative ones (BUSY, NO_ANSWER, CONGESTION) even through Local
channels, where real Asterisk often reports only HANGUP: callers that must also work with
Asterisk should read the hangup cause (17/19/20/34), which both emit the same.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from callcenter.core.clock import Clock, Timer
from callcenter.core.errors import ActionFailed, UnknownChannel
from callcenter.core.pbx import (
    OriginateHandle,
    OriginateOutcome,
    OriginateReason,
    OriginateRequest,
    PbxStatus,
    SpyMode,
)
from callcenter.cti.model import CALL_ID_VARIABLE, CallModel
from callcenter.cti.registrations import Registrations
from callcenter.sim.behaviour import (  # noqa: F401  (re-exported: the PBX's own vocabulary)
    AmdPlan,
    Behaviour,
    CustomerOutcome,
    CustomerPlan,
    Delay,
)

# --- channels -------------------------------------------------------------------------------

_STATE_DESC = {0: "Down", 4: "Ring", 5: "Ringing", 6: "Up", 7: "Busy"}
_DOWN, _RING, _RINGING, _UP = 0, 4, 5, 6
_CAUSE_TEXT = {
    0: "Unknown",
    16: "Normal Clearing",
    17: "User busy",
    19: "User alerting, no answer",
    20: "Subscriber absent",
    34: "Circuit/channel congestion",
}
#: timers that belong to ringing, not to the dialplan (kept when a channel changes place)
_RING_TIMERS = ("ring", "timeout")
_AGENT_WAIT_S = 600.0
#: how long the queue's position announcement and the max-wait message play
_ANNOUNCE_S = 4.0
_DEFAULT_RING_TIMEOUT_S = 30.0
_DEFAULT_CONNECT_TIMEOUT_S = 2.0
_SPY_OPTIONS = {SpyMode.LISTEN: "qE", SpyMode.WHISPER: "qEw", SpyMode.BARGE: "qEB"}

_CUSTOMER, _AGENT, _OTHER = "customer", "agent", "other"


@dataclass(slots=True)
class _Endpoint:
    answer_after: Delay | None
    answers: bool


@dataclass(slots=True, eq=False)
class _Bridge:
    bridge_id: str
    members: list[_Chan] = field(default_factory=list)


@dataclass(slots=True, eq=False)
class _Chan:
    channel_id: str
    name: str
    linkedid: str
    role: str
    state: int = _DOWN
    caller_num: str = ""
    caller_name: str = ""
    connected_num: str = ""
    connected_name: str = ""
    context: str = ""
    exten: str = ""
    priority: int = 1
    variables: dict[str, str] = field(default_factory=dict)
    bridge: _Bridge | None = None
    timers: dict[str, Timer] = field(default_factory=dict)
    #: channels that hang up with this one (Local halves, the dialled leg)
    peers: list[_Chan] = field(default_factory=list)
    #: ChanSpy channels that end when this one does
    spies: list[_Chan] = field(default_factory=list)
    #: the leg whose hangup is "the customer hung up" (the trunk leg behind a Local pair)
    far: _Chan | None = None
    #: the customer's nature (HUMAN / MACHINE) once answered
    kind: CustomerOutcome | None = None
    patience_s: float | None = None
    outcome: asyncio.Future[OriginateOutcome] | None = None
    request: OriginateRequest | None = None
    hungup: bool = False


@dataclass(frozen=True, slots=True)
class _Target:
    role: str
    local_context: str | None
    #: the dialled resource: agent extension or customer number
    resource: str
    leg_name: str


class SimulatedPbx:
    """A :class:`~callcenter.core.pbx.Pbx` over a simulated world (see the module docstring)."""

    name = "simulated"

    def __init__(self, clock: Clock, model: CallModel, rng: random.Random,
                 behaviour: Behaviour | None = None) -> None:
        self.clock = clock
        self.model = model
        self.rng = rng
        self.behaviour = behaviour or Behaviour()
        #: called with every AMI-shaped dict before the model sees it (logs, recordings)
        self.taps: list[Callable[[dict[str, str]], None]] = []
        self.emitted = 0
        #: channel id -> recording file asked for (a simulated call has no audio to write)
        self.recordings: dict[str, str] = {}
        #: dialplan-wide variables set by the server (``set_global``)
        self.globals: dict[str, str] = {}
        #: the IVR's part (the AudioSocket server on Asterisk): called with the channel id of
        #: each caller entering ``[ivr]``, who stays there until :meth:`end_ivr`. None: the
        #: IVR hands every caller straight on, as a dialplan without a server would.
        self.ivr: Callable[[str], None] | None = None
        #: registered phones, fed the same ContactStatus events the AMI link feeds its own
        self.registrations = Registrations(emit=model.emit, clock=clock.now)
        self._channels: dict[str, _Chan] = {}
        self._endpoints: dict[str, _Endpoint] = {}
        self._ids = 0
        self._names = 0
        self._bridges = 0
        self._started_at = clock.now()

    @property
    def calls(self) -> CallModel:
        return self.model

    def status(self) -> PbxStatus:
        """Always connected: the simulated world is in this process, its model always synced."""
        return PbxStatus(pbx=self.name, connected=True, version="simulated",
                         connected_since=self._started_at)

    # --- the world ---------------------------------------------------------------------------

    def register_endpoint(self, endpoint: str, answer_after_s: float | Delay | None = None,
                          *, answers: bool = True) -> None:
        """Register a bot phone (``PJSIP/1001``; a bare ``1001`` means the same). It answers
        after ``answer_after_s`` (seconds or a :class:`Delay`; None: the Behaviour's
        ``agent_answer_after``), or rings until the timeout when ``answers`` is false."""
        delay = Delay.fixed(answer_after_s) if isinstance(answer_after_s, int | float) \
            else answer_after_s
        key = _endpoint_key(endpoint)
        self._endpoints[key] = _Endpoint(delay, answers)
        self._contact_status(key, "NonQualified")

    def unregister_endpoint(self, endpoint: str) -> None:
        """Unregister a phone; calls it is on go on, new ones fail (chan_unavailable)."""
        key = _endpoint_key(endpoint)
        if self._endpoints.pop(key, None) is not None:
            self._contact_status(key, "Removed")

    def registered_endpoints(self) -> frozenset[str]:
        return self.registrations.registered_endpoints()

    def _contact_status(self, key: str, status: str) -> None:
        """Asterisk's ``ContactStatus`` for a PJSIP phone (``qualify_frequency = 0``: a new
        contact is ``NonQualified``), tapped and applied like every other event."""
        tech, _, name = key.partition("/")
        if tech != "PJSIP":
            return
        headers = {"Event": "ContactStatus", "Privilege": "system,all",
                   "Timestamp": self._stamp(), "URI": f"sip:{name}@127.0.0.1:5060",
                   "ContactStatus": status, "AOR": name, "EndpointName": name,
                   "RoundtripUsec": "0"}
        self.emitted += 1
        for tap in self.taps:
            tap(headers)
        self.registrations.apply(headers)

    def is_registered(self, endpoint: str) -> bool:
        return _endpoint_key(endpoint) in self._endpoints

    @property
    def live_channels(self) -> int:
        return len(self._channels)

    def inject_inbound_call(self, caller_num: str, dnis: str, *,
                            patience_s: float | None = None,
                            variables: Mapping[str, str] | None = None,
                            caller_name: str = "", via_ivr: bool = False) -> str:
        """A caller arrives on the trunk; returns the channel id (= the call id).

        The channel goes ``inbound`` -> ``holding`` (answered, ``CC_DIRECTION``, ``CC_DNIS``,
        ``variables``, ``CC_HOLD_START``), or through ``[ivr]`` first (``via_ivr``: see
        :attr:`ivr`). Unless bridged within ``patience_s`` (None: for ever) of reaching
        ``[holding]`` the caller hangs up (cause 16): an abandonment."""
        channel_id = self._new_id()
        ch = _Chan(channel_id=channel_id, name=f"PJSIP/trunk-{self._new_suffix()}",
                   linkedid=channel_id, role=_CUSTOMER, state=_RING, caller_num=caller_num,
                   caller_name=caller_name, context="inbound", exten=dnis,
                   kind=CustomerOutcome.HUMAN, patience_s=patience_s)
        self._channels[channel_id] = ch
        self._emit(ch, "Newchannel")
        self._emit(ch, "Newexten")
        self._setvar(ch, "CC_DIRECTION", "inbound")
        self._setvar(ch, "CC_DNIS", dnis)
        self._set_state(ch, _UP)
        for name, value in (variables or {}).items():
            self._setvar(ch, name, str(value))
        self._goto(ch, "ivr" if via_ivr else "holding", "s")
        return channel_id

    def end_ivr(self, channel_id: str) -> None:
        """The IVR let the caller go (the AudioSocket closed): the dialplan continues at
        ``CC_NEXT`` or in ``[holding]``."""
        ch = self._get(channel_id, "AudioSocket")
        handler, self.ivr = self.ivr, None
        try:
            self._goto(ch, "ivr", "s")
        finally:
            self.ivr = handler

    # --- the Pbx interface ---------------------------------------------------------------------

    async def originate(self, request: OriginateRequest) -> OriginateHandle:
        future: asyncio.Future[OriginateOutcome] = asyncio.get_running_loop().create_future()
        channel_id = request.channel_id or self._new_id()
        if channel_id in self._channels or f"{channel_id}-2" in self._channels:
            raise ActionFailed("Originate", f"channel id {channel_id!r} is in use")
        handle = OriginateHandle(channel_id=channel_id, outcome=future)
        variables = dict(request.variables)
        if request.call_id:  # as AsteriskPbx does: joined live, the variable for a resync
            variables[CALL_ID_VARIABLE] = request.call_id
            self.model.join(channel_id, request.call_id, variables)
            self.model.join(f"{channel_id}-2", request.call_id)
        tech, _, resource = request.endpoint.partition("/")
        target = self._resolve(tech.upper(), resource)
        if target is None:
            future.set_result(OriginateOutcome(channel_id, OriginateReason.FAILED))
            return handle
        caller_num, caller_name = _parse_caller_id(request.caller_id)
        if target.local_context is None:
            if target.role == _AGENT and target.leg_name not in self._endpoints:
                future.set_result(OriginateOutcome(channel_id, OriginateReason.CONGESTION))
                return handle
            # the dialled channel itself: Originate sets caller id and connected line
            leg = self._add(_Chan(channel_id=channel_id, name=self._leg_name(target),
                                  linkedid=channel_id, role=target.role,
                                  caller_num=caller_num, caller_name=caller_name,
                                  connected_num=caller_num, connected_name=caller_name,
                                  outcome=future, request=request))
            leg.far = leg
            self._emit(leg, "Newchannel")
            for name, value in variables.items():
                self._setvar(leg, name, value)
            self._ring(leg, leg, target, request.timeout_s)
            return handle
        # a Local pair: ;1 is the originated channel, ;2 runs the dialplan and Dials the leg
        local = f"Local/{target.resource}@{target.local_context}-{self._new_suffix()}"
        one = self._add(_Chan(channel_id=channel_id, name=f"{local};1", linkedid=channel_id,
                              role=target.role, caller_num=caller_num,
                              caller_name=caller_name, connected_num=caller_num,
                              connected_name=caller_name, outcome=future, request=request))
        two = self._add(_Chan(channel_id=f"{channel_id}-2", name=f"{local};2",
                              linkedid=channel_id, role=target.role, state=_RING,
                              caller_num=caller_num, caller_name=caller_name,
                              context=target.local_context, exten=target.resource))
        _tie(one, two)
        self._emit(one, "Newchannel")
        self._emit(two, "Newchannel")
        for name, value in variables.items():
            self._setvar(one, name, value)
        for name, value in variables.items():
            self._setvar(two, name, value)
        self._emit(two, "Newexten")
        if target.role == _AGENT:
            self._setvar(two, "CC_AGENT", target.resource)
        else:
            self._setvar(two, "CC_DIRECTION", "outbound")
            self._setvar(two, "CC_DNIS", target.resource)
        if target.role == _AGENT and target.leg_name not in self._endpoints:
            self._hangup(two, 20, OriginateReason.CONGESTION)
            return handle
        leg = self._add(_Chan(channel_id=self._new_id(), name=self._leg_name(target),
                              linkedid=channel_id, role=target.role,
                              caller_num=target.resource, connected_num=caller_num,
                              connected_name=caller_name))
        _tie(two, leg)
        one.far = two.far = leg.far = leg
        self._emit(leg, "Newchannel")
        timeout = request.timeout_s
        ring_timeout = _float(request.variables.get("CC_RING_TIMEOUT"))
        timeout = min(timeout, ring_timeout if ring_timeout else _DEFAULT_RING_TIMEOUT_S)
        self._ring(one, leg, target, timeout)
        return handle

    async def redirect(self, channel_id: str, context: str, exten: str,
                       priority: int = 1) -> None:
        ch = self._get(channel_id, "Redirect")
        if ch.state != _UP:
            raise ActionFailed("Redirect", f"channel {channel_id!r} is not up")
        if ch.bridge is not None:
            self._leave(ch)
        self._goto(ch, context, exten, priority)

    async def bridge(self, channel_id: str, other_channel_id: str) -> None:
        a = self._get(channel_id, "Bridge")
        b = self._get(other_channel_id, "Bridge")
        if a is b:
            raise ActionFailed("Bridge", "cannot bridge a channel with itself")
        for ch in (a, b):
            if ch.state != _UP:
                raise ActionFailed("Bridge", f"channel {ch.channel_id!r} is not up")
        self._join(a, b)

    async def hangup(self, channel_id: str, cause: int = 16) -> None:
        self._hangup(self._get(channel_id, "Hangup"), cause, OriginateReason.HANGUP)

    async def set_variable(self, channel_id: str, name: str, value: str) -> None:
        self._setvar(self._get(channel_id, "Setvar"), name, value)

    async def set_global(self, name: str, value: str) -> None:
        self.globals[name] = value

    async def get_variable(self, channel_id: str, name: str) -> str | None:
        value = self._get(channel_id, "Getvar").variables.get(name)
        return value or None

    async def record(self, channel_id: str, file: str) -> None:
        """Noted, not written: the simulated world carries no audio."""
        self._get(channel_id, "MixMonitor")
        self.recordings[channel_id] = file

    async def spy(self, supervisor_endpoint: str, channel_id: str,
                  mode: SpyMode = SpyMode.LISTEN) -> OriginateHandle:
        target = self._get(channel_id, "ChanSpy")
        return await self.originate(OriginateRequest(
            endpoint=supervisor_endpoint, application="ChanSpy",
            data=f"{target.name},{_SPY_OPTIONS[mode]}",
            variables={"CC_SPY_TARGET": channel_id, "CC_SPY_MODE": mode.value}))

    # --- dialling ----------------------------------------------------------------------------

    def _resolve(self, tech: str, resource: str) -> _Target | None:
        if tech == "PJSIP":
            number, at, host = resource.partition("@")
            if at:
                if host != "trunk" or not number:
                    return None
                return _Target(_CUSTOMER, None, number.lstrip("+"), "PJSIP/trunk")
            return _Target(_AGENT, None, resource, f"PJSIP/{resource}")
        if tech == "LOCAL":
            exten, _, context = resource.split("/", 1)[0].partition("@")
            if context == "agents-local" and exten:
                return _Target(_AGENT, context, exten, f"PJSIP/{exten}")
            if context == "outbound" and exten:
                number = exten.lstrip("+")
                return _Target(_CUSTOMER, context, number, "PJSIP/trunk")
        return None

    def _ring(self, origin: _Chan, leg: _Chan, target: _Target, timeout_s: float) -> None:
        """Ring ``leg`` (dialled for ``origin``) and schedule its fate."""
        self._set_state(leg, _RINGING)
        if origin is not leg:
            self._set_state(origin, _RINGING)
        now = self.clock.now()
        leg.timers["timeout"] = self.clock.call_at(
            now + timeout_s, self._ring_timeout, leg)
        if target.role == _AGENT:
            endpoint = self._endpoints[target.leg_name]
            if endpoint.answers:
                delay = endpoint.answer_after or self.behaviour.agent_answer_after
                leg.timers["ring"] = self.clock.call_at(
                    now + delay.sample(self.rng), self._answer, origin, leg, None)
            return
        plan = self.behaviour.dial_customer(target.resource, self.rng)
        when = now + max(0.0, plan.after_s)
        if plan.outcome in (CustomerOutcome.HUMAN, CustomerOutcome.MACHINE):
            leg.timers["ring"] = self.clock.call_at(when, self._answer, origin, leg,
                                                    plan.outcome)
        elif plan.outcome is CustomerOutcome.BUSY:
            leg.timers["ring"] = self.clock.call_at(when, self._fail, leg, 17,
                                                    OriginateReason.BUSY)
        elif plan.outcome is CustomerOutcome.CONGESTION:
            leg.timers["ring"] = self.clock.call_at(when, self._fail, leg, 34,
                                                    OriginateReason.CONGESTION)

    def _ring_timeout(self, leg: _Chan) -> None:
        self._fail(leg, 19, OriginateReason.NO_ANSWER)

    def _fail(self, leg: _Chan, cause: int, reason: OriginateReason) -> None:
        if not leg.hungup:
            self._hangup(leg, cause, reason)

    def _answer(self, origin: _Chan, leg: _Chan, kind: CustomerOutcome | None) -> None:
        if leg.hungup or origin.hungup:
            return
        _cancel(leg, "timeout")
        leg.timers.pop("ring", None)
        self._set_state(leg, _UP)
        if origin is not leg:
            two = leg.peers[0]
            self._set_state(two, _UP)
            self._join(two, leg, dial=True)
            self._set_state(origin, _UP)
        origin.kind = kind
        future, origin.outcome = origin.outcome, None
        if future is not None and not future.done():
            future.set_result(OriginateOutcome(origin.channel_id, OriginateReason.ANSWERED))
        request = origin.request
        if request is None:
            return
        if request.application is not None:
            self._application(origin, request.application, request.data)
        elif request.context is not None and request.exten is not None:
            self._goto(origin, request.context, request.exten, request.priority)

    def _application(self, ch: _Chan, application: str, data: str) -> None:
        app = application.lower()
        args = data.split(",")
        if app == "bridge":
            other = self._find(args[0])
            if other is None or other.state != _UP or other is ch:
                self._hangup(ch, 16, OriginateReason.HANGUP)
            else:
                self._join(ch, other)
        elif app == "chanspy":
            target = self._find(args[0])
            options = args[1] if len(args) > 1 else ""
            if target is not None and "E" in options:
                target.spies.append(ch)
        # any other application: the channel stays up until hung up

    # --- the dialplan ------------------------------------------------------------------------

    def _goto(self, ch: _Chan, context: str, exten: str, priority: int = 1) -> None:
        """The channel continues at ``context,exten,priority`` (the dialplan contract)."""
        for key in [k for k in ch.timers if k not in _RING_TIMERS]:
            ch.timers.pop(key).cancel()
        ch.context, ch.exten, ch.priority = context, exten, priority
        self._emit(ch, "Newexten")
        now = self.clock.now()
        if context == "holding":
            if exten != "moh":  # moh: the music restarts (announcement over, new class)
                self._setvar(ch, "CC_HOLD_START", ch.variables.get("CC_HOLD_START")
                             or f"{now:.3f}")
            if ch.patience_s is not None:
                ch.timers["patience"] = self.clock.call_at(
                    now + ch.patience_s, self._fail, ch, 16, OriginateReason.HANGUP)
        elif context == "ivr" and self.ivr is not None and ch.role == _CUSTOMER:
            self.ivr(ch.channel_id)  # the caller stays in [ivr] until end_ivr
        elif context == "ivr":
            parts = ch.variables.get("CC_NEXT", "").split(",")
            if len(parts) >= 2 and parts[0] and parts[1]:
                priority = int(_float(parts[2])) if len(parts) > 2 else 1
                self._goto(ch, parts[0], parts[1], priority or 1)
            else:
                self._goto(ch, "holding", "s")
        elif context == "inbound":
            self._setvar(ch, "CC_DIRECTION", "inbound")
            self._setvar(ch, "CC_DNIS", exten)
            self._goto(ch, "ivr", "s")
        elif context == "agent-connect":
            self._setvar(ch, "CC_AGENT_ANSWERED", str(int(now)))
            target_ref = ch.variables.get("CC_BRIDGE_TO", "")
            if target_ref:
                other = self._find(target_ref)
                if other is None or other.state != _UP or other is ch:
                    self._hangup(ch, 16, OriginateReason.HANGUP)
                else:
                    self._join(ch, other)
            else:
                self._setvar(ch, "CC_AGENT_WAITING", str(int(now)))
                ch.timers["wait"] = self.clock.call_at(
                    now + _AGENT_WAIT_S, self._fail, ch, 16, OriginateReason.HANGUP)
        elif context == "outbound-amd":
            self._setvar(ch, "CC_DIRECTION", "outbound")
            if ch.variables.get("CC_AMD") == "no":
                self._goto(ch, "outbound-connect", "s")
                return
            plan = self.behaviour.amd(ch.kind or CustomerOutcome.HUMAN, self.rng)
            ch.timers["amd"] = self.clock.call_at(now + plan.after_s, self._amd_done, ch, plan)
        elif context == "outbound-connect":
            self._setvar(ch, "CC_CONNECT_START", str(int(now)))
            wait = _float(ch.variables.get("CC_CONNECT_TIMEOUT")) or _DEFAULT_CONNECT_TIMEOUT_S
            ch.timers["connect"] = self.clock.call_at(
                now + wait, self._goto, ch, "outbound-abandon", "s", 1)
        elif context == "queue-announce":
            ch.timers["announce"] = self.clock.call_at(
                now + _ANNOUNCE_S, self._goto, ch, "holding", "moh", 1)
        elif context == "queue-timeout":
            self._setvar(ch, "CC_TIMED_OUT", str(int(now)))
            ch.timers["message"] = self.clock.call_at(
                now + _ANNOUNCE_S, self._fail, ch, 16, OriginateReason.HANGUP)
        elif context == "outbound-abandon":
            self._setvar(ch, "CC_ABANDONED", "1")
            ch.timers["message"] = self.clock.call_at(
                now + self.behaviour.abandon_message.sample(self.rng),
                self._fail, ch, 16, OriginateReason.HANGUP)
        elif context == "outbound-machine":
            if ch.variables.get("CC_MACHINE_FILE"):
                ch.timers["message"] = self.clock.call_at(
                    now + self.behaviour.machine_message.sample(self.rng),
                    self._fail, ch, 16, OriginateReason.HANGUP)
            else:
                self._hangup(ch, 16, OriginateReason.HANGUP)

    def _amd_done(self, ch: _Chan, plan: AmdPlan) -> None:
        if ch.hungup:
            return
        ch.timers.pop("amd", None)
        self._setvar(ch, "CC_AMD_STATUS", plan.status)
        self._setvar(ch, "CC_AMD_CAUSE", plan.cause)
        if plan.status == "MACHINE":
            self._goto(ch, "outbound-machine", "s")
        elif plan.status == "HANGUP":
            self._hangup(ch, 16, OriginateReason.HANGUP)
        else:
            self._goto(ch, "outbound-connect", "s")

    # --- bridges and hangups -----------------------------------------------------------------

    def _join(self, a: _Chan, b: _Chan, *, dial: bool = False) -> None:
        """Put ``a`` and ``b`` in a new two-party bridge (leaving any bridge they are in)."""
        for ch in (a, b):
            if not dial:
                for key in [k for k in ch.timers if k not in _RING_TIMERS]:
                    ch.timers.pop(key).cancel()
            if ch.bridge is not None:
                self._leave(ch)
        self._bridges += 1
        bridge = _Bridge(f"sim-bridge-{self._bridges:08x}")
        self._emit_bridge(bridge, "BridgeCreate")
        for ch in (a, b):
            bridge.members.append(ch)
            ch.bridge = bridge
            self._emit(ch, "BridgeEnter", bridge)
        if dial or {a.role, b.role} != {_CUSTOMER, _AGENT}:
            return
        customer = a if a.role == _CUSTOMER else b
        far = customer.far or customer
        talk = self.behaviour.talk_time_s(customer.kind or CustomerOutcome.HUMAN, self.rng)
        customer.timers["talk"] = self.clock.call_at(
            self.clock.now() + talk, self._fail, far, 16, OriginateReason.HANGUP)

    def _leave(self, ch: _Chan) -> _Bridge | None:
        bridge = ch.bridge
        if bridge is None:
            return None
        _cancel(ch, "talk")
        bridge.members.remove(ch)
        ch.bridge = None
        self._emit(ch, "BridgeLeave", bridge)
        if not bridge.members:
            self._emit_bridge(bridge, "BridgeDestroy")
        return bridge

    def _hangup(self, ch: _Chan, cause: int, reason: OriginateReason) -> None:
        if ch.hungup:
            return
        ch.hungup = True
        for timer in ch.timers.values():
            timer.cancel()
        ch.timers.clear()
        bridge = self._leave(ch)
        self._emit(ch, "Hangup", cause=cause)
        del self._channels[ch.channel_id]
        future, ch.outcome = ch.outcome, None
        if future is not None and not future.done():
            future.set_result(OriginateOutcome(ch.channel_id, reason))
        for peer in ch.peers:
            self._hangup(peer, cause, reason)
        if bridge is not None:
            for other in list(bridge.members):
                self._hangup(other, 16, OriginateReason.HANGUP)
        for spy in ch.spies:
            self._hangup(spy, 16, OriginateReason.HANGUP)

    # --- events ------------------------------------------------------------------------------

    def _set_state(self, ch: _Chan, state: int) -> None:
        if ch.state != state:
            ch.state = state
            self._emit(ch, "Newstate")

    def _setvar(self, ch: _Chan, name: str, value: str) -> None:
        ch.variables[name] = value
        self._emit(ch, "VarSet", variable=(name, value))

    def _emit(self, ch: _Chan, event: str, bridge: _Bridge | None = None, *,
              cause: int | None = None, variable: tuple[str, str] | None = None) -> None:
        headers = {
            "Event": event,
            "Channel": ch.name,
            "ChannelState": str(ch.state),
            "ChannelStateDesc": _STATE_DESC.get(ch.state, "Unknown"),
            "CallerIDNum": ch.caller_num or "<unknown>",
            "CallerIDName": ch.caller_name or "<unknown>",
            "ConnectedLineNum": ch.connected_num or "<unknown>",
            "ConnectedLineName": ch.connected_name or "<unknown>",
            "Context": ch.context,
            "Exten": ch.exten,
            "Priority": str(ch.priority),
            "Uniqueid": ch.channel_id,
            "Linkedid": ch.linkedid,
            "Timestamp": self._stamp(),
        }
        if bridge is not None:
            headers.update(_bridge_headers(bridge))
        if cause is not None:
            headers["Cause"] = str(cause)
            headers["Cause-txt"] = _CAUSE_TEXT.get(cause, "Unknown")
        if variable is not None:
            headers["Variable"], headers["Value"] = variable
        self._publish(headers)

    def _emit_bridge(self, bridge: _Bridge, event: str) -> None:
        headers = {"Event": event, "Timestamp": self._stamp(), **_bridge_headers(bridge)}
        self._publish(headers)

    def _publish(self, headers: dict[str, str]) -> None:
        self.emitted += 1
        for tap in self.taps:
            tap(headers)
        self.model.apply(headers)

    def _stamp(self) -> str:
        return f"{self.clock.now():.6f}"

    # --- helpers -----------------------------------------------------------------------------

    def _add(self, ch: _Chan) -> _Chan:
        self._channels[ch.channel_id] = ch
        return ch

    def _get(self, channel_id: str, action: str) -> _Chan:
        ch = self._channels.get(channel_id)
        if ch is None:
            raise UnknownChannel(action, f"no such channel {channel_id!r}")
        return ch

    def _find(self, ref: str) -> _Chan | None:
        """A live channel by id, else by name."""
        ch = self._channels.get(ref)
        if ch is not None:
            return ch
        for candidate in self._channels.values():
            if candidate.name == ref:
                return candidate
        return None

    def _new_id(self) -> str:
        self._ids += 1
        return f"{int(self.clock.now())}.{self._ids}"

    def _new_suffix(self) -> str:
        self._names += 1
        return f"{self._names & 0xFFFFFFFF:08x}"

    def _leg_name(self, target: _Target) -> str:
        return f"{target.leg_name}-{self._new_suffix()}"


def _tie(a: _Chan, b: _Chan) -> None:
    a.peers.append(b)
    b.peers.append(a)


def _cancel(ch: _Chan, key: str) -> None:
    timer = ch.timers.pop(key, None)
    if timer is not None:
        timer.cancel()


def _bridge_headers(bridge: _Bridge) -> dict[str, str]:
    return {
        "BridgeUniqueid": bridge.bridge_id,
        "BridgeType": "basic",
        "BridgeTechnology": "simple_bridge",
        "BridgeNumChannels": str(len(bridge.members)),
    }


def _endpoint_key(endpoint: str) -> str:
    if "/" not in endpoint:
        return f"PJSIP/{endpoint}"
    tech, _, resource = endpoint.partition("/")
    return f"{tech.upper()}/{resource}" if tech.upper() == "PJSIP" else endpoint


def _parse_caller_id(caller_id: str) -> tuple[str, str]:
    """``"Name" <num>`` / ``Name <num>`` / ``num`` -> (number, name)."""
    text = caller_id.strip()
    if "<" in text and text.endswith(">"):
        name, _, rest = text.partition("<")
        return rest[:-1].strip(), name.strip().strip('"').strip()
    return text, ""


def _float(value: Any) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return 0.0
    return number if number > 0 else 0.0
