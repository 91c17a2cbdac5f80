"""The report's charts, drawn by matplotlib from the same tables the report prints.

Each function takes a table of :mod:`crm_bridge.analytics.report` and returns a
``matplotlib.figure.Figure`` (built directly, not through ``pyplot``: no global state, safe in
a server thread). :func:`svg` renders one as inline SVG for the HTML report and the supervisor
page; the PDF report puts the same figures on its pages. Labels carry the numbers (bar values
are written on the bars), so a chart can be checked against its table at a glance.
"""

from __future__ import annotations

import io
from typing import Any, cast

import matplotlib
import pandas as pd
from matplotlib import font_manager
from matplotlib.axes import Axes
from matplotlib.container import BarContainer
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator


def _font_families() -> list[str]:
    """DejaVu Sans, then a CJK face when the machine has one (Debian's fonts-noto-cjk), so
    Chinese, Japanese and Korean names are drawn, not boxes. matplotlib's font list does not
    pick up the .ttc collections by itself; they are added here once."""
    families = ["DejaVu Sans"]
    for path in font_manager.findSystemFonts():
        if "CJK" in path and "Sans" in path and ("Regular" in path or "Bold" in path):
            try:
                font_manager.fontManager.addfont(path)
            except (OSError, RuntimeError):  # an unreadable font file: draw without it
                continue
    names = {font.name for font in font_manager.fontManager.ttflist}
    families += [name for name in ("Noto Sans CJK SC", "Noto Sans CJK JP") if name in names][:1]
    return families


STYLE: Any = {"font.family": _font_families(), "svg.fonttype": "none"}
"""What every chart and PDF page is drawn with (``matplotlib.rc_context(STYLE)``)."""

TIER_COLOURS = {"vip": "#6a3d9a", "major": "#1f78b4", "ordinary": "#33a02c",
                "small": "#b2b2b2", "none": "#e0e0e0"}
BLUE, ORANGE, RED, GREEN, GREY = "#1f78b4", "#ff7f00", "#e31a1c", "#33a02c", "#8c8c8c"
WIDTH, HEIGHT = 7.5, 3.4


def _figure(height: float = HEIGHT) -> tuple[Figure, Axes]:
    figure = Figure(figsize=(WIDTH, height), dpi=100, layout="constrained")
    return figure, figure.add_subplot()


def _empty(axes: Axes, text: str) -> None:
    cast(Figure, axes.figure).set_size_inches(WIDTH, 0.8)  # a line, not a blank chart
    axes.text(0.5, 0.5, text, ha="center", va="center", transform=axes.transAxes,
              color=GREY, fontsize=11)
    axes.set_axis_off()


def _label_bars(axes: Axes, bars: BarContainer, fmt: str = "{:,.0f}",
                inside: bool = False) -> None:
    # no "0" on an empty bar (a stacked bar's missing part would print it at its base)
    axes.bar_label(bars, labels=[fmt.format(v) if v else ""
                                 for v in getattr(bars, "datavalues", [])],
                   padding=2, fontsize=8, label_type="center" if inside else "edge")


def svg(figure: Figure) -> str:
    """The figure as an ``<svg>`` element (no XML prolog), text kept as paths-free text."""
    buffer = io.StringIO()
    with matplotlib.rc_context(STYLE):
        figure.savefig(buffer, format="svg")
    text = buffer.getvalue()
    return text[text.index("<svg"):]


def pyramid(table: pd.DataFrame) -> Figure:
    """Customers per value tier (bars, VIP on top) and each tier's share of revenue."""
    figure, axes = _figure()
    shown = table.drop(index="none", errors="ignore")
    if shown["customers"].sum() == 0:
        _empty(axes, "no customer bought anything in the window")
        return figure
    tiers = list(shown.index)[::-1]
    bars = axes.barh(tiers, shown["customers"].loc[tiers],
                     color=[TIER_COLOURS[t] for t in tiers])
    axes.bar_label(bars, labels=[
        f"{shown.loc[t, 'customers']:,} customers · {shown.loc[t, 'revenue_share']:.0%} of "
        "revenue" for t in tiers], padding=3, fontsize=8)
    axes.set_xscale("log")
    axes.set_xlim(0.8, shown["customers"].max() * 30)
    axes.set_xlabel("customers (log scale)")
    axes.set_title("Value pyramid: customers per tier", fontsize=11, loc="left")
    return figure


def segments(table: pd.DataFrame) -> Figure:
    figure, axes = _figure()
    if table["customers"].sum() == 0:
        _empty(axes, "no customer has orders in the window")
        return figure
    bars = axes.bar([str(name).replace("_", " ") for name in table.index], table["customers"],
                    color=BLUE)
    _label_bars(axes, bars)
    axes.set_ylabel("customers")
    axes.set_title("RFM segments", fontsize=11, loc="left")
    axes.tick_params(axis="x", labelrotation=20, labelsize=8)
    return figure


def churn(table: pd.DataFrame, at_risk: int, customers: int) -> Figure:
    figure, axes = _figure(2.6)
    if at_risk == 0:
        _empty(axes, "no churn warning")
        return figure
    labels = [str(name).replace("_", " ") for name in table.index][::-1]
    bars = axes.barh(labels, table["customers"].to_numpy()[::-1], color=RED)
    _label_bars(axes, bars)
    axes.set_xlabel("customers warned (one customer may have several reasons)")
    axes.set_title(f"Churn warnings: {at_risk:,} of {customers:,} customers at risk",
                   fontsize=11, loc="left")
    return figure


def satisfaction_trend(table: pd.DataFrame) -> Figure:
    """Average score per period (line, left axis) and ratings per period (bars, right)."""
    figure, axes = _figure()
    if table.empty:
        _empty(axes, "no survey ratings in the period")
        return figure
    labels = [f"{period:%m-%d}" for period in table["period"]]
    counts = axes.twinx()
    counts.bar(labels, table["ratings"], color=BLUE, alpha=0.25, label="ratings")
    counts.set_ylabel("ratings per week (bars)", color=BLUE)
    counts.yaxis.set_major_locator(MaxNLocator(integer=True))
    axes.set_zorder(counts.get_zorder() + 1)
    axes.patch.set_visible(False)
    axes.plot(labels, table["average"], color=ORANGE, marker="o", label="average score")
    for x, y in zip(labels, table["average"], strict=True):
        axes.annotate(f"{y:.2f}", (x, y), textcoords="offset points", xytext=(0, 6),
                      ha="center", fontsize=8, color=ORANGE)
    axes.set_ylim(1, 5.4)
    axes.set_ylabel("average score 1-5 (line)", color=ORANGE)
    axes.set_xlabel("week starting")
    axes.tick_params(axis="x", labelrotation=45, labelsize=8)
    axes.set_title("Satisfaction by week", fontsize=11, loc="left")
    return figure


def satisfaction_by(table: pd.DataFrame, by: str) -> Figure:
    """CSAT (share of 4-5 scores) per agent / queue / category."""
    figure, axes = _figure()
    if table.empty:
        _empty(axes, "no survey ratings in the period")
        return figure
    labels = [str(name) for name in table.index][::-1]
    bars = axes.barh(labels, table["csat"].to_numpy()[::-1] * 100, color=GREEN)
    axes.bar_label(bars, labels=[f"{c:.0%} of {n}" for c, n in
                                 zip(table["csat"][::-1], table["ratings"][::-1], strict=True)],
                   padding=2, fontsize=8)
    axes.set_xlim(0, 118)
    axes.set_xlabel("CSAT: share of ratings 4 or 5 (%)")
    axes.tick_params(axis="y", labelsize=8)
    axes.set_title(f"Satisfaction by {by}", fontsize=11, loc="left")
    return figure


def complaints(table: pd.DataFrame, by: str = "category") -> Figure:
    """Open and closed complaints per category or department (stacked bars)."""
    figure, axes = _figure()
    shown = table.drop(index="all", errors="ignore")
    if shown.empty or shown["total"].sum() == 0:
        _empty(axes, "no complaints in the period")
        return figure
    labels = [str(name) for name in shown.index]
    closed = axes.bar(labels, shown["closed"], color=GREEN, label="closed")
    still = axes.bar(labels, shown["open"], bottom=shown["closed"], color=RED, label="open")
    _label_bars(axes, closed, inside=True)
    _label_bars(axes, still, inside=True)
    axes.legend(fontsize=8)
    axes.set_ylabel("complaints")
    axes.tick_params(axis="x", labelrotation=20, labelsize=8)
    axes.set_title(f"Complaints by {by}", fontsize=11, loc="left")
    return figure


def intervals(table: pd.DataFrame, interval_label: str) -> Figure:
    """Calls per interval (answered and abandoned, stacked) and the service level (line)."""
    figure, axes = _figure()
    if table.empty or table["offered"].sum() == 0:
        _empty(axes, "no calls in the queues in the period")
        return figure
    labels = [f"{start:%m-%d %H:%M}" for start in table.index]
    axes.bar(labels, table["answered"], color=BLUE, label="answered")
    axes.bar(labels, table["abandoned"], bottom=table["answered"], color=RED,
             label="abandoned")
    axes.set_ylabel("calls")
    level = axes.twinx()
    level.plot(labels, table["service_level"] * 100, color=ORANGE, marker=".",
               label="service level")
    level.set_ylim(0, 105)
    level.set_ylabel("service level (%)", color=ORANGE)
    step = max(1, len(labels) // 12)
    axes.set_xticks(range(0, len(labels), step), labels[::step], rotation=45, fontsize=7,
                    ha="right")
    handles = axes.get_legend_handles_labels()
    extra = level.get_legend_handles_labels()
    axes.legend(handles[0] + extra[0], handles[1] + extra[1], fontsize=8, ncols=3,
                loc="upper center", bbox_to_anchor=(0.5, -0.32), frameon=False)
    axes.set_title(f"Calls and service level per {interval_label}", fontsize=11, loc="left")
    return figure


def campaigns(table: pd.DataFrame) -> Figure:
    figure, axes = _figure(2.8)
    if table.empty:
        _empty(axes, "no outbound campaign calls in the period")
        return figure
    labels = [str(name) for name in table.index]
    width = 0.38
    positions = range(len(labels))
    dialed = axes.bar([p - width / 2 for p in positions], table["dialed"], width,
                      color=GREY, label="dialed")
    connected = axes.bar([p + width / 2 for p in positions], table["connected"], width,
                         color=BLUE, label="connected to an agent")
    _label_bars(axes, dialed)
    _label_bars(axes, connected)
    axes.set_xticks(list(positions), labels)
    axes.set_ylabel("calls")
    axes.legend(fontsize=8)
    axes.set_title("Campaigns: lines dialed and connected", fontsize=11, loc="left")
    return figure
