"""Typed domain events and the in-process event bus: the spine of the server.

Every state change the server knows of becomes one immutable event. The wallboard, the agent
consoles, the metrics and the history all read the same stream, so they never disagree.
Events are flat (primitives only) so they serialise to JSON without a schema per consumer:
``event.to_dict()`` gives ``{"type": "call.started", "at": 1700000000.1, ...fields}``.

The bus is synchronous on the publishing side (publishing never awaits, so the AMI reader
never stalls behind a slow console) and gives each asynchronous consumer a bounded queue;
a consumer that falls too far behind is told so (``lagged``) instead of slowing the others.

Delivery runs to completion: an event published *while another is being delivered* (a handler
reacting to ``channel.state up`` by moving an agent to on call) waits until the current event
has reached every handler and subscriber, then goes out in publication order. So every
consumer sees causes before effects — ``channel.state up`` before ``agent.state on_call``,
``channel.hangup`` before ``agent.state wrap_up`` — whatever order handlers were added in.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar

from callcenter.core.delivery import RunToCompletion

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class DomainEvent:
    """Base of all events. ``type`` is the stable wire name; ``at`` is epoch seconds."""

    type: ClassVar[str] = "event"
    at: float

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["type"] = self.type
        return data


# --- calls and channels (built by callcenter.cti.model from AMI events) -------------------


@dataclass(frozen=True, slots=True)
class CallStarted(DomainEvent):
    """The first channel of a call (Asterisk linkedid) appeared."""

    type: ClassVar[str] = "call.started"
    call_id: str
    caller_num: str = ""
    caller_name: str = ""
    context: str = ""
    exten: str = ""


@dataclass(frozen=True, slots=True)
class CallAnswered(DomainEvent):
    type: ClassVar[str] = "call.answered"
    call_id: str


@dataclass(frozen=True, slots=True)
class CallEnded(DomainEvent):
    """The last channel of the call hung up (or vanished during a PBX outage)."""

    type: ClassVar[str] = "call.ended"
    call_id: str
    hangup_cause: int
    hangup_cause_text: str
    duration_s: float
    answered: bool


@dataclass(frozen=True, slots=True)
class ChannelCreated(DomainEvent):
    type: ClassVar[str] = "channel.created"
    call_id: str
    channel_id: str
    name: str
    state: str
    caller_num: str = ""
    context: str = ""
    exten: str = ""


@dataclass(frozen=True, slots=True)
class ChannelStateChanged(DomainEvent):
    type: ClassVar[str] = "channel.state"
    call_id: str
    channel_id: str
    name: str
    state: str
    previous: str


@dataclass(frozen=True, slots=True)
class ChannelHungUp(DomainEvent):
    type: ClassVar[str] = "channel.hangup"
    call_id: str
    channel_id: str
    name: str
    cause: int
    cause_text: str


@dataclass(frozen=True, slots=True)
class ChannelBridged(DomainEvent):
    type: ClassVar[str] = "channel.bridged"
    call_id: str
    channel_id: str
    bridge_id: str


@dataclass(frozen=True, slots=True)
class ChannelUnbridged(DomainEvent):
    type: ClassVar[str] = "channel.unbridged"
    call_id: str
    channel_id: str
    bridge_id: str


@dataclass(frozen=True, slots=True)
class ChannelVariableSet(DomainEvent):
    """One of *our* channel variables (``CC_*``) changed; others are not tracked."""

    type: ClassVar[str] = "channel.variable"
    call_id: str
    channel_id: str
    name: str
    value: str


@dataclass(frozen=True, slots=True)
class DtmfReceived(DomainEvent):
    type: ClassVar[str] = "channel.dtmf"
    call_id: str
    channel_id: str
    digit: str
    direction: str


# --- agents' consoles -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ScreenPopped(DomainEvent):
    """A caller's card was sent to a ringing agent's consoles (``consoles`` = how many)."""

    type: ClassVar[str] = "screen.popped"
    agent_id: str
    call_id: str
    caller_number: str
    customer_id: int | None
    candidates: int
    consoles: int
    lookup_ms: float


# --- ACD and dialer -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AgentStateChanged(DomainEvent):
    """An agent moved in the one agent state machine (callcenter.acd.agents)."""

    type: ClassVar[str] = "agent.state"
    agent_id: str
    state: str
    previous: str
    reason: str = ""
    call_id: str = ""


@dataclass(frozen=True, slots=True)
class AgentWrapUp(DomainEvent):
    """An agent's wrap-up ends at ``until`` (epoch seconds): told when it starts and each time
    the agent extends it, so a wallboard or console can count it down."""

    type: ClassVar[str] = "agent.wrap_up"
    agent_id: str
    until: float


@dataclass(frozen=True, slots=True)
class QueueChanged(DomainEvent):
    """A queue's waiting callers changed (a caller joined, was answered or gave up)."""

    type: ClassVar[str] = "queue.changed"
    queue: str
    waiting: int
    oldest_wait_s: float
    answered: int
    abandoned: int


@dataclass(frozen=True, slots=True)
class CallQueued(DomainEvent):
    """A caller joined a queue's line (or rejoined it, keeping its place: ``requeued``).
    ``channel_id`` is the caller's channel, ``call_id`` its call (the interaction's key)."""

    type: ClassVar[str] = "queue.entered"
    queue: str
    call_id: str
    channel_id: str
    priority: int
    waiting: int
    requeued: bool = False


@dataclass(frozen=True, slots=True)
class CallOffered(DomainEvent):
    """The ACD chose an agent for a waiting caller and rings the agent's phone; ``reason``
    says why that agent (the routing strategy's account of its choice)."""

    type: ClassVar[str] = "queue.offered"
    queue: str
    call_id: str
    channel_id: str
    agent_id: str
    waited_s: float
    reason: str = ""


@dataclass(frozen=True, slots=True)
class CallConnected(DomainEvent):
    """Caller and agent are bridged: the queue answered the call."""

    type: ClassVar[str] = "queue.connected"
    queue: str
    call_id: str
    channel_id: str
    agent_id: str
    waited_s: float


@dataclass(frozen=True, slots=True)
class CallNotConnected(DomainEvent):
    """An offer came to nothing (``result``: not_answered, unknown, not_sent, bridge_failed):
    the caller goes back to its place in line (or waits for the PBX link)."""

    type: ClassVar[str] = "queue.not_connected"
    queue: str
    call_id: str
    channel_id: str
    agent_id: str
    result: str


@dataclass(frozen=True, slots=True)
class CallAbandoned(DomainEvent):
    """The caller hung up before being connected (``stage``: waiting, ringing, parked)."""

    type: ClassVar[str] = "queue.abandoned"
    queue: str
    call_id: str
    channel_id: str
    waited_s: float
    stage: str


@dataclass(frozen=True, slots=True)
class CallOverflowed(DomainEvent):
    """A caller waited ``overflow_after_s`` in ``queue`` and is now *also* offered to
    ``to_queue``'s agents, keeping its place (arrival time, priority) in both lines."""

    type: ClassVar[str] = "queue.overflowed"
    queue: str
    call_id: str
    channel_id: str
    to_queue: str
    waited_s: float


@dataclass(frozen=True, slots=True)
class CallTransferred(DomainEvent):
    """A caller left ``queue`` for ``to_queue`` keeping its priority and arrival time
    (``reason``: ``max_wait`` — its wait ran out —, ``transfer`` — asked over the API); with
    ``to_queue`` ``queue-timeout`` it left to the dialplan's ``[queue-timeout]`` (message,
    then voicemail or hang-up), not to another queue."""

    type: ClassVar[str] = "queue.transferred"
    queue: str
    call_id: str
    channel_id: str
    to_queue: str
    waited_s: float
    reason: str


@dataclass(frozen=True, slots=True)
class CallbackRequested(DomainEvent):
    """The caller asked to be called back and hung up: it keeps its place in line (arrival,
    priority) as a virtual caller; ``number`` is dialled when its turn comes."""

    type: ClassVar[str] = "queue.callback_requested"
    queue: str
    call_id: str
    channel_id: str
    number: str
    waited_s: float


@dataclass(frozen=True, slots=True)
class CallbackStarted(DomainEvent):
    """Its turn came: ``agent_id`` is reserved and the customer is dialled (``attempt`` 1..)."""

    type: ClassVar[str] = "queue.callback_started"
    queue: str
    call_id: str
    channel_id: str
    agent_id: str
    attempt: int


@dataclass(frozen=True, slots=True)
class CallbackConnected(DomainEvent):
    """The customer answered and is bridged with the agent."""

    type: ClassVar[str] = "queue.callback_connected"
    queue: str
    call_id: str
    channel_id: str
    agent_id: str


@dataclass(frozen=True, slots=True)
class CallbackFailed(DomainEvent):
    """A dial did not reach the customer (``reason``); ``final``: no attempt is left, else it is
    tried again after ``retry_after_s`` at its place in line."""

    type: ClassVar[str] = "queue.callback_failed"
    queue: str
    call_id: str
    channel_id: str
    attempt: int
    reason: str
    final: bool
    retry_after_s: float = 0.0


@dataclass(frozen=True, slots=True)
class CampaignChanged(DomainEvent):
    """An outbound campaign's lines changed (``outcome`` = what just happened to a line)."""

    type: ClassVar[str] = "campaign.changed"
    campaign: str
    outcome: str
    pacing: str
    dialing: int
    waiting: int
    connected: int
    placed: int
    humans: int
    dropped: int


@dataclass(frozen=True, slots=True)
class DialDecided(DomainEvent):
    """The compliance gate's answer for one lead (``callcenter.dialer.compliance``): dial or
    not, and why. Stored as the dial audit (``dial_decisions``). ``zones`` and ``local_times``
    are comma-separated, in the same order; ``retry_at`` is epoch seconds or 0."""

    type: ClassVar[str] = "dial.decision"
    campaign: str
    lead_id: str
    number: str
    verdict: str  # dial, later, never
    reason: str
    zones: str = ""
    local_times: str = ""
    retry_at: float = 0.0


@dataclass(frozen=True, slots=True)
class CampaignLine(DomainEvent):
    """What happened to one line of a campaign, with its lead: ``outcome`` is dialed, busy,
    no_answer, cancelled (hung up still ringing after the minimum ring), cancel_answered (hung
    up as somebody answered: a person abandoned), machine, failed, notsure, notsure_message,
    human, connected, dropped, ended.
    ``lead_status`` / ``lead_result`` are the lead's after it (done: contacted, abandoned,
    max_attempts_busy ...)."""

    type: ClassVar[str] = "campaign.line"
    campaign: str
    lead_id: str
    line_id: str
    outcome: str
    channel_id: str = ""
    call_id: str = ""
    agent_id: str = ""
    attempts: int = 0
    lead_status: str = ""
    lead_result: str = ""
    #: when the lead may be dialled again (epoch seconds; 0: not set)
    next_attempt_at: float = 0.0


@dataclass(frozen=True, slots=True)
class CampaignStatus(DomainEvent):
    """A campaign's state and its live abandonment gauge: ``state`` running / paused /
    stopped / finished; ``mode`` the chosen one, ``effective_mode`` what dials now (predictive
    falls back to progressive when the abandonment budget is spent: ``reason``); the rates in
    percent over the rolling 30 days and today, against ``limit_pct``."""

    type: ClassVar[str] = "campaign.status"
    campaign: str
    state: str
    mode: str
    effective_mode: str
    reason: str
    rate_30d_pct: float
    rate_today_pct: float
    limit_pct: float
    answered_today: int
    abandoned_today: float
    answered_30d: int
    abandoned_30d: float
    pending_leads: int
    placed: int
    actor: str = ""


@dataclass(frozen=True, slots=True)
class CampaignControlRequested(DomainEvent):
    """A supervisor's control of a campaign that another server process runs (``node``, its
    owner: :mod:`callcenter.campaign_ownership`), handed to that process over the event relay;
    it applies the control and its ``campaign.status`` answers it."""

    type: ClassVar[str] = "campaign.control"
    campaign: str
    action: str
    node: str
    mode: str = ""
    actor: str = ""


# --- devices (phones) -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DeviceRegistration(DomainEvent):
    """A PBX endpoint (``PJSIP/2001``) gained its first usable contact (a phone registered:
    ``registered``) or lost its last one (unregistered, expired, unreachable). ``contact`` is
    the contact's URI when known. Emitted by the PBX adapter on changes only, and at a resync
    for endpoints whose registration changed while the link was down."""

    type: ClassVar[str] = "device.registration"
    endpoint: str
    registered: bool
    contact: str = ""


@dataclass(frozen=True, slots=True)
class AgentRegistrationChanged(DomainEvent):
    """An agent's phone became registered or unregistered (the board's ``registered``): an
    unregistered agent is never offered a call, whatever its state."""

    type: ClassVar[str] = "agent.registration"
    agent_id: str
    registered: bool
    state: str


# --- supervision ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SpyStarted(DomainEvent):
    """A supervisor's phone was rung into ChanSpy on an agent's leg (``mode``: listen, whisper
    or barge). ``supervisor`` is the account that asked, when accounts are known."""

    type: ClassVar[str] = "spy.started"
    agent_id: str
    mode: str
    supervisor_endpoint: str
    call_id: str
    target_channel_id: str
    spy_channel_id: str
    supervisor: str = ""


# --- the IVR ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class IvrStarted(DomainEvent):
    """A caller entered an IVR flow (``language``: the caller's language at the start)."""

    type: ClassVar[str] = "ivr.started"
    flow: str
    call_id: str
    channel_id: str
    language: str


@dataclass(frozen=True, slots=True)
class IvrNodeEntered(DomainEvent):
    """The caller reached a node of the flow (``kind``: menu, collect, queue ...)."""

    type: ClassVar[str] = "ivr.node"
    flow: str
    call_id: str
    node: str
    kind: str


@dataclass(frozen=True, slots=True)
class IvrInput(DomainEvent):
    """What the caller gave at a node: ``via`` dtmf or speech; ``value`` the keys or the
    option it chose (entered codes are not repeated here: they are call data)."""

    type: ClassVar[str] = "ivr.input"
    flow: str
    call_id: str
    node: str
    via: str
    value: str
    result: str  # matched, no_match, no_input, invalid, low_confidence


@dataclass(frozen=True, slots=True)
class IvrRecognition(DomainEvent):
    """A speech recognition result at a node, accepted or not (below the node's minimum
    confidence, or matching no option)."""

    type: ClassVar[str] = "ivr.recognition"
    flow: str
    call_id: str
    node: str
    text: str
    confidence: float
    accepted: bool


@dataclass(frozen=True, slots=True)
class IvrExit(DomainEvent):
    """The caller left the flow: ``outcome`` queue (to an agent), completed (finished in the
    IVR: self-service, survey, closed hours), hung_up (gave up in the IVR) or error."""

    type: ClassVar[str] = "ivr.exit"
    flow: str
    call_id: str
    node: str
    outcome: str
    path: str
    queue: str = ""
    intent: str = ""


# --- the PBX link itself --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PbxLinkUp(DomainEvent):
    type: ClassVar[str] = "pbx.link_up"
    pbx: str
    version: str = ""


@dataclass(frozen=True, slots=True)
class PbxLinkDown(DomainEvent):
    type: ClassVar[str] = "pbx.link_down"
    pbx: str
    reason: str = ""


@dataclass(frozen=True, slots=True)
class PbxResynced(DomainEvent):
    """The model was reconciled with the PBX's own view after a (re)connect."""

    type: ClassVar[str] = "pbx.resynced"
    pbx: str
    channels: int
    calls: int
    bridges: int
    ghosts_removed: int
    discovered: int
    duration_s: float


@dataclass(frozen=True, slots=True)
class ConfigChanged(DomainEvent):
    """The ACD's definitions changed (REST ``/api/config/...``) and the server runs them now:
    consoles and wallboards reload queues, agents and pause reasons."""

    type: ClassVar[str] = "config.changed"
    queues: int
    agents: int
    pause_reasons: int
    #: the process that made the change (the others reload the definitions from the database)
    origin: str = ""


@dataclass(frozen=True, slots=True)
class DispositionsChanged(DomainEvent):
    """An admin added, changed or disabled a disposition (REST ``/api/dispositions``): open
    consoles reload their wrap-up list (``code`` is the one changed, ``active`` its state)."""

    type: ClassVar[str] = "dispositions.changed"
    code: str
    active: bool


# --- complaints (callcenter.complaints: the workflow; the desk writes and publishes) -------


@dataclass(frozen=True, slots=True)
class ComplaintRegistered(DomainEvent):
    """A complaint was registered (``duplicate_of``: 0, or the original it repeats)."""

    type: ClassVar[str] = "complaint.registered"
    complaint_id: int
    customer_id: int
    category: str
    severity: str
    registered_by: str
    deadline: str
    duplicate_of: int = 0


@dataclass(frozen=True, slots=True)
class ComplaintStepped(DomainEvent):
    """A workflow step was taken (``kind``: the action; ``status``: the stage now)."""

    type: ClassVar[str] = "complaint.step"
    complaint_id: int
    kind: str
    actor: str
    status: str
    department: str = ""
    deadline: str = ""


@dataclass(frozen=True, slots=True)
class ComplaintEscalated(DomainEvent):
    """A complaint's stage passed its deadline: the escalation level went up (wallboard,
    webhook)."""

    type: ClassVar[str] = "complaint.escalated"
    complaint_id: int
    customer_id: int
    level: int
    status: str
    severity: str
    department: str
    overdue_s: float
    deadline: str


EVENT_TYPES: dict[str, type[DomainEvent]] = {
    cls.type: cls
    for cls in (
        CallStarted, CallAnswered, CallEnded, ChannelCreated, ChannelStateChanged,
        ChannelHungUp, ChannelBridged, ChannelUnbridged, ChannelVariableSet, DtmfReceived,
        PbxLinkUp, PbxLinkDown, PbxResynced, ScreenPopped, AgentStateChanged, AgentWrapUp,
        QueueChanged,
        CallQueued, CallOffered, CallConnected, CallNotConnected, CallAbandoned,
        CallOverflowed, CallTransferred, CallbackRequested, CallbackStarted, CallbackConnected,
        CallbackFailed,
        CampaignChanged, DialDecided, CampaignLine, CampaignStatus, CampaignControlRequested,
        DeviceRegistration, AgentRegistrationChanged, SpyStarted,
        IvrStarted, IvrNodeEntered, IvrInput, IvrRecognition, IvrExit, ConfigChanged,
        DispositionsChanged,
        ComplaintRegistered, ComplaintStepped, ComplaintEscalated,
    )
}


class UnknownEventType(ValueError):
    """A serialised event names a type this version does not know."""


def event_from_dict(data: dict[str, Any]) -> DomainEvent:
    """Inverse of :meth:`DomainEvent.to_dict` (for events relayed between processes)."""
    fields_ = dict(data)
    kind = fields_.pop("type", None)
    cls = EVENT_TYPES.get(kind) if isinstance(kind, str) else None
    if cls is None:
        raise UnknownEventType(f"unknown event type {kind!r}")
    return cls(**fields_)


Handler = Callable[[DomainEvent], None]


class LatestStatus:
    """The last ``queue.changed`` per queue and ``campaign.changed`` per campaign: what a
    client connecting now needs to draw those tiles before the next change (a bus handler;
    the WebSocket snapshot reads it). The callers in an IVR flow now (``ivr``: call, flow,
    node). Also the time of the last event published
    (``last_event_at``, on the server's clock — the simulator's runs faster than the wall's):
    a client reading history up to it and the events after it on the stream misses nothing."""

    def __init__(self) -> None:
        self.queues: dict[str, QueueChanged] = {}
        self.campaigns: dict[str, CampaignChanged] = {}
        #: the last ``campaign.status`` per campaign (state, mode, abandonment gauge)
        self.campaign_status: dict[str, CampaignStatus] = {}
        self.last_event_at: float | None = None
        #: callers in an IVR flow now, by call: where they are
        self.ivr: dict[str, IvrStarted | IvrNodeEntered] = {}

    def on_event(self, event: DomainEvent) -> None:
        if self.last_event_at is None or event.at > self.last_event_at:
            self.last_event_at = event.at
        if isinstance(event, IvrStarted | IvrNodeEntered):
            self.ivr[event.call_id] = event
        elif isinstance(event, IvrExit | CallEnded):
            self.ivr.pop(event.call_id, None)
        elif isinstance(event, QueueChanged):
            self.queues[event.queue] = event
        elif isinstance(event, CampaignChanged):
            self.campaigns[event.campaign] = event
        elif isinstance(event, CampaignStatus):
            self.campaign_status[event.campaign] = event

    def snapshot(self) -> dict[str, Any]:
        return {"queues": [e.to_dict() for e in self.queues.values()],
                "campaigns": [e.to_dict() for e in self.campaigns.values()],
                "campaign_status": [e.to_dict() for e in self.campaign_status.values()],
                "ivr": [{"call_id": e.call_id, "flow": e.flow,
                         "node": e.node if isinstance(e, IvrNodeEntered) else ""}
                        for e in self.ivr.values()],
                "last_event_at": self.last_event_at}


@dataclass(slots=True)
class Subscription:
    """An asynchronous consumer's view of the bus: ``async for event in subscription``.

    The queue is bounded; when it is full the oldest events are dropped and ``lagged`` counts
    them, so a consumer (e.g. a WebSocket) can tell its client to re-read a snapshot.
    """

    bus: EventBus
    queue: asyncio.Queue[DomainEvent]
    types: frozenset[str] | None
    lagged: int = 0

    def wants(self, event: DomainEvent) -> bool:
        return self.types is None or event.type in self.types

    def offer(self, event: DomainEvent) -> None:
        if self.queue.full():
            self.queue.get_nowait()
            self.lagged += 1
        self.queue.put_nowait(event)

    async def get(self) -> DomainEvent:
        return await self.queue.get()

    def close(self) -> None:
        self.bus.unsubscribe(self)

    def __aiter__(self) -> AsyncIterator[DomainEvent]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[DomainEvent]:
        while True:
            yield await self.queue.get()


@dataclass(slots=True)
class EventBus:
    """In-process publish/subscribe of :class:`DomainEvent`.

    ``handlers`` run synchronously inside :meth:`publish` (metrics, in-memory projections);
    a handler that raises is logged and the others still run. ``subscribe`` gives async
    consumers their own bounded queue. A handler that publishes does not see its event
    delivered before it returns: the event is queued behind the one being delivered.
    """

    handlers: list[Handler] = field(default_factory=list)
    subscriptions: list[Subscription] = field(default_factory=list)
    published: int = 0
    #: True while an event relayed from another server process (``callcenter.redis_relay``)
    #: is delivered, and what handlers derive from it on the spot: a handler that writes
    #: (the queue-event log) leaves it to the process where it happened
    relayed: bool = False
    _delivery: RunToCompletion[DomainEvent] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._delivery = RunToCompletion(self._deliver)

    def add_handler(self, handler: Handler) -> None:
        self.handlers.append(handler)

    def remove_handler(self, handler: Handler) -> None:
        if handler in self.handlers:
            self.handlers.remove(handler)

    def subscribe(self, types: set[str] | None = None, maxsize: int = 10_000) -> Subscription:
        sub = Subscription(self, asyncio.Queue(maxsize), frozenset(types) if types else None)
        self.subscriptions.append(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        if sub in self.subscriptions:
            self.subscriptions.remove(sub)

    def publish(self, event: DomainEvent) -> None:
        """Deliver ``event`` now, or — when called during another delivery — right after it."""
        self.published += 1
        self._delivery.submit(event)

    def _deliver(self, event: DomainEvent) -> None:
        # copies: a handler may add or remove handlers (a service closing) while we iterate
        for handler in tuple(self.handlers):
            try:
                handler(event)
            except Exception:
                log.exception("event handler %r failed on %s", handler, event.type)
        for sub in tuple(self.subscriptions):
            if sub.wants(event):
                sub.offer(event)

    def publish_all(self, events: list[DomainEvent]) -> None:
        for event in events:
            self.publish(event)
