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

Queue behaviour (decided by the pure :mod:`callcenter.acd.queue_policy`; one timer per waiting
caller on the clock): after ``overflow_after_s`` a caller is *also* offered to the overflow
queue's agents as a *guest* of that queue (its place kept: arrival time and priority; whichever
queue assigns it first withdraws it from the other, so it is rung once); after ``max_wait_s`` it
leaves the line, handed over to the overflow queue (if any) or sent to ``[queue-timeout]``;
every ``announce_every_s`` it hears its position and expected wait. :meth:`InboundAcd.transfer`
moves a caller to another queue keeping its priority and arrival time.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import deque
from collections.abc import Callable

from callcenter import events as ev
from callcenter.acd.agents import Agent, AgentBoard, AgentState
from callcenter.acd.callbacks import Callback, CallbackStore, MemoryCallbacks, retry_after_s
from callcenter.acd.calls import min_levels
from callcenter.acd.connect import AgentConnector, ConnectResult, hang_up_if_alive
from callcenter.acd.definitions import QueueDefinition
from callcenter.acd.dispatcher import Dispatcher, RoutingDecision, WaitingCall
from callcenter.acd.lease import HeldLease, QueueLease, RingClaim
from callcenter.acd.queue_policy import Step, Timeline, expected_wait_s, next_due
from callcenter.acd.routing import RoutingStrategy
from callcenter.core.clock import Clock, Timer
from callcenter.core.errors import PbxError
from callcenter.core.pbx import ChannelInfo, OriginateReason, OriginateRequest, Pbx, is_live
from callcenter.tasks import BackgroundTasks

log = logging.getLogger(__name__)

#: the queue of a caller whose channel names none
DEFAULT_QUEUE = "default"
#: where a caller goes whose max wait ran out with no overflow queue (the dialplan's
#: ``[queue-timeout]``: a message, then voicemail or hang-up)
TIMEOUT_CONTEXT = "queue-timeout"
#: the dialplan tells a caller its position (``CC_POSITION``, ``CC_EXPECTED_WAIT``) here,
#: then takes it back to ``[holding]``'s music
ANNOUNCE_CONTEXT = "queue-announce"
#: ``[holding]``'s extension that (re)starts the music in ``CC_MUSIC_CLASS`` without
#: touching ``CC_HOLD_START``
MUSIC_EXTEN = "moh"
#: the callback offer ("press 1"); its answer is ``CC_CALLBACK=1`` on the channel
CALLBACK_OFFER_CONTEXT = "queue-callback-offer"
#: where the customer's leg of a callback waits, once it answered, for its agent
CALLBACK_CONTEXT = "callback-connect"
#: how long a callback rings the customer
CALLBACK_RING_S = 30.0
#: answers remembered for the expected-wait estimate
_RECENT_ANSWERS = 20


def channel_priority(channel: ChannelInfo) -> int:
    """The caller's queue priority (``CC_PRIORITY``, set from the CRM value); 0 if unreadable."""
    try:
        return int(channel.variables.get("CC_PRIORITY", "0") or 0)
    except ValueError:
        return 0


def _hold_start(channel: ChannelInfo) -> float:
    """When the dialplan says the caller started waiting (``CC_HOLD_START``: epoch seconds
    with milliseconds), for callers this process did not see arrive (adopted after a
    restart, or taken over from another process)."""
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
                 lease: QueueLease | None = None,
                 peers: Callable[[str], InboundAcd | None] = lambda _name: None,
                 callbacks: CallbackStore | None = None,
                 callback_endpoint: str = "Local/{number}@outbound") -> None:
        """``definition``: the queue (None: ``default`` with no requirements);
        ``recording_file``: a template (``{queue}``, ``{date}``, ``{call_id}``,
        ``{channel_id}``) to record each conversation of this queue into; None: not recorded;
        ``lease``: who dispatches this queue (None: this process alone); ``peers``: the
        other queues of this process by name (overflow and transfers); ``callbacks``: where
        pending callbacks are kept (None: in this process only); ``callback_endpoint``: what a
        callback dials (``{number}``: the caller's number)."""
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
        #: caller channel -> what its queue already did to it, and the timer of the next step
        self._timelines: dict[str, Timeline] = {}
        self._timers: dict[str, Timer] = {}
        #: other queues' callers overflowed to this one: channel -> their home queue
        self._guests: dict[str, InboundAcd] = {}
        #: this queue's callers overflowed to another queue: channel -> that queue
        self._hosted_in: dict[str, InboundAcd] = {}
        #: recent answers (epoch seconds), for the expected wait
        self._answers: deque[float] = deque(maxlen=_RECENT_ANSWERS)
        self.peers = peers
        self.callbacks: CallbackStore = callbacks if callbacks is not None else MemoryCallbacks()
        self.callback_endpoint = callback_endpoint
        #: callers who hung up for a callback, still in line at their place (by channel id)
        self._virtual: dict[str, Callback] = {}
        self._tasks = BackgroundTasks(f"inbound ACD {self.queue}")
        self.lease = lease or HeldLease(self.queue)
        self.lease.subscribe(self._on_lease)
        bus.add_handler(self.on_event)

    async def close(self) -> None:
        self.dispatcher.close()
        self.lease.unsubscribe(self._on_lease)
        self.bus.remove_handler(self.on_event)
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
        await self._tasks.close()

    def on_event(self, event: ev.DomainEvent) -> None:
        if isinstance(event, ev.ChannelVariableSet) and event.name == "CC_HOLD_START":
            self._caller_waiting(event.channel_id)
        elif (isinstance(event, ev.ChannelVariableSet) and event.name == "CC_QUEUE"
              and event.value == self.queue):
            self._moved_here(event.channel_id)
        elif (isinstance(event, ev.ChannelVariableSet) and event.name == "CC_CALLBACK"
              and event.value == "1"):
            self._callback_requested(event.channel_id)
        elif isinstance(event, ev.PbxResynced):
            parked, self._parked = list(self._parked), {}
            for caller_id in parked:
                self._requeue(caller_id)
        elif isinstance(event, ev.ChannelHungUp):
            channel_id = event.channel_id
            if self._guests.pop(channel_id, None) is not None:  # its home queue counts it
                self.dispatcher.withdraw(channel_id)
                return
            if channel_id in self._virtual:  # hung up after asking for a callback: stays
                return
            self._forget_steps(channel_id)
            self._unhost(channel_id)
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

    def _moved_here(self, channel_id: str) -> None:
        """A waiting caller's ``CC_QUEUE`` now names this queue: handed over by another
        process (in this one :meth:`_take` has already put it in line)."""
        channel = self.pbx.calls.channel(channel_id)
        if channel is not None and "CC_HOLD_START" in channel.variables \
                and not channel.bridge_id:
            self._caller_waiting(channel_id)

    def _offer(self, channel: ChannelInfo, *, entered: bool = False) -> None:
        """Put the caller in line at its place. ``entered``: it has just been handed over
        from another queue (a new entry here, its arrival already in ``_callers``)."""
        now = self.clock.now()
        channel_id = channel.channel_id
        known = self._callers.get(channel_id)
        if known is None:
            # callers seen arriving keep our own clock; one adopted after a restart (or from
            # another process) its hold start
            hold_start = _hold_start(channel)
            arrived = hold_start if now - hold_start > 2.0 else now
            self._callers[channel_id] = (channel.call_id, arrived)
        else:
            arrived = known[1]
        if channel_id not in self._timelines:
            self._timelines[channel_id] = Timeline(joined=arrived if known is None else now)
            self._set_music(channel)
        priority = channel_priority(channel)
        self.bus.publish(ev.CallQueued(
            at=now, queue=self.queue, call_id=channel.call_id, channel_id=channel_id,
            priority=priority, waiting=self.waiting + 1,
            requeued=known is not None and not entered))
        call = self._waiting_call(channel_id, arrived, priority)
        self.dispatcher.offer(call, now)
        if channel_id in self.dispatcher.waiting:  # not assigned at once
            self._schedule(channel_id)
            if self._timelines[channel_id].overflowed:
                self._overflow(channel_id, call, announce=False)
        self._publish()

    def _waiting_call(self, channel_id: str, arrived: float, priority: int) -> WaitingCall:
        return WaitingCall(channel_id, arrived, priority=priority,
                           skills=self.definition.skills,
                           min_levels=min_levels(self.definition.required_skills))

    @property
    def waiting(self) -> int:
        """Callers in line, including those waiting for the PBX link to come back (not other
        queues' callers overflowed here: they count in their own queue)."""
        return self.dispatcher.queue_length - len(self._guests) + len(self._parked)

    def _publish(self) -> None:
        now = self.clock.now()
        self.bus.publish(ev.QueueChanged(
            at=now, queue=self.queue, waiting=self.waiting,
            oldest_wait_s=round(self.dispatcher.oldest_wait(now), 3),
            answered=self.answered, abandoned=self.abandoned))

    def _on_assign(self, call: WaitingCall, agent: Agent, now: float,
                   decision: RoutingDecision) -> None:
        home = self._guests.pop(call.call_id, None)
        if home is not None:  # overflowed here: its home queue rings the agent
            home._assign_guest(call, agent, now, decision, self.queue)
            return
        if call.call_id in self._virtual:
            self._start_callback(call, agent, now, decision.summary)
            return
        self._ring(call, agent, now, decision.summary)

    def _ring(self, call: WaitingCall, agent: Agent, now: float, reason: str) -> None:
        channel_id = call.call_id  # the dispatcher's call is the caller's channel
        self._unhost(channel_id)
        self._forget_steps(channel_id, keep_timeline=True)
        self._ringing.add(channel_id)
        call_id = self._callers.get(channel_id, (channel_id, now))[0]
        self.bus.publish(ev.CallOffered(
            at=now, queue=self.queue, call_id=call_id, channel_id=channel_id,
            agent_id=agent.agent_id, waited_s=round(now - call.arrived, 3),
            reason=reason))
        self._publish()
        self._tasks.spawn(self._connect(channel_id, agent))

    # --- the lease (several processes) ---------------------------------------------------------

    def _on_lease(self, held: bool) -> None:
        """Acquired: adopt the callers waiting in the PBX. Lost: forget those not being rung
        (the new holder adopts them); rings under way end as they will."""
        if held:
            self.adopt()
            self._tasks.spawn(self.load_callbacks())
            return
        for caller_id in list(self.dispatcher.waiting):
            self.dispatcher.withdraw(caller_id)
            self._unhost(caller_id)
            self._forget_steps(caller_id)
        self._guests.clear()
        self._virtual.clear()  # the new holder loads them from the store
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
            on_failure=not_connected, wrap_up_s=self.definition.wrap_up_s)
        await self.lease.ring_ended(caller_id, agent.agent_id,
                                    connected=result is ConnectResult.CONNECTED)
        if result is ConnectResult.CONNECTED and caller_id in self._ringing:
            self._ringing.discard(caller_id)
            self._forget_steps(caller_id)
            self.answered += 1
            now = self.clock.now()
            self._answers.append(now)
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

    # --- queue behaviour: overflow, max wait, announcements, transfers -------------------------

    def _schedule(self, channel_id: str) -> None:
        """One timer per waiting caller, for the next step :func:`next_due` names."""
        old = self._timers.pop(channel_id, None)
        if old is not None:
            old.cancel()
        timeline = self._timelines.get(channel_id)
        due = next_due(self.definition, timeline) if timeline is not None else None
        if due is not None:
            self._timers[channel_id] = self.clock.call_at(
                max(due.at, self.clock.now()), self._on_due, channel_id, due.step)

    def _forget_steps(self, channel_id: str, *, keep_timeline: bool = False) -> None:
        timer = self._timers.pop(channel_id, None)
        if timer is not None:
            timer.cancel()
        if not keep_timeline:
            self._timelines.pop(channel_id, None)

    def _on_due(self, channel_id: str, step: Step) -> None:
        self._timers.pop(channel_id, None)
        timeline = self._timelines.get(channel_id)
        call = self.dispatcher.waiting.get(channel_id)
        if timeline is None or call is None or channel_id in self._guests \
                or channel_id in self._virtual:
            return  # rung, gone, moved or hung up for a callback: a requeue schedules again
        if step is Step.MAX_WAIT:
            self._max_wait(channel_id)
            return
        if step is Step.OVERFLOW:
            timeline.overflowed = True
            self._overflow(channel_id, call, announce=True)
        elif step is Step.CALLBACK:
            timeline.callback_offered = True
            self._tasks.spawn(self._offer_callback(channel_id))
        elif step is Step.ANNOUNCE:
            timeline.announced_at = self.clock.now()
            self._tasks.spawn(self._announce(channel_id))
        if channel_id in self.dispatcher.waiting:
            self._schedule(channel_id)

    def _overflow(self, channel_id: str, call: WaitingCall, *, announce: bool) -> None:
        """Offer the caller to the overflow queue's agents too, at its place in line."""
        name = self.definition.overflow_queue
        target = self.peers(name) if name is not None else None
        if target is None or not target.lease.held:
            log.info("queue %s: overflow queue %s is not dispatched by this process",
                     self.queue, name)
            return
        if announce:
            now = self.clock.now()
            self.bus.publish(ev.CallOverflowed(
                at=now, queue=self.queue, call_id=self._call_of(channel_id),
                channel_id=channel_id, to_queue=target.queue,
                waited_s=round(now - call.arrived, 3)))
        self._hosted_in[channel_id] = target
        target._host(channel_id, call.arrived, call.priority, self)

    def _host(self, channel_id: str, arrived: float, priority: int, home: InboundAcd) -> None:
        """``home``'s caller waits in this line too (it may be assigned at once)."""
        if channel_id in self.dispatcher.waiting:
            return
        self._guests[channel_id] = home
        self.dispatcher.offer(self._waiting_call(channel_id, arrived, priority),
                              self.clock.now())

    def _unhost(self, channel_id: str) -> None:
        """The caller is taken (or gone) here: out of the overflow queue's line too."""
        target = self._hosted_in.pop(channel_id, None)
        if target is not None and target._guests.get(channel_id) is self:
            del target._guests[channel_id]
            target.dispatcher.withdraw(channel_id)

    def _assign_guest(self, call: WaitingCall, agent: Agent, now: float,
                      decision: RoutingDecision, via: str) -> None:
        """An agent of the overflow queue ``via`` was chosen for this queue's caller: it
        leaves this line too, and this queue rings the agent (one caller, one ring)."""
        self._hosted_in.pop(call.call_id, None)
        waiting = self.dispatcher.withdraw(call.call_id)
        self._ring(waiting or call, agent, now, f"overflow to {via}: {decision.summary}")

    def _max_wait(self, channel_id: str) -> None:
        """The caller waited ``max_wait_s`` here: to the overflow queue, else the dialplan's
        ``[queue-timeout]``."""
        self.dispatcher.withdraw(channel_id)
        self._unhost(channel_id)
        self._forget_steps(channel_id)
        channel = self.pbx.calls.channel(channel_id)
        name = self.definition.overflow_queue
        target = self.peers(name) if name is not None else None
        if channel is not None and target is not None:
            self._hand_over(channel, target, "max_wait")
        else:
            self._tasks.spawn(self._time_out(channel_id))
        self._publish()

    async def _time_out(self, channel_id: str) -> None:
        try:
            await self.pbx.redirect(channel_id, TIMEOUT_CONTEXT, "s")
        except PbxError as exc:
            log.warning("caller %s (queue %s) could not leave for %s: %s", channel_id,
                        self.queue, TIMEOUT_CONTEXT, exc)
            channel = self.pbx.calls.channel(channel_id)
            if channel is not None and is_live(self.pbx.calls, channel_id):
                self._offer(channel, entered=True)  # still here: back at its place
            return
        call_id, arrived = self._callers.pop(channel_id, (channel_id, self.clock.now()))
        now = self.clock.now()
        self.bus.publish(ev.CallTransferred(
            at=now, queue=self.queue, call_id=call_id, channel_id=channel_id,
            to_queue=TIMEOUT_CONTEXT, waited_s=round(now - arrived, 3), reason="max_wait"))
        self._publish()

    def _hand_over(self, channel: ChannelInfo, target: InboundAcd, reason: str) -> None:
        """The caller leaves this queue for ``target``, keeping its arrival and priority.
        ``CC_QUEUE`` on the channel says so to a process that adopts it after a restart."""
        channel_id = channel.channel_id
        call_id, arrived = self._callers.pop(channel_id, (channel.call_id, self.clock.now()))
        now = self.clock.now()
        self.bus.publish(ev.CallTransferred(
            at=now, queue=self.queue, call_id=call_id, channel_id=channel_id,
            to_queue=target.queue, waited_s=round(now - arrived, 3), reason=reason))
        self._publish()
        self._tasks.spawn(self._set_queue(channel_id, target.queue))
        target._take(channel, call_id, arrived)

    async def _set_queue(self, channel_id: str, queue: str) -> None:
        try:
            await self.pbx.set_variable(channel_id, "CC_QUEUE", queue)
        except PbxError as exc:  # served here now; only a restart would look for it
            log.warning("CC_QUEUE of %s not set to %s: %s", channel_id, queue, exc)

    def _take(self, channel: ChannelInfo, call_id: str, arrived: float) -> None:
        """A caller handed over from another queue joins this line at its place (with
        several processes, the holder of this queue's lease takes it on its ``CC_QUEUE``)."""
        if not self.lease.held:
            return
        self._callers[channel.channel_id] = (call_id, arrived)
        self._offer(channel, entered=True)

    def transfer(self, channel_id: str, target: InboundAcd) -> None:
        """Move a caller of this queue to ``target``, keeping its priority and arrival: a
        waiting one at once; one talking to an agent goes back to ``[holding]`` (its
        ``CC_HOLD_START`` kept) and its agent's leg is hung up (the agent wraps up).
        ``LookupError`` if it neither waits nor talks here (being rung or gone: an agent's
        ring is not pulled from under it); ``ValueError`` for its own queue."""
        if target is self:
            raise ValueError(f"the caller is already in queue {self.queue}")
        channel = self.pbx.calls.channel(channel_id)
        if channel is not None and channel_id in self._callers and \
                self.connector.paired_with(channel_id) is not None:
            self._transfer_talking(channel, target)
            return
        if channel is None or channel_id not in self.dispatcher.waiting or \
                channel_id in self._guests:
            raise LookupError(f"caller {channel_id} is not waiting in queue {self.queue}")
        self.dispatcher.withdraw(channel_id)
        self._unhost(channel_id)
        self._forget_steps(channel_id)
        self._hand_over(channel, target, "transfer")

    def _transfer_talking(self, channel: ChannelInfo, target: InboundAcd) -> None:
        channel_id = channel.channel_id
        call_id, arrived = self._callers.pop(channel_id)
        leg = self.connector.release(channel_id)
        now = self.clock.now()
        self.bus.publish(ev.CallTransferred(
            at=now, queue=self.queue, call_id=call_id, channel_id=channel_id,
            to_queue=target.queue, waited_s=round(now - arrived, 3), reason="transfer"))
        self._tasks.spawn(self._back_to_hold(channel_id, call_id, arrived, target, leg))

    async def _back_to_hold(self, channel_id: str, call_id: str, arrived: float,
                            target: InboundAcd, leg: str | None) -> None:
        """``CC_QUEUE`` first (a restarted server adopts the caller there), then back to
        ``[holding]`` (which keeps ``CC_HOLD_START``: no new wait is announced, so the new
        queue takes it in line here, at its first arrival), then the agent's leg goes."""
        try:
            await self.pbx.set_variable(channel_id, "CC_QUEUE", target.queue)
            await self.pbx.redirect(channel_id, "holding", "s")
        except PbxError as exc:
            log.warning("caller %s not transferred to %s: %s", channel_id, target.queue, exc)
        else:
            channel = self.pbx.calls.channel(channel_id)
            if channel is not None:
                target._take(channel, call_id, arrived)
        if leg is not None:
            await hang_up_if_alive(self.pbx, leg)

    def caller_channel(self, call_or_channel_id: str) -> str | None:
        """The channel of a caller of this queue (by call id or channel id), if any."""
        if call_or_channel_id in self._callers:
            return call_or_channel_id
        for channel_id, (call_id, _arrived) in self._callers.items():
            if call_id == call_or_channel_id:
                return channel_id
        return None

    def position(self, channel_id: str) -> int:
        """1 = the next this queue's agents take (by the queue order's keys)."""
        call = self.dispatcher.waiting[channel_id]
        order = self.dispatcher.routing.order
        mine = (order.key(call), call.seq)
        return 1 + sum(1 for other in self.dispatcher.waiting.values()
                       if (order.key(other), other.seq) < mine)

    async def _announce(self, channel_id: str) -> None:
        """Tell the caller its position and expected wait (``[queue-announce]`` says them,
        then the music goes on)."""
        channel = self.pbx.calls.channel(channel_id)
        if channel_id not in self.dispatcher.waiting or channel is None \
                or channel.context == ANNOUNCE_CONTEXT:
            return  # still hearing the last one (a period shorter than the message)
        position = self.position(channel_id)
        expected = expected_wait_s(position, list(self._answers))
        try:
            await self.pbx.set_variable(channel_id, "CC_POSITION", str(position))
            await self.pbx.set_variable(channel_id, "CC_EXPECTED_WAIT",
                                        "" if expected is None else str(round(expected)))
            if channel_id in self.dispatcher.waiting:
                await self.pbx.redirect(channel_id, ANNOUNCE_CONTEXT, "s")
        except PbxError as exc:  # the caller keeps waiting, unannounced
            log.info("announcement to %s (queue %s) not played: %s", channel_id, self.queue,
                     exc)

    def _set_music(self, channel: ChannelInfo) -> None:
        """The queue's music class: ``[holding]`` plays ``CC_MUSIC_CLASS`` (restarted when
        the class changes, i.e. a caller arriving with another one)."""
        wanted = self.definition.music_class
        if (channel.variables.get("CC_MUSIC_CLASS") or "default") == wanted:
            return
        self._tasks.spawn(self._restart_music(channel.channel_id, wanted))

    async def _restart_music(self, channel_id: str, music_class: str) -> None:
        try:
            await self.pbx.set_variable(channel_id, "CC_MUSIC_CLASS", music_class)
            if channel_id in self.dispatcher.waiting:
                await self.pbx.redirect(channel_id, "holding", MUSIC_EXTEN)
        except PbxError as exc:
            log.info("music class %s for %s not set: %s", music_class, channel_id, exc)

    # --- callbacks: the caller hangs up, its place in line stays ------------------------------

    async def _offer_callback(self, channel_id: str) -> None:
        """Redirect the caller to the offer (``[queue-callback-offer]``); it stays in line."""
        channel = self.pbx.calls.channel(channel_id)
        if channel_id not in self.dispatcher.waiting or channel is None \
                or channel.context != "holding":
            return  # taken, gone, or hearing an announcement: no offer this time
        try:
            await self.pbx.redirect(channel_id, CALLBACK_OFFER_CONTEXT, "s")
        except PbxError as exc:
            log.info("callback offer to %s (queue %s) not made: %s", channel_id, self.queue, exc)

    def _callback_requested(self, channel_id: str) -> None:
        """The caller pressed 1: it hangs up, a virtual caller keeps its place."""
        call = self.dispatcher.waiting.get(channel_id)
        channel = self.pbx.calls.channel(channel_id)
        if call is None or channel is None or channel_id in self._guests:
            return  # taken by an agent meanwhile (the bridge wins), or not ours
        now = self.clock.now()
        callback = Callback(channel_id, self.queue, self._call_of(channel_id), channel.caller_num,
                            call.arrived, call.priority)
        self._virtual[channel_id] = callback
        self._forget_steps(channel_id, keep_timeline=True)
        self.bus.publish(ev.CallbackRequested(
            at=now, queue=self.queue, call_id=callback.call_id, channel_id=channel_id,
            number=callback.number, waited_s=round(now - call.arrived, 3)))
        self._tasks.spawn(self._store(callback))

    def add_callback(self, call_id: str, channel_id: str, number: str,
                     priority: int = 0) -> Callback:
        """A callback asked for before the caller ever waited (the IVR's callback node: the
        caller hangs up in the IVR): it joins this line now as a virtual caller, stored like
        one asked for while waiting. A process that does not hold the queue's lease stores it
        for the holder, which lines it up when it next loads the pending callbacks."""
        now = self.clock.now()
        callback = Callback(channel_id, self.queue, call_id, number, now, priority)
        self.bus.publish(ev.CallbackRequested(
            at=now, queue=self.queue, call_id=call_id, channel_id=channel_id, number=number,
            waited_s=0.0))
        self._tasks.spawn(self._store(callback))
        self._line_up(callback)
        return callback

    async def _store(self, callback: Callback) -> None:
        try:
            await self.callbacks.save(callback)
        except Exception:  # the callback is still made by this process; a restart loses it
            log.exception("callback %s (queue %s) not stored", callback.callback_id, self.queue)

    async def _forget_callback(self, callback_id: str) -> None:
        try:
            await self.callbacks.remove(callback_id)
        except Exception:  # a restart would call once more: said loudly
            log.exception("callback %s (queue %s) not removed from the store", callback_id,
                          self.queue)

    async def load_callbacks(self) -> None:
        """Put the store's pending callbacks of this queue back in line at their places (at
        start, or on taking over the queue's lease)."""
        try:
            pending = await self.callbacks.pending(self.queue)
        except Exception:
            log.exception("pending callbacks of queue %s not loaded", self.queue)
            return
        for callback in sorted(pending, key=lambda cb: (-cb.priority, cb.arrived)):
            self._line_up(callback)

    def _line_up(self, callback: Callback) -> None:
        channel_id = callback.callback_id
        if (not self.lease.held or channel_id in self._virtual or channel_id in self._ringing
                or channel_id in self.dispatcher.waiting):
            return
        self._virtual[channel_id] = callback
        self._callers.setdefault(channel_id, (callback.call_id, callback.arrived))
        self.dispatcher.offer(self._waiting_call(channel_id, callback.arrived,
                                                 callback.priority), self.clock.now())
        self._publish()

    def _start_callback(self, call: WaitingCall, agent: Agent, now: float, reason: str) -> None:
        """Its turn: the agent is reserved; dial the customer."""
        callback = self._virtual.pop(call.call_id)
        self._unhost(call.call_id)
        self._ringing.add(call.call_id)
        self.bus.publish(ev.CallOffered(
            at=now, queue=self.queue, call_id=callback.call_id, channel_id=call.call_id,
            agent_id=agent.agent_id, waited_s=round(now - call.arrived, 3),
            reason=f"callback: {reason}"))
        self.bus.publish(ev.CallbackStarted(
            at=now, queue=self.queue, call_id=callback.call_id, channel_id=call.call_id,
            agent_id=agent.agent_id, attempt=callback.attempts + 1))
        self._publish()
        self._tasks.spawn(self._call_back(callback, agent))

    async def _call_back(self, callback: Callback, agent: Agent) -> None:
        key = callback.callback_id
        try:
            handle = await self.pbx.originate(OriginateRequest(
                endpoint=self.callback_endpoint.format(number=callback.number),
                context=CALLBACK_CONTEXT, exten="s", caller_id=callback.number,
                timeout_s=CALLBACK_RING_S,
                variables={"CC_QUEUE": self.queue, "CC_CALLBACK_OF": key,
                           "CC_MUSIC_CLASS": self.definition.music_class},
                call_id=callback.call_id))
            reason = (await handle.outcome).reason
        except PbxError as exc:
            log.info("callback %s (queue %s) not dialled: %s", key, self.queue, exc)
            reason = OriginateReason.FAILED
        if reason is not OriginateReason.ANSWERED or handle.channel_id is None:
            self._ringing.discard(key)
            self._unreserve(agent, key)
            self._callback_failed(callback, str(reason))
            return
        customer = handle.channel_id
        await self._forget_callback(key)

        def agent_missed(result: ConnectResult) -> None:
            """The customer is on the line: it waits in [holding] at its original place."""
            self._tasks.spawn(self._hold_customer(customer, callback))

        result = await self.connector.connect(
            customer, agent, caller_id=callback.number, ring_timeout_s=self.ring_timeout_s,
            variables={"CC_QUEUE": self.queue}, on_failure=agent_missed)
        self._ringing.discard(key)
        now = self.clock.now()
        if result is ConnectResult.CONNECTED:
            self.answered += 1
            self._answers.append(now)
            self._callers.pop(key, None)
            self._timelines.pop(key, None)
            self.bus.publish(ev.CallbackConnected(
                at=now, queue=self.queue, call_id=callback.call_id, channel_id=key,
                agent_id=agent.agent_id))
            self.bus.publish(ev.CallConnected(
                at=now, queue=self.queue, call_id=callback.call_id, channel_id=key,
                agent_id=agent.agent_id, waited_s=round(now - callback.arrived, 3)))
            self._publish()

    async def _hold_customer(self, customer: str, callback: Callback) -> None:
        """Its agent did not answer: the called-back customer waits in ``[holding]`` like a
        caller, with the original arrival (``CC_HOLD_START``) and priority."""
        try:
            await self.pbx.set_variable(customer, "CC_PRIORITY", str(callback.priority))
            await self.pbx.set_variable(customer, "CC_HOLD_START", f"{callback.arrived:.3f}")
            await self.pbx.redirect(customer, "holding", "s")
        except PbxError as exc:
            log.warning("called-back customer %s (queue %s) not put on hold: %s", customer,
                        self.queue, exc)

    def _callback_failed(self, callback: Callback, reason: str) -> None:
        """The customer did not answer: again later at its place, or given up."""
        callback = callback.failed_once()
        delay = retry_after_s(callback)
        now = self.clock.now()
        self.bus.publish(ev.CallbackFailed(
            at=now, queue=self.queue, call_id=callback.call_id,
            channel_id=callback.callback_id, attempt=callback.attempts, reason=reason,
            final=delay is None, retry_after_s=delay or 0.0))
        if delay is None:
            self._callers.pop(callback.callback_id, None)
            self._timelines.pop(callback.callback_id, None)
            self._tasks.spawn(self._forget_callback(callback.callback_id))
            self._publish()
            return
        self._tasks.spawn(self._store(callback))
        self.clock.call_at(now + delay, self._line_up, callback)
        self._publish()
