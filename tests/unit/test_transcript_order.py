"""The recorded AMI transcripts replayed through the AMI adapter into the whole contact-center
assembly (agent 2001 configured and ready, the inbound ACD on queue ``default``): what the
event stream tells must be causes before effects.

- every agent's published moves form a path the state machine allows (``check_event_order``);
- each channel's events start with ``channel.created`` and end with its ``channel.hangup``;
- each call's events start with ``call.started`` and end with ``call.ended``;
- an agent is on call only after its phone's channel went up, in wrap-up only after it hung up.

The PBX under the assembly is the transcript itself: its actions are recorded, not sent, and
an Originate's outcome is whatever the transcript then shows for that channel. The connector
is given the agent-leg ids the recording used, so the legs it rings are the recorded ones.
"""

from __future__ import annotations

import asyncio
import itertools
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from callcenter import events as ev
from callcenter.config import AcdSettings, AmiSettings
from callcenter.contact_center import build_contact_center
from callcenter.core.clock import RealtimeClock
from callcenter.core.pbx import (
    OriginateHandle,
    OriginateOutcome,
    OriginateReason,
    OriginateRequest,
    PbxStatus,
)
from callcenter.cti.ami import AmiClient
from callcenter.cti.model import CallModel
from callcenter.cti.protocol import AmiProtocol
from tests.event_order import check_event_order

pytestmark = pytest.mark.unit

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "ami"
#: single-session transcripts (restart_resync is three sessions and a snapshot: its own test)
TRANSCRIPTS = sorted(p for p in FIXTURES.glob("*.ami") if "." not in p.stem)
TRANSCRIPT_BYTES = {p.stem: p.read_bytes() for p in TRANSCRIPTS}


class TranscriptPbx:
    """A Pbx whose world is a recording: actions are noted, outcomes read from the events."""

    name = "transcript"

    def __init__(self, model: CallModel, bus: ev.EventBus) -> None:
        self.model = model
        self.actions: list[tuple[str, str]] = []
        self._outcomes: dict[str, asyncio.Future[OriginateOutcome]] = {}
        bus.add_handler(self._on_event)

    @property
    def calls(self) -> CallModel:
        return self.model

    def status(self) -> PbxStatus:
        return PbxStatus(pbx=self.name, connected=True)

    def registered_endpoints(self) -> frozenset[str]:
        """The recordings' agent phone was registered (SIPp), before they start."""
        return frozenset({"PJSIP/2001"})

    async def originate(self, request: OriginateRequest) -> OriginateHandle:
        channel_id = request.channel_id or uuid.uuid4().hex
        self.actions.append(("originate", channel_id))
        future = asyncio.get_running_loop().create_future()
        self._outcomes[channel_id] = future
        return OriginateHandle(channel_id, future)

    def _on_event(self, event: ev.DomainEvent) -> None:
        if isinstance(event, ev.ChannelStateChanged) and event.state == "up":
            self._resolve(event.channel_id, OriginateReason.ANSWERED)
        elif isinstance(event, ev.ChannelHungUp):
            self._resolve(event.channel_id, OriginateReason.NO_ANSWER)

    def _resolve(self, channel_id: str, reason: OriginateReason) -> None:
        future = self._outcomes.pop(channel_id, None)
        if future is not None and not future.done():
            future.set_result(OriginateOutcome(channel_id, reason))

    async def bridge(self, channel_id: str, other_channel_id: str) -> None:
        self.actions.append(("bridge", f"{channel_id}+{other_channel_id}"))

    async def hangup(self, channel_id: str, cause: int = 16) -> None:
        self.actions.append(("hangup", channel_id))

    async def redirect(self, channel_id: str, context: str, exten: str,
                       priority: int = 1) -> None:
        self.actions.append(("redirect", channel_id))

    async def set_variable(self, channel_id: str, name: str, value: str) -> None:
        self.actions.append(("setvar", channel_id))

    async def get_variable(self, channel_id: str, name: str) -> str | None:
        return None

    async def spy(self, *args: Any, **kwargs: Any) -> OriginateHandle:
        raise NotImplementedError("no supervisor in a transcript")


def recorded_agent_legs(data: bytes, agent: str) -> Iterator[str]:
    """The Uniqueids of the agent's PJSIP channels, in the order the recording made them."""
    for block in data.split(b"\r\n\r\n"):
        if b"Event: Newchannel" in block and f"Channel: PJSIP/{agent}-".encode() in block:
            for line in block.split(b"\r\n"):
                if line.startswith(b"Uniqueid: "):
                    yield line.split(b": ", 1)[1].decode()


async def replay(data: bytes, chunk: int) -> tuple[list[dict[str, Any]], TranscriptPbx, Any]:
    """Feed the recording in ``chunk``-byte reads. The world cannot answer an Originate before
    it was sent: the read that first names a recorded agent leg waits until the ACD rang it."""
    bus = ev.EventBus()
    stream: list[dict[str, Any]] = []
    model = CallModel(emit=bus.publish)
    client = AmiClient(AmiSettings(), model, bus)
    pbx = TranscriptPbx(model, bus)
    center = build_contact_center(
        pbx, bus, RealtimeClock(speed=1000),  # type: ignore[arg-type]
        AcdSettings(agents=["2001"], wrap_up_s=1.0))
    recorded = list(recorded_agent_legs(data, "2001"))
    legs = itertools.chain(recorded, iter(lambda: uuid.uuid4().hex, ""))
    center.connector.new_channel_id = legs.__next__
    bus.add_handler(lambda e: stream.append(e.to_dict()))
    await center.start()
    protocol = AmiProtocol(client)
    #: where each recorded leg first appears: the server's Originate must come before
    gates = sorted((data.index(leg.encode()), leg) for leg in recorded)
    position = 0
    for cut, leg in [*gates, (len(data), "")]:
        while position < cut:
            end = min(position + chunk, cut)
            protocol.data_received(data[position:end])
            position = end
            await asyncio.sleep(0)  # the ACD's ring task runs as it would between reads
        if leg:
            for _ in range(1000):
                if ("originate", leg) in pbx.actions:
                    break
                await asyncio.sleep(0)
            else:
                raise AssertionError(f"the ACD never rang the recorded agent leg {leg}")
    await asyncio.sleep(0.01)  # wrap-up timers (1 s at 1000x)
    assert client.stats.frames_malformed == 0 and model.skipped == 0
    await center.close()
    return stream, pbx, center


def check_lifecycles(stream: list[dict[str, Any]]) -> None:
    """Per channel: created first, hung up last. Per call: started first, ended last."""
    created: set[str] = set()
    hung_up: set[str] = set()
    started: set[str] = set()
    ended: set[str] = set()
    for index, event in enumerate(stream):
        kind = event["type"]
        where = f"event {index} {kind}"
        if kind == "call.started":
            assert event["call_id"] not in started, f"{where}: call started twice"
            started.add(event["call_id"])
        elif kind.startswith(("call.", "channel.")):
            assert event["call_id"] in started, f"{where} before call.started"
            assert event["call_id"] not in ended, f"{where} after call.ended"
        if kind == "call.ended":
            ended.add(event["call_id"])
        if kind == "channel.created":
            created.add(event["channel_id"])
        elif kind.startswith("channel."):
            assert event["channel_id"] in created, f"{where} before channel.created"
            assert event["channel_id"] not in hung_up, f"{where} after channel.hangup"
            if kind == "channel.hangup":
                hung_up.add(event["channel_id"])
    assert started == ended, "every call in a complete transcript ends"


def test_there_are_transcripts_with_an_agent() -> None:
    assert any(b"PJSIP/2001-" in p.read_bytes() for p in TRANSCRIPTS)


@pytest.mark.parametrize("path", TRANSCRIPTS, ids=lambda p: p.stem)
@pytest.mark.parametrize("chunk", [7, 97, 8192])
async def test_replayed_transcripts_tell_causes_before_effects(path: Path, chunk: int) -> None:
    stream, pbx, center = await replay(TRANSCRIPT_BYTES[path.stem], chunk)
    check_lifecycles(stream)
    moves = check_event_order(stream, start={"2001": "offline"})
    if path.stem == "agent_connect":
        # both recorded conversations went through the ACD: rung, answered, bridged, wrapped up
        agent = [f"{e['previous']}>{e['state']}" for e in stream
                 if e["type"] == "agent.state"]
        assert agent[:5] == ["offline>ready", "ready>reserved", "reserved>on_call",
                             "on_call>wrap_up", "wrap_up>ready"], agent
        assert agent.count("reserved>on_call") == 2, agent
        assert moves["2001"] >= 9
        bridged = [a for a in pbx.actions if a[0] == "bridge"]
        assert len(bridged) == 2
        assert center.queues["default"].answered == 2


@pytest.mark.parametrize("chunk", [7, 97, 8192])
def test_a_restart_and_resync_still_tells_lifecycles_in_order(chunk: int) -> None:
    """Three AMI sessions around an Asterisk stop and a crash, reconciled with the recorded
    snapshots: ghosts closed, calls discovered — each still created before it changes and
    ended after its last channel."""
    from tests.unit.test_transcripts import RESTART, replay_scenario

    run = replay_scenario(RESTART, chunk)
    stream = [e.to_dict() for e in run.seen]
    assert any(e["type"] == "channel.hangup" and e["cause"] == 0 for e in stream)  # ghosts
    check_lifecycles(stream)
    check_event_order(stream)
