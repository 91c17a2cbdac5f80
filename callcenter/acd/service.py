"""The inbound ACD over a PBX: callers waiting in ``[holding]`` meet agents.

The decisions are the pure :class:`~callcenter.acd.dispatcher.Dispatcher`'s (the same object
the simulator measures); this adapter only turns PBX events into ``offer``/``withdraw`` and an
assignment into PBX actions: ring the agent (Originate into ``[agent-connect]``), and once the
agent answers, bridge the two. It works on any :class:`~callcenter.pbx.Pbx`: Asterisk, or the
simulated PBX of ``callcenter demo``.

A caller is waiting when the dialplan's ``[holding]`` sets ``CC_HOLD_START``; the queue is the
channel's ``CC_QUEUE`` (default ``default``), the priority its ``CC_PRIORITY`` (CRM value).

When one side of a connected pair hangs up the server hangs up the other: after an AMI Bridge
Asterisk sends a channel whose peer left back to its dialplan (the caller to hold music, the
agent's leg on in ``[agent-connect]``), which is never what a finished conversation wants.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable

from callcenter import events as ev
from callcenter.acd.agents import Agent, AgentBoard
from callcenter.acd.dispatcher import Dispatcher, WaitingCall
from callcenter.acd.phones import AgentPhones
from callcenter.acd.routing import RoutingStrategy
from callcenter.cti.errors import PbxError
from callcenter.cti.model import Channel
from callcenter.pbx import OriginateRequest, Pbx
from callcenter.sim.clock import Clock
from callcenter.tasks import BackgroundTasks

log = logging.getLogger(__name__)


def pjsip_endpoint(agent: Agent) -> str:
    return f"PJSIP/{agent.agent_id}"


def _priority(channel: Channel) -> int:
    """The caller's queue priority (``CC_PRIORITY``, set from the CRM value); 0 if unreadable."""
    try:
        return int(channel.variables.get("CC_PRIORITY", "0") or 0)
    except ValueError:
        return 0


async def hang_up_if_alive(pbx: Pbx, channel_id: str) -> None:
    """Hang up ``channel_id`` unless it is already gone (the PBX may have done it)."""
    channel = pbx.model.channels.get(channel_id)
    if channel is None or channel.hungup_at is not None:
        return
    try:
        await pbx.hangup(channel_id)
    except PbxError as exc:  # gone meanwhile
        log.debug("hang-up of %s: %s", channel_id, exc)


class InboundAcd:
    def __init__(self, pbx: Pbx, bus: ev.EventBus, board: AgentBoard, phones: AgentPhones,
                 routing: RoutingStrategy, clock: Clock, *, queue: str = "default",
                 agent_endpoint: Callable[[Agent], str] = pjsip_endpoint,
                 ring_timeout_s: float = 20.0) -> None:
        self.pbx = pbx
        self.bus = bus
        self.phones = phones
        self.clock = clock
        self.queue = queue
        self.agent_endpoint = agent_endpoint
        self.ring_timeout_s = ring_timeout_s
        self.dispatcher = Dispatcher(board, routing, self._on_assign)
        self.answered = 0
        self.abandoned = 0
        self._tasks = BackgroundTasks("inbound ACD")
        #: caller channel <-> agent leg, both ways, while they talk
        self._pairs: dict[str, str] = {}
        bus.add_handler(self.on_event)

    async def close(self) -> None:
        self.bus.remove_handler(self.on_event)
        await self._tasks.close()

    def on_event(self, event: ev.DomainEvent) -> None:
        if isinstance(event, ev.ChannelVariableSet) and event.name == "CC_HOLD_START":
            self._caller_waiting(event.channel_id)
        elif isinstance(event, ev.ChannelHungUp):
            if event.channel_id in self.dispatcher.waiting:
                self.dispatcher.withdraw(event.channel_id)
                self.abandoned += 1
                self._publish()
            other = self._pairs.pop(event.channel_id, None)
            if other is not None:
                self._pairs.pop(other, None)
                self._tasks.spawn(hang_up_if_alive(self.pbx, other))

    def _caller_waiting(self, channel_id: str) -> None:
        channel = self.pbx.model.channels.get(channel_id)
        if channel is None or channel_id in self.dispatcher.waiting:
            return
        if channel.variables.get("CC_QUEUE", "default") != self.queue:
            return
        now = self.clock.now()
        self.dispatcher.offer(WaitingCall(channel_id, now, priority=_priority(channel)), now)
        self._publish()

    def _publish(self) -> None:
        now = self.clock.now()
        self.bus.publish(ev.QueueChanged(
            at=now, queue=self.queue, waiting=self.dispatcher.queue_length,
            oldest_wait_s=round(self.dispatcher.oldest_wait(now), 3),
            answered=self.answered, abandoned=self.abandoned))

    def _on_assign(self, call: WaitingCall, agent: Agent, now: float) -> None:
        self.answered += 1
        self._publish()
        self._tasks.spawn(self._connect(call.call_id, agent))

    async def _connect(self, caller_id: str, agent: Agent) -> None:
        leg_id = uuid.uuid4().hex
        caller = self.pbx.model.channels.get(caller_id)
        self.phones.expect(leg_id, agent)
        try:
            handle = await self.pbx.originate(OriginateRequest(
                endpoint=self.agent_endpoint(agent), context="agent-connect", exten="s",
                caller_id=caller.caller_num if caller else "", timeout_s=self.ring_timeout_s,
                variables={"CC_QUEUE": self.queue, "CC_AGENT": agent.agent_id},
                channel_id=leg_id))
            outcome = await handle.outcome
            if not outcome.answered:
                self.phones.leg_failed(leg_id)
                await self._requeue(caller_id)
                return
            await self.pbx.bridge(leg_id, caller_id)
            self._pairs[leg_id] = caller_id
            self._pairs[caller_id] = leg_id
        except PbxError as exc:
            log.info("connecting caller %s to agent %s failed: %s", caller_id,
                     agent.agent_id, exc)
            self.phones.leg_failed(leg_id)
            try:
                await self.pbx.hangup(leg_id)
            except PbxError:
                pass

    async def _requeue(self, caller_id: str) -> None:
        """The agent did not answer: the caller goes back to the queue, keeping its place."""
        channel = self.pbx.model.channels.get(caller_id)
        if channel is None or channel.hungup_at is not None:
            return
        now = self.clock.now()
        self.answered -= 1
        hold_start = channel.variables.get("CC_HOLD_START", "")
        arrived = float(hold_start) if hold_start.isdigit() else channel.created_at
        self.dispatcher.offer(WaitingCall(caller_id, arrived, priority=_priority(channel)), now)
        self._publish()
