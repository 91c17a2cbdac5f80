"""``--plot FILE.png``: occupancy and abandonment over the day (mean over seeds)."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def plot_day(report: dict[str, Any], path: str | Path) -> None:
    import matplotlib

    matplotlib.use("Agg")  # files only: no display needed on a server
    import matplotlib.pyplot as plt

    series = report["series"]
    bin_h = series["bin_s"] / 3600.0
    # a step plot needs the right edge of the last bin too
    hours = [i * bin_h for i in range(len(series["occupancy"]) + 1)]
    occupancy = [*series["occupancy"], series["occupancy"][-1]]
    abandoned = [*series["abandon_rate"], series["abandon_rate"][-1]]
    fig, (top, bottom) = plt.subplots(2, 1, sharex=True, figsize=(9, 6))
    title = report.get("workload") or "simulation"
    method = report.get("pacing") or report.get("routing", "")
    fig.suptitle(f"{title} — {method} ({report['seeds']} seeds)")
    top.step(hours, [100 * v for v in occupancy], where="post", color="tab:blue")
    top.set_ylabel("occupancy %")
    top.set_ylim(0, 105)
    top.grid(alpha=0.3)
    bottom.step(hours, [100 * v for v in abandoned], where="post",
                color="tab:red", label="abandoned")
    limit = report.get("abandon_limit")
    if limit is not None:
        bottom.axhline(100 * limit, color="black", linestyle="--", linewidth=1,
                       label=f"limit {100 * limit:g}%")
    bottom.set_ylabel("abandoned %")
    bottom.set_xlabel("hours into the day")
    bottom.grid(alpha=0.3)
    bottom.legend(loc="upper right")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
