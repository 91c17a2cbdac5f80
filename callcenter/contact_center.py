"""The one contact-center assembly: every part that routes, dials and records calls, built from
a PBX, a bus, a clock and settings.

``callcenter serve`` (Asterisk over AMI), ``callcenter demo`` (the simulated PBX) and the system
tests all call :func:`build_contact_center`, so what the demo shows is what production runs.
Objects are complete when constructed: nothing is filled in or tied together afterwards.

What is wired (each reads the bus, none knows the PBX's kind)::

    AgentBoard ── AgentEventPublisher ──► bus (agent.state)
        ▲  AgentRegistrations ◄── bus (device.registration) ──► bus (agent.registration)
        ▲  AgentPhones ◄── bus (channel up / hang-up of agent legs)
        │  AgentConnector (ring agent, bridge, hang up the other side)
        └── InboundAcd per queue ◄── bus (CC_HOLD_START, hang-ups)
    ScreenPopService ◄── bus (agent leg ringing) ──► AgentHub (consoles)
    InteractionRecorder ◄── bus (every call) ──► CRM database
    QueueLogRecorder ◄── bus (queue.*: every step of a caller) ──► CRM database (queue_log)

Outbound campaigns run on the center's PBX, board and connector but are not built here: they
are data (a definition, leads, do-not-call lists), run by
:class:`callcenter.campaign_runner.CampaignService` when a supervisor (or the demo) starts
them, each through the compliance gate and the abandonment ledger.

Lifecycle: :meth:`ContactCenter.start` (agents from the configuration log in, the interaction
recorder starts) and :meth:`ContactCenter.close` (the reverse).
The PBX link itself is started and stopped by whoever owns it (the server's app).

Definitions change while it runs (:meth:`ContactCenter.apply`, called by the REST routes of
``/api/config/...``): a new queue is served at once, a changed queue's settings apply to the
callers that arrive next (those waiting keep the line order they joined), a new agent appears on
the board (logged in if so defined), a changed agent's skills apply at once, or for an agent
ready now when it next leaves ready (the dispatchers index ready agents by skill), a deleted
agent is logged out (at the end of its call) and leaves the board, the pause reasons are
replaced. A ``config.changed`` event tells every console.
"""

from __future__ import annotations

import logging
import random
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from callcenter import events as ev
from callcenter.acd.agents import Agent, AgentBoard, AgentState, AgentTransition
from callcenter.acd.callbacks import CallbackStore, MemoryCallbacks
from callcenter.acd.connect import AgentConnector
from callcenter.acd.controls import AgentControls
from callcenter.acd.definitions import AcdDefinitions, AgentDefinition, QueueDefinition
from callcenter.acd.identity import AgentEndpoints
from callcenter.acd.lease import HeldLeases, Leases
from callcenter.acd.phones import AgentEventPublisher, AgentPhones
from callcenter.acd.registration import AgentRegistrations
from callcenter.acd.remote_controls import RemoteAgentControls
from callcenter.acd.routing import make_routing
from callcenter.acd.service import InboundAcd
from callcenter.config import AcdSettings
from callcenter.core.clock import Clock
from callcenter.core.pbx import Pbx
from callcenter.screenpop.hub import AgentHub
from callcenter.screenpop.service import Lookup, ScreenPopService

if TYPE_CHECKING:
    from crm_bridge.interactions import InteractionRecorder
    from crm_bridge.queue_log import QueueLogRecorder

log = logging.getLogger(__name__)


@dataclass(slots=True)
class ContactCenter:
    """The live contact center of one process (see the module docstring)."""

    pbx: Pbx
    bus: ev.EventBus
    clock: Clock
    settings: AcdSettings
    board: AgentBoard
    endpoints: AgentEndpoints
    agent_events: AgentEventPublisher
    phones: AgentPhones
    controls: AgentControls
    connector: AgentConnector
    queues: dict[str, InboundAcd]
    hub: AgentHub
    screen_pops: ScreenPopService | None
    interactions: InteractionRecorder | None
    #: agents' phones registered or not (an unregistered agent is never offered a call)
    registrations: AgentRegistrations
    #: several processes: agents' controls made on another process applied here too
    remote_controls: RemoteAgentControls | None = None
    #: agents logged in by :meth:`start` (those configured with ``logged_in``)
    log_in_at_start: list[str] = field(default_factory=list)
    started: bool = False
    #: writes the queue-event log (every step of every caller in a queue)
    queue_log: QueueLogRecorder | None = None
    #: what runs now (queues, agents, pause reasons); :meth:`apply` changes it
    definitions: AcdDefinitions = field(default_factory=AcdDefinitions)
    #: builds the inbound ACD of a queue (with this center's PBX, board, connector, rng)
    make_queue: Callable[[QueueDefinition], InboundAcd] | None = None
    #: deleted agents still busy: they leave the board when they reach offline
    retiring: set[str] = field(default_factory=set)
    rng: random.Random = field(default_factory=random.Random)
    #: this process's name in ``config.changed`` (another process's change is followed)
    origin: str = field(default_factory=lambda: uuid.uuid4().hex)

    #: skills of ready agents, applied when they next leave ready (see :meth:`_define_agent`)
    pending_skills: dict[str, Mapping[str, int]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._listen_last()

    async def start(self) -> None:
        """Log the configured agents in, start recording interactions."""
        if self.interactions is not None:
            await self.interactions.start()
        if self.queue_log is not None:
            await self.queue_log.start()
        now = self.clock.now()
        for agent_id in self.log_in_at_start:
            self.board.log_in(self.board[agent_id], now)
        for acd in self.queues.values():  # callbacks asked for before a restart
            await acd.load_callbacks()
        self.started = True

    async def apply(self, new: AcdDefinitions, *, announce: bool = True) -> None:
        """Run ``new`` from now on (see the module docstring for what changes when).
        ``announce``: publish ``config.changed`` (not when following another process's
        change, which was announced already)."""
        now = self.clock.now()
        self.controls.pause_reasons = tuple(reason.code for reason in new.pause_reasons)
        for agent in new.agents:
            self._define_agent(agent, now)
        defined = {agent.agent_id for agent in new.agents}
        for old in self.definitions.agents:
            if old.agent_id not in defined and old.agent_id in self.board:
                self._retire(old.agent_id, now)
        for queue in new.queues:
            running = self.queues.get(queue.name)
            if running is None:
                assert self.make_queue is not None
                self.queues[queue.name] = self.make_queue(queue)
            elif running.definition != queue:
                self._redefine(running, queue)
        self._listen_last()  # after the new queues' dispatchers
        names = {queue.name for queue in new.queues}
        for name in [name for name in self.queues if name not in names]:
            await self.queues.pop(name).close()
        self.definitions = new
        if announce:
            self.bus.publish(ev.ConfigChanged(
                at=now, queues=len(new.queues), agents=len(new.agents),
                pause_reasons=len(new.pause_reasons), origin=self.origin))

    def waiting(self, queue: str) -> int:
        """Callers in ``queue``'s line now (0 for a queue not served)."""
        running = self.queues.get(queue)
        return running.waiting if running is not None else 0

    def transfer(self, call_id: str, queue: str) -> dict[str, str]:
        """Move the caller of call ``call_id`` (or its channel id), waiting or talking to an
        agent, to ``queue``, keeping its priority and arrival time. ``KeyError``: no such
        queue; ``LookupError``: no caller of that call in a queue here (or its agent's phone is
        ringing); ``ValueError``: already in ``queue``."""
        target = self.queues.get(queue)
        if target is None:
            raise KeyError(queue)
        for name, acd in self.queues.items():
            channel_id = acd.caller_channel(call_id)
            if channel_id is not None:
                acd.transfer(channel_id, target)
                return {"call_id": call_id, "channel_id": channel_id, "from_queue": name,
                        "queue": queue}
        raise LookupError(f"no caller of call {call_id!r} waits in a queue")

    def request_callback(self, queue: str, call_id: str, channel_id: str, number: str,
                         priority: int = 0) -> bool:
        """A callback asked for outside the line (the IVR's callback node): ``queue``'s ACD
        calls ``number`` back when its turn comes, its place counted from now. False when this
        server runs no such queue."""
        acd = self.queues.get(queue)
        if acd is None:
            return False
        acd.add_callback(call_id, channel_id, number, priority)
        return True

    def _define_agent(self, definition: AgentDefinition, now: float) -> None:
        agent_id = definition.agent_id
        before = self.endpoints.endpoint(agent_id)
        if definition.endpoint is not None:
            self.endpoints.overrides[agent_id] = definition.endpoint
        else:
            self.endpoints.overrides.pop(agent_id, None)
        endpoint = self.endpoints.endpoint(agent_id)
        if endpoint != before and agent_id in self.board:  # another phone: is that one up?
            self.board.set_registered(self.board[agent_id],
                                      endpoint in self.pbx.registered_endpoints(), now)
        self.pending_skills.pop(agent_id, None)
        if agent_id in self.board:
            agent = self.board[agent_id]
            if agent_id in self.retiring:  # deleted, defined again before its call ended
                self.retiring.discard(agent_id)
                agent.leaving = False
            if agent.state is AgentState.READY:
                # the dispatchers index ready agents by their skills: changed under them, the
                # index would no longer match. Applied when the agent next leaves ready.
                self.pending_skills[agent_id] = dict(definition.skills)
            else:
                self._set_skills(agent, definition.skills)
            return
        agent = self.board.add(agent_id, skills=frozenset(definition.skills), now=now,
                               skill_levels=dict(definition.skills))
        self.board.set_registered(
            agent, self.endpoints.endpoint(agent_id) in self.pbx.registered_endpoints(), now)
        if definition.logged_in and self.started:
            self.board.log_in(agent, now)

    def _retire(self, agent_id: str, now: float) -> None:
        agent = self.board[agent_id]
        self.endpoints.overrides.pop(agent_id, None)
        if agent.state is AgentState.OFFLINE:
            self.board.remove(agent)
            return
        self.retiring.add(agent_id)
        # now (then _after_move removes it) or at the end of the call and wrap-up
        self.controls.log_out(agent_id)

    @staticmethod
    def _set_skills(agent: Agent, levels: Mapping[str, int]) -> None:
        agent.skills = frozenset(levels)
        agent.skill_levels = dict(levels)

    def _after_move(self, move: AgentTransition) -> None:
        """Board listener, kept after every dispatcher's (:meth:`_listen_last`): pending
        skills once the dispatchers have let go of a ready agent, retirements when offline."""
        agent = move.agent
        if agent.state is not AgentState.READY and agent.agent_id in self.pending_skills:
            self._set_skills(agent, self.pending_skills.pop(agent.agent_id))
        if agent.agent_id in self.retiring and agent.state is AgentState.OFFLINE:
            self.retiring.discard(agent.agent_id)
            self.board.remove(agent)

    def _listen_last(self) -> None:
        if self._after_move in self.board.listeners:
            self.board.listeners.remove(self._after_move)
        self.board.listeners.append(self._after_move)

    def _redefine(self, acd: InboundAcd, queue: QueueDefinition) -> None:
        """A running queue's new settings, for the callers that come next."""
        if queue.strategy != acd.definition.strategy:
            acd.dispatcher.routing = make_routing(queue.strategy, self.rng)
        acd.definition = queue
        acd.ring_timeout_s = queue.ring_timeout_s or self.settings.ring_timeout_s
        acd.recording_file = self.settings.recording_file if queue.record else None

    async def close(self) -> None:
        """Stop routing, then the pops and the recorder (it drains its queue)."""
        for acd in self.queues.values():
            await acd.close()
        if self._after_move in self.board.listeners:
            self.board.listeners.remove(self._after_move)
        await self.connector.close()
        self.phones.close()
        self.agent_events.close()
        self.registrations.close()
        if self.remote_controls is not None:
            self.remote_controls.close()
        if self.screen_pops is not None:
            await self.screen_pops.close()
        if self.interactions is not None and self.started:
            await self.interactions.stop()
        if self.queue_log is not None and self.started:
            await self.queue_log.stop()
        self.started = False


def build_contact_center(
    pbx: Pbx,
    bus: ev.EventBus,
    clock: Clock,
    settings: AcdSettings,
    *,
    hub: AgentHub | None = None,
    lookup: Lookup | None = None,
    interactions: InteractionRecorder | None = None,
    queue_log: QueueLogRecorder | None = None,
    definitions: AcdDefinitions | None = None,
    board: AgentBoard | None = None,
    wrap_up_s: Callable[[Agent], float] | None = None,
    rng: random.Random | None = None,
    leases: Leases | None = None,
    follow_other_legs: bool = False,
    callbacks: CallbackStore | None = None,
) -> ContactCenter:
    """Build every part over ``pbx``; see the module docstring for what is wired.

    ``definitions`` are the queues, agents and pause reasons (from the database or a seed
    file); None: those of ``settings`` (:meth:`AcdSettings.definitions`). ``settings`` gives the
    center-wide defaults a queue does not override (ring and wrap-up times), the agent
    endpoint template and the recording file names. ``lookup`` (the CRM card by number or
    customer code) turns screen pops on; ``interactions`` records every call and ``queue_log``
    every step of a caller in a queue. ``board`` lets a caller pass agents it made itself (the
    demo's bots); defined agents are added to it. ``wrap_up_s`` overrides the
    configured wrap-up time per agent. ``leases`` say which queues this process dispatches
    (several processes on one Redis: ``callcenter.redis_lease``); None: every queue, alone.
    ``follow_other_legs``: agents' phones rung by other processes make them busy here too,
    pairs other processes bridged are ended here too when one side hangs up, and agents'
    pauses and log-ins made on other processes are applied here. ``callbacks``
    keeps pending callbacks (the database's survive a restart); None: in this process.
    """
    definitions = definitions if definitions is not None else settings.definitions()
    board = board if board is not None else AgentBoard()
    now = clock.now()
    configured: list[str] = []
    for agent in definitions.agents:
        if agent.agent_id not in board:
            board.add(agent.agent_id, skills=frozenset(agent.skills), now=now,
                      skill_levels=dict(agent.skills))
        if agent.logged_in:
            configured.append(agent.agent_id)
    endpoints = AgentEndpoints(settings.agent_endpoint, is_agent=board.__contains__,
                               overrides={agent.agent_id: agent.endpoint
                                          for agent in definitions.agents
                                          if agent.endpoint is not None})
    # first: every agent starts from the PBX's current view, unannounced
    registrations = AgentRegistrations(board, endpoints, bus, clock, pbx.registered_endpoints())
    agent_events = AgentEventPublisher(board, bus)
    default_wrap_up = settings.wrap_up_s
    phones = AgentPhones(board, bus, clock,
                         wrap_up_s=wrap_up_s or (lambda _agent: default_wrap_up),
                         pause_after_misses=settings.no_answer_pause_after,
                         endpoints=endpoints if follow_other_legs else None)
    controls = AgentControls(board, phones, clock,
                             pause_reasons=[reason.code for reason in definitions.pause_reasons],
                             max_wrap_up_s=settings.max_wrap_up_s)
    connector = AgentConnector(pbx, bus, phones, endpoints, end_other_pairs=follow_other_legs)
    rng = rng or random.Random()
    leases = leases if leases is not None else HeldLeases()
    callbacks = callbacks if callbacks is not None else MemoryCallbacks()
    #: every queue of this process by name (the same dict the center keeps: overflow and
    #: transfers find a queue added later by :meth:`ContactCenter.apply`)
    queues: dict[str, InboundAcd] = {}

    def make_queue(queue: QueueDefinition) -> InboundAcd:
        return InboundAcd(
            pbx, bus, board, connector, make_routing(queue.strategy, rng), clock,
            definition=queue,
            ring_timeout_s=queue.ring_timeout_s or settings.ring_timeout_s,
            recording_file=settings.recording_file if queue.record else None,
            lease=leases.lease(queue.name), peers=queues.get, callbacks=callbacks,
            callback_endpoint=settings.callback_endpoint)

    for queue in definitions.queues:
        queues[queue.name] = make_queue(queue)
    hub = hub or AgentHub()
    pops = ScreenPopService(bus, pbx.calls, hub, lookup, endpoints) if lookup else None
    return ContactCenter(pbx=pbx, bus=bus, clock=clock, settings=settings, board=board,
                         endpoints=endpoints, agent_events=agent_events, phones=phones,
                         controls=controls, connector=connector, queues=queues,
                         hub=hub, screen_pops=pops, interactions=interactions,
                         queue_log=queue_log,
                         log_in_at_start=configured, registrations=registrations,
                         definitions=definitions, make_queue=make_queue, rng=rng,
                         remote_controls=RemoteAgentControls(bus, board, phones, clock)
                         if follow_other_legs else None)

