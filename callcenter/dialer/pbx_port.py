"""The dialer loop's :class:`~callcenter.dialer.loop.LinePort` over a PBX (Asterisk or the
simulated one), following the dialplan contract of docker/asterisk/extensions.conf:

- place: Originate ``Local/<number>@outbound`` into ``[outbound-amd]``; no answer / busy come
  back as the originate outcome (or the channel's hang-up); AMD saying machine as
  ``CC_AMD_STATUS=MACHINE`` on that channel.
- a person (per AMD, or any answer when the campaign runs without AMD: ``CC_AMD=no``) waits in
  ``[outbound-connect]``, which sets ``CC_CONNECT_START``: that is when the line counts as
  answered by a person. The PBX itself abandons the call after ``CC_CONNECT_TIMEOUT`` (2 s)
  and plays the message — the server cannot be late for that.
- connect: ring the reserved agent's leg (``[agent-connect]``) and bridge it to the person.

Every line event is also published as :class:`~callcenter.events.CampaignChanged`.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from typing import Any

from callcenter import events as ev
from callcenter.acd.agents import Agent
from callcenter.acd.phones import AgentPhones
from callcenter.acd.service import hang_up_if_alive, pjsip_endpoint
from callcenter.cti.errors import PbxError
from callcenter.dialer.loop import DialerLoop, Line
from callcenter.dialer.pacing import LineOutcome
from callcenter.pbx import OriginateReason, OriginateRequest, Pbx
from callcenter.tasks import BackgroundTasks

log = logging.getLogger(__name__)


class PbxLinePort:
    def __init__(self, pbx: Pbx, bus: ev.EventBus, phones: AgentPhones, *, campaign: str,
                 number_of: Callable[[Any], str] = str, ring_timeout_s: float = 20.0,
                 connect_timeout_s: float = 2.0, amd: bool = True,
                 agent_endpoint: Callable[[Agent], str] = pjsip_endpoint) -> None:
        self.pbx = pbx
        self.bus = bus
        self.phones = phones
        self.campaign = campaign
        self.number_of = number_of
        self.ring_timeout_s = ring_timeout_s
        self.connect_timeout_s = connect_timeout_s
        self.amd = amd
        self.agent_endpoint = agent_endpoint
        self.loop: DialerLoop | None = None  # set by whoever builds the loop
        self.humans = 0
        self.dropped = 0
        self._by_channel: dict[str, Line] = {}
        #: agent leg -> customer channel while they talk (the customer's own entry is
        #: ``_by_channel``): whichever hangs up first, the server hangs up the other
        self._agent_legs: dict[str, str] = {}
        self._tasks = BackgroundTasks(f"dialer line port {campaign}")
        bus.add_handler(self.on_event)

    async def close(self) -> None:
        self.bus.remove_handler(self.on_event)
        await self._tasks.close()

    def _publish(self, outcome: LineOutcome | str) -> None:
        loop = self.loop
        assert loop is not None
        self.bus.publish(ev.CampaignChanged(
            at=loop.clock.now(), campaign=self.campaign, outcome=str(outcome),
            pacing=loop.pacer.name, dialing=loop.dialing, waiting=loop.waiting,
            connected=loop.connected, placed=loop.placed, humans=self.humans,
            dropped=self.dropped))

    # --- LinePort ------------------------------------------------------------------------------

    def place(self, line: Line) -> None:
        channel_id = uuid.uuid4().hex
        line.port_data = channel_id
        self._by_channel[channel_id] = line
        self._publish(LineOutcome.DIALED)
        self._tasks.spawn(self._originate(line, channel_id))

    async def _originate(self, line: Line, channel_id: str) -> None:
        assert self.loop is not None
        reason = OriginateReason.FAILED
        try:
            handle = await self.pbx.originate(OriginateRequest(
                endpoint=f"Local/{self.number_of(line.record)}@outbound",
                context="outbound-amd", exten="s", timeout_s=self.ring_timeout_s,
                channel_id=channel_id,
                variables={"CC_CAMPAIGN": self.campaign,
                           "CC_CONNECT_TIMEOUT": f"{self.connect_timeout_s:g}",
                           **({} if self.amd else {"CC_AMD": "no"})}))
            reason = (await handle.outcome).reason
        except PbxError as exc:
            log.info("dialing %s failed: %s", line.line_id, exc)
        if reason is OriginateReason.ANSWERED or line.stage != "dialing":
            return  # AMD and the hang-up events take it from here
        self._by_channel.pop(channel_id, None)
        outcome = LineOutcome.BUSY if reason is OriginateReason.BUSY else LineOutcome.NO_ANSWER
        self.loop.line_failed(line, outcome)
        self._publish(outcome)

    def connect(self, line: Line, agent: Agent) -> None:
        self._tasks.spawn(self._connect(line, agent))

    async def _connect(self, line: Line, agent: Agent) -> None:
        customer = line.port_data
        leg_id = uuid.uuid4().hex
        self.phones.expect(leg_id, agent)
        try:
            handle = await self.pbx.originate(OriginateRequest(
                endpoint=self.agent_endpoint(agent), context="agent-connect", exten="s",
                caller_id=self.number_of(line.record), timeout_s=self.connect_timeout_s,
                variables={"CC_CAMPAIGN": self.campaign, "CC_AGENT": agent.agent_id},
                channel_id=leg_id))
            if (await handle.outcome).answered:
                await self.pbx.bridge(leg_id, customer)
                self._agent_legs[leg_id] = customer
                return
        except PbxError as exc:
            log.info("connecting %s to agent %s failed: %s", line.line_id, agent.agent_id, exc)
        self.phones.leg_failed(leg_id)
        try:
            await self.pbx.hangup(leg_id)
        except PbxError:
            pass

    # --- PBX events ------------------------------------------------------------------------

    def on_event(self, event: ev.DomainEvent) -> None:
        if isinstance(event, ev.ChannelVariableSet) and event.name in ("CC_AMD_STATUS",
                                                                      "CC_CONNECT_START"):
            line = self._by_channel.get(event.channel_id)
            if line is None or line.stage != "dialing" or self.loop is None:
                return
            if event.name == "CC_AMD_STATUS":
                if event.value == "MACHINE":
                    self.loop.line_failed(line, LineOutcome.MACHINE)
                    self._publish(LineOutcome.MACHINE)
                return  # HUMAN / NOTSURE: [outbound-connect] follows
            self.humans += 1
            self.loop.line_human(line)
            self._publish(LineOutcome.HUMAN)
        elif isinstance(event, ev.ChannelHungUp):
            customer = self._agent_legs.pop(event.channel_id, None)
            if customer is not None:  # the agent left: the person must not hear "sorry"
                self._tasks.spawn(hang_up_if_alive(self.pbx, customer))
                return
            line = self._by_channel.pop(event.channel_id, None)
            if line is None or self.loop is None:
                return
            if line.stage == "waiting":
                self.dropped += 1
                self.loop.line_dropped(line)
                self._publish(LineOutcome.DROPPED)
            elif line.stage == "connected":
                for leg, other in list(self._agent_legs.items()):
                    if other == event.channel_id:
                        del self._agent_legs[leg]
                        self._tasks.spawn(hang_up_if_alive(self.pbx, leg))
                self.loop.line_ended(line)
                self._publish("ended")
            elif line.stage == "dialing":
                self.loop.line_failed(line, LineOutcome.NO_ANSWER)
                self._publish(LineOutcome.NO_ANSWER)
