"""The dialer loop: pacing decisions become lines, answered lines meet agents.

Sans-I/O: the loop owns no socket and no clock of its own. It is given a
:class:`~callcenter.core.clock.Clock` (virtual in the simulator, real in the server), a
:class:`~callcenter.dialer.pacing.Pacer`, the agents' :class:`~callcenter.acd.agents.AgentBoard`,
a routing strategy and a :class:`LinePort` — the thing that actually dials. The port reports
each line's fate back through the ``line_*`` methods. In the simulator the port is the simulated
world (synchronous); in the server it is an adapter over the :class:`~callcenter.core.pbx.Pbx`
(originate into the ``outbound-amd`` context, bridge, the PBX's own 2-second drop rule).

Who moves agents: not the loop. The dispatcher reserves an agent for a waiting person; the
side that sees the phones (simulated agents, or PBX events in the server) moves them on to on
call, wrap-up and ready.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from callcenter.acd.agents import Agent, AgentBoard, AgentState
from callcenter.acd.dispatcher import Dispatcher, RoutingDecision, WaitingCall
from callcenter.acd.routing import RoutingStrategy
from callcenter.core.clock import Clock, Timer
from callcenter.dialer.pacing import DetailedPacer, DialerSnapshot, LineOutcome, Pacer


@dataclass(slots=True)
class Line:
    """One placed call to one list record."""

    line_id: str
    record: Any
    placed_at: float
    #: dialing -> waiting (a person, per AMD) -> connecting (an agent reserved, their phone
    #: ringing) -> connected (bridged with the agent); or ended
    stage: str = "dialing"
    answered_at: float = 0.0
    agent_id: str | None = None
    #: free slot for the port (e.g. the PBX channel id or a simulator timer)
    port_data: Any = None
    #: the agent who asked for this line (a preview dial): kept reserved for it while it rings
    #: (when that agent was ready), and given the person who answers
    preferred_agent: str | None = None
    #: the preferred agent is held (reserved) for this line
    holds_agent: bool = False
    #: the pacer asked to hang it up still ringing; the port says when it is over
    hanging_up: bool = False


class LinePort(Protocol):
    def place(self, line: Line) -> None:
        """Start dialing ``line.record``; report back through the loop's ``line_*`` methods."""
        ...

    def connect(self, line: Line, agent: Agent) -> None:
        """Bridge the person waiting on ``line`` with ``agent`` (already reserved); report
        :meth:`DialerLoop.line_bridged` once they talk, or the person's hang-up (a drop)."""
        ...

    def cancel(self, line: Line) -> bool:
        """Hang up ``line`` while it still rings (nobody answered yet). True: under way, and
        the port reports :meth:`DialerLoop.line_failed` with ``CANCELLED`` once it is over (or
        what the callee did if they answered meanwhile); False: it cannot be (answered
        already, or over): the line goes on as if nobody had asked."""
        ...


class DialerLoop:
    """One campaign's loop. ``next_record()`` gives the next record to dial, or None when
    the list is exhausted."""

    def __init__(self, clock: Clock, pacer: Pacer, board: AgentBoard,
                 routing: RoutingStrategy, port: LinePort,
                 next_record: Callable[[], Any | None], *, stop_at: float | None = None,
                 line_prefix: str = "line", has_more: Callable[[], bool] | None = None,
                 min_ring_s: float | None = None) -> None:
        """``has_more()``: whether records may still come when ``next_record()`` gave None
        (leads waiting for a retry or for the calling window); None: a None ends the list."""
        self.clock = clock
        self.pacer = pacer
        self.board = board
        self.port = port
        self.next_record = next_record
        self.has_more = has_more
        self.stop_at = stop_at
        #: a ringing line may be hung up by the pacer only after this long (the law's
        #: minimum ring); None: lines are never hung up before their fate
        self.min_ring_s = min_ring_s
        self.cancelled = 0
        # answered customers first: a freed agent shared with inbound queues takes them before
        # any inbound caller (one not connected within 2 s of its greeting is abandoned)
        self.dispatcher = Dispatcher(board, routing, self._on_assign, precedence=1)
        self.lines: dict[str, Line] = {}
        self.dialing = 0
        self.waiting = 0
        self.connected = 0
        self.placed = 0
        self.exhausted = False
        self._prefix = line_prefix
        self._timer: Timer | None = None
        self._running = False
        #: the pacer models lines and agents one by one (``predictive``)
        self._detailed: DetailedPacer | None = (
            pacer if isinstance(pacer, DetailedPacer) and pacer.wants_detail else None)
        #: the pacer's choice of ringing lines to hang up (``predictive``), when allowed at all
        self._hang_ups: Callable[[DialerSnapshot, float], list[int]] | None = (
            getattr(self._detailed, "cancel_lines", None) if min_ring_s is not None else None)

    # --- pacing ------------------------------------------------------------------------------

    def start(self) -> None:
        self._running = True
        self._timer = self.clock.call_at(self.clock.now(), self._decide)

    def stop(self) -> None:
        """No new lines; lines in progress run to their end."""
        self._running = False
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def snapshot(self) -> DialerSnapshot:
        counts = self.board.counts
        snapshot = DialerSnapshot(
            # an agent whose phone is unregistered cannot take a call: not one to dial for
            now=self.clock.now(), ready=self.board.available,
            reserved=counts[AgentState.RESERVED], on_call=counts[AgentState.ON_CALL],
            wrap_up=counts[AgentState.WRAP_UP], paused=counts[AgentState.PAUSED],
            dialing=self.dialing, waiting=self.waiting, connected=self.connected)
        if self._detailed is not None:
            talking: list[float] = []
            wrap_up: list[float] = []
            for agent in self.board:
                if agent.leaving:  # logs out after this call: never free for the campaign
                    continue
                state = agent.state
                if state is AgentState.ON_CALL or state is AgentState.RESERVED:
                    talking.append(agent.since)
                elif state is AgentState.WRAP_UP:
                    wrap_up.append(agent.since)
            snapshot.talking_since = tuple(talking)
            snapshot.wrap_up_since = tuple(wrap_up)
            snapshot.dialing_since = tuple(line.placed_at for line in self._ringing())
        return snapshot

    def _decide(self) -> None:
        now = self.clock.now()
        if not self._running or (self.stop_at is not None and now >= self.stop_at):
            self._running = False
            return
        snapshot = self.snapshot()
        if self._hang_ups is not None and self._cancel(snapshot, now):
            snapshot = self.snapshot()
        wanted = self.pacer.decide(snapshot)
        for _ in range(wanted):
            record = self.next_record()
            if record is None:
                self.exhausted = self.has_more is None or not self.has_more()
                break
            self._place(record, now)
        if self.exhausted:  # nothing left to dial: lines in progress run to their end
            self._running = False
            self._timer = None
            return
        self._timer = self.clock.call_at(self.pacer.next_decision_at(now), self._decide)

    def _cancel(self, snapshot: DialerSnapshot, now: float) -> int:
        """Hang up the ringing lines the pacer names, if they rang the minimum; how many."""
        assert self._hang_ups is not None and self.min_ring_s is not None
        ringing = self._ringing()
        done = 0
        for index in self._hang_ups(snapshot, self.min_ring_s):
            line = ringing[index]
            if now - line.placed_at < self.min_ring_s:
                continue  # the law's minimum ring is the loop's to keep, whatever the pacer
            if self.port.cancel(line):
                line.hanging_up = True
                self.cancelled += 1
                done += 1
        return done

    def _ringing(self) -> list[Line]:
        """Lines still dialing that nobody asked to hang up, in the snapshot's order."""
        return [line for line in self.lines.values()
                if line.stage == "dialing" and not line.hanging_up]

    def place_now(self, record: Any, agent_id: str | None = None) -> None:
        """Dial ``record`` at once, whatever the pacer says (a preview an agent accepted).
        ``agent_id``, if ready, is reserved for the line while it rings — no other call takes
        them meanwhile — and gets the person who answers; released if nobody does."""
        self._place(record, self.clock.now(), agent_id)

    def _place(self, record: Any, now: float, agent_id: str | None = None) -> None:
        self.placed += 1
        line = Line(f"{self._prefix}-{self.placed}", record, now, preferred_agent=agent_id)
        if agent_id is not None and agent_id in self.board:
            agent = self.board[agent_id]
            if agent.state is AgentState.READY:
                self.board.hold(agent, line.line_id, now)
                line.holds_agent = True
        self.lines[line.line_id] = line
        self.dialing += 1
        self.pacer.record(LineOutcome.DIALED, now)
        self.port.place(line)

    def _held_agent(self, line: Line) -> Agent | None:
        """The agent still reserved for ``line`` (a preview dial), if any."""
        if not line.holds_agent or line.preferred_agent is None:
            return None
        if line.preferred_agent not in self.board:
            return None
        agent = self.board[line.preferred_agent]
        if agent.state is not AgentState.RESERVED or agent.held_for != line.line_id:
            return None  # paused, logged out, or rung for another call: not ours any more
        return agent

    def _release(self, line: Line) -> None:
        """The line ends without a person: its held agent is ready again."""
        agent = self._held_agent(line)
        line.holds_agent = False
        if agent is not None:
            self.board.let_go(agent, self.clock.now())

    # --- what the port reports ---------------------------------------------------------------

    def line_failed(self, line: Line, outcome: LineOutcome) -> None:
        """No answer, busy, or a machine (the port hangs up or leaves a message itself)."""
        if line.stage != "dialing":
            raise ValueError(f"{line.line_id}: {outcome} reported in stage {line.stage}")
        self.dialing -= 1
        line.stage = "ended"
        del self.lines[line.line_id]
        self._release(line)
        self.pacer.record(outcome, self.clock.now())
        if self._detailed is not None:
            self._detailed.record_line(outcome, line.placed_at, self.clock.now())

    def line_human(self, line: Line) -> Agent | None:
        """AMD says a person answered: find an agent now or wait (the PBX drops the call when
        the connect limit passes). Returns the agent when one was free."""
        if line.stage != "dialing":
            raise ValueError(f"{line.line_id}: human reported in stage {line.stage}")
        now = self.clock.now()
        self.dialing -= 1
        self.waiting += 1
        line.stage = "waiting"
        line.answered_at = now
        self.pacer.record(LineOutcome.HUMAN, now)
        if self._detailed is not None:
            self._detailed.record_line(LineOutcome.HUMAN, line.placed_at, now)
        call = WaitingCall(line.line_id, now, preferred_agent=line.preferred_agent)
        held = self._held_agent(line)
        line.holds_agent = False
        if held is not None:  # the preview's own agent, kept for this person
            self._on_assign(call, held, now, RoutingDecision(
                line.line_id, held.agent_id, "preview", "the agent who dialled", 1, "call",
                now, (held.agent_id,)))
            return held
        return self.dispatcher.offer(call, now)

    def line_abandoned_unoffered(self, line: Line) -> None:
        """A person (AMD unsure, by the campaign's policy) got the abandonment message without
        waiting for an agent: for the pacer and the law a person answered and abandoned."""
        if line.stage != "dialing":
            raise ValueError(f"{line.line_id}: abandonment reported in stage {line.stage}")
        now = self.clock.now()
        self.dialing -= 1
        line.stage = "ended"
        del self.lines[line.line_id]
        self._release(line)
        self.pacer.record(LineOutcome.HUMAN, now)
        self.pacer.record(LineOutcome.DROPPED, now)

    def line_dropped(self, line: Line) -> None:
        """The person was never bridged to an agent: the connect limit passed (the PBX played
        the message and hung up), or the agent's phone failed after it was reserved. Either
        way the law counts an abandoned call, and so does the pacer."""
        if line.stage == "waiting":
            self.dispatcher.withdraw(line.line_id)
            self.waiting -= 1
        elif line.stage == "connecting":
            self.connected -= 1
        else:
            raise ValueError(f"{line.line_id}: drop reported in stage {line.stage}")
        line.stage = "ended"
        del self.lines[line.line_id]
        self.pacer.record(LineOutcome.DROPPED, self.clock.now())

    def line_bridged(self, line: Line) -> None:
        """The person and the agent talk: only now is the line connected for the pacer."""
        if line.stage != "connecting":
            raise ValueError(f"{line.line_id}: bridge reported in stage {line.stage}")
        line.stage = "connected"
        self.pacer.record(LineOutcome.CONNECTED, self.clock.now())

    def line_ended(self, line: Line) -> None:
        """A connected call ended."""
        if line.stage != "connected":
            raise ValueError(f"{line.line_id}: end reported in stage {line.stage}")
        self.connected -= 1
        line.stage = "ended"
        del self.lines[line.line_id]

    def _on_assign(self, call: WaitingCall, agent: Agent, now: float,
                   decision: RoutingDecision) -> None:
        line = self.lines[call.call_id]
        self.waiting -= 1
        self.connected += 1  # the agent is taken: counted with the connected lines
        line.stage = "connecting"
        line.agent_id = agent.agent_id
        self.port.connect(line, agent)
