"""The dispatcher: waiting calls meet ready agents.

Pure and synchronous. It listens to the :class:`~callcenter.acd.agents.AgentBoard`: whenever an
agent becomes ready it hands them the best waiting call; whenever a call is offered it picks a
ready agent with the routing strategy. Either way the agent is *reserved* at once and
``on_assign(call, agent, now)`` tells the driver (the simulator, or the server's ACD service
over the PBX) to ring the agent and bridge.

Queue order: higher ``priority`` first (CRM customer value), then arrival time (a caller put
back in the queue, e.g. after an agent did not answer, keeps its place). A call that needs a
skill waits for an agent who has it.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable
from dataclasses import dataclass, field

from callcenter.acd.agents import Agent, AgentBoard, AgentState, AgentTransition
from callcenter.acd.routing import RoutingStrategy


@dataclass(slots=True)
class WaitingCall:
    call_id: str
    arrived: float
    priority: int = 0
    skill: str | None = None
    #: customer class (reporting only: ``vip``, ``regular`` ...)
    klass: str = ""
    seq: int = 0


Assign = Callable[[WaitingCall, Agent, float], None]


@dataclass(slots=True)
class Dispatcher:
    board: AgentBoard
    routing: RoutingStrategy
    on_assign: Assign
    waiting: dict[str, WaitingCall] = field(default_factory=dict)
    _heap: list[tuple[int, float, int, WaitingCall]] = field(default_factory=list)
    _ready: dict[str, Agent] = field(default_factory=dict)
    _seq: int = 0

    def __post_init__(self) -> None:
        for agent in self.board:
            if agent.state is AgentState.READY:
                self._ready[agent.agent_id] = agent
        self.board.listeners.append(self._on_agent_change)

    # --- calls ---------------------------------------------------------------------------------

    def offer(self, call: WaitingCall, now: float) -> Agent | None:
        """A call wants an agent: assign one now, or queue the call. Returns the agent."""
        if call.call_id in self.waiting:
            raise ValueError(f"call {call.call_id!r} is already waiting")
        agent = self._pick_agent(call)
        if agent is not None:
            self._assign(call, agent, now)
            return agent
        self._seq += 1
        call.seq = self._seq
        self.waiting[call.call_id] = call
        heapq.heappush(self._heap, (-call.priority, call.arrived, call.seq, call))
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

    def _on_agent_change(self, move: AgentTransition) -> None:
        # the agent's *current* state decides, not the transition's: another listener (a
        # second dispatcher on the same board) may already have reserved a newly ready agent
        agent = move.agent
        if agent.state is AgentState.READY:
            self._ready[agent.agent_id] = agent
            if self.waiting:
                call = self._next_call_for(agent)
                if call is not None:
                    self._assign(call, agent, move.at)
        else:
            self._ready.pop(agent.agent_id, None)

    def _pick_agent(self, call: WaitingCall) -> Agent | None:
        if not self._ready:
            return None
        ready = AgentState.READY
        if call.skill is None:
            candidates = [a for a in self._ready.values() if a.state is ready]
        else:
            candidates = [a for a in self._ready.values()
                          if a.state is ready and call.skill in a.skills]
        if not candidates:
            return None
        return self.routing.pick(candidates)

    def _live(self, call: WaitingCall) -> bool:
        """Heap entries are removed lazily: an entry counts only while it is *the* waiting
        object for its id (a call withdrawn and offered again has a new entry)."""
        return self.waiting.get(call.call_id) is call

    def _next_call_for(self, agent: Agent) -> WaitingCall | None:
        heap = self._heap
        while heap and not self._live(heap[0][3]):
            heapq.heappop(heap)  # withdrawn or already served
        if not heap:
            return None
        top = heap[0][3]
        if top.skill is None or top.skill in agent.skills:
            heapq.heappop(heap)
            del self.waiting[top.call_id]
            return top
        for *_, call in sorted(heap):
            if self._live(call) and (call.skill is None or call.skill in agent.skills):
                del self.waiting[call.call_id]
                return call
        return None

    def _assign(self, call: WaitingCall, agent: Agent, now: float) -> None:
        self._ready.pop(agent.agent_id, None)
        self.board.reserve(agent, call.call_id, now)
        self.on_assign(call, agent, now)
