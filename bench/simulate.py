"""Simulator benchmark (issue 3): how fast a 30-seed outbound day runs, and how the pacing
baselines compare with each other and with the clairvoyant bound.

    python bench/simulate.py [--workload bench/workloads/outbound-w1-50.json] [--jobs N]
                             [--pacing P ...] [--tune] [--json]

Measured in this order and in the same run:

- **speed**: every pacing method on all the workload's seeds with ``--jobs`` processes (default:
  one per CPU); the target is under 60 s for 30 seeds of ``outbound-w1-50`` on 2 cores, printed
  as a ratio to that budget. Baseline: ``progressive`` again on one process (the parallel
  speed-up).
- **results**: talk minutes per staffed agent-hour, occupancy, abandonment mean and p95, lines
  per agent-hour; ``talk/bound`` is the ratio to the clairvoyant bound of the same run.
- ``--tune``: each baseline family tuned in hindsight on this workload (``callcenter simulate
  --tune``: the best setting whose abandonment p95 stays within the limit), then compared.
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
DEFAULT_PACINGS = ["progressive", "ratio:1.2", "vicidial-hard-limit", "vicidial-tapered",
                   "vicidial-average", "clairvoyant"]
BUDGET_S = 60.0


def _row(name: str, report: dict[str, Any], seconds: float | None, bound: float) -> str:
    timing = f"{seconds:7.1f} s {seconds / BUDGET_S:5.2f}" if seconds is not None else " " * 15
    return (f"{name:44} {timing}  {report['talk_min_per_agent_hour']:6.2f}  "
            f"{100 * report['occupancy']:5.1f}%  {100 * report['abandon_rate']:5.2f}%  "
            f"{100 * report['abandon_rate_p95']:5.2f}%  {report['dials_per_agent_hour']:6.1f}  "
            f"{report['talk_min_per_agent_hour'] / bound:5.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workload", default=str(HERE / "workloads" / "outbound-w1-50.json"))
    parser.add_argument("--jobs", type=int, default=default_jobs())
    parser.add_argument("--pacing", action="append", default=None)
    parser.add_argument("--tune", action="store_true")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    workload = load_workload(args.workload)
    if not isinstance(workload, OutboundWorkload):
        parser.error("an outbound workload is needed")
    pacings = args.pacing or DEFAULT_PACINGS
    results: dict[str, Any] = {"workload": workload.name, "seeds": workload.seeds,
                               "jobs": args.jobs, "runs": {}}
    reports: dict[str, tuple[dict[str, Any], float | None]] = {}
    for pacing in pacings:
        started = time.perf_counter()
        report = simulate(RunSpec(workload, pacing=pacing), jobs=args.jobs)
        reports[pacing] = (report, time.perf_counter() - started)
    started = time.perf_counter()
    simulate(RunSpec(workload, pacing="progressive"), jobs=1)
    serial_s = time.perf_counter() - started
    if args.tune:
        for family in ("ratio:1", "vicidial-hard-limit", "vicidial-tapered", "vicidial-average"):
            started = time.perf_counter()
            best = tune(RunSpec(workload, pacing=family), jobs=args.jobs,
                        log=lambda line: print(line, file=sys.stderr))
            label = f"tuned {best['pacing']} {best.get('pacing_options') or ''}".strip()
            reports[label] = (best, None)
            print(f"tuning {family}: {time.perf_counter() - started:.0f} s", file=sys.stderr)
    bound = (reports["clairvoyant"][0]["talk_min_per_agent_hour"] if "clairvoyant" in reports
             else max(r["talk_min_per_agent_hour"] for r, _ in reports.values()))
    for name, (report, seconds) in reports.items():
        results["runs"][name] = {
            "seconds": seconds, "budget_ratio": seconds / BUDGET_S if seconds else None,
            "talk_min_per_agent_hour": report["talk_min_per_agent_hour"],
            "occupancy": report["occupancy"], "abandon_rate": report["abandon_rate"],
            "abandon_rate_p95": report["abandon_rate_p95"],
            "dials_per_agent_hour": report["dials_per_agent_hour"],
            "talk_vs_bound": report["talk_min_per_agent_hour"] / bound}
    progressive_s = reports["progressive"][1] if "progressive" in reports else None
    results["serial_progressive_s"] = serial_s
    if args.json:
        print(json.dumps(results, indent=2))
        return
    print(f"{workload.name}: {workload.seeds} seeds, {args.jobs} processes, "
          f"limit {100 * workload.abandon_limit:g}% (p95)")
    print(f"{'pacing':44} {'wall':>9} {'/60s':>5}  {'talk':>6}  {'occ':>6}  {'aband':>6}  "
          f"{'p95':>6}  {'dial/h':>6}  {'/bound':>5}")
    for name, (report, seconds) in reports.items():
        print(_row(name, report, seconds, bound))
    if progressive_s:
        print(f"baseline: progressive on 1 process {serial_s:.1f} s vs {progressive_s:.1f} s on "
              f"{args.jobs}: speed-up {serial_s / progressive_s:.2f}x")


if __name__ == "__main__":
    main()
