"""The one agent state machine: offline, ready, reserved (phone ringing), on call, wrap-up,
paused (with a reason).

Why one machine for everything: the ACD, the dialer, the wallboard and the simulator must agree
on who is available. Transitions are checked; an impossible one (e.g. a paused agent answering a
call the ACD never offered) raises :class:`IllegalTransition` instead of silently corrupting
idle times, which would skew longest-idle routing for the rest of the day.

Times are plain floats (seconds) given by the caller: virtual time in the simulator, epoch time
in the server.

Listeners hear an immutable :class:`AgentTransition` (previous -> state, with its reason and
call) and notification runs to completion: a listener that moves an agent (the dispatcher
reserving a newly ready agent) changes the state at once, but the other listeners hear that
second transition only after they have all heard the first. So every listener sees each
agent's transitions in the order they happened, each one a move the machine allows — never
``wrap_up -> reserved`` reported before (or instead of) ``wrap_up -> ready -> reserved``.
A listener that *acts* (assigns work) must check the agent's current ``state``: by the time it
hears "became ready" the agent may already be reserved by another listener.

Registration (is the agent's phone registered?) is not a state: an agent can be ready with its
phone gone. ``Agent.registered`` is kept beside the state, and an unregistered agent is never
offered a call (the dispatcher's one filter) nor counted available (:meth:`AgentBoard.available`,
the dialer's pacing). Registration listeners hear each change as a :class:`RegistrationChange`,
through the *same* run-to-completion delivery as the transitions, so a dispatcher that reserves
a newly registered agent is heard after the registration, never before it. The board only tracks
registration once told to (:attr:`AgentBoard.requires_registration`, set by the assembly's
:class:`~callcenter.acd.registration.AgentRegistrations`): then an agent starts unregistered
until the PBX shows its phone. The simulator, which has no phones, leaves it off.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import NamedTuple

from callcenter.core.delivery import RunToCompletion


class AgentState(StrEnum):
    OFFLINE = "offline"
    READY = "ready"
    RESERVED = "reserved"  # a call is offered: the agent's phone is ringing
    ON_CALL = "on_call"
    WRAP_UP = "wrap_up"
    PAUSED = "paused"


#: state -> states it may move to
TRANSITIONS: dict[AgentState, frozenset[AgentState]] = {
    AgentState.OFFLINE: frozenset({AgentState.READY, AgentState.PAUSED}),
    AgentState.READY: frozenset({AgentState.RESERVED, AgentState.PAUSED, AgentState.OFFLINE,
                                 AgentState.ON_CALL}),
    AgentState.RESERVED: frozenset({AgentState.ON_CALL, AgentState.READY, AgentState.PAUSED,
                                    AgentState.OFFLINE}),
    AgentState.ON_CALL: frozenset({AgentState.WRAP_UP, AgentState.READY, AgentState.OFFLINE}),
    AgentState.WRAP_UP: frozenset({AgentState.READY, AgentState.PAUSED, AgentState.OFFLINE,
                                   AgentState.RESERVED}),
    AgentState.PAUSED: frozenset({AgentState.READY, AgentState.OFFLINE}),
}

#: the reason on an agent's moves into and out of a hold for a line the agent dialled (a preview
#: dial: reserved while the line rings, ready again if nobody answers). Other server processes
#: apply these moves as they apply pauses (callcenter.acd.remote_controls): no agent leg exists
#: yet for them to see the agent is busy.
HOLD_REASON = "held_for_line"

#: states in which an agent counts as logged in and not paused (VICIdial's "agents" tally)
WORKING = frozenset({AgentState.READY, AgentState.RESERVED, AgentState.ON_CALL,
                     AgentState.WRAP_UP})


class IllegalTransition(ValueError):
    """An agent was asked to move to a state it cannot reach from its current one."""


@dataclass(slots=True)
class Agent:
    """One agent as the ACD sees it. ``idle_since`` feeds longest-idle routing: it is the end
    of the agent's last call (or log-in), not the last state change, so a short pause does not
    send the agent to the back of the line."""

    agent_id: str
    skills: frozenset[str] = frozenset()
    state: AgentState = AgentState.OFFLINE
    since: float = 0.0
    idle_since: float = 0.0
    calls_handled: int = 0
    pause_reason: str = ""
    call_id: str | None = None
    #: logged out as soon as the current call and wrap-up end (end of shift)
    leaving: bool = False
    #: the agent's phone is registered (see the module docstring): never offered a call if not
    registered: bool = True
    #: the line this agent is held for while it rings (reserved with ``HOLD_REASON``: a
    #: preview the agent dialled), None otherwise
    held_for: str | None = None
    #: skill -> level 1..10 (10 best) for skills-based routing; a skill in ``skills`` without
    #: a level here counts as level 1 (callcenter.acd.routing.skill_level)
    skill_levels: Mapping[str, int] = field(default_factory=dict)


class AgentTransition(NamedTuple):
    """One move of one agent, as it happened (``agent`` is the live object: read its current
    state before acting on it). A named tuple: the simulator makes millions of them."""

    agent: Agent
    previous: AgentState
    state: AgentState
    at: float
    reason: str = ""
    call_id: str = ""

    @property
    def agent_id(self) -> str:
        return self.agent.agent_id


Listener = Callable[[AgentTransition], None]


class RegistrationChange(NamedTuple):
    """An agent's phone became registered (or not), at ``at``; ``agent.state`` is unchanged."""

    agent: Agent
    registered: bool
    at: float

    @property
    def agent_id(self) -> str:
        return self.agent.agent_id


RegistrationListener = Callable[[RegistrationChange], None]


@dataclass(slots=True)
class AgentBoard:
    """All agents and their states. ``listeners`` hear every :class:`AgentTransition`, in
    order, after the change (the dispatcher, the event publisher, metrics)."""

    agents: dict[str, Agent] = field(default_factory=dict)
    listeners: list[Listener] = field(default_factory=list)
    counts: dict[AgentState, int] = field(
        default_factory=lambda: dict.fromkeys(AgentState, 0))
    #: hear every :class:`RegistrationChange`, in order with the transitions
    registration_listeners: list[RegistrationListener] = field(default_factory=list)
    #: agents start unregistered (someone feeds :meth:`set_registered` from the PBX)
    requires_registration: bool = False
    #: per state, how many of ``counts`` have no registered phone
    unregistered: dict[AgentState, int] = field(
        default_factory=lambda: dict.fromkeys(AgentState, 0))
    _delivery: RunToCompletion[AgentTransition | RegistrationChange] = field(
        init=False, repr=False)

    def __post_init__(self) -> None:
        self._delivery = RunToCompletion(self._tell)

    def add(self, agent_id: str, skills: frozenset[str] = frozenset(), now: float = 0.0, *,
            skill_levels: Mapping[str, int] | None = None) -> Agent:
        """A new agent, offline. ``skill_levels`` ({skill: 1..10}) also grants those skills."""
        if agent_id in self.agents:
            raise ValueError(f"agent {agent_id!r} already exists")
        levels = dict(skill_levels or {})
        for skill, level in levels.items():
            if not 1 <= level <= 10:
                raise ValueError(f"agent {agent_id!r}: skill {skill!r} level {level} "
                                 "is not within 1..10")
        agent = Agent(agent_id, skills=skills | frozenset(levels), since=now, idle_since=now,
                      skill_levels=levels)
        self.agents[agent_id] = agent
        self.counts[AgentState.OFFLINE] += 1
        if self.requires_registration:
            agent.registered = False
            self.unregistered[AgentState.OFFLINE] += 1
        return agent

    def remove(self, agent: Agent) -> None:
        """Take an offline agent off the board (its definition was deleted). Only offline: a
        logged-in agent may be in a dispatcher's ready set or on a call; log it out first."""
        if agent.state is not AgentState.OFFLINE:
            raise IllegalTransition(f"agent {agent.agent_id} is {agent.state}: log it out "
                                    "before removing it")
        if self.agents.pop(agent.agent_id, None) is None:
            return
        self.counts[AgentState.OFFLINE] -= 1
        if not agent.registered:
            self.unregistered[AgentState.OFFLINE] -= 1

    def snapshot(self) -> list[dict[str, object]]:
        """JSON-ready agents (the wallboard's starting point before ``agent.state`` events)."""
        return [{"agent_id": a.agent_id, "state": a.state.value, "since": a.since,
                 "reason": a.pause_reason, "call_id": a.call_id or "",
                 "calls_handled": a.calls_handled, "registered": a.registered}
                for a in self.agents.values()]

    def __getitem__(self, agent_id: str) -> Agent:
        return self.agents[agent_id]

    def __iter__(self) -> Iterator[Agent]:
        return iter(self.agents.values())

    def __len__(self) -> int:
        return len(self.agents)

    def __contains__(self, agent_id: object) -> bool:
        return agent_id in self.agents

    def count(self, state: AgentState) -> int:
        return self.counts[state]

    @property
    def available(self) -> int:
        """Ready with a registered phone: who can be offered a call now."""
        return self.counts[AgentState.READY] - self.unregistered[AgentState.READY]

    def set_registered(self, agent: Agent, registered: bool, now: float) -> None:
        """The agent's phone registered or went away. Not a transition: the state stays;
        registration listeners hear it (a dispatcher offers a waiting call to a ready agent
        whose phone just came back). No change, no notification."""
        if agent.registered is registered:
            return
        agent.registered = registered
        self.unregistered[agent.state] += -1 if registered else 1
        self._delivery.submit(RegistrationChange(agent, registered, now))

    @property
    def working(self) -> int:
        """Logged in and not paused."""
        c = self.counts
        return (c[AgentState.READY] + c[AgentState.RESERVED] + c[AgentState.ON_CALL]
                + c[AgentState.WRAP_UP])

    def move(self, agent: Agent, state: AgentState, now: float, *, reason: str = "",
             call_id: str | None = None) -> None:
        previous = agent.state
        if state not in TRANSITIONS[previous]:
            raise IllegalTransition(f"agent {agent.agent_id}: {previous} -> {state}")
        if state is AgentState.PAUSED and not reason:
            raise IllegalTransition(f"agent {agent.agent_id}: a pause needs a reason")
        counts = self.counts
        counts[previous] -= 1
        counts[state] += 1
        if not agent.registered:
            self.unregistered[previous] -= 1
            self.unregistered[state] += 1
        agent.state = state
        agent.since = now
        agent.pause_reason = reason if state is AgentState.PAUSED else ""
        agent.held_for = call_id if state is AgentState.RESERVED and reason == HOLD_REASON \
            else None
        if state is AgentState.RESERVED or state is AgentState.ON_CALL:
            if call_id is not None:
                agent.call_id = call_id
        elif state is not AgentState.WRAP_UP:
            agent.call_id = None
        if previous is AgentState.OFFLINE or (
                state is AgentState.READY and previous in (AgentState.WRAP_UP, AgentState.ON_CALL)):
            agent.idle_since = now  # a log-in (even straight into a pause) or the end of work
        if previous is AgentState.ON_CALL:
            agent.calls_handled += 1
        # every listener hears it, after the transition being told now (run to completion)
        told = agent.pause_reason if state is AgentState.PAUSED else reason
        self._delivery.submit(AgentTransition(agent, previous, state, now, told,
                                              agent.call_id or ""))

    def _tell(self, item: AgentTransition | RegistrationChange) -> None:
        if type(item) is AgentTransition:
            for listener in tuple(self.listeners):
                listener(item)
        else:
            assert isinstance(item, RegistrationChange)
            for registration_listener in tuple(self.registration_listeners):
                registration_listener(item)

    # --- the usual moves, named --------------------------------------------------------------

    def log_in(self, agent: Agent, now: float) -> None:
        self.move(agent, AgentState.READY, now)

    def log_out(self, agent: Agent, now: float) -> None:
        """Log out now if the agent is not busy, else at the end of the current work."""
        if agent.state in (AgentState.ON_CALL, AgentState.WRAP_UP, AgentState.RESERVED):
            agent.leaving = True
        elif agent.state is not AgentState.OFFLINE:
            self.move(agent, AgentState.OFFLINE, now)

    def hold(self, agent: Agent, line_id: str, now: float) -> None:
        """Reserve ``agent`` for the line ``line_id`` it dialled, while it rings."""
        self.move(agent, AgentState.RESERVED, now, reason=HOLD_REASON, call_id=line_id)

    def let_go(self, agent: Agent, now: float) -> None:
        """The held line ended without a person: ``agent`` is ready again."""
        self.move(agent, AgentState.READY, now, reason=HOLD_REASON)

    def hold_broken(self, agent: Agent, call_id: str) -> None:
        """A held agent's phone rings for ``call_id``: the person who answered the held line,
        or a call another process rang the agent for before it heard of the hold. No move:
        the agent stays reserved, now for that call, and is held for no line any more."""
        if agent.held_for is not None:
            agent.held_for = None
            agent.call_id = call_id

    def reserve(self, agent: Agent, call_id: str, now: float) -> None:
        self.move(agent, AgentState.RESERVED, now, call_id=call_id)

    def answer(self, agent: Agent, now: float) -> None:
        self.move(agent, AgentState.ON_CALL, now)

    def end_call(self, agent: Agent, now: float, wrap_up: bool = True) -> None:
        """The call is over: wrap-up (timed by the caller), or straight back to ready."""
        if wrap_up:
            self.move(agent, AgentState.WRAP_UP, now)
        else:
            self.finish_work(agent, now)

    def finish_work(self, agent: Agent, now: float) -> None:
        """Wrap-up (or a call without wrap-up) done: ready again, or gone if leaving."""
        if agent.leaving:
            agent.leaving = False
            self.move(agent, AgentState.OFFLINE, now)
        else:
            self.move(agent, AgentState.READY, now)
