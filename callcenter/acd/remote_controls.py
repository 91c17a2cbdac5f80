"""Agents' log-ins, pauses and log-outs made on another server process, applied here too.

With several processes, a REST or console action (pause for lunch, log out) reaches one of
them; its board moves the agent and the move is relayed to the others (``agent.state``, with
``EventBus.relayed`` set while it is delivered). Every other move (reserved, on call, wrap-up,
ready after work) each process derives itself from the agent's leg on its own PBX link, so only
*control* moves are applied: to or from paused or offline. Without that, a process that
dispatches would keep offering a paused agent. A pause that arrives while this process still
sees the agent busy takes effect when the work ends here (as a local pause would).

A hold is applied too (reason ``HOLD_REASON``): an agent who clicked Dial on a preview lead is
reserved for that line while it rings on the campaign's process, and no leg on the agent's
phone exists yet for the others to see. Held here, the agent is offered nothing; the hold ends
here when its process releases it (nobody answered), or when the agent's leg for the person
who answered shows on this process's link (:class:`~callcenter.acd.phones.AgentPhones`).
"""

from __future__ import annotations

from callcenter import events as ev
from callcenter.acd.agents import HOLD_REASON, TRANSITIONS, AgentBoard, AgentState
from callcenter.acd.phones import AgentPhones
from callcenter.core.clock import Clock

_AWAY = frozenset({AgentState.PAUSED, AgentState.OFFLINE})


class RemoteAgentControls:
    def __init__(self, bus: ev.EventBus, board: AgentBoard, phones: AgentPhones,
                 clock: Clock) -> None:
        self.bus = bus
        self.board = board
        self.phones = phones
        self.clock = clock
        bus.add_handler(self.on_event)

    def close(self) -> None:
        self.bus.remove_handler(self.on_event)

    def on_event(self, event: ev.DomainEvent) -> None:
        if not (self.bus.relayed and isinstance(event, ev.AgentStateChanged)):
            return
        try:
            state, previous = AgentState(event.state), AgentState(event.previous)
        except ValueError:
            return  # a newer process's state: nothing this one can apply
        if event.reason == HOLD_REASON:
            self._hold(event, state)
            return
        if (state not in _AWAY and previous not in _AWAY) or event.agent_id not in self.board:
            return
        agent = self.board[event.agent_id]
        now = self.clock.now()
        if state is AgentState.OFFLINE:
            self.board.log_out(agent, now)  # at the end of the work this process still sees
        elif state is AgentState.PAUSED:
            if agent.state in (AgentState.READY, AgentState.OFFLINE):
                self.board.move(agent, state, now, reason=event.reason)
            elif agent.state is not AgentState.PAUSED:
                self.phones.pause_after_work[agent.agent_id] = event.reason
        elif agent.state in _AWAY and state in TRANSITIONS[agent.state]:
            self.board.move(agent, state, now)  # back from a pause, or logged in

    def _hold(self, event: ev.AgentStateChanged, state: AgentState) -> None:
        """Another process held the agent for its preview line (or let the hold go)."""
        agent = self.board.agents.get(event.agent_id)
        if agent is None:
            return
        now = self.clock.now()
        if state is AgentState.RESERVED and agent.state is AgentState.READY:
            self.board.hold(agent, event.call_id, now)
        elif state is AgentState.READY and agent.held_for is not None:
            # (an agent whose phone rang meanwhile is held no more: that leg frees it)
            self.board.let_go(agent, now)
