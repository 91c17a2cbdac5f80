"""What an agent (or a supervisor for them) may do to the agent's state: log in and out, get
ready, pause with a reason from the configured list, extend or end the wrap-up.

The rules, in one place so the REST API, the console and the CLI all obey the same ones:

- A pause needs a reason from ``pause_reasons`` (the operator's list: break, lunch, ...);
  ``no_answer`` is the ACD's own and cannot be chosen.
- Asked while busy (ringing, on a call, wrapping up), a pause takes effect when the work ends:
  the agent goes straight from wrap-up to paused, never through "ready" (where the ACD would
  hand them the next caller).
- Log-out while busy happens at the end of the current work.
- Ready from a pause is immediate; ready during wrap-up ends the wrap-up now.
- A wrap-up may be extended, in steps, up to ``max_wrap_up_s`` in all.

Errors are typed (:class:`AgentControlError` and subclasses) so the web layer maps them to 404,
409 and 400 without guessing.
"""

from __future__ import annotations

from collections.abc import Sequence

from callcenter.acd.agents import Agent, AgentBoard, AgentState, IllegalTransition
from callcenter.acd.phones import NO_ANSWER_REASON, AgentPhones
from callcenter.core.clock import Clock

#: states in which a pause or a log-out waits for the end of the work
_BUSY = frozenset({AgentState.RESERVED, AgentState.ON_CALL, AgentState.WRAP_UP})


class AgentControlError(Exception):
    """Base of what an agent action can refuse."""


class UnknownAgent(AgentControlError):
    """No such agent on this center's board."""


class NotNow(AgentControlError):
    """The action does not apply in the agent's current state (e.g. extend with no wrap-up)."""


class BadRequest(AgentControlError):
    """The action's arguments are wrong (unknown pause reason, negative seconds ...)."""


class AgentControls:
    def __init__(self, board: AgentBoard, phones: AgentPhones, clock: Clock, *,
                 pause_reasons: Sequence[str], max_wrap_up_s: float) -> None:
        self.board = board
        self.phones = phones
        self.clock = clock
        self.pause_reasons = tuple(pause_reasons)
        self.max_wrap_up_s = max_wrap_up_s

    def agent(self, agent_id: str) -> Agent:
        try:
            return self.board[agent_id]
        except KeyError:
            raise UnknownAgent(f"no agent {agent_id!r}") from None

    def describe(self, agent: Agent) -> dict[str, object]:
        """The agent as the API shows it (the board's snapshot entry plus what is pending)."""
        entry = next(a for a in self.board.snapshot() if a["agent_id"] == agent.agent_id)
        return {**entry,
                "wrap_up_until": self.phones.wrap_up_until(agent),
                "pause_after_work": self.phones.pause_after_work.get(agent.agent_id),
                "leaving": agent.leaving}

    # --- the actions ---------------------------------------------------------------------------

    def log_in(self, agent_id: str) -> Agent:
        agent = self.agent(agent_id)
        agent.leaving = False
        if agent.state is AgentState.OFFLINE:
            self.board.log_in(agent, self.clock.now())
        return agent

    def log_out(self, agent_id: str) -> Agent:
        """Now, or when the current call and wrap-up end."""
        agent = self.agent(agent_id)
        self.phones.pause_after_work.pop(agent_id, None)
        self.board.log_out(agent, self.clock.now())
        return agent

    def ready(self, agent_id: str) -> Agent:
        """Log in, end a pause or the wrap-up now; cancels a pending pause or log-out."""
        agent = self.agent(agent_id)
        self.phones.pause_after_work.pop(agent_id, None)
        if agent.state is AgentState.OFFLINE:
            return self.log_in(agent_id)
        agent.leaving = False
        if agent.state is AgentState.WRAP_UP:
            self.phones.end_wrap_up(agent)
        elif agent.state is AgentState.PAUSED:
            self.board.move(agent, AgentState.READY, self.clock.now())
        elif agent.state is not AgentState.READY:
            raise NotNow(f"agent {agent_id} is {agent.state}: ready comes after the call")
        return agent

    def pause(self, agent_id: str, reason: str) -> Agent:
        """Pause now, or (while busy) as soon as the current work ends."""
        agent = self.agent(agent_id)
        if reason not in self.pause_reasons or reason == NO_ANSWER_REASON:
            raise BadRequest(f"unknown pause reason {reason!r} "
                             f"(configured: {', '.join(self.pause_reasons)})")
        if agent.state in _BUSY:
            self.phones.pause_after_work[agent_id] = reason
            return agent
        try:
            self.board.move(agent, AgentState.PAUSED, self.clock.now(), reason=reason)
        except IllegalTransition as exc:  # e.g. offline -> paused is allowed; others are not
            raise NotNow(str(exc)) from None
        return agent

    def extend_wrap_up(self, agent_id: str, seconds: float) -> float:
        """More time for this call's notes; returns when the wrap-up now ends."""
        agent = self.agent(agent_id)
        if not 0 < seconds <= self.max_wrap_up_s:
            raise BadRequest(f"extend by 0 < seconds <= {self.max_wrap_up_s:g}")
        until = self.phones.wrap_up_until(agent)
        if until is None:
            raise NotNow(f"agent {agent_id} is not in wrap-up")
        if until + seconds - agent.since > self.max_wrap_up_s:
            raise NotNow(f"wrap-up may last {self.max_wrap_up_s:g} s in all")
        return self.phones.extend_wrap_up(agent, seconds)
