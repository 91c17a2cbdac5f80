"""The dispatcher: waiting calls meet ready agents, and every meeting says why.

Pure and synchronous. It listens to the :class:`~callcenter.acd.agents.AgentBoard`: whenever an
agent becomes ready it hands them the next waiting call they can take; whenever a call is
offered it lets the routing strategy choose among the ready agents who can take it. Either way
the agent is *reserved* at once and ``on_assign(call, agent, now, decision)`` tells the driver
(the simulator, or the server's ACD service over the PBX) to ring the agent and bridge; the
:class:`~callcenter.acd.routing.RoutingDecision` says which strategy chose, why, and among how
many.

Queue order is the strategy's (:mod:`callcenter.acd.queueing`: strict priority then arrival,
or priority with bounded aging); a caller put back in the queue, e.g. after an agent did not
answer, keeps its place (its arrival time). A call that needs skills waits for an agent who has
them all.

A queue may also require minimum *levels* (``WaitingCall.min_levels``): an agent below any of
them is not a candidate, and a freed agent skips the lines it is not good enough for.

Several dispatchers share one board (one per queue, and the dialer's for answered customers),
and an agent may serve several of them: when the agent becomes free, *one*
:class:`FreedAgentArbiter` per board gives them the next caller across all of them — the
dispatcher with the highest ``precedence`` first (the dialer's customers, abandoned after 2 s),
then the caller who has waited longest, aged by priority (:data:`ACROSS_QUEUES`). Without it the
first dispatcher to hear "agent ready" would take every freed agent it can use, and a queue
sharing its agents with an earlier one would starve (seen in the demo: billing callers
abandoned while support took every billing agent).

Why one heap per requirement (skill set and levels): a freed agent looks only at the heads of
the lines it can serve (a handful of them), never at every waiting call — with 20,000 callers
waiting that is the difference between microseconds and tens of milliseconds per decision
(bench/acd.py).
"""

from __future__ import annotations

import heapq
from collections.abc import Callable
from dataclasses import dataclass, field

from callcenter.acd.agents import (
    Agent,
    AgentBoard,
    AgentState,
    AgentTransition,
    RegistrationChange,
)
from callcenter.acd.calls import WaitingCall
from callcenter.acd.queueing import AgedPriority, QueueKey
from callcenter.acd.routing import Choice, RoutingDecision, RoutingStrategy, meets_levels

__all__ = ["ACROSS_QUEUES", "Assign", "Dispatcher", "FreedAgentArbiter", "RoutingDecision",
           "WaitingCall"]

#: how a freed agent compares the callers at the heads of different queues: the one who has
#: waited longest, a higher priority counting as an earlier arrival (bounded: at most 60 s), so
#: no queue starves another (within a queue, that queue's own order picked its head)
ACROSS_QUEUES = AgedPriority()

#: ``on_assign(call, agent, now, decision)``: ``agent`` (= ``decision.agent_id``) is reserved
Assign = Callable[[WaitingCall, Agent, float, RoutingDecision], None]

#: (queue order's key, offer sequence, call): the sequence is unique, calls are never compared
_Entry = tuple[QueueKey, int, WaitingCall]
#: what a line requires: the skills, and the levels above the basic one
_Requirement = tuple[frozenset[str], tuple[tuple[str, int], ...]]
#: a line an agent's skills can serve, with the levels it must also meet (often none)
_Servable = tuple[tuple[tuple[str, int], ...], list[_Entry]]


@dataclass(slots=True)
class Dispatcher:
    board: AgentBoard
    routing: RoutingStrategy
    on_assign: Assign
    #: how many phones the driver rings for one call: ring-all reserves up to this many agents
    max_ring: int = 1
    #: among the dispatchers sharing a board, a freed agent serves the highest precedence first
    precedence: int = 0
    waiting: dict[str, WaitingCall] = field(default_factory=dict)
    #: required skills and levels -> heap of the calls needing exactly those
    _lines: dict[_Requirement, list[_Entry]] = field(default_factory=dict)
    #: an agent's skills -> the lines such an agent can serve if good enough (cleared when a
    #: line is added)
    _servable: dict[frozenset[str], list[_Servable]] = field(default_factory=dict)
    _ready: dict[str, Agent] = field(default_factory=dict)
    #: skill -> the ready agents who have it, in the same relative order as ``_ready`` (so a
    #: strategy sees the same candidates in the same order either way)
    _ready_by_skill: dict[str, dict[str, Agent]] = field(default_factory=dict)
    _seq: int = 0

    def __post_init__(self) -> None:
        if self.max_ring < 1:
            raise ValueError("max_ring must be at least 1")
        for agent in self.board:
            if agent.state is AgentState.READY:
                self._now_ready(agent)
        self.board.listeners.append(self._on_agent_change)
        FreedAgentArbiter.of(self.board).dispatchers.append(self)

    def close(self) -> None:
        """Stop hearing the board (a queue removed): its waiting callers are dropped."""
        if self._on_agent_change in self.board.listeners:
            self.board.listeners.remove(self._on_agent_change)
        arbiter = FreedAgentArbiter.of(self.board)
        if self in arbiter.dispatchers:
            arbiter.dispatchers.remove(self)

    # --- calls ---------------------------------------------------------------------------------

    def offer(self, call: WaitingCall, now: float) -> Agent | None:
        """A call wants an agent: assign one now, or queue the call. Returns the agent."""
        if call.call_id in self.waiting:
            raise ValueError(f"call {call.call_id!r} is already waiting")
        if self._ready:
            candidates = self._candidates(call)
            if candidates and call.preferred_agent is not None:
                candidates = [a for a in candidates
                              if a.agent_id == call.preferred_agent] or candidates
            if candidates:
                choice = self.routing.choose(call, candidates, now)
                return self._assign(call, choice, len(candidates), "call", now)
        self._seq += 1
        call.seq = self._seq
        self.waiting[call.call_id] = call
        requirement = (call.skills, call.min_levels)
        line = self._lines.get(requirement)
        if line is None:
            line = self._lines[requirement] = []
            self._servable.clear()
        heapq.heappush(line, (self.routing.order.key(call), call.seq, call))
        return None

    def withdraw(self, call_id: str) -> WaitingCall | None:
        """The caller hung up (or the dialer's connect limit passed) while waiting."""
        return self.waiting.pop(call_id, None)

    @property
    def queue_length(self) -> int:
        return len(self.waiting)

    def oldest_wait(self, now: float) -> float:
        if not self.waiting:
            return 0.0
        return now - min(call.arrived for call in self.waiting.values())

    # --- agents --------------------------------------------------------------------------------

    @property
    def ready_agents(self) -> int:
        return len(self._ready)

    def _eligible(self, agent: Agent) -> bool:
        """The one place that says whether ``agent`` may be offered a call at all (skills
        aside): ready *now* — another listener may have reserved them since they became
        ready. Every candidate, for an arriving call or a waiting one, passes here. An agent
        whose phone is not registered is never offered a call (it stays in ``_ready``, and
        takes the next caller when its phone comes back: :meth:`_on_registration`)."""
        return agent.state is AgentState.READY and agent.registered

    def release_others(self, decision: RoutingDecision, winner: str, now: float) -> None:
        """Ring-all: ``winner`` answered; the other agents rung for the call go back to ready
        (keeping their idle time) and take the next waiting caller at once."""
        for agent_id in decision.ring:
            agent = self.board[agent_id]
            if (agent_id != winner and agent.state is AgentState.RESERVED
                    and agent.call_id == decision.call_id):
                self.board.move(agent, AgentState.READY, now)

    def _on_agent_change(self, move: AgentTransition) -> None:
        # the agent's *current* state decides, not the transition's: the arbiter (or another
        # listener) may already have reserved a newly ready agent
        if move.agent.state is AgentState.READY:
            self._now_ready(move.agent)
        else:
            self._not_ready(move.agent)

    def _now_ready(self, agent: Agent) -> None:
        self._ready[agent.agent_id] = agent
        by_skill = self._ready_by_skill
        for skill in agent.skills:
            ready = by_skill.get(skill)
            if ready is None:
                ready = by_skill[skill] = {}
            ready[agent.agent_id] = agent

    def _not_ready(self, agent: Agent) -> None:
        if self._ready.pop(agent.agent_id, None) is not None:
            by_skill = self._ready_by_skill
            for skill in agent.skills:
                by_skill[skill].pop(agent.agent_id, None)

    def serve(self, agent: Agent, call: WaitingCall, now: float, why: str) -> None:
        """``agent`` (eligible) takes ``call``, the head :meth:`next_call_for` returned."""
        del self.waiting[call.call_id]
        reason = (f"{why}, {now - agent.idle_since:.0f} s idle; next caller "
                  f"it can take ({self.routing.order.name}, "
                  f"{len(self.waiting) + 1} waiting): "
                  f"{self.routing.order.describe(call, now)}")
        self._assign(call, Choice((agent,), reason), 1, "agent", now)

    def _candidates(self, call: WaitingCall) -> list[Agent]:
        eligible = self._eligible
        required = call.skills
        if not required:
            return [a for a in self._ready.values() if eligible(a)]
        # only the ready agents with the rarest of the required skills can qualify
        by_skill = self._ready_by_skill
        pool = min((by_skill.get(skill, {}) for skill in required), key=len)
        levels = call.min_levels
        return [a for a in pool.values() if required <= a.skills and eligible(a)
                and (not levels or meets_levels(a, levels))]

    def _live(self, call: WaitingCall) -> bool:
        """Heap entries are removed lazily: an entry counts only while it is *the* waiting
        object for its id (a call withdrawn and offered again has a new entry)."""
        return self.waiting.get(call.call_id) is call

    def next_call_for(self, agent: Agent) -> WaitingCall | None:
        """The first in queue order among the heads of the lines ``agent`` can serve (skills
        and levels), left waiting: :meth:`serve` takes it."""
        lines = self._servable.get(agent.skills)
        if lines is None:
            lines = [(levels, line) for (skills, levels), line in self._lines.items()
                     if skills <= agent.skills]
            self._servable[agent.skills] = lines
        waiting = self.waiting
        best: list[_Entry] | None = None
        for levels, line in lines:
            if levels and not meets_levels(agent, levels):
                continue  # the agent has the skills, not the level this line needs
            while line and waiting.get(line[0][2].call_id) is not line[0][2]:
                heapq.heappop(line)  # withdrawn or already served
            if line and (best is None or line[0] < best[0]):
                best = line
        if best is None:
            return None
        return best[0][2]  # popped lazily: once served it is no longer *the* waiting entry

    def _assign(self, call: WaitingCall, choice: Choice, candidates: int, trigger: str,
                now: float) -> Agent:
        ring = choice.agents[:self.max_ring]
        first = ring[0]
        rung = [first]
        self._not_ready(first)
        self.board.reserve(first, call.call_id, now)
        for other in ring[1:]:  # ring-all: the others, if nobody took them meanwhile
            if self._eligible(other):
                self._not_ready(other)
                self.board.reserve(other, call.call_id, now)
                rung.append(other)
        decision = RoutingDecision(call.call_id, first.agent_id, self.routing.name,
                                   choice.reason, candidates, trigger, now,
                                   tuple(a.agent_id for a in rung))
        self.on_assign(call, first, now, decision)
        return first


class FreedAgentArbiter:
    """The one place, per board, where a freed agent (ready again, or its phone registered)
    meets the next caller, across every dispatcher sharing the board (see the module's
    docstring). It is itself a board listener; :meth:`of` finds it there, so every dispatcher
    built on a board joins the same one, whoever builds them."""

    def __init__(self, board: AgentBoard) -> None:
        self.board = board
        self.dispatchers: list[Dispatcher] = []
        board.listeners.append(self._on_agent_change)
        board.registration_listeners.append(self._on_registration)

    @classmethod
    def of(cls, board: AgentBoard) -> FreedAgentArbiter:
        for listener in board.listeners:
            owner = getattr(listener, "__self__", None)
            if isinstance(owner, cls):
                return owner
        return cls(board)

    def _on_agent_change(self, move: AgentTransition) -> None:
        if move.agent.state is AgentState.READY:
            self.serve(move.agent, move.at, "agent ready")

    def _on_registration(self, change: RegistrationChange) -> None:
        if change.registered:
            self.serve(change.agent, change.at, "agent's phone registered")

    def serve(self, agent: Agent, now: float, why: str) -> None:
        """Give ``agent`` the best caller it can take among the dispatchers' heads, if any."""
        best: tuple[Dispatcher, WaitingCall] | None = None
        best_key: tuple[int, QueueKey] | None = None
        for dispatcher in self.dispatchers:
            if not dispatcher.waiting or not dispatcher._eligible(agent):
                continue
            call = dispatcher.next_call_for(agent)
            if call is None:
                continue
            key = (-dispatcher.precedence, ACROSS_QUEUES.key(call))
            if best_key is None or key < best_key:
                best, best_key = (dispatcher, call), key
        if best is not None:
            best[0].serve(agent, best[1], now, why)
