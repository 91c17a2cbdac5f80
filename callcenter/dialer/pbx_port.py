"""An outbound campaign on a PBX (Asterisk or the simulated one): the dialer loop plus the
:class:`~callcenter.dialer.loop.LinePort` that dials through the PBX, following the dialplan
contract of docker/asterisk/extensions.conf:

- place: Originate ``Local/<number>@outbound`` into ``[outbound-amd]``; no answer / busy come
  back as the originate outcome (or the channel's hang-up); AMD saying machine as
  ``CC_AMD_STATUS=MACHINE`` on that channel.
- AMD's NOTSURE (``CC_AMD_STATUS=NOTSURE``, e.g. silence) follows the campaign's policy
  (``CC_AMD_NOTSURE``): ``agent`` treats it as a person; ``message`` plays the abandonment
  message at once (``[outbound-abandon]``) and the line counts as a person answered and
  abandoned. Either way the verdict is on record (``notsure`` / ``notsure_message``).
- a person (per AMD, or any answer when the campaign runs without AMD: ``CC_AMD=no``) waits in
  ``[outbound-connect]``, which sets ``CC_CONNECT_START``: that is when the line counts as
  answered by a person. The PBX itself abandons the call after ``CC_CONNECT_TIMEOUT`` (2 s)
  and plays the message — the server cannot be late for that.
- connect: ring the reserved agent and bridge (:class:`~callcenter.acd.connect.AgentConnector`).
- cancel: hang up a line still ringing, once it rang ``hang_up_after_s`` (the predictive
  pacer's choice, never before the law's 15 s). Its hang-up ends it as ``cancelled``; if the
  callee answered in the meantime (the channel went up before the hang-up), it counts as a
  person answered and abandoned (``cancel_answered``), as the law would.

A dial whose outcome is unknown (the link dropped after the Originate was sent) is never
redialled: if its channel shows up (live, or found by the resync) the PBX's events carry the
line on; if none has shown after the ring time, the line ends as ``failed``.

Every line event is also published as :class:`~callcenter.events.CampaignChanged`.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from typing import Any

from callcenter import events as ev
from callcenter.acd.agents import Agent, AgentBoard
from callcenter.acd.connect import AgentConnector, ConnectResult
from callcenter.acd.routing import RoutingStrategy
from callcenter.core.clock import Clock
from callcenter.core.errors import OutcomeUnknown, PbxError, PbxUnavailable
from callcenter.core.pbx import OriginateReason, OriginateRequest, Pbx
from callcenter.dialer.compliance import MIN_RING_S
from callcenter.dialer.loop import DialerLoop, Line
from callcenter.dialer.pacing import LineOutcome, Pacer
from callcenter.tasks import BackgroundTasks

log = logging.getLogger(__name__)

#: how long past the ring time a dial with an unknown outcome may take to show its channel
_UNKNOWN_GRACE_S = 15.0
#: how long a failed dial's channel may take to report its hang-up cause
_HANGUP_GRACE_S = 2.0
#: Q.850 user busy (the far end's Busy(); Local channels pass the cause on to ;1)
_CAUSE_BUSY = 17


class PbxCampaign:
    """One campaign's dialer loop and its line port over a PBX; complete when constructed."""

    def __init__(self, pbx: Pbx, bus: ev.EventBus, board: AgentBoard,
                 connector: AgentConnector, clock: Clock, pacer: Pacer,
                 routing: RoutingStrategy, next_record: Callable[[], Any | None], *,
                 campaign: str, number_of: Callable[[Any], str] = str,
                 ring_timeout_s: float = 20.0, connect_timeout_s: float = 2.0,
                 amd: bool = True, notsure: str = "agent", caller_id: str | None = None,
                 trunk: str | None = None, amd_args: str | None = None,
                 abandon_file: str | None = None,
                 on_line: Callable[[Line, str], None] | None = None,
                 has_more: Callable[[], bool] | None = None,
                 hang_up_after_s: float | None = None) -> None:
        if notsure not in ("agent", "message"):
            raise ValueError(f"NOTSURE policy must be 'agent' or 'message', got {notsure!r}")
        if hang_up_after_s is not None and hang_up_after_s < MIN_RING_S:
            raise ValueError(f"a ringing line may be hung up after {MIN_RING_S:g} s at the "
                             f"earliest, got {hang_up_after_s:g}")
        self.pbx = pbx
        self.bus = bus
        self.connector = connector
        self.clock = clock
        self.campaign = campaign
        self.number_of = number_of
        self.ring_timeout_s = ring_timeout_s
        self.connect_timeout_s = connect_timeout_s
        self.amd = amd
        self.notsure_policy = notsure
        self.caller_id = caller_id
        self.trunk = trunk
        self.amd_args = amd_args
        self.abandon_file = abandon_file
        #: sees every line outcome with its line (the lead book, the ledger, the audit)
        self.on_line = on_line
        self.machines = 0
        self.notsure = 0
        self.humans = 0
        self.dropped = 0
        #: lines whose dial outcome is unknown (never redialled)
        self.unknown = 0
        self._by_channel: dict[str, Line] = {}
        #: lines whose hang-up was asked -> whether the callee answered before it landed
        self._hanging_up: dict[str, bool] = {}
        self.cancelled = 0
        self._tasks = BackgroundTasks(f"campaign {campaign}")
        self.loop = DialerLoop(clock, pacer, board, routing, self, next_record,
                               line_prefix=campaign, has_more=has_more,
                               min_ring_s=hang_up_after_s)
        bus.add_handler(self.on_event)

    def start(self) -> None:
        self.loop.start()

    async def close(self) -> None:
        """No new lines; stop listening and cancel what is in flight."""
        self.loop.stop()
        self.bus.remove_handler(self.on_event)
        await self._tasks.close()

    def _publish(self, outcome: LineOutcome | str, line: Line | None = None) -> None:
        if line is not None and self.on_line is not None:
            self.on_line(line, str(outcome))
        loop = self.loop
        self.bus.publish(ev.CampaignChanged(
            at=self.clock.now(), campaign=self.campaign, outcome=str(outcome),
            pacing=loop.pacer.name, dialing=loop.dialing, waiting=loop.waiting,
            connected=loop.connected, placed=loop.placed, humans=self.humans,
            dropped=self.dropped))

    def _abandoned_unoffered(self, line: Line, outcome: str) -> None:
        """A person answered and was let go without an agent being offered: abandoned."""
        self.humans += 1
        self.dropped += 1
        self.loop.line_abandoned_unoffered(line)
        self._publish(outcome, line)

    def _fail(self, line: Line, outcome: LineOutcome) -> None:
        channel_id = line.port_data
        self._by_channel.pop(channel_id, None)
        self.loop.line_failed(line, outcome)
        self._publish(outcome, line)

    # --- LinePort ------------------------------------------------------------------------------

    def place(self, line: Line) -> None:
        channel_id = uuid.uuid4().hex
        line.port_data = channel_id
        self._by_channel[channel_id] = line
        self._publish(LineOutcome.DIALED, line)
        self._tasks.spawn(self._originate(line, channel_id))

    async def _originate(self, line: Line, channel_id: str) -> None:
        try:
            handle = await self.pbx.originate(OriginateRequest(
                endpoint=f"Local/{self.number_of(line.record)}@outbound/n",
                context="outbound-amd", exten="s", timeout_s=self.ring_timeout_s,
                channel_id=channel_id,
                caller_id=self.caller_id or "", variables=self._variables()))
            reason = (await handle.outcome).reason
        except PbxUnavailable as exc:
            log.info("line %s not dialled: %s", line.line_id, exc)
            reason = OriginateReason.FAILED
        except OutcomeUnknown as exc:
            log.warning("line %s: dial outcome unknown (%s)", line.line_id, exc)
            reason = OriginateReason.UNKNOWN
        except PbxError as exc:
            log.info("line %s refused by the PBX: %s", line.line_id, exc)
            reason = OriginateReason.FAILED
        if reason is OriginateReason.ANSWERED or line.stage != "dialing":
            return  # AMD and the hang-up events take it from here
        if reason is OriginateReason.UNKNOWN:
            self.unknown += 1
            self.clock.call_at(self.clock.now() + self.ring_timeout_s + _UNKNOWN_GRACE_S,
                               self._unknown_settled, line)
            return
        if reason is OriginateReason.BUSY:
            self._fail(line, LineOutcome.BUSY)
        elif reason is OriginateReason.FAILED and self.pbx.calls.channel(channel_id) is not None:
            # Asterisk answers "failed" (Reason 0) for a Local channel whose far end hung up
            # without a control frame the originate saw — a Busy() among them; the channel's
            # own hang-up, a moment later, carries the cause (on_event decides)
            self.clock.call_at(self.clock.now() + _HANGUP_GRACE_S, self._failed_settled, line)
        elif reason is OriginateReason.FAILED:
            self._fail(line, LineOutcome.FAILED)
        else:
            self._fail(line, LineOutcome.NO_ANSWER)

    def _variables(self) -> dict[str, str]:
        variables = {"CC_CAMPAIGN": self.campaign,
                     "CC_CONNECT_TIMEOUT": f"{self.connect_timeout_s:g}",
                     "CC_RING_TIMEOUT": f"{self.ring_timeout_s:g}",
                     "CC_AMD_NOTSURE": self.notsure_policy}
        if not self.amd:
            variables["CC_AMD"] = "no"
        if self.amd_args:
            variables["CC_AMD_ARGS"] = self.amd_args
        if self.trunk:
            variables["CC_TRUNK"] = self.trunk
        if self.caller_id:
            variables["CC_CALLER_ID"] = self.caller_id
        if self.abandon_file:
            variables["CC_ABANDON_FILE"] = self.abandon_file
        return variables

    def _failed_settled(self, line: Line) -> None:
        """A failed dial whose channel did not end with a cause in the grace time."""
        if line.stage == "dialing":
            self._fail(line, LineOutcome.FAILED)

    def _unknown_settled(self, line: Line) -> None:
        """An unknown dial's channel never showed (else its events moved the line on)."""
        if line.stage == "dialing" and self.pbx.calls.channel(line.port_data) is None:
            self._fail(line, LineOutcome.FAILED)

    def connect(self, line: Line, agent: Agent) -> None:
        self._tasks.spawn(self._connect(line, agent))

    def cancel(self, line: Line) -> bool:
        """Hang up a line still ringing (the loop checked the minimum ring); refused once the
        callee answered (AMD is listening) or before its channel shows."""
        channel_id = line.port_data
        channel = self.pbx.calls.channel(channel_id)
        if (channel is None or channel.answered_at is not None
                or channel_id in self._hanging_up or self._by_channel.get(channel_id) is not line):
            return False
        self._hanging_up[channel_id] = False
        self._tasks.spawn(self._hang_up(line, channel_id))
        return True

    async def _hang_up(self, line: Line, channel_id: str) -> None:
        try:
            await self.pbx.hangup(channel_id, cause=16)
        except PbxError as exc:
            # it rings on: its own end (answer, no answer) carries the line as before
            log.info("line %s: hang-up refused (%s); it rings on", line.line_id, exc)
            self._hanging_up.pop(channel_id, None)
            line.hanging_up = False

    async def _connect(self, line: Line, agent: Agent) -> None:
        """Ring the agent and bridge. The line is connected when the PBX shows the person in
        a bridge (:meth:`on_event`), not when an agent is reserved: if the agent's phone
        fails, the person stays unbridged, the dialplan abandons the call at the connect
        limit (the message plays) and the hang-up counts it as a drop."""
        result = await self.connector.connect(
            line.port_data, agent, caller_id=self.number_of(line.record),
            ring_timeout_s=self.connect_timeout_s, variables={"CC_CAMPAIGN": self.campaign})
        if result is not ConnectResult.CONNECTED:
            log.info("line %s: agent %s not connected (%s)", line.line_id, agent.agent_id,
                     result)

    # --- PBX events ------------------------------------------------------------------------

    def on_event(self, event: ev.DomainEvent) -> None:
        if isinstance(event, ev.ChannelVariableSet) and event.name in ("CC_AMD_STATUS",
                                                                      "CC_CONNECT_START"):
            line = self._by_channel.get(event.channel_id)
            if line is None or line.stage != "dialing":
                return
            if event.name == "CC_AMD_STATUS":
                if event.value == "MACHINE":
                    self.machines += 1
                    self._fail(line, LineOutcome.MACHINE)
                elif event.value == "NOTSURE":
                    self.notsure += 1
                    if self.notsure_policy == "message":  # [outbound-abandon] plays it now
                        self._by_channel.pop(line.port_data, None)
                        self._abandoned_unoffered(line, "notsure_message")
                    else:
                        self._publish("notsure", line)
                return  # HUMAN / NOTSURE to an agent: [outbound-connect] follows
            self.humans += 1
            self.loop.line_human(line)
            self._publish(LineOutcome.HUMAN, line)
        elif isinstance(event, ev.ChannelBridged):
            line = self._by_channel.get(event.channel_id)
            if line is not None and line.stage == "connecting":
                self.loop.line_bridged(line)
                self._publish(LineOutcome.CONNECTED, line)
        elif isinstance(event, ev.ChannelStateChanged):
            if event.channel_id in self._hanging_up and event.state == "up":
                self._hanging_up[event.channel_id] = True  # answered before our hang-up
        elif isinstance(event, ev.ChannelHungUp):
            line = self._by_channel.pop(event.channel_id, None)
            answered = self._hanging_up.pop(event.channel_id, None)
            if line is None:
                return
            if answered is not None and line.stage == "dialing":
                if answered:  # somebody picked up as we hung up: the law counts a person
                    self._abandoned_unoffered(line, "cancel_answered")
                else:
                    self.cancelled += 1
                    self.loop.line_failed(line, LineOutcome.CANCELLED)
                    self._publish(LineOutcome.CANCELLED, line)
                return
            if line.stage in ("waiting", "connecting"):  # never bridged to an agent
                self.dropped += 1
                self.loop.line_dropped(line)
                self._publish(LineOutcome.DROPPED, line)
            elif line.stage == "connected":
                self.loop.line_ended(line)
                self._publish("ended", line)
            elif line.stage == "dialing":
                # the callee's side ended the dial before any answer: its cause says how
                outcome = (LineOutcome.BUSY if event.cause == _CAUSE_BUSY
                           else LineOutcome.NO_ANSWER)
                self.loop.line_failed(line, outcome)
                self._publish(outcome, line)
