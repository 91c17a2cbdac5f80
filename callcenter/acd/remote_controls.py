"""Agents' log-ins, pauses and log-outs made on another server process, applied here too.

With several processes, a REST or console action (pause for lunch, log out) reaches one of
them; its board moves the agent and the move is relayed to the others (``agent.state``, with
``EventBus.relayed`` set while it is delivered). Every other move (reserved, on call, wrap-up,
ready after work) each process derives itself from the agent's leg on its own PBX link, so only
*control* moves are applied: to or from paused or offline. Without that, a process that
dispatches would keep offering a paused agent. A pause that arrives while this process still
sees the agent busy takes effect when the work ends here (as a local pause would).
"""

from __future__ import annotations

from callcenter import events as ev
from callcenter.acd.agents import TRANSITIONS, AgentBoard, AgentState
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
