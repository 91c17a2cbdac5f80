"""Record raw AMI transcripts from the real Asterisk sandbox into tests/fixtures/ami/.

Each named scenario places known calls (``Originate`` with ``ChannelId``, so the scenario knows
the id of every call it starts), drives them with AMI actions, records every byte Asterisk sent
on our AMI connection, and writes beside the transcript ``NAME.expected.json``: what the
scenario did (calls, who it bridged with whom, the causes it provoked, transfers, what a resync
must find). Expectations come from the scenario and from Asterisk's own words (the names and ids
Asterisk gave the channels the scenario caused), never from our call model, so the unit tests
(tests/unit/test_transcripts.py) can replay the bytes and check the model against them.

Scenarios (``--scenario``):

- ``mixed``: Local channels into ``cc-test``: answered, busy, congested, DTMF, bridged pairs.
- ``agent_connect``: a caller in ``[holding]`` (``Local/…@inbound``) and an agent leg originated
  to a registered SIPp agent (``PJSIP/2001``) into ``[agent-connect]``, joined by AMI ``Bridge``;
  once the caller hangs up first, once the agent.
- ``agent_joined``: the same with the agent leg as the ACD originates it now (``CC_CALL_ID``
  naming the caller's call): one call; a second client's resync snapshot taken while they talk.
- ``blind_transfer``: the agent blind-transfers the bridged caller to agent 2002 (``BlindTransfer``
  action; Dial makes a new bridge); a bridged Local channel is ``Redirect``-ed out of its bridge and
  its partner bridged again with a third call.
- ``masquerade``: what Asterisk 22 does where older versions renamed channels: a call pickup
  (``PickupChan``, a masquerade), a ringing Dial callee pulled into a bridge by ``Bridge`` (a
  "yank", also a masquerade) and a Local channel optimised away between a caller and an agent.
- ``restart_resync``: calls up, Asterisk stopped (graceful) then killed (crash); calls are placed
  while our client is away. One transcript per AMI session (``NAME.sessionN.ami``) plus the
  snapshots our client read at each resync (``NAME.snapshots.json``), because the answers to
  CoreShowChannels/BridgeList/Status only reach a pending action and cannot be replayed from the
  bytes alone.

Usage (the sandbox is shared: hold its lock)::

    flock /tmp/cc-sandbox.lock .venv/bin/python bench/record_ami_transcript.py --scenario all

Needs the sandbox running (``callcenter sandbox up``) and root (SIPp runs in the chroot).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import json
import random
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from callcenter.config import AmiSettings, Settings
from callcenter.cti.ami import AmiClient, Answer
from callcenter.cti.model import CallModel, ReconcileResult, SnapshotChannel
from callcenter.events import EventBus

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # the SIPp agent phones of the system tests
    sys.path.insert(0, str(ROOT))

from tests.system.sipp_agent import SippAgent  # noqa: E402

FIXTURES = ROOT / "tests" / "fixtures" / "ami"
Headers = Mapping[str, Any]

#: exten in cc-test -> (expected call hangup cause, answered), for the mixed scenario
MIXED = {"answer": (16, True), "hangup16": (16, True), "busy": (17, False),
         "congestion": (34, False), "dtmf": (16, True), "park": (16, True)}
#: SIP ports of the SIPp agents (apart from the system tests' ports)
AGENT_PORTS = {"2001": 25_401, "2002": 25_402}


def _plain(headers: Headers) -> dict[str, Any]:
    """Headers as a plain dict (panoramisk messages carry an extra ``content`` key)."""
    return {k: v for k, v in dict(headers).items() if k != "content"}


class RecordingModel(CallModel):
    """The call model, noting each snapshot it reconciles so a replay can feed the same one."""

    def __init__(self) -> None:
        super().__init__()
        self.snapshots: list[dict[str, Any]] = []
        self.session: Session | None = None

    def reconcile(self, snapshot: Iterable[SnapshotChannel],
                  bridges: Iterable[Headers] = ()) -> ReconcileResult:
        rows, bridge_rows = list(snapshot), list(bridges)
        session = self.session
        self.snapshots.append({
            "session": session.index if session else 0,
            # bytes of the session received before the snapshot was complete: the replay feeds
            # these, reconciles, then feeds the rest (live events interleave with the answers)
            "offset": len(session.raw.getbuffer()) if session else 0,
            "now": self.clock(),
            "channels": [{"headers": _plain(r.headers), "bridge_id": r.bridge_id,
                          "variables": dict(r.variables)} for r in rows],
            "bridges": [_plain(b) for b in bridge_rows],
        })
        return super().reconcile(rows, bridge_rows)


class _TappedClient(AmiClient):
    """An AmiClient that also keeps Asterisk's raw events (the scenario's source of ids)."""

    def __init__(self, *args: Any, tap: Callable[[dict[str, Any]], None], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._tap = tap

    def on_event(self, headers: dict[str, Any]) -> None:
        self._tap(headers)
        super().on_event(headers)


@dataclass
class Originated:
    """A call the scenario started: its id (= linkedid, the ``ChannelId`` we gave Asterisk)."""

    call_id: str
    complete: asyncio.Future[Answer]

    @property
    def leg2(self) -> str:
        """Uniqueid of the second channel (``OtherChannelId``: the ``;2`` half of a Local)."""
        return f"{self.call_id}-2"

    async def outcome(self, timeout: float = 30) -> dict[str, Any]:
        """The OriginateResponse (Response, Reason, Channel) once Asterisk has one."""
        answer = await asyncio.wait_for(self.complete, timeout)
        for message in answer if isinstance(answer, list) else [answer]:
            if message.get("Event") == "OriginateResponse":
                return _plain(message)
        raise RuntimeError(f"no OriginateResponse for {self.call_id}: {answer}")

    async def answered(self, timeout: float = 30) -> dict[str, Any]:
        response = await self.outcome(timeout)
        if response.get("Response") != "Success":
            raise RuntimeError(f"call {self.call_id} was not answered: {response}")
        return response


class Session:
    """One AMI connection: a real AmiClient, the bytes it received and Asterisk's events."""

    def __init__(self, model: CallModel, index: int = 0, record: bool = True) -> None:
        sandbox = Settings().sandbox
        self.index = index
        self.model = model
        self.raw = io.BytesIO()
        self.events: list[dict[str, Any]] = []
        self.client = _TappedClient(AmiSettings(port=sandbox.ami_port, ping_interval_s=30),
                                    model, EventBus(), recorder=self.raw if record else None,
                                    tap=self.events.append)

    async def start(self) -> Session:
        if isinstance(self.model, RecordingModel):
            self.model.session = self
        await self.client.start()
        await self.client.wait_ready(20)
        return self

    async def stop(self) -> None:
        await self.client.stop()

    async def action(self, **fields: Any) -> Answer:
        return await self.client.send(fields)

    async def originate(self, endpoint: str, *, app: str | None = None, data: str = "",
                        context: str | None = None, exten: str = "s", caller_id: str = "",
                        variables: Mapping[str, str] | None = None,
                        timeout_s: float = 20) -> Originated:
        call_id = uuid.uuid4().hex
        fields: dict[str, Any] = {
            "Action": "Originate", "Channel": endpoint, "Async": "true",
            "Timeout": str(int(timeout_s * 1000)),
            "ChannelId": call_id, "OtherChannelId": f"{call_id}-2",
        }
        if app is not None:
            fields.update(Application=app, Data=data)
        else:
            fields.update(Context=context, Exten=exten, Priority="1")
        if caller_id:
            fields["CallerID"] = caller_id
        if variables:
            fields["Variable"] = [f"{k}={v}" for k, v in variables.items()]
        _, complete = await self.client.send_async(fields)
        return Originated(call_id, complete)

    def find(self, predicate: Callable[[dict[str, Any]], bool],
             since: int = 0) -> dict[str, Any] | None:
        """The first event (from index ``since``) that matches."""
        return next((e for e in self.events[since:] if predicate(e)), None)

    async def wait_event(self, predicate: Callable[[dict[str, Any]], bool],
                         what: str, timeout: float = 20, since: int = 0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while (found := self.find(predicate, since)) is None:
            if time.monotonic() > deadline:
                raise RuntimeError(f"timed out waiting for {what}")
            await asyncio.sleep(0.02)
        return found

    def name_of(self, uid: str) -> str:
        """The channel's name as Asterisk last gave it (Newchannel, or a later Rename)."""
        name = ""
        for event in self.events:
            if event.get("Uniqueid") != uid:
                continue
            if event.get("Event") == "Rename":
                name = str(event.get("Newname", name))
            elif event.get("Event") == "Newchannel" or not name:
                name = str(event.get("Channel", name))
        if not name:
            raise RuntimeError(f"Asterisk never named channel {uid}")
        return name

    def uid_named(self, prefix: str, suffix: str = "") -> str:
        """Uniqueid of the newest channel Asterisk created named ``prefix…suffix`` (for the
        channels Asterisk creates itself, e.g. the phone a Dial rings)."""
        for event in reversed(self.events):
            name = str(event.get("Channel"))
            if event.get("Event") == "Newchannel" and name.startswith(prefix) \
                    and name.endswith(suffix):
                return str(event["Uniqueid"])
        raise RuntimeError(f"no channel named {prefix}*{suffix}")

    def is_up(self, uid: str) -> bool:
        return self.find(lambda e: e.get("Uniqueid") == uid and e.get("Event") == "Newstate"
                         and e.get("ChannelState") == "6") is not None

    def is_gone(self, uid: str) -> bool:
        return self.find(lambda e: e.get("Uniqueid") == uid
                         and e.get("Event") == "Hangup") is not None

    async def wait_up(self, uid: str, timeout: float = 20) -> None:
        await self.wait_event(lambda e: e.get("Uniqueid") == uid and e.get("Event") == "Newstate"
                              and e.get("ChannelState") == "6", f"{uid} up", timeout)

    async def wait_agent_waiting(self, uid: str, timeout: float = 20) -> None:
        """The agent leg reached its Wait in [agent-connect]: the server bridges only then."""
        await self.wait_event(lambda e: e.get("Uniqueid") == uid and e.get("Event") == "VarSet"
                              and e.get("Variable") == "CC_AGENT_WAITING",
                              f"{uid} waiting in [agent-connect]", timeout)

    async def wait_gone(self, uid: str, timeout: float = 20) -> None:
        await self.wait_event(lambda e: e.get("Uniqueid") == uid and e.get("Event") == "Hangup",
                              f"{uid} hung up", timeout)

    async def bridge(self, uid1: str, uid2: str) -> None:
        """AMI Bridge of two channels; returns once Asterisk says both entered a bridge."""
        mark = len(self.events)
        await self.action(Action="Bridge", Channel1=self.name_of(uid1),
                          Channel2=self.name_of(uid2), Tone="no")
        for uid in (uid1, uid2):
            await self.wait_event(lambda e, u=uid: e.get("Uniqueid") == u  # type: ignore[misc]
                                  and e.get("Event") == "BridgeEnter", f"{uid} bridged",
                                  since=mark)

    async def hangup(self, uid: str, cause: int = 16) -> None:
        await self.action(Action="Hangup", Channel=self.name_of(uid), Cause=str(cause))

    async def channels_count(self) -> int:
        """Asterisk's own count of its channels (``core show channels count``)."""
        answer = await self.action(Action="Command", Command="core show channels count")
        for message in answer if isinstance(answer, list) else [answer]:
            output = message.get("Output") or []
            for line in output if isinstance(output, list) else [output]:
                words = str(line).split()
                if len(words) >= 3 and words[1:3] in (["active", "channels"],
                                                     ["active", "channel"]):
                    return int(words[0])
        raise RuntimeError(f"cannot read the channel count from {answer}")

    async def make_idle(self, timeout: float = 20) -> None:
        """Hang up whatever an earlier run left, until Asterisk has no channel."""
        await self.action(Action="Command", Command="channel request hangup all")
        deadline = time.monotonic() + timeout
        while await self.channels_count():
            if time.monotonic() > deadline:
                raise RuntimeError("the sandbox still has channels")
            await asyncio.sleep(0.1)


@dataclass
class Expected:
    """What a scenario did, written as NAME.expected.json (see tests/unit/test_transcripts.py).

    ``calls``: call id -> answered / cause / legs / caller number and name (None: not checked).
    ``legs``: uniqueid -> its call, its name as Asterisk gave it, and what the scenario knows of
    its end (cause, the dialplan location it ended in, variables it must carry).
    ``bridges``: the members of each bridge the scenario caused (every channel that was in it).
    ``transfers``: blind transfers the scenario made. ``steps``: the scenario in words.
    """

    scenario: str
    steps: list[str] = field(default_factory=list)
    calls: dict[str, dict[str, Any]] = field(default_factory=dict)
    legs: dict[str, dict[str, Any]] = field(default_factory=dict)
    bridges: list[list[str]] = field(default_factory=list)
    transfers: list[dict[str, str]] = field(default_factory=list)
    resyncs: list[dict[str, Any]] = field(default_factory=list)

    def call(self, call_id: str, *, answered: bool, cause: int | None, legs: int | None = None,
             caller_num: str | None = None, caller_name: str | None = None,
             vanished: bool = False) -> None:
        self.calls[call_id] = {"answered": answered, "cause": cause, "legs": legs,
                               "caller_num": caller_num, "caller_name": caller_name,
                               "vanished": vanished}

    def leg(self, session: Session, uid: str, call_id: str, **known: Any) -> None:
        self.legs[uid] = {"call": call_id, "name": session.name_of(uid), **known}

    def to_json(self) -> dict[str, Any]:
        return {"scenario": self.scenario, "steps": self.steps, "calls": self.calls,
                "legs": self.legs, "bridges": self.bridges, "transfers": self.transfers,
                "resyncs": self.resyncs}


@contextlib.asynccontextmanager
async def agent_phones(*agent_ids: str) -> AsyncIterator[None]:
    """Registered SIPp agent phones (answer after 300 ms ringing, wait for the BYE)."""
    from callcenter.sandbox import Sandbox

    sandbox = Sandbox(Settings().sandbox)
    phones = [SippAgent(sandbox, agent, port=AGENT_PORTS[agent], ring_ms=300)
              for agent in agent_ids]
    try:
        for phone in phones:
            await phone.start()
        yield
    finally:
        for phone in phones:
            await phone.stop()


def _save(name: str, payload: dict[str, Any], transcripts: dict[str, bytes]) -> None:
    FIXTURES.mkdir(parents=True, exist_ok=True)
    for file_name, data in transcripts.items():
        (FIXTURES / file_name).write_bytes(data)
    (FIXTURES / f"{name}.expected.json").write_text(json.dumps(payload, indent=1) + "\n")


def _count_events(data: bytes) -> int:
    return data.count(b"\r\nEvent: ") + data.startswith(b"Event: ")


async def _idle_session(model: CallModel) -> Session:
    """A connected session on an idle PBX whose transcript starts now."""
    session = await Session(model).start()
    await session.make_idle()
    for _ in range(100):
        if not model.channels:
            break
        await asyncio.sleep(0.1)
    session.raw.seek(0)
    session.raw.truncate()
    session.events.clear()
    return session


async def _finish(session: Session, name: str, expected: Expected | dict[str, Any]) -> None:
    for _ in range(200):
        if not session.model.channels:
            break
        await asyncio.sleep(0.1)
    await session.stop()
    if session.model.channels:
        raise SystemExit(f"calls still up at the end: {sorted(session.model.channels)}")
    data = session.raw.getvalue()
    payload = expected.to_json() if isinstance(expected, Expected) else expected
    _save(name, payload, {f"{name}.ami": data})
    print(f"{name}: {len(data)} bytes, {_count_events(data)} events -> {FIXTURES / name}.ami")


# --- scenarios ------------------------------------------------------------------------------


async def record_mixed(name: str, scale: int) -> None:
    s = await _idle_session(CallModel())
    rng = random.Random(7)
    plan: list[tuple[str, dict[str, str]]] = []
    for _ in range(scale):
        plan += [("answer", {"CC_TALK_S": str(rng.choice([1, 2, 3]))}) for _ in range(20)]
        plan += [("busy", {}), ("congestion", {}), ("hangup16", {})] * 5
        plan += [("dtmf", {"CC_DTMF": "123#"}) for _ in range(5)]
    rng.shuffle(plan)
    expected: dict[str, Any] = {}
    calls = []
    for exten, variables in plan:
        call = await s.originate(f"Local/{exten}@cc-test", app="Wait", data="600",
                                 variables=variables, timeout_s=10)
        cause, answered = MIXED[exten]
        expected[call.call_id] = {"exten": exten, "cause": cause, "answered": answered,
                                  "dtmf": variables.get("CC_DTMF", "")}
        calls.append(call)
        await asyncio.sleep(0.02)
    await asyncio.gather(*(c.outcome() for c in calls))
    await asyncio.sleep(2.0)  # DTMF calls and bridged pairs are ended by us, over AMI
    pairs = []
    for _ in range(3 * scale):
        a = await s.originate("Local/park@cc-test", app="Wait", data="600")
        b = await s.originate("Local/park@cc-test", app="Wait", data="600")
        await asyncio.gather(a.answered(), b.answered())
        await s.bridge(a.call_id, b.call_id)
        pairs.append((a, b))
        for c in (a, b):
            expected[c.call_id] = {"exten": "park", "cause": 16, "answered": True,
                                   "dtmf": "", "bridged": True}
    await asyncio.sleep(1.0)
    for call_id, info in expected.items():
        if info["exten"] == "dtmf":
            await s.hangup(call_id)
    for a, b in pairs:
        await s.hangup(a.call_id)
        await asyncio.sleep(0.2)
        if not s.is_gone(b.call_id):
            await s.hangup(b.call_id)
    await _finish(s, name, expected)


async def record_agent_connect(name: str) -> None:
    """The inbound path the ACD drives: caller waits in [holding], the server rings an agent
    into [agent-connect] and joins the two with AMI Bridge."""
    s = await _idle_session(CallModel())
    x = Expected("agent_connect")
    customer = ("Alice", "+8613800138000")
    caller_id = f'"{customer[0]}" <{customer[1]}>'
    async with agent_phones("2001"):
        for first_to_leave in ("caller", "agent"):
            talk_s = 6 if first_to_leave == "caller" else 60
            caller = await s.originate("Local/5550100@inbound", app="Wait", data=str(talk_s),
                                       caller_id=caller_id)
            await caller.answered()
            # the ;2 half runs [inbound] -> [ivr] (no IVR heartbeat: OFFLINE) -> [holding]
            await s.wait_event(lambda e, c=caller: e.get("Uniqueid") == c.leg2  # type: ignore[misc]
                               and e.get("Event") == "VarSet"
                               and e.get("Variable") == "CC_HOLD_START", "caller in holding")
            agent = await s.originate("PJSIP/2001", context="agent-connect", exten="s",
                                      caller_id=caller_id)
            await agent.answered()
            await s.wait_up(agent.call_id)
            await s.wait_agent_waiting(agent.call_id)
            await s.bridge(caller.leg2, agent.call_id)
            x.steps.append(f"caller {caller.call_id} (Local/5550100@inbound, {caller_id}) "
                           f"waits in [holding]; agent leg {agent.call_id} (PJSIP/2001, "
                           f"[agent-connect]); AMI Bridge caller;2 + agent")
            if first_to_leave == "caller":
                # the caller's Wait(6) ends: its Local pair hangs up; the agent leg leaves the
                # bridge and [agent-connect] goes on to Hangup()
                await s.wait_gone(caller.leg2)
                await s.wait_gone(agent.call_id)
                x.steps.append("caller hangs up (its Wait ends); the agent leg is hung up by "
                               "[agent-connect]'s Hangup() after the bridge")
            else:
                await asyncio.sleep(2)
                await s.hangup(agent.call_id)
                await s.wait_gone(agent.call_id)
                # the caller goes back to [holding] (after-bridge: the dialplan goes on)
                await asyncio.sleep(1)
                await s.hangup(caller.call_id)
                await s.wait_gone(caller.leg2)
                x.steps.append("AMI Hangup of the agent leg (cause 16): the caller returns to "
                               "[holding]; then AMI Hangup of the caller's ;1 half (cause 16)")
            x.call(caller.call_id, answered=True, cause=16, legs=2,
                   caller_num=customer[1], caller_name=customer[0])
            x.call(agent.call_id, answered=True, cause=16, legs=1,
                   caller_num=customer[1], caller_name=customer[0])
            x.leg(s, caller.call_id, caller.call_id)
            x.leg(s, caller.leg2, caller.call_id, context="holding",
                  variables={"CC_DIRECTION": "inbound", "CC_DNIS": "5550100",
                             "CC_IVR_STATUS": "OFFLINE"})
            x.leg(s, agent.call_id, agent.call_id, cause=16, context="agent-connect",
                  variables={"CC_AGENT_ANSWERED": "", "CC_AGENT_WAITING": ""})  # "" = set
            x.bridges.append([caller.leg2, agent.call_id])
    await _finish(s, name, x)


async def record_agent_joined(name: str) -> None:
    """The agent's leg as the ACD originates it now (issue 10): with ``CC_CALL_ID`` naming the
    caller's call (and the ACD's ``CC_AGENT``/``CC_QUEUE``), which the server joins to that call
    before sending the Originate (``joins`` in the expectations: the replay does the same).
    While the two talk, a second client connects, as a restarted server would: the snapshot it
    reconciled (CoreShowChannels + Status) is kept as ``restart_snapshot``, from which a fresh
    model must build the same one call."""
    s = await _idle_session(CallModel())
    x = Expected("agent_joined")
    customer = ("Alice", "+8613800138000")
    caller_id = f'"{customer[0]}" <{customer[1]}>'
    async with agent_phones("2001"):
        caller = await s.originate("Local/5550100@inbound", app="Wait", data="8",
                                   caller_id=caller_id)
        await caller.answered()
        await s.wait_event(lambda e: e.get("Uniqueid") == caller.leg2
                           and e.get("Event") == "VarSet"
                           and e.get("Variable") == "CC_HOLD_START", "caller in holding")
        variables = {"CC_QUEUE": "default", "CC_AGENT": "2001", "CC_CALL_ID": caller.call_id}
        agent = await s.originate("PJSIP/2001", context="agent-connect", exten="s",
                                  caller_id=caller_id, variables=variables)
        await agent.answered()
        await s.wait_up(agent.call_id)
        await s.wait_agent_waiting(agent.call_id)
        await s.bridge(caller.leg2, agent.call_id)
        restarted = RecordingModel()
        second = await Session(restarted, record=False).start()
        await second.stop()
        x.steps.append(f"caller {caller.call_id} (Local/5550100@inbound, {caller_id}) waits in "
                       f"[holding]; agent leg {agent.call_id} (PJSIP/2001, [agent-connect]) "
                       f"originated with CC_CALL_ID={caller.call_id}; AMI Bridge caller;2 + "
                       "agent; a second client connects (its resync snapshot is kept)")
        await s.wait_gone(caller.leg2)
        await s.wait_gone(agent.call_id)
        x.steps.append("caller hangs up (its Wait ends); the agent leg is hung up by "
                       "[agent-connect]'s Hangup() after the bridge")
        x.call(caller.call_id, answered=True, cause=16, legs=3,
               caller_num=customer[1], caller_name=customer[0])
        x.leg(s, caller.call_id, caller.call_id)
        x.leg(s, caller.leg2, caller.call_id, context="holding")
        x.leg(s, agent.call_id, caller.call_id, cause=16, context="agent-connect",
              variables={"CC_AGENT": "2001", "CC_QUEUE": "default",
                         "CC_CALL_ID": caller.call_id, "CC_AGENT_ANSWERED": "",
                         "CC_AGENT_WAITING": ""})
        x.bridges.append([caller.leg2, agent.call_id])
    payload = x.to_json()
    payload["joins"] = [{"channel_id": agent.call_id, "call_id": caller.call_id,
                         "variables": variables}]
    payload["restart_snapshot"] = restarted.snapshots[0]
    await _finish(s, name, payload)


async def record_blind_transfer(name: str) -> None:
    s = await _idle_session(CallModel())
    x = Expected("blind_transfer")
    customer = ("Carol", "+4915112345678")
    caller_id = f'"{customer[0]}" <{customer[1]}>'
    async with agent_phones("2001", "2002"):
        # 1. the agent on 2001 blind-transfers the caller to agent 2002 (BlindTransfer action)
        caller = await s.originate("Local/5550101@inbound", app="Wait", data="10",
                                   caller_id=caller_id)
        await caller.answered()
        await s.wait_event(lambda e: e.get("Uniqueid") == caller.leg2
                           and e.get("Variable") == "CC_HOLD_START", "caller in holding")
        agent1 = await s.originate("PJSIP/2001", context="agent-connect", exten="s",
                                   caller_id=caller_id)
        await agent1.answered()
        await s.wait_up(agent1.call_id)
        await s.wait_agent_waiting(agent1.call_id)
        await s.bridge(caller.leg2, agent1.call_id)
        await asyncio.sleep(1)
        await s.action(Action="BlindTransfer", Channel=s.name_of(agent1.call_id),
                       Context="agents", Exten="2002")
        # Asterisk sends the caller's ;2 half to agents,2002: Dial(PJSIP/2002) -> new bridge
        await s.wait_event(lambda e: e.get("Event") == "Newchannel"
                           and str(e.get("Channel")).startswith("PJSIP/2002-"), "2002 rung")
        agent2_uid = s.uid_named("PJSIP/2002-")
        await s.wait_up(agent2_uid)
        await s.wait_event(lambda e: e.get("Uniqueid") == agent2_uid
                           and e.get("Event") == "BridgeEnter", "caller bridged to 2002")
        await s.wait_gone(agent1.call_id)
        x.steps.append(f"caller {caller.call_id} ({caller_id}) in [holding] bridged (AMI Bridge) "
                       f"to agent leg {agent1.call_id} (PJSIP/2001); AMI BlindTransfer of the "
                       "agent's channel to agents,2002: the caller's ;2 half Dials PJSIP/2002 "
                       f"({agent2_uid}), a new bridge; the agent leg leaves and [agent-connect] "
                       "hangs it up")
        await s.wait_gone(agent2_uid, timeout=30)  # the caller's Wait(10) ends
        x.steps.append("the caller hangs up (Wait ends); Dial hangs up PJSIP/2002")
        x.call(caller.call_id, answered=True, cause=16, legs=3,
               caller_num=customer[1], caller_name=customer[0])
        x.call(agent1.call_id, answered=True, cause=16, legs=1)
        x.leg(s, caller.call_id, caller.call_id)
        x.leg(s, caller.leg2, caller.call_id, context="agents", exten="2002")
        x.leg(s, agent1.call_id, agent1.call_id, cause=16)
        x.leg(s, agent2_uid, caller.call_id)
        x.bridges += [[caller.leg2, agent1.call_id], [caller.leg2, agent2_uid]]
        x.transfers.append({"call": caller.call_id, "transferee": caller.leg2,
                            "transferer": agent1.call_id, "context": "agents", "exten": "2002"})

        # 2. Redirect of a bridged channel out of its bridge; its partner is bridged anew
        p = await s.originate("Local/park@cc-test", app="Wait", data="600")
        q = await s.originate("Local/park@cc-test", app="Wait", data="600")
        await asyncio.gather(p.answered(), q.answered())
        await s.bridge(p.call_id, q.call_id)
        await asyncio.sleep(0.5)
        await s.action(Action="Redirect", Channel=s.name_of(q.call_id), Context="cc-test",
                       Exten="hangup16", Priority="1")
        await s.wait_gone(q.call_id)
        r = await s.originate("Local/park@cc-test", app="Wait", data="600")
        await r.answered()
        await asyncio.sleep(0.5)
        await s.bridge(p.call_id, r.call_id)
        await asyncio.sleep(0.5)
        await s.hangup(p.call_id)
        await s.wait_gone(p.leg2)
        await asyncio.sleep(0.5)
        await s.hangup(r.call_id)
        await s.wait_gone(r.leg2)
        x.steps.append(f"Local/park calls {p.call_id} and {q.call_id} bridged (;1 halves); "
                       f"AMI Redirect of {q.call_id} to cc-test,hangup16 (answers, Hangup(16)); "
                       f"{p.call_id} bridged anew with {r.call_id}; AMI Hangup of {p.call_id} "
                       f"then of {r.call_id} (cause 16)")
        for call in (p, q, r):
            x.call(call.call_id, answered=True, cause=16, legs=2)
        x.leg(s, q.call_id, q.call_id, cause=16, context="cc-test", exten="hangup16")
        x.leg(s, p.call_id, p.call_id, cause=16)
        x.leg(s, r.call_id, r.call_id, cause=16)
        x.bridges += [[p.call_id, q.call_id], [p.call_id, r.call_id]]
    await _finish(s, name, x)


async def record_masquerade(name: str) -> None:
    s = await _idle_session(CallModel())
    x = Expected("masquerade")
    # 1. pickup: PickupChan masquerades the picker into the ringing channel's place
    target = await s.originate("Local/noanswer@cc-test", app="Wait", data="600", timeout_s=30)
    await s.wait_event(lambda e: e.get("Uniqueid") == target.call_id
                       and e.get("Event") == "Newstate" and e.get("ChannelState") == "5",
                       "target ringing")
    picker = await s.originate("Local/answer@cc-test", app="PickupChan",
                               data=s.name_of(target.call_id))
    await s.wait_event(lambda e: e.get("Event") == "Pickup", "Pickup")
    await s.wait_gone(target.call_id)
    await s.wait_gone(target.leg2)
    await asyncio.sleep(0.5)
    await s.hangup(picker.call_id)
    await s.wait_gone(picker.leg2)
    x.steps.append(f"{target.call_id} rings (Local/noanswer); {picker.call_id} "
                   "(Local/answer, app PickupChan) picks it up: the ringing ;1 is hung up with "
                   f"cause 26 (answered elsewhere); AMI Hangup of {picker.call_id} (16)")
    x.call(target.call_id, answered=False, cause=26, legs=2)
    x.call(picker.call_id, answered=True, cause=16, legs=2)
    x.leg(s, target.call_id, target.call_id, cause=26)
    x.leg(s, picker.call_id, picker.call_id, cause=16)

    # 2. a ringing Dial callee pulled into a bridge by the Bridge action (Asterisk "yanks" it:
    #    masquerade into a surrogate); the Dial that rang it ends
    held = await s.originate("Local/park@cc-test", app="Wait", data="600")
    await held.answered()
    mark = len(s.events)
    dialer = await s.originate("Local/answer@cc-test", app="Dial", data="Local/noanswer@cc-test")
    await s.wait_event(lambda e: e.get("Event") == "Newstate" and e.get("ChannelState") == "5"
                       and str(e.get("Channel")).startswith("Local/noanswer@cc-test-")
                       and str(e.get("Channel")).endswith(";1"), "callee ringing", since=mark)
    # the callee's ids are Asterisk's (Dial does not take ours)
    callee1 = s.uid_named("Local/noanswer@cc-test-", ";1")
    callee = s.uid_named("Local/noanswer@cc-test-", ";2")
    await s.bridge(held.call_id, callee1)
    await s.wait_gone(dialer.leg2)
    await asyncio.sleep(0.5)
    await s.hangup(held.call_id)
    await s.wait_gone(callee)
    await s.wait_gone(held.leg2)
    x.steps.append(f"{held.call_id} waits (Local/park); {dialer.call_id} Dials Local/noanswer "
                   f"(callee ;1 {callee1}, ;2 {callee}, Asterisk's ids); AMI Bridge of "
                   f"{held.call_id} with the ringing callee ;1: the callee joins the bridge, "
                   f"{dialer.call_id}'s Dial ends; AMI Hangup of {held.call_id} (16) ends all")
    x.call(held.call_id, answered=True, cause=16, legs=2)
    x.call(dialer.call_id, answered=True, cause=None, legs=4)
    x.leg(s, held.call_id, held.call_id, cause=16)
    x.leg(s, callee1, dialer.call_id)
    x.leg(s, callee, dialer.call_id)
    x.bridges.append([held.call_id, callee1])

    # 3. Local channel optimisation: caller bridged to Local/2001@agents-local;1 whose ;2 is
    #    bridged (by Dial) to the agent's phone: Asterisk moves the caller into the agent's
    #    bridge and hangs the Local pair up
    customer = ("Bob", "+4930123456")
    async with agent_phones("2001"):
        caller = await s.originate("Local/park@cc-test", app="Wait", data="600",
                                   caller_id=f'"{customer[0]}" <{customer[1]}>')
        await caller.answered()
        agent = await s.originate("Local/2001@agents-local", context="agent-connect", exten="s")
        await agent.answered()
        phone = s.uid_named("PJSIP/2001-")
        await s.wait_event(lambda e: e.get("Uniqueid") == phone
                           and e.get("Event") == "BridgeEnter", "agent phone bridged")
        await s.bridge(caller.call_id, agent.call_id)
        await s.wait_event(lambda e: e.get("Event") == "LocalOptimizationEnd",
                           "Local channel optimised away")
        await s.wait_gone(agent.leg2)
        await asyncio.sleep(1)
        await s.hangup(caller.call_id)
        await s.wait_gone(phone)
        await s.wait_gone(caller.leg2)
    x.steps.append(f"caller {caller.call_id} (Local/park, {customer[1]}); agent "
                   f"{agent.call_id} = Local/2001@agents-local into [agent-connect], its ;2 "
                   f"Dials PJSIP/2001 ({phone}); AMI Bridge caller;1 + agent;1: Asterisk "
                   "optimises the Local pair away (caller;1 moves into the Dial bridge with "
                   "the phone); AMI Hangup of the caller (16)")
    x.call(caller.call_id, answered=True, cause=16, legs=2,
           caller_num=customer[1], caller_name=customer[0])
    x.call(agent.call_id, answered=True, cause=16, legs=3)
    x.leg(s, caller.call_id, caller.call_id, cause=16)
    x.leg(s, phone, agent.call_id)
    x.bridges += [[caller.call_id, agent.call_id], [agent.leg2, phone, caller.call_id]]
    await _finish(s, name, x)


async def record_restart_resync(name: str) -> None:
    """Two outages: a graceful stop (Asterisk hangs everything up and says Shutdown) and a
    crash (SIGKILL: nothing said; only the resync can find the dead). While our client is away
    another AMI client places calls, which our resync must adopt."""
    from callcenter.sandbox import Sandbox

    sandbox = Sandbox(Settings().sandbox)
    model = RecordingModel()
    x = Expected("restart_resync")
    helper = await Session(CallModel(), record=False).start()
    await helper.make_idle()
    await helper.stop()

    async def long_call(session: Session, **variables: str) -> Originated:
        call = await session.originate("Local/answer@cc-test", app="Wait", data="600",
                                       variables={"CC_TALK_S": "600", **variables})
        await call.answered()
        await session.wait_up(call.leg2)
        return call

    async def bridged_pair(session: Session) -> tuple[Originated, Originated]:
        a = await session.originate("Local/park@cc-test", app="Wait", data="600")
        b = await session.originate("Local/park@cc-test", app="Wait", data="600")
        await asyncio.gather(a.answered(), b.answered())
        await session.bridge(a.call_id, b.call_id)
        return a, b

    async def outage(session: Session, stop: Callable[[], None]) -> None:
        await asyncio.to_thread(stop)
        deadline = time.monotonic() + 20
        while session.client.connected:
            if time.monotonic() > deadline:
                raise RuntimeError("the client did not see Asterisk go")
            await asyncio.sleep(0.05)
        await session.stop()  # our client stays away while others place calls
        await asyncio.to_thread(sandbox.start_asterisk)

    async def placed_while_away() -> tuple[Originated, Originated, Originated, Session]:
        other = await Session(CallModel(), record=False).start()
        lone = await long_call(other, CC_QUEUE="sales")
        a, b = await bridged_pair(other)
        await asyncio.sleep(2)  # CoreShowChannel's Duration: whole seconds
        return lone, a, b, other

    # session 1: calls up, then a graceful stop
    s1 = await Session(model, 1).start()
    a1 = await long_call(s1)
    p1, p2 = await bridged_pair(s1)
    await outage(s1, sandbox.stop_asterisk)
    x.steps.append(f"session 1: {a1.call_id} (Local/answer) and the bridged pair {p1.call_id} + "
                   f"{p2.call_id} (Local/park) up; Asterisk stopped gracefully (core stop now): "
                   "it hangs every channel up (events), then Shutdown")
    for call in (a1, p1, p2):
        x.call(call.call_id, answered=True, cause=None, legs=2)
    x.bridges.append([p1.call_id, p2.call_id])

    # while away: another client places calls; session 2 must discover them
    b1, b2, b3, other = await placed_while_away()
    for call in (b1, b2, b3):
        for uid in (call.call_id, call.leg2):
            x.leg(other, uid, call.call_id, discovered_in_session=2,
                  **({"variables": {"CC_QUEUE": "sales"}} if call is b1 and uid == b1.leg2
                     else {}))
    await other.stop()
    s2 = await Session(model, 2).start()
    x.resyncs.append({"session": 2, "ghosts_removed": 0, "discovered": 6})
    c1 = await s2.originate("Local/hangup16@cc-test", app="Wait", data="600")
    await s2.wait_gone(c1.leg2)
    await asyncio.sleep(0.5)
    x.steps.append(f"Asterisk started; another AMI client places {b1.call_id} (Local/answer, "
                   f"CC_QUEUE=sales) and the bridged pair {b2.call_id} + {b3.call_id}; session 2 "
                   f"connects: its resync discovers those 6 channels; {c1.call_id} "
                   "(Local/hangup16) placed and ended live")
    x.call(c1.call_id, answered=True, cause=16, legs=2)
    x.bridges.append([b2.call_id, b3.call_id])
    await outage(s2, sandbox.crash_asterisk)
    for call in (b1, b2, b3):
        x.call(call.call_id, answered=True, cause=0, legs=2, vanished=True)
    x.steps.append("Asterisk killed (SIGKILL: no events); started again")

    d1, d2, d3, other = await placed_while_away()
    d2_name, d3_name = other.name_of(d2.call_id), other.name_of(d3.call_id)
    for call in (d1, d2, d3):
        for uid in (call.call_id, call.leg2):
            x.leg(other, uid, call.call_id, discovered_in_session=3)
    await other.stop()
    s3 = await Session(model, 3).start()
    x.resyncs.append({"session": 3, "ghosts_removed": 6, "discovered": 6})
    for call in (d1, d2, d3):
        await s3.action(Action="Hangup", Channel=other.name_of(call.call_id), Cause="16")
        await s3.wait_gone(call.leg2)
    x.steps.append(f"another client places {d1.call_id} and the bridged pair {d2.call_id} "
                   f"({d2_name}) + {d3.call_id} ({d3_name}); session 3 connects: its resync "
                   "closes the 6 channels of the crash as vanished (cause 0) and discovers the "
                   "6 new ones; AMI Hangup of each new call's ;1 (16)")
    for call in (d1, d2, d3):
        x.call(call.call_id, answered=True, cause=16, legs=2)
    x.bridges.append([d2.call_id, d3.call_id])
    for _ in range(100):
        if not model.channels:
            break
        await asyncio.sleep(0.1)
    await s3.stop()
    if model.channels:
        raise SystemExit(f"calls still up at the end: {sorted(model.channels)}")
    transcripts = {f"{name}.session{s.index}.ami": s.raw.getvalue() for s in (s1, s2, s3)}
    _save(name, x.to_json(), transcripts)
    (FIXTURES / f"{name}.snapshots.json").write_text(json.dumps(model.snapshots, indent=1) + "\n")
    for file_name, data in transcripts.items():
        print(f"{file_name}: {len(data)} bytes, {_count_events(data)} events")


SCENARIOS: dict[str, Callable[[str], Awaitable[None]]] = {
    "agent_connect": record_agent_connect,
    "agent_joined": record_agent_joined,
    "blind_transfer": record_blind_transfer,
    "masquerade": record_masquerade,
    "restart_resync": record_restart_resync,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", default="mixed", choices=["mixed", *SCENARIOS, "all"])
    parser.add_argument("--name", help="file stem under tests/fixtures/ami (default: scenario)")
    parser.add_argument("--scale", type=int, default=1, help="mixed: how many rounds of calls")
    args = parser.parse_args()
    if args.scenario == "all" and args.name:
        parser.error("--name names one scenario's files")
    names = ["mixed", *SCENARIOS] if args.scenario == "all" else [args.scenario]

    async def run() -> None:
        for scenario in names:
            stem = args.name or scenario
            if scenario == "mixed":
                await record_mixed(stem, args.scale)
            else:
                await SCENARIOS[scenario](stem)

    asyncio.run(run())


if __name__ == "__main__":
    main()
