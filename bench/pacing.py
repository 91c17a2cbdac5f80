"""Predictive pacing against the best VICIdial baselines, in one run (issue 13).

    python bench/pacing.py [--workload W ...] [--seeds N] [--jobs N] [--retune] [--json]

For each outbound workload (default: W1-50, W1-10 and W2 from bench/workloads/), on the same
seeds (common random numbers: every method dials the same people):

- **baselines**: VICIdial's RATIO and its three ADAPT methods at their settings tuned *in
  hindsight on this very workload* (``callcenter simulate --tune``: the most talk whose
  abandonment p95 stays within the limit; the settings found are in :data:`TUNED` with the run
  that found them, docs/BENCHMARKS.md), and ``progressive``. With ``--retune`` the tuning is
  run again here first (about half an hour per workload on 2 cores);
- **predictive** with its defaults: one set of settings for every workload, never tuned on any;
  and the same without hanging up late ringing lines (``hang_up_ratio`` 0), to show what
  that brings;
- **clairvoyant**: the bound (it knows every call's fate).

Printed: talk minutes per staffed agent-hour, occupancy, abandonment mean and p95 over seeds,
lines per agent-hour, talk / bound, and the ratio of predictive to the best baseline within
the limit. Targets (issue 13): ratio >= 1.10 and predictive's abandonment p95 <= the limit.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from callcenter.sim.runner import RunSpec, default_jobs, simulate
from callcenter.sim.tune import tune
from callcenter.sim.workload import OutboundWorkload, load_workload

HERE = Path(__file__).resolve().parent
WORKLOADS = ["outbound-w1-50.json", "outbound-w1-10.json", "outbound-w2-lowcontact.json"]
TARGET_RATIO = 1.10

#: hindsight-tuned baseline settings per workload file (``callcenter simulate --tune``, 30
#: seeds, re-run 2026-12-04 with VICIdial's drop rules at every 15-s update; docs/BENCHMARKS.md)
TUNED: dict[str, list[tuple[str, dict[str, float]]]] = {
    "outbound-w1-50.json": [
        ("ratio:1.2", {}),
        ("vicidial-hard-limit", {"max_level": 2, "intensity": -40, "diff_target": -2,
                                 "drop_target_pct": 1}),
        ("vicidial-tapered", {"max_level": 2, "intensity": 40, "diff_target": 1,
                              "drop_target_pct": 1}),
        ("vicidial-average", {"max_level": 2, "intensity": -40, "diff_target": -2,
                              "drop_target_pct": 1}),
    ],
    "outbound-w1-10.json": [
        ("ratio:1", {}),
        ("vicidial-hard-limit", {"max_level": 2, "intensity": -40, "diff_target": -2,
                                 "drop_target_pct": 1}),
        ("vicidial-tapered", {"max_level": 2, "intensity": 20, "diff_target": -1,
                              "drop_target_pct": 1}),
        ("vicidial-average", {"max_level": 2, "intensity": -40, "diff_target": -2,
                              "drop_target_pct": 1}),
    ],
    "outbound-w2-lowcontact.json": [
        ("ratio:2.54", {}),
        ("vicidial-hard-limit", {"max_level": 2, "intensity": 0, "diff_target": 0,
                                 "drop_target_pct": 2}),
        ("vicidial-tapered", {"max_level": 2, "intensity": 0, "diff_target": 0,
                              "drop_target_pct": 2}),
        ("vicidial-average", {"max_level": 2, "intensity": 0, "diff_target": 0,
                              "drop_target_pct": 2}),
    ],
}
FIGURES = ("talk_min_per_agent_hour", "occupancy", "abandon_rate", "abandon_rate_p95",
           "dials_per_agent_hour", "cancelled")


def _label(pacing: str, options: dict[str, float]) -> str:
    if not options:
        return pacing
    short = {"max_level": "max", "intensity": "int", "diff_target": "diff",
             "drop_target_pct": "drop"}
    return f"{pacing} ({', '.join(f'{short.get(k, k)} {v:g}' for k, v in options.items())})"


def bench_workload(path: Path, seeds: int | None, jobs: int, retune: bool,
                   log: Any) -> dict[str, Any]:
    workload = load_workload(path)
    if not isinstance(workload, OutboundWorkload):
        raise SystemExit(f"{path}: an outbound workload is needed")
    count = seeds or workload.seeds
    runs: dict[str, dict[str, Any]] = {}

    def run(label: str, spec: RunSpec, role: str) -> None:
        started = time.perf_counter()
        report = simulate(spec, count, jobs=jobs)
        runs[label] = {"role": role, "pacing": spec.pacing,
                       "options": dict(spec.pacing_options),
                       "seconds": time.perf_counter() - started,
                       **{name: report[name] for name in FIGURES},
                       "per_seed_abandon": [s["abandon_rate"] for s in report["per_seed"]]}
        log(f"{workload.name}: {label}: talk {report['talk_min_per_agent_hour']:.2f}, "
            f"abandon p95 {100 * report['abandon_rate_p95']:.2f}% "
            f"({runs[label]['seconds']:.0f} s)")

    run("progressive", RunSpec(workload, pacing="progressive"), "baseline")
    if retune:
        for family in ("ratio:1", "vicidial-hard-limit", "vicidial-tapered", "vicidial-average"):
            best = tune(RunSpec(workload, pacing=family), count, jobs=jobs, log=log)
            spec = RunSpec(workload, pacing=best["pacing"],
                           pacing_options=best.get("pacing_options") or {})
            run(_label(spec.pacing, dict(spec.pacing_options)) + " [tuned]", spec, "tuned")
    else:
        for pacing, options in TUNED.get(path.name, []):
            run(_label(pacing, options) + " [tuned]",
                RunSpec(workload, pacing=pacing, pacing_options=options), "tuned")
    run("predictive", RunSpec(workload, pacing="predictive"), "ours")
    # the same without giving up late ringing lines: what the hang-ups bring, in this run
    run("predictive, no hang-ups", RunSpec(workload, pacing="predictive",
                                           pacing_options={"hang_up_ratio": 0.0}), "ablation")
    run("clairvoyant (bound)", RunSpec(workload, pacing="clairvoyant"), "bound")

    limit = workload.abandon_limit
    bound = runs["clairvoyant (bound)"]["talk_min_per_agent_hour"]
    within = {k: r for k, r in runs.items() if r["role"] == "tuned"
              and r["abandon_rate_p95"] <= limit}
    best_label = max(within, key=lambda k: within[k]["talk_min_per_agent_hour"]) if within \
        else None
    ours = runs["predictive"]
    best_talk = within[best_label]["talk_min_per_agent_hour"] if best_label else float("nan")
    for r in runs.values():
        r["talk_vs_bound"] = r["talk_min_per_agent_hour"] / bound
    ratio = ours["talk_min_per_agent_hour"] / best_talk
    return {"workload": workload.name, "file": path.name, "seeds": count, "limit": limit,
            "runs": runs, "best_baseline": best_label, "ratio": ratio,
            "met_ratio": ratio >= TARGET_RATIO,
            "met_abandon": ours["abandon_rate_p95"] <= limit}


def print_result(result: dict[str, Any]) -> None:
    print(f"\n{result['workload']}: {result['seeds']} seeds, limit "
          f"{100 * result['limit']:g}% (p95 over seeds)")
    print(f"{'pacing':58} {'talk':>6} {'occ':>6} {'aband':>6} {'p95':>6} {'dial/h':>6} "
          f"{'/bound':>6} {'hung up':>7}")
    for label, r in result["runs"].items():
        print(f"{label:58} {r['talk_min_per_agent_hour']:6.2f} {100 * r['occupancy']:5.1f}% "
              f"{100 * r['abandon_rate']:5.2f}% {100 * r['abandon_rate_p95']:5.2f}% "
              f"{r['dials_per_agent_hour']:6.1f} {r['talk_vs_bound']:6.3f} "
              f"{r['cancelled']:7.0f}")
    print(f"predictive / best baseline within the limit ({result['best_baseline']}): "
          f"{result['ratio']:.3f}x (target {TARGET_RATIO:.2f}x: "
          f"{'met' if result['met_ratio'] else 'NOT met'}); abandonment p95 "
          f"{'within' if result['met_abandon'] else 'OVER'} the limit")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workload", action="append", default=None,
                        help="workload file (repeatable); default W1-50, W1-10, W2")
    parser.add_argument("--seeds", type=int, default=None, help="default: the workload's")
    parser.add_argument("--jobs", type=int, default=default_jobs())
    parser.add_argument("--retune", action="store_true",
                        help="tune the baselines again in this run (slow)")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--out", type=Path, default=None, help="also write the JSON here")
    args = parser.parse_args()
    paths = [Path(p) for p in args.workload] if args.workload else \
        [HERE / "workloads" / name for name in WORKLOADS]
    results = [bench_workload(p, args.seeds, args.jobs, args.retune,
                              lambda line: print(line, file=sys.stderr)) for p in paths]
    if args.out:
        args.out.write_text(json.dumps(results, indent=2))
    if args.json:
        print(json.dumps(results, indent=2))
        return
    for result in results:
        print_result(result)


if __name__ == "__main__":
    main()
