"""Run a workload over many seeds (in parallel processes) and summarise: mean and 95th
percentile over seeds of every figure the workloads README asks for.

Seeds are independent replications; each worker process runs whole days, so results do not
depend on how many processes there are.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from multiprocessing import get_context
from typing import Any

from callcenter.dialer.pacing import Pacer, parse_pacing
from callcenter.sim.workload import InboundWorkload, OutboundWorkload

Workload = OutboundWorkload | InboundWorkload

OUTBOUND_FIGURES = ("talk_min_per_agent_hour", "occupancy", "abandon_rate",
                    "dials_per_agent_hour")
INBOUND_FIGURES = ("service_level", "asa_s", "abandon_rate", "occupancy", "p_wait")
#: said with the results when no strategy can do better than another by its choice of agent
IDENTICAL_AGENTS = ("all agents identical (no agent_groups in the workload): the choice of "
                    "agent changes nothing but who leaves at a shift's end, so strategies can "
                    "differ only by queue order (vip-priority)")


@dataclass(frozen=True, slots=True)
class RunSpec:
    """Everything one worker needs for one seed (picklable)."""

    workload: Workload
    pacing: str = "progressive"
    pacing_options: Mapping[str, float] = field(default_factory=dict)
    routing: str = "fifo-longest-idle"
    base_seed: int = 1


def build_pacer(spec: RunSpec) -> Pacer | None:
    """The pacer for ``spec`` (None = the clairvoyant bound, built by the simulation)."""
    if spec.pacing == "clairvoyant":
        return None
    options = dict(spec.pacing_options)
    if isinstance(spec.workload, OutboundWorkload) and spec.pacing.startswith("vicidial-"):
        options.setdefault("day_end_s", spec.workload.duration_s)
    return parse_pacing(spec.pacing, **options)


def run_one(spec: RunSpec, seed: int) -> dict[str, Any]:
    from callcenter.sim.inbound import InboundSimulation
    from callcenter.sim.outbound import OutboundSimulation

    if isinstance(spec.workload, InboundWorkload):
        return InboundSimulation(spec.workload, seed, routing=spec.routing,
                                 base_seed=spec.base_seed).run()
    return OutboundSimulation(spec.workload, build_pacer(spec), seed, routing=spec.routing,
                              base_seed=spec.base_seed).run()


def _run_star(args: tuple[RunSpec, int]) -> dict[str, Any]:
    return run_one(*args)


def percentile(values: Sequence[float], q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default)."""
    ordered = sorted(values)
    if not ordered:
        return math.nan
    position = (len(ordered) - 1) * q
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else math.nan


def summarise(workload: Workload, runs: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """One JSON-able object: every figure as mean, ``<figure>_p95`` over seeds, the seeds'
    raw figures, and the mean time series."""
    figures = OUTBOUND_FIGURES if isinstance(workload, OutboundWorkload) else INBOUND_FIGURES
    report: dict[str, Any] = {"workload": workload.name, "kind": workload.kind,
                              "seeds": len(runs)}
    for name in figures:
        values = [float(run[name]) for run in runs]
        report[name] = _mean(values)
        report[f"{name}_p95"] = percentile(values, 0.95)
    if isinstance(workload, InboundWorkload):
        report["by_class"] = {
            klass.name: {name: _mean([float(run["by_class"][klass.name][name]) for run in runs])
                         for name in ("service_level", "asa_s", "abandon_rate", "p_wait",
                                      "timed_out", "overflowed")}
            for klass in workload.classes}
        # callers per day (means over seeds); the last two only move with the queue rules
        for name in ("offered", "timed_out", "overflowed"):
            report[name] = _mean([run[name] for run in runs])
    else:
        for name in ("dials", "humans", "connected", "dropped", "amd_hangups", "cancelled"):
            report[name] = _mean([run[name] for run in runs])
        report["abandon_limit"] = workload.abandon_limit
    series = [run["series"] for run in runs]
    report["series"] = {
        "bin_s": series[0]["bin_s"],
        "occupancy": [_mean(col) for col in zip(*(s["occupancy"] for s in series),
                                                 strict=True)],
        "abandon_rate": [_mean(col) for col in zip(*(s["abandon_rate"] for s in series),
                                                    strict=True)],
    }
    report["per_seed"] = [{k: v for k, v in run.items() if k not in ("series", "by_class")}
                          for run in runs]
    return report


def default_jobs() -> int:
    return max(1, len(os.sched_getaffinity(0)))


def run_seeds(spec: RunSpec, seeds: Sequence[int], *, jobs: int | None = None,
              progress: Callable[[int], None] | None = None) -> list[dict[str, Any]]:
    """Run ``seeds`` (results in seed order); ``progress(n)`` after each finished seed."""
    build_pacer(spec)  # a bad --pacing fails here, before any process starts
    jobs = min(jobs or default_jobs(), len(seeds))
    if jobs <= 1:
        results = []
        for seed in seeds:
            results.append(run_one(spec, seed))
            if progress:
                progress(1)
        return results
    with ProcessPoolExecutor(jobs, mp_context=get_context("fork")) as pool:
        results = []
        for result in pool.map(_run_star, [(spec, seed) for seed in seeds]):
            results.append(result)
            if progress:
                progress(1)
        return results


def simulate(spec: RunSpec, seeds: int | None = None, *, jobs: int | None = None,
             progress: Callable[[int], None] | None = None) -> dict[str, Any]:
    count = seeds or spec.workload.seeds
    runs = run_seeds(spec, range(count), jobs=jobs, progress=progress)
    report = summarise(spec.workload, runs)
    if isinstance(spec.workload, OutboundWorkload):
        report["pacing"] = spec.pacing
        report["pacing_options"] = dict(spec.pacing_options)
    report["routing"] = spec.routing
    if isinstance(spec.workload, InboundWorkload):
        report["agents_identical"] = spec.workload.agents_identical
        if spec.workload.agents_identical:
            report["note"] = IDENTICAL_AGENTS
    return report
