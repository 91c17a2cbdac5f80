"""Agent phones → the agent state machine, from PBX events (any :class:`~callcenter.core.pbx.Pbx`).

The ACD and the dialer ring an agent through :class:`~callcenter.acd.connect.AgentConnector`,
which tells :class:`AgentPhones` which channel is ringing whom (:meth:`AgentPhones.expect`).
From then on the PBX's own events drive the agent: the leg answered → on call; the leg hung up
→ wrap-up, then ready after the wrap-up time. A leg never answered is released by whoever rang
it (:meth:`AgentPhones.leg_failed`), after it has decided what becomes of the waiting party.

With several server processes (``endpoints`` given), a leg on an agent's phone that this
process did not ring — another process's dispatcher rang it, or it existed before this process
started — moves the agent just the same: reserved while it rings, on call once up, wrap-up and
ready after its hang-up. Every process sees the same PBX events, so every board knows the agent
is busy without asking the process that rang.
"""

from __future__ import annotations

from collections.abc import Callable

from callcenter import events as ev
from callcenter.acd.agents import Agent, AgentBoard, AgentState, AgentTransition
from callcenter.acd.identity import AgentEndpoints
from callcenter.core.clock import Clock, Timer

#: the pause reason of an agent whose phone rang out too many times in a row
NO_ANSWER_REASON = "no_answer"


class AgentPhones:
    """``pause_after_misses``: an agent whose phone rang unanswered that many times in a row
    is paused (reason ``no_answer``) instead of being offered the next call at once — an
    unattended or unregistered phone would otherwise take every caller for a ring time, or,
    failing at once, spin. 0 never pauses."""

    def __init__(self, board: AgentBoard, bus: ev.EventBus, clock: Clock,
                 wrap_up_s: Callable[[Agent], float] = lambda agent: 10.0,
                 pause_after_misses: int = 3,
                 endpoints: AgentEndpoints | None = None) -> None:
        """``endpoints``: follow the legs other processes place on agents' phones too."""
        self.board = board
        self.endpoints = endpoints
        #: legs on agents' phones this process did not ring (it releases the agent itself)
        self._other_legs: set[str] = set()
        self.bus = bus
        self.clock = clock
        self.wrap_up_s = wrap_up_s
        self.pause_after_misses = pause_after_misses
        self._legs: dict[str, Agent] = {}
        #: leg -> the wrap-up its call's queue asks for (absent: the center's)
        self._leg_wrap_up: dict[str, float] = {}
        #: agent id -> rings unanswered in a row
        self.misses: dict[str, int] = {}
        #: agent id -> (timer, when the wrap-up ends) while the agent wraps up
        self._wrap_ups: dict[str, tuple[Timer, float]] = {}
        #: agent id -> pause reason to take instead of "ready" when the current work ends
        self.pause_after_work: dict[str, str] = {}
        bus.add_handler(self.on_event)

    def close(self) -> None:
        self.bus.remove_handler(self.on_event)

    def expect(self, channel_id: str, agent: Agent, wrap_up_s: float | None = None) -> None:
        """``channel_id`` is the leg ringing ``agent`` (already reserved); ``wrap_up_s``: the
        wrap-up after this call (its queue's), None: the center's for this agent."""
        self._legs[channel_id] = agent
        if wrap_up_s is not None:
            self._leg_wrap_up[channel_id] = wrap_up_s

    def leg_failed(self, channel_id: str, *, missed: bool = False) -> None:
        """The leg could not be placed or was not answered: the agent is free again — or
        paused, when ``missed`` (the phone rang out) made too many misses in a row."""
        agent = self._legs.pop(channel_id, None)
        self._leg_wrap_up.pop(channel_id, None)
        if agent is None or agent.state is not AgentState.RESERVED:
            return
        now = self.clock.now()
        if missed:
            misses = self.misses.get(agent.agent_id, 0) + 1
            self.misses[agent.agent_id] = misses
            if 0 < self.pause_after_misses <= misses and not agent.leaving:
                self.misses[agent.agent_id] = 0
                self.board.move(agent, AgentState.PAUSED, now, reason=NO_ANSWER_REASON)
                return
        self._work_done(agent, now)

    def on_event(self, event: ev.DomainEvent) -> None:
        if isinstance(event, ev.ChannelCreated):
            if self.endpoints is not None and event.channel_id not in self._legs:
                self._other_leg(event, self.endpoints)
        elif isinstance(event, ev.ChannelStateChanged):
            agent = self._legs.get(event.channel_id)
            if agent is not None and event.state == "up" and agent.state is AgentState.RESERVED:
                self.misses.pop(agent.agent_id, None)
                self.board.answer(agent, self.clock.now())
        elif isinstance(event, ev.ChannelHungUp):
            agent = self._legs.get(event.channel_id)
            if event.channel_id in self._other_legs:
                self._other_legs.discard(event.channel_id)
                if agent is not None and agent.state is AgentState.RESERVED:
                    del self._legs[event.channel_id]  # rung elsewhere, not answered
                    self._work_done(agent, self.clock.now())
                    return
            if agent is None or agent.state is AgentState.RESERVED:
                # a ring that ended unanswered: whoever rang (the connector) releases the agent
                # once it has put the waiting party back in line (leg_failed)
                return
            del self._legs[event.channel_id]
            queue_wrap_up = self._leg_wrap_up.pop(event.channel_id, None)
            if agent.state is AgentState.ON_CALL:
                now = self.clock.now()
                # one agent, one wrap-up: the one of the queue whose call just ended
                wrap_up = self.wrap_up_s(agent) if queue_wrap_up is None else queue_wrap_up
                if wrap_up > 0:
                    self.board.end_call(agent, now, wrap_up=True)
                    self._schedule_wrap_up_end(agent, now + wrap_up)
                else:
                    self._work_done(agent, now)

    def _other_leg(self, event: ev.ChannelCreated, endpoints: AgentEndpoints) -> None:
        """A leg on an agent's phone that this process did not ring: the agent is busy."""
        agent_id = endpoints.agent_of(event.name)
        if agent_id is None:
            return
        agent = self.board[agent_id]
        # held for a preview line (here or by another process): its phone now rings for this
        # leg (the person who answered, or a call rung elsewhere), which is followed here
        held = agent.held_for is not None
        if not held and agent.state not in (AgentState.READY, AgentState.WRAP_UP):
            return  # already busy (or away) here: nothing to learn
        now = self.clock.now()
        self._legs[event.channel_id] = agent
        self._other_legs.add(event.channel_id)
        if held:
            self.board.hold_broken(agent, event.call_id)
        else:
            wrap_up = self._wrap_ups.pop(agent_id, None)
            if wrap_up is not None:
                wrap_up[0].cancel()
            self.board.reserve(agent, event.call_id, now)
        if event.state == "up":  # found talking (a resync after this process started)
            self.board.answer(agent, now)

    # --- wrap-up -------------------------------------------------------------------------------

    def wrap_up_until(self, agent: Agent) -> float | None:
        """When ``agent``'s wrap-up ends (None: not wrapping up)."""
        entry = self._wrap_ups.get(agent.agent_id)
        return entry[1] if entry is not None and agent.state is AgentState.WRAP_UP else None

    def extend_wrap_up(self, agent: Agent, seconds: float) -> float:
        """The agent needs more time for this call's notes: the wrap-up ends ``seconds``
        later. Returns the new end. ``ValueError`` when the agent is not wrapping up."""
        until = self.wrap_up_until(agent)
        if until is None:
            raise ValueError(f"agent {agent.agent_id} is not in wrap-up")
        self._schedule_wrap_up_end(agent, until + seconds)
        return until + seconds

    def end_wrap_up(self, agent: Agent) -> None:
        """The agent is done before the wrap-up time is up."""
        if self.wrap_up_until(agent) is None:
            raise ValueError(f"agent {agent.agent_id} is not in wrap-up")
        self._wrapped(agent)

    def _schedule_wrap_up_end(self, agent: Agent, until: float) -> None:
        previous = self._wrap_ups.pop(agent.agent_id, None)
        if previous is not None:
            previous[0].cancel()
        timer = self.clock.call_at(until, self._wrapped, agent)
        self._wrap_ups[agent.agent_id] = (timer, until)
        self.bus.publish(ev.AgentWrapUp(at=self.clock.now(), agent_id=agent.agent_id,
                                        until=until))

    def _wrapped(self, agent: Agent) -> None:
        entry = self._wrap_ups.pop(agent.agent_id, None)
        if entry is not None:
            entry[0].cancel()
        if agent.state is AgentState.WRAP_UP:
            self._work_done(agent, self.clock.now())

    def _work_done(self, agent: Agent, now: float) -> None:
        """Ready again — or paused, when the agent asked to pause after this call."""
        reason = self.pause_after_work.pop(agent.agent_id, None)
        if reason is not None and not agent.leaving:
            self.board.move(agent, AgentState.PAUSED, now, reason=reason)
        else:
            self.board.finish_work(agent, now)


class AgentEventPublisher:
    """Every agent transition onto the bus as :class:`~callcenter.events.AgentStateChanged`
    (the wallboard, consoles, metrics and history read the same moves the router makes)."""

    def __init__(self, board: AgentBoard, bus: ev.EventBus) -> None:
        self.board = board
        self.bus = bus
        board.listeners.append(self.on_transition)

    def close(self) -> None:
        if self.on_transition in self.board.listeners:
            self.board.listeners.remove(self.on_transition)

    def on_transition(self, move: AgentTransition) -> None:
        self.bus.publish(ev.AgentStateChanged(
            at=move.at, agent_id=move.agent_id, state=move.state.value,
            previous=move.previous.value, reason=move.reason, call_id=move.call_id))
