"""Agent phones → the agent state machine, from PBX events (any :class:`~callcenter.pbx.Pbx`).

The ACD and the dialer ring an agent by originating a leg to the agent's endpoint and tell
:class:`AgentPhones` which channel that is (:meth:`AgentPhones.expect`). From then on the PBX's
own events drive the agent: the leg answered → on call; the leg hung up → wrap-up, then ready
after the wrap-up time; the leg never answered → ready again. Every change of any agent is
published as :class:`~callcenter.events.AgentStateChanged`, so the wallboard and consoles read
the same state the router uses.
"""

from __future__ import annotations

from collections.abc import Callable

from callcenter import events as ev
from callcenter.acd.agents import Agent, AgentBoard, AgentState
from callcenter.sim.clock import Clock


class AgentPhones:
    def __init__(self, board: AgentBoard, bus: ev.EventBus, clock: Clock,
                 wrap_up_s: Callable[[Agent], float] = lambda agent: 10.0) -> None:
        self.board = board
        self.bus = bus
        self.clock = clock
        self.wrap_up_s = wrap_up_s
        self._legs: dict[str, Agent] = {}
        board.listeners.append(self._publish)
        bus.add_handler(self.on_event)

    def close(self) -> None:
        self.bus.remove_handler(self.on_event)
        if self._publish in self.board.listeners:
            self.board.listeners.remove(self._publish)

    def expect(self, channel_id: str, agent: Agent) -> None:
        """``channel_id`` is the leg ringing ``agent`` (already reserved)."""
        self._legs[channel_id] = agent

    def leg_failed(self, channel_id: str) -> None:
        """The leg could not be placed or was not answered: the agent is free again."""
        agent = self._legs.pop(channel_id, None)
        if agent is not None and agent.state is AgentState.RESERVED:
            self.board.finish_work(agent, self.clock.now())

    def on_event(self, event: ev.DomainEvent) -> None:
        if isinstance(event, ev.ChannelStateChanged):
            agent = self._legs.get(event.channel_id)
            if agent is not None and event.state == "up" and agent.state is AgentState.RESERVED:
                self.board.answer(agent, self.clock.now())
        elif isinstance(event, ev.ChannelHungUp):
            agent = self._legs.pop(event.channel_id, None)
            if agent is None:
                return
            now = self.clock.now()
            if agent.state is AgentState.ON_CALL:
                wrap_up = self.wrap_up_s(agent)
                self.board.end_call(agent, now, wrap_up=wrap_up > 0)
                if wrap_up > 0:
                    self.clock.call_at(now + wrap_up, self._wrapped, agent)
            elif agent.state is AgentState.RESERVED:
                self.board.finish_work(agent, now)

    def _wrapped(self, agent: Agent) -> None:
        if agent.state is AgentState.WRAP_UP:
            self.board.finish_work(agent, self.clock.now())

    def _publish(self, agent: Agent, previous: AgentState, now: float) -> None:
        self.bus.publish(ev.AgentStateChanged(
            at=now, agent_id=agent.agent_id, state=agent.state.value, previous=previous.value,
            reason=agent.pause_reason, call_id=agent.call_id or ""))
