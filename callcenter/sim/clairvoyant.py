"""The ``clairvoyant`` pacing bound: a dialer that knows every record's fate in advance.

It shows how far any real pacing method is from the limit. It cannot run in the server (it
reads the simulated world), only in ``callcenter simulate``.

Rule: records are dialled in list order (it may not skip anyone). A record that will not end
with an agent (no answer, busy, AMD says machine) is dialled at once: it costs a line, no agent
time. A record whose call will need an agent (AMD says person: a person, or a machine AMD lets
through) is dialled so that the verdict lands exactly when an agent not yet promised to another
call becomes free — agents' free times are known, since talk and wrap-up times are. When the
next such record is not due yet, it asks to decide again at that instant. What remains is
unavoidable: AMD hanging up on people (counted abandoned), machines taking agent time, the wait
for the list order.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from callcenter.acd.agents import AgentState
from callcenter.dialer.pacing import DialerSnapshot, LineOutcome

if TYPE_CHECKING:
    from callcenter.sim.outbound import OutboundSimulation

#: never place more than this many lines in one decision (a list of nothing but machines)
_MAX_BURST = 500


class Clairvoyant:
    name = "clairvoyant"

    def __init__(self, world: OutboundSimulation) -> None:
        self.world = world
        self._next_at = 0.0

    def record(self, outcome: LineOutcome, now: float) -> None:
        pass

    def next_decision_at(self, now: float) -> float:
        return self._next_at if now < self._next_at < now + 1.0 else now + 1.0

    def _free_times(self, now: float) -> list[float]:
        world = self.world
        times = []
        for agent in world.board:
            state = agent.state
            if state is AgentState.OFFLINE or state is AgentState.PAUSED or agent.leaving:
                continue
            if state is AgentState.READY:
                times.append(now)
            else:
                times.append(max(now, world.free_at.get(agent.agent_id, now)))
        times.sort()
        return times

    def _demand(self, now: float) -> int:
        """Lines already dialled that will need an agent (or are waiting for one)."""
        world = self.world
        count = 0
        for line in world.loop.lines.values():
            if line.stage == "waiting":
                count += 1
            elif line.stage == "dialing":
                fate = line.record
                if fate.kind in (2, 3) and world.verdict_human(fate, fate.kind):
                    count += 1
        return count

    def decide(self, snapshot: DialerSnapshot) -> int:
        now = snapshot.now
        world = self.world
        free = self._free_times(now)[self._demand(now):]
        placed = 0
        agent_index = 0
        self._next_at = now + 1.0
        while placed < _MAX_BURST:
            fate = world.peek(placed)
            kind = world.classify(fate, now)
            needs_agent = kind in (2, 3) and world.verdict_human(fate, kind)
            if not needs_agent:
                placed += 1
                continue
            if agent_index >= len(free):
                break
            due = free[agent_index] - (fate.answer_delay + fate.decision)
            if due > now + 1e-9:
                self._next_at = due
                break
            placed += 1
            agent_index += 1
        return placed
