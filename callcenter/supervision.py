"""Listen, whisper and barge: a supervisor's phone joins an agent's conversation (ChanSpy).

The supervisor picks an agent on the wallboard; the server finds that agent's live leg in the
call the agent is on (the agent's leg is a leg of the caller's call, see
:mod:`callcenter.acd.connect`) and asks the PBX to ring the supervisor's own phone into
``ChanSpy`` on it (:meth:`callcenter.core.pbx.Pbx.spy`): *listen* hears both sides, *whisper*
also speaks to the agent only, *barge* speaks to both. The spy call ends with the agent's leg.

Spying on the agent's leg rather than on the caller's is deliberate: whisper must reach the
agent, never the customer, and the agent's leg is the one that stays the same when a caller is
transferred. Every spy that starts is a ``spy.started`` event (who, on whom, how), the stream
the audit log and the wallboard read.
"""

from __future__ import annotations

import re

from callcenter import events as ev
from callcenter.acd.agents import AgentBoard
from callcenter.acd.identity import AgentEndpoints
from callcenter.core.clock import Clock
from callcenter.core.pbx import CallInfo, ChannelInfo, Pbx, SpyMode

#: ``PJSIP/9001`` (or ``Local/9001@supervisors``): a technology, a slash, an endpoint name and
#: at most one ``@context``; no dial-string options, no second channel
_ENDPOINT = re.compile(
    r"^[A-Za-z][A-Za-z0-9]{0,15}/[A-Za-z0-9][A-Za-z0-9_.+-]{0,63}(@[A-Za-z0-9_-]{1,64})?$")


class SupervisionError(Exception):
    """Base of what :class:`Supervision` refuses (mapped to HTTP statuses at the boundary)."""


class UnknownAgent(SupervisionError):
    """No such agent on the board."""


class NotOnCall(SupervisionError):
    """The agent has no conversation to join right now."""


class BadSupervisorPhone(SupervisionError):
    """The supervisor's endpoint is malformed or is the agent's own phone."""


class Supervision:
    """Starts spy calls on agents' conversations and announces them."""

    def __init__(self, pbx: Pbx, bus: ev.EventBus, board: AgentBoard,
                 endpoints: AgentEndpoints, clock: Clock) -> None:
        self.pbx = pbx
        self.bus = bus
        self.board = board
        self.endpoints = endpoints
        self.clock = clock

    def agent_leg(self, agent_id: str) -> ChannelInfo:
        """The agent's live leg in the call the board says it is on."""
        if agent_id not in self.board:
            raise UnknownAgent(f"no agent {agent_id!r}")
        agent = self.board[agent_id]
        call = self._call_of(agent.call_id) if agent.call_id else None
        if call is None:
            raise NotOnCall(f"agent {agent_id} is {agent.state}, not on a call")
        for leg in call.legs.values():
            if leg.hungup_at is None and self.endpoints.agent_of(leg.name) == agent_id:
                if leg.bridge_id is not None:
                    return leg
        raise NotOnCall(f"agent {agent_id} is not talking yet (no bridged leg of theirs in "
                        f"call {call.call_id})")

    def _call_of(self, reference: str) -> CallInfo | None:
        """The call an agent's ``call_id`` names: the ACD reserves agents for a waiting
        party's channel (a leg of a call), the dialer and others for a call."""
        calls = self.pbx.calls
        call = calls.get_call(reference)
        if call is None:
            channel = calls.channel(reference)
            call = calls.get_call(channel.call_id) if channel is not None else None
        return call

    async def spy(self, agent_id: str, supervisor_endpoint: str, mode: SpyMode,
                  supervisor: str = "") -> ev.SpyStarted:
        """Ring ``supervisor_endpoint`` into ChanSpy on ``agent_id``'s leg.

        Returns once the PBX accepted the call (the supervisor's phone then rings); PBX errors
        (:mod:`callcenter.core.errors`) pass through for the boundary to map.
        """
        if not _ENDPOINT.fullmatch(supervisor_endpoint):
            raise BadSupervisorPhone(
                f"supervisor phone {supervisor_endpoint!r} must look like PJSIP/9001")
        if agent_id in self.board and supervisor_endpoint == self.endpoints.endpoint(agent_id):
            raise BadSupervisorPhone("the supervisor's phone cannot be the agent's own")
        leg = self.agent_leg(agent_id)
        handle = await self.pbx.spy(supervisor_endpoint, leg.channel_id, mode)
        event = ev.SpyStarted(at=self.clock.now(), agent_id=agent_id, mode=mode.value,
                              supervisor_endpoint=supervisor_endpoint, supervisor=supervisor,
                              call_id=leg.call_id, target_channel_id=leg.channel_id,
                              spy_channel_id=handle.channel_id)
        self.bus.publish(event)
        return event
