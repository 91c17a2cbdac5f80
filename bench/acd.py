"""Routing decision benchmark (issue 10): how long the dispatcher takes to decide, with 2,000
agents and 20,000 callers waiting across 50 queues with skills (levels 1..10; a third of the
queues also require a minimum level, 2..5, in one of their skills).

    python bench/acd.py [--agents 2000] [--waiting 20000] [--queues 50] [--decisions 5000]
                        [--runs 3] [--routing skills-level] [--json]

Two decisions, each timed from the board move or the offer that triggers it to the agent
reserved and ``on_assign`` called (the whole synchronous path):

- **agent freed** (the one an overloaded center makes all day): every agent busy, 20,000
  callers waiting; an agent ends a call, becomes ready and takes the first caller in queue
  order among those it has every skill for. Then the agent answers and a new caller joins a
  random queue, so the line stays at 20,000.
- **call offered**: 2,000 agents of whom a quarter are ready; a caller needing a random
  queue's skills arrives and the strategy picks among the ready agents who can take it (skills
  level: best level, then longest idle); the agent then hangs up and is ready again.

Baseline in the same run: the same dispatcher with its selection replaced by a naive scan —
every waiting call for a freed agent, every agent on the board for an offered call (the
first release's fallback when the head of the line did not match). Printed: p50 / p99 / max per
decision, and the baseline's p99 over ours. Target: p99 <= 1 ms.
"""

from __future__ import annotations

import argparse
import gc
import json
import random
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from callcenter.acd.agents import Agent, AgentBoard, AgentState
from callcenter.acd.dispatcher import Dispatcher, RoutingDecision, WaitingCall
from callcenter.acd.routing import make_routing, meets_levels
from callcenter.sim.runner import percentile

SKILLS = [f"s{i:02d}" for i in range(20)]
TARGET_P99_MS = 1.0


class NaiveScan(Dispatcher):
    """The baseline: same dispatcher, selection by scanning everything."""

    def next_call_for(self, agent: Agent) -> WaitingCall | None:
        key = self.routing.order.key
        best: WaitingCall | None = None
        best_key: tuple[tuple[float, float], int] | None = None
        for call in self.waiting.values():
            if call.skills <= agent.skills and meets_levels(agent, call.min_levels):
                candidate = (key(call), call.seq)
                if best_key is None or candidate < best_key:
                    best, best_key = call, candidate
        return best

    def _candidates(self, call: WaitingCall) -> list[Agent]:
        return [a for a in self.board if self._eligible(a) and call.skills <= a.skills
                and meets_levels(a, call.min_levels)]


#: a queue's requirement: skills, and minimum levels above 1
Queue = tuple[frozenset[str], tuple[tuple[str, int], ...]]


def _queues(rng: random.Random, count: int) -> list[Queue]:
    """``count`` distinct required-skill sets of one or two skills; one in three also needs a
    minimum level (2..5) in one of them."""
    found: dict[frozenset[str], None] = {}
    while len(found) < count:
        found[frozenset(rng.sample(SKILLS, rng.choice((1, 1, 2))))] = None
    return [(skills, ((min(skills), rng.randint(2, 5)),) if i % 3 == 0 else ())
            for i, skills in enumerate(found)]


def _agents(board: AgentBoard, rng: random.Random, count: int, queues: list[Queue]) -> None:
    """Agents with four to six skills, levels 1..10, each able to serve at least one queue
    (good enough for its levels)."""
    for i in range(count):
        skills, levels = rng.choice(queues)
        more = set(rng.sample(SKILLS, rng.randint(3, 5)))
        skill_levels = {s: rng.randint(1, 10) for s in skills | more}
        for skill, level in levels:
            skill_levels[skill] = max(skill_levels[skill], level)
        board.add(f"a{i}", skill_levels=skill_levels)


def _call(rng: random.Random, n: int, now: float, queues: list[Queue]) -> WaitingCall:
    skills, levels = rng.choice(queues)
    return WaitingCall(f"c{n}", now, priority=rng.choice((0, 0, 0, 10)), skills=skills,
                       min_levels=levels)


FREEZE = True


def _settle() -> None:
    """Before timing: collect the previous bench's garbage and (unless ``--no-freeze``) move
    the setup (20,000 calls, 2,000 agents) out of the collector's generations with
    ``gc.freeze()``, as a server would after start-up; collections still run during the timed
    loop, over what it allocates. Without it a full collection now and then walks every
    setup object, and those pauses (~5 ms) decide the p99, not the routing."""
    gc.unfreeze()
    gc.collect()
    if FREEZE:
        gc.freeze()


def _ms(samples_ns: list[int]) -> dict[str, float]:
    ms = [s / 1e6 for s in samples_ns]
    return {"p50_ms": percentile(ms, 0.5), "p99_ms": percentile(ms, 0.99), "max_ms": max(ms),
            "decisions": len(ms)}


def agent_freed(kind: type[Dispatcher], args: argparse.Namespace, seed: int,
                decisions: int) -> dict[str, float]:
    rng = random.Random(seed)
    queues = _queues(rng, args.queues)
    board = AgentBoard()
    _agents(board, rng, args.agents, queues)
    assigned: list[RoutingDecision] = []

    def on_assign(call: WaitingCall, agent: Agent, now: float, d: RoutingDecision) -> None:
        assigned.append(d)

    dispatcher = kind(board, make_routing(args.routing, rng), on_assign)
    now = 0.0
    n = 0
    for agent in board:  # everybody logs in and is on a call: nobody is ready
        board.log_in(agent, now)
        board.reserve(agent, f"busy-{agent.agent_id}", now)
        board.answer(agent, now)
    for _ in range(args.waiting):
        now += 0.01
        n += 1
        dispatcher.offer(_call(rng, n, now, queues), now)
    assert dispatcher.queue_length == args.waiting and dispatcher.ready_agents == 0
    agents = list(board)
    samples: list[int] = []
    clock = time.perf_counter_ns
    _settle()
    for _ in range(decisions):
        now += 0.01
        agent = agents[rng.randrange(len(agents))]
        before = len(assigned)
        started = clock()
        board.end_call(agent, now, wrap_up=False)  # ready -> the dispatcher decides
        samples.append(clock() - started)
        if len(assigned) == before or agent.state is not AgentState.RESERVED:
            raise SystemExit(f"{kind.__name__}: agent {agent.agent_id} found no caller")
        board.answer(agent, now)
        n += 1
        dispatcher.offer(_call(rng, n, now, queues), now)  # nobody ready: joins the line
    return _ms(samples)


def call_offered(kind: type[Dispatcher], args: argparse.Namespace, seed: int,
                 decisions: int) -> dict[str, float]:
    rng = random.Random(seed)
    queues = _queues(rng, args.queues)
    board = AgentBoard()
    _agents(board, rng, args.agents, queues)
    dispatcher = kind(board, make_routing(args.routing, rng),
                      lambda call, agent, now, d: None)
    now = 0.0
    n = 0
    for i, agent in enumerate(board):
        board.log_in(agent, now + i * 0.001)
        if i % 4:  # three in four busy
            board.reserve(agent, f"busy-{agent.agent_id}", now)
            board.answer(agent, now)
    samples: list[int] = []
    clock = time.perf_counter_ns
    _settle()
    for _ in range(decisions):
        now += 0.01
        n += 1
        call = _call(rng, n, now, queues)
        started = clock()
        agent = dispatcher.offer(call, now)
        samples.append(clock() - started)
        if agent is None:  # nobody ready for these skills: the caller waits, then leaves
            dispatcher.withdraw(call.call_id)
            continue
        board.answer(agent, now)
        board.end_call(agent, now, wrap_up=False)
    return _ms(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--agents", type=int, default=2000)
    parser.add_argument("--waiting", type=int, default=20000)
    parser.add_argument("--queues", type=int, default=50)
    parser.add_argument("--decisions", type=int, default=5000)
    parser.add_argument("--baseline-decisions", type=int, default=500)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--routing", default="skills-level")
    parser.add_argument("--no-freeze", action="store_true",
                        help="leave the setup objects to the garbage collector")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    global FREEZE
    FREEZE = not args.no_freeze
    benches: dict[str, Callable[[type[Dispatcher], argparse.Namespace, int, int],
                                dict[str, float]]] = {
        "agent freed": agent_freed, "call offered": call_offered}
    results: dict[str, Any] = {"agents": args.agents, "waiting": args.waiting,
                               "queues": args.queues, "routing": args.routing,
                               "gc_freeze": FREEZE, "runs": []}
    for run in range(args.runs):
        row: dict[str, Any] = {}
        for name, bench in benches.items():
            ours = bench(Dispatcher, args, run, args.decisions)
            naive = bench(NaiveScan, args, run, args.baseline_decisions)
            row[name] = {"ours": ours, "naive": naive,
                         "p99_ratio_naive_over_ours": naive["p99_ms"] / ours["p99_ms"]}
        results["runs"].append(row)
    if args.json:
        print(json.dumps(results, indent=2))
        return
    print(f"{args.agents} agents, {args.waiting} waiting across {args.queues} queues, "
          f"routing {args.routing}, gc.freeze {'on' if FREEZE else 'off'}; per decision, ms "
          f"(target p99 <= {TARGET_P99_MS:g})")
    print(f"{'run':>3}  {'decision':12}  {'ours p50':>8}  {'p99':>7}  {'max':>7}  "
          f"{'naive p50':>9}  {'p99':>7}  {'naive/ours p99':>14}")
    for run, row in enumerate(results["runs"], start=1):
        for name, r in row.items():
            o, b = r["ours"], r["naive"]
            print(f"{run:>3}  {name:12}  {o['p50_ms']:8.3f}  {o['p99_ms']:7.3f}  "
                  f"{o['max_ms']:7.3f}  {b['p50_ms']:9.3f}  {b['p99_ms']:7.3f}  "
                  f"{r['p99_ratio_naive_over_ours']:13.1f}x")
    worst = max(r["ours"]["p99_ms"] for row in results["runs"] for r in row.values())
    verdict = "within" if worst <= TARGET_P99_MS else "OVER"
    print(f"worst p99 {worst:.3f} ms: {verdict} the {TARGET_P99_MS:g} ms target")


if __name__ == "__main__":
    main()
