"""``callcenter simulate --tune``: give a baseline its best setting, in hindsight, on the very
workload it is measured on (allowed for baselines only: our own pacing never sees the answers).

Best = most talk minutes per staffed agent-hour among settings whose abandonment p95 over the
seeds stays within the workload's limit.

- ``ratio``: abandonment grows with X, so X is walked up in steps of 0.1 from 1.0 until two
  settings in a row fail, then refined by 0.02 around the last one that passed.
- ``vicidial-*``: a grid of maximum level x intensity x diff target x drop target
  (:data:`VICIDIAL_GRID`), screened on a few seeds; the best screened settings then run on all
  seeds and the best of those that stay within the limit wins. Finalists: the screened settings
  within the limit by talk time, topped up with the others closest to the limit.

When no setting stays within the limit the one with the lowest abandonment p95 is returned,
marked ``tuning.within_limit = false`` (a baseline that cannot meet the rule on a workload is a
result, not an error).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from typing import Any

from callcenter.sim.runner import RunSpec, simulate
from callcenter.sim.workload import OutboundWorkload

VICIDIAL_GRID: dict[str, tuple[float, ...]] = {
    "max_level": (2.0, 3.0, 4.0),
    "intensity": (-40.0, -20.0, 0.0, 20.0, 40.0),
    "diff_target": (-2.0, -1.0, 0.0, 1.0),
    "drop_target_pct": (1.0, 2.0, 3.0),
}
SCREEN_SEEDS = 5
FINALISTS = 8

Log = Callable[[str], None]


def _score(report: Mapping[str, Any], limit: float) -> tuple[bool, float]:
    return report["abandon_rate_p95"] <= limit, report["talk_min_per_agent_hour"]


def _brief(report: Mapping[str, Any]) -> str:
    return (f"talk {report['talk_min_per_agent_hour']:.2f} min/agent-h, abandon mean "
            f"{100 * report['abandon_rate']:.2f}% p95 {100 * report['abandon_rate_p95']:.2f}%")


def tune(spec: RunSpec, seeds: int | None = None, *, jobs: int | None = None,
         log: Log = print) -> dict[str, Any]:
    """The best report for ``spec.pacing``'s family (``ratio`` or ``vicidial-<method>``), with
    ``tuning`` (what was tried) added."""
    workload = spec.workload
    if not isinstance(workload, OutboundWorkload):
        raise ValueError("--tune applies to outbound workloads (pacing)")
    family = spec.pacing.partition(":")[0]
    if family == "ratio":
        return _tune_ratio(spec, seeds, jobs, log)
    if family.startswith("vicidial-"):
        return _tune_grid(spec, seeds, jobs, log)
    raise ValueError(f"nothing to tune for pacing {spec.pacing!r} (ratio or vicidial-*)")


def _tune_ratio(spec: RunSpec, seeds: int | None, jobs: int | None, log: Log) -> dict[str, Any]:
    limit = spec.workload.abandon_limit  # type: ignore[union-attr]
    tried: list[dict[str, Any]] = []
    cache: dict[float, dict[str, Any]] = {}

    def run(x: float) -> dict[str, Any]:
        x = round(x, 2)
        if x not in cache:
            report = simulate(replace(spec, pacing=f"ratio:{x:g}"), seeds, jobs=jobs)
            cache[x] = report
            tried.append({"pacing": f"ratio:{x:g}", "talk": report["talk_min_per_agent_hour"],
                          "abandon_p95": report["abandon_rate_p95"]})
            log(f"ratio:{x:g}: {_brief(report)}")
        return cache[x]

    best_x, failures, x = None, 0, 1.0
    while failures < 2 and x <= 6.0:
        if _score(run(x), limit)[0]:
            best_x, failures = x, 0
        else:
            failures += 1
        x = round(x + 0.1, 2)
    if best_x is not None:
        for step in range(1, 5):
            run(best_x + 0.02 * step)
    return _pick(cache.values(), limit, tried)


def _tune_grid(spec: RunSpec, seeds: int | None, jobs: int | None, log: Log) -> dict[str, Any]:
    limit = spec.workload.abandon_limit  # type: ignore[union-attr]
    names = list(VICIDIAL_GRID)
    settings = [dict(zip(names, values, strict=True))
                for values in itertools.product(*VICIDIAL_GRID.values())]
    screened = []
    tried: list[dict[str, Any]] = []
    for options in settings:
        report = simulate(replace(spec, pacing_options=options), SCREEN_SEEDS, jobs=jobs)
        ok, talk = _score(report, limit)
        screened.append((ok, talk, options, report["abandon_rate_p95"]))
        tried.append({"pacing": spec.pacing, **options, "screen_talk": talk,
                      "screen_abandon_p95": report["abandon_rate_p95"]})
        log(f"screen {options}: {_brief(report)}")
    feasible = sorted((s for s in screened if s[0]), key=lambda item: -item[1])
    closest = sorted((s for s in screened if not s[0]), key=lambda item: item[3])
    finals = []
    for _, _, options, _ in (feasible + closest)[:FINALISTS]:
        report = simulate(replace(spec, pacing_options=options), seeds, jobs=jobs)
        log(f"final {options}: {_brief(report)}")
        finals.append(report)
    return _pick(finals, limit, tried)


def _pick(reports: Iterable[dict[str, Any]], limit: float,
          tried: list[dict[str, Any]]) -> dict[str, Any]:
    reports = list(reports)
    feasible = [r for r in reports if _score(r, limit)[0]]
    if feasible:
        best = dict(max(feasible, key=lambda r: r["talk_min_per_agent_hour"]))
    else:
        best = dict(min(reports, key=lambda r: r["abandon_rate_p95"]))
    best["tuning"] = {"tried": tried, "limit": limit, "within_limit": bool(feasible)}
    return best
