"""Which agent is ringing, for which caller: decided from call-model events alone. Pure.

An agent's phone ringing is a channel of an agent endpoint (``PJSIP/2001-0000002a``; which
endpoints are agents' is :class:`~callcenter.acd.identity.AgentEndpoints`' to say) entering
the ``ring``/``ringing`` state inside a call. This works the same whether the ACD rang the agent
(Originate), the dialer connected a customer, or a colleague transferred: it keys on what the
PBX reports, not on who asked. The caller is the agent leg's connected line (who Asterisk says
is calling that phone), else the call's first leg; a customer code the IVR stored in
``CC_CUSTOMER_CODE`` wins over the calling number.
"""

from __future__ import annotations

from dataclasses import dataclass

from callcenter import events as ev
from callcenter.acd.identity import AgentEndpoints
from callcenter.core.pbx import CallReader

CUSTOMER_CODE_VARIABLE = "CC_CUSTOMER_CODE"
_RINGING = {"ring", "ringing"}


@dataclass(frozen=True, slots=True)
class AgentRinging:
    agent_id: str
    call_id: str
    channel_id: str
    at: float
    caller_number: str
    customer_code: str

    @property
    def lookup_key(self) -> str:
        """What to look the caller up by: the IVR's customer code, else the number."""
        return self.customer_code or self.caller_number


class RingDetector:
    """Turns ``channel.created`` / ``channel.state`` events into :class:`AgentRinging`, once
    per (agent, call) — a phone that re-rings (Newstate repeated) pops once."""

    def __init__(self, calls: CallReader, endpoints: AgentEndpoints | None = None,
                 remember: int = 10_000) -> None:
        self.calls = calls
        self.endpoints = endpoints or AgentEndpoints()
        self.remember = remember
        self._popped: dict[tuple[str, str], None] = {}

    def on_event(self, event: ev.DomainEvent) -> AgentRinging | None:
        if isinstance(event, ev.ChannelStateChanged | ev.ChannelCreated):
            if event.state not in _RINGING:
                return None
            agent_id = self.endpoints.agent_of(event.name)
            if agent_id is None:
                return None
            return self._ringing(agent_id, event)
        if isinstance(event, ev.CallEnded):
            for key in [k for k in self._popped if k[1] == event.call_id]:
                del self._popped[key]
        return None

    def _ringing(self, agent_id: str, event: ev.ChannelStateChanged | ev.ChannelCreated,
                 ) -> AgentRinging | None:
        key = (agent_id, event.call_id)
        if key in self._popped:
            return None
        self._popped[key] = None
        while len(self._popped) > self.remember:
            del self._popped[next(iter(self._popped))]
        call = self.calls.get_call(event.call_id)
        leg = self.calls.channel(event.channel_id)
        # who calls this agent: the agent leg's connected line; else the call's first leg
        caller = leg.connected_num if leg is not None else ""
        code = ""
        if call is not None:
            first = next(iter(call.legs.values()), None)
            caller = caller or (first.caller_num if first is not None else "") or call.caller_num
            code = call.variables().get(CUSTOMER_CODE_VARIABLE, "")
        return AgentRinging(agent_id=agent_id, call_id=event.call_id,
                            channel_id=event.channel_id, at=event.at,
                            caller_number=caller, customer_code=code)
