"""Ring an agent for a party that waits in the PBX, bridge the two, and keep them a pair.

The inbound ACD (a caller in ``[holding]``) and the dialer (a person answering in
``[outbound-connect]``) do the same three things, here once:

1. ring the reserved agent: Originate the agent's endpoint into ``[agent-connect]``, as a leg
   of the waiting party's call (``OriginateRequest.call_id``), not a call of its own;
2. once the agent answers and its leg waits in ``[agent-connect]`` (``CC_AGENT_WAITING``),
   bridge the agent's leg with the waiting party (taken any earlier, Asterisk 22 sent the
   leg back to a fresh wait afterwards and left the caller's Local ``;2`` up with no
   application when the caller hung up: nobody hung either up);
3. when either side of the pair hangs up, hang up the other: after an AMI Bridge, Asterisk
   sends a channel whose peer left back to its dialplan (a caller to hold music, the agent's
   leg on in ``[agent-connect]``), which is never what a finished conversation wants —
   unless the agent's phone transferred the party before hanging up (SIP REFER from the
   console): a party the transfer sent into ``transfer_contexts`` (the agents' dialplan
   context, blind transfer) or into a bridge with someone else (attended transfer) goes on.

Errors follow the port's contract (:mod:`callcenter.core.errors`): when the ring was not sent
the agent is free again at once; when its outcome is unknown the agent's leg may exist, so it
is hung up as soon as the PBX shows it (now, or after the link's resync) and never retried.
:meth:`AgentConnector.connect` says what happened; the caller decides what becomes of the
waiting party (the ACD puts a caller back in its place in line) in ``on_failure``, which runs
*before* the agent is free again — so a caller put back at the head of the line is the one
that agent's next assignment sees, not a caller who arrived later.

With several server processes (``end_other_pairs``), the process that bridged a pair may die
while they talk; then nobody would hang up the agent's leg when the caller leaves (it would
wait in ``[agent-connect]``, the agent stuck on a call). So every process also watches the
bridges it did not make: when one side of a two-party bridge with an agent's leg hangs up, it
hangs up the other (a no-op if the owner, still alive, did it first).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable, Mapping
from enum import StrEnum

from callcenter import events as ev
from callcenter.acd.agents import Agent
from callcenter.acd.identity import AgentEndpoints
from callcenter.acd.phones import AgentPhones
from callcenter.core.errors import OutcomeUnknown, PbxError, PbxUnavailable
from callcenter.core.pbx import OriginateReason, OriginateRequest, Pbx, is_live
from callcenter.tasks import BackgroundTasks

log = logging.getLogger(__name__)

_MAX_ORPHANS = 10_000
#: the variable ``[agent-connect]`` sets on the agent's leg just before it waits for the bridge
LEG_WAITING = "CC_AGENT_WAITING"


class ConnectResult(StrEnum):
    CONNECTED = "connected"
    #: the agent's phone did not answer (no answer, busy, unreachable, refused)
    NOT_ANSWERED = "not_answered"
    #: the PBX link was down: nothing rang
    NOT_SENT = "not_sent"
    #: the ring's outcome is unknown: its leg is hung up if it exists
    UNKNOWN = "unknown"
    #: the agent answered but the bridge failed
    BRIDGE_FAILED = "bridge_failed"
    #: the waiting party hung up before the bridge
    PARTY_GONE = "party_gone"


async def hang_up_if_alive(pbx: Pbx, channel_id: str) -> None:
    """Hang up ``channel_id`` unless it is already gone (the PBX may have done it)."""
    if not is_live(pbx.calls, channel_id):
        return
    try:
        await pbx.hangup(channel_id)
    except PbxError as exc:  # gone meanwhile
        log.debug("hang-up of %s: %s", channel_id, exc)


class AgentConnector:
    def __init__(self, pbx: Pbx, bus: ev.EventBus, phones: AgentPhones,
                 endpoints: AgentEndpoints, *,
                 new_channel_id: Callable[[], str] = lambda: uuid.uuid4().hex,
                 end_other_pairs: bool = False,
                 transfer_contexts: frozenset[str] = frozenset({"agents"}),
                 transfer_grace_s: float = 0.3, leg_wait_s: float = 2.0) -> None:
        self.pbx = pbx
        #: how long an answered agent leg may take to say it waits (``CC_AGENT_WAITING``)
        #: before it is bridged anyway (a dialplan older than that variable never says so)
        self.leg_wait_s = leg_wait_s
        #: answered agent legs not yet waiting -> (their party, woken when it waits or either
        #: of the two hangs up)
        self._until_waiting: dict[str, tuple[str, asyncio.Event]] = {}
        #: after an agent's leg hangs up, how long to wait for the party's move that a transfer
        #: makes (Asterisk may hang the transferring leg up a few ms before the transferred
        #: party enters the target's dialplan): then it is ended or left to its transfer
        self.transfer_grace_s = transfer_grace_s
        #: where a blind transfer by an agent's phone (SIP REFER) sends the party: the
        #: transferring endpoint's dialplan context (docker/asterisk/pjsip.conf: ``agents``)
        self.transfer_contexts = transfer_contexts
        self.end_other_pairs = end_other_pairs
        #: bridge -> its channels, and channel -> the other one of its two-party bridge
        #: (kept after it left, until it hangs up), for pairs another process made
        self._bridges: dict[str, set[str]] = {}
        self._peer: dict[str, str] = {}
        self.bus = bus
        self.phones = phones
        self.endpoints = endpoints
        self.new_channel_id = new_channel_id
        self._tasks = BackgroundTasks("agent connector")
        #: channel <-> channel, both ways, while a pair talks
        self._pairs: dict[str, str] = {}
        #: waiting party -> the agent leg ringing for it (the ring stops if the party leaves)
        self._ringing: dict[str, str] = {}
        #: channels being hung up because their pair ended (Asterisk may first send them back
        #: to their dialplan, e.g. a caller to [holding]: that is not a new wait)
        self._ending: set[str] = set()
        #: agent legs whose ring outcome is unknown: hung up as soon as the PBX shows them
        #: (a dict for its order: the oldest are forgotten beyond ``_MAX_ORPHANS``)
        self._orphans: dict[str, None] = {}
        bus.add_handler(self.on_event)

    async def close(self) -> None:
        self.bus.remove_handler(self.on_event)
        await self._tasks.close()

    def paired_with(self, channel_id: str) -> str | None:
        return self._pairs.get(channel_id)

    def is_ending(self, channel_id: str) -> bool:
        """The server is hanging ``channel_id`` up because its conversation ended."""
        return channel_id in self._ending

    async def _end(self, channel_id: str) -> None:
        self._ending.add(channel_id)
        try:
            await hang_up_if_alive(self.pbx, channel_id)
        finally:
            if not is_live(self.pbx.calls, channel_id):
                self._ending.discard(channel_id)

    async def connect(self, party_id: str, agent: Agent, *, caller_id: str = "",
                      ring_timeout_s: float = 20.0,
                      variables: Mapping[str, str] | None = None,
                      on_failure: Callable[[ConnectResult], None] | None = None,
                      wrap_up_s: float | None = None) -> ConnectResult:
        """Ring ``agent`` (already reserved) and bridge it with the channel ``party_id``.

        ``on_failure(result)`` runs when the party is still there but no conversation came of
        it (not sent, not answered, unknown, bridge failed), before the agent is released.
        ``wrap_up_s``: the agent's wrap-up after this call (None: the center's)."""
        leg_id = self.new_channel_id()
        self.phones.expect(leg_id, agent, wrap_up_s)
        self._ringing[party_id] = leg_id
        try:
            result = await self._ring_and_bridge(party_id, leg_id, agent, caller_id,
                                                 ring_timeout_s, variables or {})
        finally:
            if self._ringing.get(party_id) == leg_id:
                del self._ringing[party_id]
        if result not in (ConnectResult.CONNECTED, ConnectResult.PARTY_GONE):
            if on_failure is not None and is_live(self.pbx.calls, party_id):
                on_failure(result)
        if result is ConnectResult.UNKNOWN:
            self._orphan(leg_id)
        elif result is not ConnectResult.CONNECTED:
            # no-op once the leg's own hang-up moved the agent (answered, then bridge failed)
            self.phones.leg_failed(leg_id, missed=result is ConnectResult.NOT_ANSWERED)
        return result

    async def _ring_and_bridge(self, party_id: str, leg_id: str, agent: Agent, caller_id: str,
                               ring_timeout_s: float,
                               variables: Mapping[str, str]) -> ConnectResult:
        try:
            handle = await self.pbx.originate(OriginateRequest(
                endpoint=self.endpoints.endpoint(agent.agent_id), context="agent-connect",
                exten="s", caller_id=caller_id, timeout_s=ring_timeout_s,
                variables={**variables, "CC_AGENT": agent.agent_id},
                channel_id=leg_id, call_id=self._call_of(party_id)))
            reason = (await handle.outcome).reason
        except PbxUnavailable as exc:
            log.info("agent %s not rung for %s: %s", agent.agent_id, party_id, exc)
            return ConnectResult.NOT_SENT
        except OutcomeUnknown as exc:
            log.warning("ringing agent %s for %s: outcome unknown (%s)", agent.agent_id,
                        party_id, exc)
            return ConnectResult.UNKNOWN
        except PbxError as exc:
            log.info("agent %s not rung for %s: %s", agent.agent_id, party_id, exc)
            return ConnectResult.NOT_ANSWERED
        if reason is OriginateReason.UNKNOWN:
            return ConnectResult.UNKNOWN
        if reason is not OriginateReason.ANSWERED:
            log.info("agent %s did not answer for %s: %s", agent.agent_id, party_id, reason)
            return ConnectResult.NOT_ANSWERED
        # paired before the bridge: a hang-up of either side while bridging ends the other
        self._ringing.pop(party_id, None)
        self._pairs[leg_id] = party_id
        self._pairs[party_id] = leg_id
        if not is_live(self.pbx.calls, party_id):
            self._unpair(leg_id)
            await hang_up_if_alive(self.pbx, leg_id)
            return ConnectResult.PARTY_GONE
        await self._until_leg_waits(leg_id, party_id)
        try:
            await self.pbx.bridge(leg_id, party_id)
        except PbxError as exc:
            log.info("bridging agent %s with %s failed: %s", agent.agent_id, party_id, exc)
            self._unpair(leg_id)
            await hang_up_if_alive(self.pbx, leg_id)
            if not is_live(self.pbx.calls, party_id):
                return ConnectResult.PARTY_GONE
            return ConnectResult.BRIDGE_FAILED
        return ConnectResult.CONNECTED

    async def _until_leg_waits(self, leg_id: str, party_id: str) -> None:
        """Return once the agent's leg waits for the bridge in ``[agent-connect]``, or either
        side hung up (the bridge then fails and says so), or after ``leg_wait_s``."""
        leg = self.pbx.calls.channel(leg_id)
        if leg is None or LEG_WAITING in leg.variables:
            return
        woken = asyncio.Event()
        self._until_waiting[leg_id] = (party_id, woken)
        try:
            await asyncio.wait_for(woken.wait(), self.leg_wait_s)
        except TimeoutError:
            log.warning("agent leg %s did not set %s within %.1f s: bridged anyway (is the "
                        "[agent-connect] dialplan older than the server's?)", leg_id,
                        LEG_WAITING, self.leg_wait_s)
        finally:
            self._until_waiting.pop(leg_id, None)

    def _wake_leg_waits(self, event: ev.DomainEvent) -> None:
        if isinstance(event, ev.ChannelVariableSet):
            if event.name == LEG_WAITING and event.channel_id in self._until_waiting:
                self._until_waiting[event.channel_id][1].set()
        elif isinstance(event, ev.ChannelHungUp):
            for leg_id, (party_id, woken) in self._until_waiting.items():
                if event.channel_id in (leg_id, party_id):
                    woken.set()

    def _call_of(self, party_id: str) -> str | None:
        """The waiting party's call: the agent's leg joins it (one call, one interaction)."""
        party = self.pbx.calls.channel(party_id)
        return party.call_id if party is not None else None

    def release(self, party_id: str) -> str | None:
        """``party_id`` leaves its conversation for elsewhere (a transfer to another queue):
        from now on hanging up either side no longer ends the other. Returns the agent leg it
        was paired with (None: not in a conversation of ours)."""
        other = self._pairs.pop(party_id, None)
        if other is not None:
            self._pairs.pop(other, None)
            self._peer.pop(other, None)
        self._peer.pop(party_id, None)
        return other

    def _unpair(self, channel_id: str) -> None:
        other = self._pairs.pop(channel_id, None)
        if other is not None:
            self._pairs.pop(other, None)

    def _orphan(self, leg_id: str) -> None:
        """The leg may exist: free the agent now and hang the leg up whenever it shows."""
        self.phones.leg_failed(leg_id)
        self._orphans[leg_id] = None
        while len(self._orphans) > _MAX_ORPHANS:
            del self._orphans[next(iter(self._orphans))]
        if is_live(self.pbx.calls, leg_id):
            self._tasks.spawn(self._hang_up_orphan(leg_id))

    async def _hang_up_orphan(self, leg_id: str) -> None:
        self._orphans.pop(leg_id, None)
        await hang_up_if_alive(self.pbx, leg_id)

    def on_event(self, event: ev.DomainEvent) -> None:
        if self.end_other_pairs:
            self._watch_other_pairs(event)
        if self._until_waiting:
            self._wake_leg_waits(event)
        if isinstance(event, ev.ChannelHungUp):
            self._orphans.pop(event.channel_id, None)
            self._ending.discard(event.channel_id)
            other = self._pairs.pop(event.channel_id, None)
            if other is not None:
                self._pairs.pop(other, None)
                self._ending.add(other)  # now: a caller sent back to [holding] is no new wait
                if self.endpoints.agent_of(event.name) and self.transfer_grace_s > 0:
                    self._tasks.spawn(self._end_unless_transferred(other, event.channel_id))
                else:
                    self._tasks.spawn(self._end(other))
            ringing = self._ringing.pop(event.channel_id, None)
            if ringing is not None:  # the party left while its agent's phone rang
                self._tasks.spawn(hang_up_if_alive(self.pbx, ringing))
        elif isinstance(event, ev.PbxResynced):
            self._ending.clear()  # a hang-up lost with the link: such a channel may wait again
        elif isinstance(event, ev.ChannelCreated | ev.ChannelStateChanged):
            if event.channel_id in self._orphans:
                self._tasks.spawn(self._hang_up_orphan(event.channel_id))

    async def _end_unless_transferred(self, party_id: str, gone: str) -> None:
        await asyncio.sleep(self.transfer_grace_s)
        if self._transferred(party_id, gone):
            self._ending.discard(party_id)
            log.info("%s was transferred by %s's phone: it goes on", party_id, gone)
            return
        await self._end(party_id)

    def _transferred(self, party_id: str, gone: str) -> bool:
        """``party_id`` left the pair for a transfer: into ``transfer_contexts`` (blind) or
        into a bridge with a third channel (attended); not sent back to its own dialplan."""
        party = self.pbx.calls.channel(party_id)
        if party is None or party.hungup_at is not None:
            return False
        if party.context in self.transfer_contexts:
            return True
        bridge = party.bridge_id
        return bool(bridge) and any(
            c.bridge_id == bridge and c.channel_id not in (party_id, gone)
            for c in self.pbx.calls.live_channels())

    def _watch_other_pairs(self, event: ev.DomainEvent) -> None:
        if isinstance(event, ev.ChannelBridged):
            members = self._bridges.setdefault(event.bridge_id, set())
            members.add(event.channel_id)
            if len(members) == 2:
                one, other = members
                self._peer[one], self._peer[other] = other, one
        elif isinstance(event, ev.ChannelUnbridged):
            left = self._bridges.get(event.bridge_id)
            if left is not None:
                left.discard(event.channel_id)
                if not left:
                    del self._bridges[event.bridge_id]
        elif isinstance(event, ev.ChannelHungUp):
            peer = self._peer.pop(event.channel_id, None)
            if peer is None or event.channel_id in self._pairs or peer in self._pairs:
                return  # not a pair, or ours: on_event's own rule ends it
            self._peer.pop(peer, None)
            channel = self.pbx.calls.channel(peer)
            if channel is None or not (self.endpoints.agent_of(event.name)
                                       or self.endpoints.agent_of(channel.name)):
                return
            log.info("%s left a conversation another process bridged: hanging up %s",
                     event.channel_id, peer)
            self._ending.add(peer)  # now: a caller sent back to [holding] is not a new wait
            self._tasks.spawn(self._end(peer))
