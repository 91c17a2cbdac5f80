"""The inbound ACD over a PBX: callers waiting in ``[holding]`` meet agents.

The decisions are the pure :class:`~callcenter.acd.dispatcher.Dispatcher`'s (the same object
the simulator measures); this adapter only turns PBX events into ``offer``/``withdraw`` and an
assignment into a ring-and-bridge (:class:`~callcenter.acd.connect.AgentConnector`). It works
on any :class:`~callcenter.core.pbx.Pbx`: Asterisk, or the simulated PBX of ``callcenter demo``.

A caller is waiting when the dialplan's ``[holding]`` sets ``CC_HOLD_START``; the queue is the
channel's ``CC_QUEUE`` (default ``default``), the priority its ``CC_PRIORITY`` (CRM value).
A caller whose agent did not answer, or whose ring outcome is unknown, goes back to its place
in line (its original arrival time and priority). When the ring could not even be sent (the
PBX link is down) the caller stays where it is in Asterisk, music on hold, and is offered
again — at its place — once the link is back and resynced: dispatching into a dead link would
only spin.

With several server processes, only the holder of the queue's lease
(:mod:`callcenter.acd.lease`) dispatches: a standby ignores callers, and on acquiring the lease
adopts every caller waiting in the PBX (at its place: priority, then ``CC_HOLD_START``). Each
ring is claimed with the lease's fencing token just before it goes out; a refused claim puts
the caller back (or, taken by another process's ring that may still go on, offers it again
once that ring is over). One process alone holds a :class:`~callcenter.acd.lease.HeldLease`.
"""

from __future__ import annotations

import datetime as dt
import logging

from callcenter import events as ev
from callcenter.acd.agents import Agent, AgentBoard, AgentState
from callcenter.acd.calls import min_levels
from callcenter.acd.connect import AgentConnector, ConnectResult
from callcenter.acd.definitions import QueueDefinition
from callcenter.acd.dispatcher import Dispatcher, RoutingDecision, WaitingCall
from callcenter.acd.lease import HeldLease, QueueLease, RingClaim
from callcenter.acd.routing import RoutingStrategy
from callcenter.core.clock import Clock
from callcenter.core.errors import PbxError
from callcenter.core.pbx import ChannelInfo, Pbx, is_live
from callcenter.tasks import BackgroundTasks

log = logging.getLogger(__name__)

#: the queue of a caller whose channel names none
DEFAULT_QUEUE = "default"


def channel_priority(channel: ChannelInfo) -> int:
    """The caller's queue priority (``CC_PRIORITY``, set from the CRM value); 0 if unreadable."""
    try:
        return int(channel.variables.get("CC_PRIORITY", "0") or 0)
    except ValueError:
        return 0


def _hold_start(channel: ChannelInfo) -> float:
    """When the dialplan says the caller started waiting (``CC_HOLD_START``: whole epoch
    seconds), for callers this process did not see arrive (adopted after a restart)."""
    hold_start = channel.variables.get("CC_HOLD_START", "")
    try:
        return float(hold_start)
    except ValueError:
        return channel.created_at


class InboundAcd:
    def __init__(self, pbx: Pbx, bus: ev.EventBus, board: AgentBoard, connector: AgentConnector,
                 routing: RoutingStrategy, clock: Clock, *,
                 definition: QueueDefinition | None = None,
                 ring_timeout_s: float = 20.0, recording_file: str | None = None,
                 lease: QueueLease | None = None) -> None:
        """``definition``: the queue (None: ``default`` with no requirements);
        ``recording_file``: a template (``{queue}``, ``{date}``, ``{call_id}``,
        ``{channel_id}``) to record each conversation of this queue into; None: not recorded;
        ``lease``: who dispatches this queue (None: this process alone)."""
        self.pbx = pbx
        self.bus = bus
        self.connector = connector
        self.clock = clock
        self.definition = definition or QueueDefinition(DEFAULT_QUEUE)
        self.queue = self.definition.name
        self.ring_timeout_s = ring_timeout_s
        self.recording_file = recording_file
        self.dispatcher = Dispatcher(board, routing, self._on_assign)
        self.answered = 0
        self.abandoned = 0
        #: callers whose agent is being rung (assigned, not yet bridged)
        self._ringing: set[str] = set()
        #: callers whose agent could not be rung (link down): offered again after the resync
        self._parked: dict[str, None] = {}
        #: caller channel -> (its call id, when it joined the line: its place, kept across
        #: requeues) from its first wait to its hang-up
        self._callers: dict[str, tuple[str, float]] = {}
        self._tasks = BackgroundTasks(f"inbound ACD {self.queue}")
        self.lease = lease or HeldLease(self.queue)
        self.lease.subscribe(self._on_lease)
        bus.add_handler(self.on_event)

    async def close(self) -> None:
        self.bus.remove_handler(self.on_event)
        await self._tasks.close()

    def on_event(self, event: ev.DomainEvent) -> None:
        if isinstance(event, ev.ChannelVariableSet) and event.name == "CC_HOLD_START":
            self._caller_waiting(event.channel_id)
        elif isinstance(event, ev.PbxResynced):
            parked, self._parked = list(self._parked), {}
            for caller_id in parked:
                self._requeue(caller_id)
        elif isinstance(event, ev.ChannelHungUp):
            channel_id = event.channel_id
            if self.dispatcher.withdraw(channel_id) is not None:
                self._abandoned(channel_id, "waiting")
            elif channel_id in self._ringing:  # gave up while the agent's phone rang
                self._ringing.discard(channel_id)
                self._abandoned(channel_id, "ringing")
            elif channel_id in self._parked:  # gave up while the PBX link was down
                del self._parked[channel_id]
                self._abandoned(channel_id, "parked")
            if self._callers.pop(channel_id, None) is not None:
                self._tasks.spawn(self.lease.caller_gone(channel_id))

    def _abandoned(self, channel_id: str, stage: str) -> None:
        self.abandoned += 1
        call_id, arrived = self._callers.get(channel_id, (channel_id, self.clock.now()))
        now = self.clock.now()
        self.bus.publish(ev.CallAbandoned(at=now, queue=self.queue, call_id=call_id,
                                          channel_id=channel_id,
                                          waited_s=round(now - arrived, 3), stage=stage))
        self._publish()

    def _caller_waiting(self, channel_id: str) -> None:
        channel = self.pbx.calls.channel(channel_id)
        if (channel is None or not self.lease.held or channel_id in self.dispatcher.waiting
                or channel_id in self._ringing or self.connector.is_ending(channel_id)):
            return
        self._parked.pop(channel_id, None)
        if channel.variables.get("CC_QUEUE", DEFAULT_QUEUE) != self.queue:
            return
        self._offer(channel)

    def _offer(self, channel: ChannelInfo) -> None:
        now = self.clock.now()
        known = self._callers.get(channel.channel_id)
        if known is None:
            # CC_HOLD_START has whole seconds: callers seen arriving keep our finer clock (two
            # in the same second keep their order); one adopted after a restart, its hold start
            hold_start = _hold_start(channel)
            arrived = hold_start if now - hold_start > 2.0 else now
            self._callers[channel.channel_id] = (channel.call_id, arrived)
        else:
            arrived = known[1]
        priority = channel_priority(channel)
        self.bus.publish(ev.CallQueued(
            at=now, queue=self.queue, call_id=channel.call_id, channel_id=channel.channel_id,
            priority=priority, waiting=self.waiting + 1, requeued=known is not None))
        self.dispatcher.offer(WaitingCall(
            channel.channel_id, arrived, priority=priority, skills=self.definition.skills,
            min_levels=min_levels(self.definition.required_skills)), now)
        self._publish()

    @property
    def waiting(self) -> int:
        """Callers in line, including those waiting for the PBX link to come back."""
        return self.dispatcher.queue_length + len(self._parked)

    def _publish(self) -> None:
        now = self.clock.now()
        self.bus.publish(ev.QueueChanged(
            at=now, queue=self.queue, waiting=self.waiting,
            oldest_wait_s=round(self.dispatcher.oldest_wait(now), 3),
            answered=self.answered, abandoned=self.abandoned))

    def _on_assign(self, call: WaitingCall, agent: Agent, now: float,
                   decision: RoutingDecision) -> None:
        channel_id = call.call_id  # the dispatcher's call is the caller's channel
        self._ringing.add(channel_id)
        call_id = self._callers.get(channel_id, (channel_id, now))[0]
        self.bus.publish(ev.CallOffered(
            at=now, queue=self.queue, call_id=call_id, channel_id=channel_id,
            agent_id=agent.agent_id, waited_s=round(now - call.arrived, 3),
            reason=decision.summary))
        self._publish()
        self._tasks.spawn(self._connect(channel_id, agent))

    # --- the lease (several processes) ---------------------------------------------------------

    def _on_lease(self, held: bool) -> None:
        """Acquired: adopt the callers waiting in the PBX. Lost: forget those not being rung
        (the new holder adopts them); rings under way end as they will."""
        if held:
            self.adopt()
            return
        for caller_id in list(self.dispatcher.waiting):
            self.dispatcher.withdraw(caller_id)
        self._parked.clear()
        self._publish()

    def adopt(self) -> None:
        """Offer every caller waiting in the PBX for this queue and not yet in line, in queue
        order (priority, then when it began to wait): offered one by one, the first takes the
        first free agent."""
        waiting = [channel for channel in self.pbx.calls.live_channels()
                   if "CC_HOLD_START" in channel.variables and not channel.bridge_id
                   and channel.variables.get("CC_QUEUE", DEFAULT_QUEUE) == self.queue]
        waiting.sort(key=lambda channel: (-channel_priority(channel), _hold_start(channel)))
        for channel in waiting:
            self._caller_waiting(channel.channel_id)

    async def _claim(self, caller_id: str, agent: Agent) -> bool:
        """Claim the ring across processes; refused, put caller and agent where they belong."""
        answer = await self.lease.claim_ring(caller_id, agent.agent_id, self.ring_timeout_s)
        if answer.claim is RingClaim.GRANTED:
            return True
        log.info("ring of agent %s for %s (queue %s) refused: %s", agent.agent_id, caller_id,
                 self.queue, answer.claim)
        self._ringing.discard(caller_id)
        if answer.claim is RingClaim.AGENT_BUSY:
            self._requeue(caller_id)  # another agent takes it; this one is busy elsewhere
            self.clock.call_at(self.clock.now() + 1.0, self._unreserve, agent, caller_id)
            return False
        if answer.claim is RingClaim.CALLER_TAKEN:
            self.clock.call_at(self.clock.now() + answer.retry_after_s, self._requeue,
                               caller_id)
        self._unreserve(agent, caller_id)
        return False

    def _unreserve(self, agent: Agent, caller_id: str) -> None:
        if agent.state is AgentState.RESERVED and agent.call_id == caller_id:
            self.dispatcher.board.move(agent, AgentState.READY, self.clock.now())

    async def _connect(self, caller_id: str, agent: Agent) -> None:
        if not await self._claim(caller_id, agent):
            return
        caller = self.pbx.calls.channel(caller_id)

        def not_connected(result: ConnectResult) -> None:
            """Before the agent is free again: the caller goes back to its place."""
            if caller_id not in self._ringing:
                return  # the caller hung up meanwhile (counted as abandoned)
            self._ringing.discard(caller_id)
            self.bus.publish(ev.CallNotConnected(
                at=self.clock.now(), queue=self.queue, call_id=self._call_of(caller_id),
                channel_id=caller_id, agent_id=agent.agent_id, result=str(result)))
            if result is ConnectResult.NOT_SENT:
                log.info("caller %s waits for the PBX link (queue %s)", caller_id, self.queue)
                self._parked[caller_id] = None
                self._publish()
            else:
                log.info("caller %s back in queue %s after agent %s: %s", caller_id,
                         self.queue, agent.agent_id, result)
                self._requeue(caller_id)

        result = await self.connector.connect(
            caller_id, agent, caller_id=caller.caller_num if caller else "",
            ring_timeout_s=self.ring_timeout_s, variables={"CC_QUEUE": self.queue},
            on_failure=not_connected)
        await self.lease.ring_ended(caller_id, agent.agent_id,
                                    connected=result is ConnectResult.CONNECTED)
        if result is ConnectResult.CONNECTED and caller_id in self._ringing:
            self._ringing.discard(caller_id)
            self.answered += 1
            now = self.clock.now()
            arrived = self._callers.get(caller_id, ("", now))[1]
            self.bus.publish(ev.CallConnected(
                at=now, queue=self.queue, call_id=self._call_of(caller_id),
                channel_id=caller_id, agent_id=agent.agent_id,
                waited_s=round(now - arrived, 3)))
            self._publish()
            if self.recording_file is not None:
                await self._record(caller_id, now)
        elif result is ConnectResult.PARTY_GONE:
            self._ringing.discard(caller_id)

    async def _record(self, caller_id: str, now: float) -> None:
        """Record the conversation from the caller's side (both directions, mixed), and name
        the file on the channel (``CC_RECORDING``) so the call's interaction links to it."""
        assert self.recording_file is not None
        call_id = self._call_of(caller_id)
        file = self.recording_file.format(
            queue=self.queue, call_id=call_id, channel_id=caller_id,
            date=dt.datetime.fromtimestamp(now, dt.UTC).strftime("%Y-%m-%d"))
        try:
            await self.pbx.set_variable(caller_id, "CC_RECORDING", file)
            await self.pbx.record(caller_id, file)
        except PbxError as exc:  # the conversation goes on unrecorded: say so, loudly
            log.warning("recording of call %s in queue %s failed: %s", call_id, self.queue, exc)

    def _call_of(self, channel_id: str) -> str:
        return self._callers.get(channel_id, (channel_id, 0.0))[0]

    def _requeue(self, caller_id: str) -> None:
        """The caller goes back to the queue, keeping its place (arrival time, priority)."""
        channel = self.pbx.calls.channel(caller_id)
        if (channel is None or not is_live(self.pbx.calls, caller_id) or not self.lease.held
                or caller_id in self.dispatcher.waiting or caller_id in self._ringing):
            return
        self._offer(channel)
