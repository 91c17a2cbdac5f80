"""The analytics report: tables from the CRM database, charts drawn from the same tables, as
HTML (self-contained: inline SVG, inline CSS, nothing fetched) or PDF (matplotlib's
``PdfPages``: a chart and its table per page, long tables continued on further pages).

``callcenter report`` writes it; the supervisors' page (``/analytics/``) shows the HTML through
``GET /api/analytics/report``. Definitions of every figure: docs/ANALYTICS.md.

Sections: the value pyramid, RFM segments, churn warnings (with the customers most worth
keeping), satisfaction (by week, agent, queue, category), complaints, call-center results by
interval and per queue, campaign results. Customer figures are computed fresh at the report's
end time (the same computation as ``callcenter analytics refresh``); the others cover
``[start, end)``.
"""

from __future__ import annotations

import datetime as dt
import html
import io
import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

import matplotlib
import pandas as pd
from matplotlib.backends.backend_pdf import PdfPages
from matplotlib.figure import Figure
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from crm_bridge.analytics import charts, operations, sources, store
from crm_bridge.analytics.customers import (
    CHURN_REASONS,
    PYRAMID_TIERS,
    SEGMENTS,
    AnalyticsSettings,
    churn_reasons,
)
from crm_bridge.db import session_factory
from crm_bridge.models import AcdQueueRow, Customer
from crm_bridge.queue_figures import DEFAULT_THRESHOLD_S
from crm_bridge.queue_log import read_entries

TOP = 15
"""Rows of the per-agent satisfaction table and chart (most ratings first) and of the at-risk
customers list."""
MAX_INTERVAL_ROWS = 96
"""Busiest intervals listed in the interval table (every interval is in the chart)."""


@dataclass
class Report:
    """Every table of the report (pandas), with what it covers."""

    start: dt.datetime
    end: dt.datetime
    interval_s: float
    settings: AnalyticsSettings
    customers: int = 0
    pyramid: pd.DataFrame = field(default_factory=pd.DataFrame)
    segments: pd.DataFrame = field(default_factory=pd.DataFrame)
    churn: pd.DataFrame = field(default_factory=pd.DataFrame)
    at_risk: int = 0
    at_risk_top: pd.DataFrame = field(default_factory=pd.DataFrame)
    satisfaction_trend: pd.DataFrame = field(default_factory=pd.DataFrame)
    satisfaction_by: dict[str, pd.DataFrame] = field(default_factory=dict)
    satisfaction_groups: dict[str, int] = field(default_factory=dict)
    complaints: pd.DataFrame = field(default_factory=pd.DataFrame)
    complaints_by_department: pd.DataFrame = field(default_factory=pd.DataFrame)
    intervals: pd.DataFrame = field(default_factory=pd.DataFrame)
    all_queues: pd.DataFrame = field(default_factory=pd.DataFrame)
    queue_totals: pd.DataFrame = field(default_factory=pd.DataFrame)
    campaigns: pd.DataFrame = field(default_factory=pd.DataFrame)

    @property
    def interval_label(self) -> str:
        minutes = self.interval_s / 60
        if minutes < 60:
            return "minute" if minutes == 1 else f"{minutes:g} minutes"
        if minutes == 1440:
            return "day"
        return "hour" if minutes == 60 else f"{minutes / 60:g} hours"

    def summary(self) -> dict[str, Any]:
        """The headline figures (JSON-ready): what the page's tiles and tests read."""
        totals = self.queue_totals.loc["all"] if "all" in self.queue_totals.index else None
        trend = self.satisfaction_trend
        ratings = int(trend["ratings"].sum()) if not trend.empty else 0
        return {
            "start": self.start.isoformat(), "end": self.end.isoformat(),
            "customers": self.customers,
            "tiers": {str(t): int(cast(Any, self.pyramid.loc[t, "customers"]))
                      for t in self.pyramid.index},
            "at_risk": self.at_risk,
            "ratings": ratings,
            "csat": (round(float((trend["csat"] * trend["ratings"]).sum() / ratings), 3)
                     if ratings else None),
            "complaints": int(cast(Any, self.complaints.loc["all", "total"]))
            if "all" in self.complaints.index else 0,
            "calls_offered": int(cast(Any, totals["offered"])) if totals is not None else 0,
            "service_level": _number(totals["service_level"]) if totals is not None else None,
            "campaign_lines": int(self.campaigns["dialed"].sum())
            if not self.campaigns.empty else 0,
        }


def _number(value: Any) -> float | None:
    return None if value is None or pd.isna(value) else float(value)


async def build_report(engine: AsyncEngine, start: dt.datetime, end: dt.datetime, *,
                       interval_s: float = 3600.0,
                       settings: AnalyticsSettings | None = None) -> Report:
    """Read and compute every table of the report for ``[start, end)``."""
    if end <= start:
        raise ValueError(f"the report's end {end.isoformat()} is not after its start "
                         f"{start.isoformat()}")
    if interval_s < 60:
        raise ValueError(f"interval must be at least 60 s, got {interval_s:g}")
    settings = settings or AnalyticsSettings()
    report = Report(start=start, end=end, interval_s=interval_s, settings=settings)
    result = await store.compute(engine, end, settings)
    _customer_tables(report, result)
    async with engine.connect() as conn:
        names = await _names(conn, list(report.at_risk_top.index))
        ratings = await sources.ratings_frame(conn, start, end)
        complaints = await sources.complaints_frame(conn, start, end)
        talks = await sources.interactions_frame(conn, start - dt.timedelta(days=1), end)
        queues = (await conn.execute(select(AcdQueueRow.name, AcdQueueRow.service_level_s,
                                            AcdQueueRow.wrap_up_s))).all()
    report.at_risk_top.insert(0, "name", [names.get(int(i), "") for i in
                                          report.at_risk_top.index])
    _satisfaction_tables(report, ratings)
    report.complaints = operations.complaint_statistics(complaints, "category", end)
    report.complaints_by_department = operations.complaint_statistics(complaints, "department",
                                                                      end)
    thresholds = {name: float(level or DEFAULT_THRESHOLD_S) for name, level, _ in queues}
    wrap_up = {name: float(wrap or 0.0) for name, _, wrap in queues}
    async with session_factory(engine)() as session:
        entries = await read_entries(session, start, end)
    report.intervals = operations.call_center_intervals(
        entries, talks, start, end, interval_s=interval_s,
        threshold_s=lambda queue: thresholds.get(queue, DEFAULT_THRESHOLD_S),
        wrap_up_s=wrap_up)
    report.all_queues = operations.combine_queues(report.intervals)
    report.queue_totals = operations.call_center_totals(report.intervals)
    started = pd.to_datetime(talks["started_at"], utc=True) if not talks.empty else None
    in_period = talks[(started >= pd.Timestamp(start)) & (started < pd.Timestamp(end))] \
        if started is not None else talks
    report.campaigns = operations.campaign_results(in_period)
    return report


async def _names(conn: Any, ids: Sequence[int]) -> dict[int, str]:
    if not ids:
        return {}
    rows = await conn.execute(select(Customer.id, Customer.name).where(
        Customer.id.in_([int(i) for i in ids])))
    return {int(row[0]): str(row[1]) for row in rows}


def _customer_tables(report: Report, result: pd.DataFrame) -> None:
    report.customers = len(result)
    tiers = result["value_tier"].astype(str)
    revenue = result["monetary"].fillna(0).clip(lower=0)
    total = float(revenue.sum())
    pyramid = pd.DataFrame({
        "customers": tiers.value_counts().reindex(PYRAMID_TIERS, fill_value=0),
        "revenue": revenue.groupby(tiers).sum().reindex(PYRAMID_TIERS, fill_value=0.0),
    })
    scored = int((tiers != "none").sum())
    pyramid["share"] = pyramid["customers"] / scored if scored else 0.0
    pyramid["share"] = pyramid["share"].where(pyramid.index != "none")
    pyramid["revenue_share"] = pyramid["revenue"] / total if total else 0.0
    pyramid["min_revenue"] = result.groupby(tiers)["monetary"].min().reindex(PYRAMID_TIERS)
    pyramid.index.name = "tier"
    report.pyramid = pyramid
    with_orders = result[result["segment"].notna()]
    grouped = with_orders.groupby(with_orders["segment"].astype(str))
    segments = pd.DataFrame({
        "customers": grouped.size(),
        "recency_days": grouped["recency_days"].mean().round(0),
        "orders": grouped["frequency"].mean().round(1),
        "monetary": grouped["monetary"].mean().round(2),
    }).reindex(SEGMENTS).fillna({"customers": 0})
    segments["customers"] = segments["customers"].astype(int)
    segments.index.name = "segment"
    report.segments = segments
    report.at_risk = int(result["churn_risk"].sum())
    report.churn = pd.DataFrame({"customers": [int(result[f"{name}_reason"].sum())
                                               for name in CHURN_REASONS]},
                                index=pd.Index(CHURN_REASONS, name="reason"))
    risky = result[result["churn_risk"]].copy()
    risky["monetary"] = risky["monetary"].fillna(0)
    top = risky.sort_values(["monetary"], ascending=False, kind="stable").head(TOP)
    report.at_risk_top = pd.DataFrame({
        "value_tier": top["value_tier"].astype(str),
        "monetary": top["monetary"],
        "reasons": ["; ".join(reason["text"] for reason in churn_reasons(row, report.settings))
                    for _, row in top.iterrows()],
    }, index=pd.Index(top.index, name="customer_id"))


def _satisfaction_tables(report: Report, ratings: pd.DataFrame) -> None:
    report.satisfaction_trend = operations.satisfaction_trend(ratings)
    for by in operations.SATISFACTION_DIMENSIONS:
        table = operations.satisfaction_summary(ratings, by)
        report.satisfaction_groups[by] = len(table)
        report.satisfaction_by[by] = table.head(TOP)


# --- charts ------------------------------------------------------------------------------------


def figures(report: Report) -> list[tuple[str, str, Figure, pd.DataFrame, str]]:
    """(section id, title, chart, table, note) in report order."""
    groups = report.satisfaction_groups
    frame = report.all_queues
    active = frame[(frame["offered"] > 0) | (frame["handled"] > 0)]
    shown = active.assign(busy=active["offered"] + active["handled"]).sort_values(
        "busy", ascending=False, kind="stable").head(MAX_INTERVAL_ROWS).drop(
        columns="busy").sort_index()
    # the chart spans the first to the last interval with calls (not weeks of empty ones)
    calls = frame[frame["offered"] > 0]
    span = frame.loc[calls.index.min():calls.index.max()] if len(calls) else frame
    window = f"orders of the {report.settings.window_days} days before {_day(report.end)}"
    return [
        ("pyramid", "Value pyramid", charts.pyramid(report.pyramid),
         report.pyramid, f"{window}; tiers: top 1% VIP, next 4% major, next 15% ordinary, "
                         "the rest small; none: nothing bought in the window"),
        ("segments", "RFM segments", charts.segments(report.segments), report.segments,
         f"{window}; means per segment"),
        ("churn", "Churn warnings",
         charts.churn(report.churn, report.at_risk, report.customers), report.churn,
         f"reasons as of {_day(report.end)}; the last {report.settings.recent_days} days "
         "against the rest of the window"),
        ("at-risk", "Customers at risk, most valuable first", None, report.at_risk_top,
         f"top {TOP} by order total in the window"),  # type: ignore[list-item]
        ("satisfaction", "Satisfaction by week",
         charts.satisfaction_trend(report.satisfaction_trend), report.satisfaction_trend,
         "survey ratings 1-5; CSAT = share of ratings 4 or 5"),
        ("satisfaction-agent", "Satisfaction by agent",
         charts.satisfaction_by(report.satisfaction_by["agent"], "agent"),
         report.satisfaction_by["agent"],
         f"the {min(TOP, groups.get('agent', 0))} of {groups.get('agent', 0)} agents with "
         "the most ratings"),
        ("satisfaction-queue", "Satisfaction by queue",
         charts.satisfaction_by(report.satisfaction_by["queue"], "queue"),
         report.satisfaction_by["queue"], "the queue of the rated call"),
        ("satisfaction-category", "Satisfaction by category",
         charts.satisfaction_by(report.satisfaction_by["category"], "category"),
         report.satisfaction_by["category"], "category: the rated call's disposition"),
        ("complaints", "Complaints by category", charts.complaints(report.complaints),
         report.complaints, "complaints opened in the period; time to resolve of the closed "
                            "ones; breached: past the deadline of their severity"),
        ("complaints-department", "Complaints by department",
         charts.complaints(report.complaints_by_department, "department"),
         report.complaints_by_department,
         "the department the workflow assigned ((none): not assigned yet)"),
        ("queues", "Call-center results per queue", None, report.queue_totals,
         "service level: answered within the queue's threshold / (answered + abandoned "
         "after it)"),  # type: ignore[list-item]
        ("intervals", f"Call-center results per {report.interval_label}",
         charts.intervals(span, report.interval_label), shown,
         f"every queue together; the {len(shown)} intervals with calls or talks"
         + (f" (the busiest {MAX_INTERVAL_ROWS} of {len(active)})"
            if len(active) > MAX_INTERVAL_ROWS else "")
         + "; the chart spans the first to the last interval with calls"),
        ("campaigns", "Campaign results", charts.campaigns(report.campaigns),
         report.campaigns, "outbound campaign calls started in the period"),
    ]


def _day(when: dt.datetime) -> str:
    return f"{when:%Y-%m-%d %H:%M} UTC"


# --- cell formats ------------------------------------------------------------------------------

NO_VALUE = "\N{EN DASH}"
"""What an empty cell shows (no ratings, no closed complaint ...)."""
PERCENT = {"share", "revenue_share", "service_level", "abandon_rate", "csat", "connect_rate",
           "conversion"}
MONEY = {"revenue", "monetary", "min_revenue"}
HEADINGS = {"customers": "customers", "revenue": "revenue", "share": "share of customers",
            "revenue_share": "share of revenue", "min_revenue": "smallest total",
            "recency_days": "days since last order", "orders": "orders",
            "monetary": "order total", "asa_s": "ASA (s)", "aht_s": "AHT (s)",
            "service_level": "service level", "abandon_rate": "abandon rate",
            "handled": "talks", "resolve_hours_mean": "hours to resolve (mean)",
            "resolve_hours_median": "hours to resolve (median)", "csat": "CSAT",
            "breached": "past deadline",
            "talk_s": "talk (s)", "connect_rate": "connect rate", "value_tier": "tier"}


def cell(column: str, value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)) or (
            not isinstance(value, str) and pd.isna(value)):
        return NO_VALUE
    if isinstance(value, pd.Timestamp | dt.datetime):
        return f"{value:%Y-%m-%d %H:%M}" if (value.hour or value.minute) else f"{value:%Y-%m-%d}"
    if column in PERCENT:
        return f"{float(value):.1%}"
    if column in MONEY:
        return f"{float(value):,.2f}"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int) or (isinstance(value, float) and float(value).is_integer()
                                  and column not in ("average",)):
        return f"{int(value):,}"
    if isinstance(value, float):
        return f"{value:,.2f}"
    return str(value).replace("_", " ") if column in ("segment", "reason") else str(value)


def table_rows(table: pd.DataFrame) -> tuple[list[str], list[list[str]]]:
    """Headings and formatted rows (the index is the first column)."""
    frame = table.reset_index() if table.index.name or not isinstance(
        table.index, pd.RangeIndex) else table
    columns = [str(c) for c in frame.columns]
    rows = [[cell(name, value) for name, value in zip(columns, record, strict=True)]
            for record in frame.itertuples(index=False, name=None)]
    return [HEADINGS.get(name, name.replace("_", " ")) for name in columns], rows


# --- HTML --------------------------------------------------------------------------------------

CSS = """
body { font: 14px/1.4 system-ui, sans-serif; margin: 0 auto; max-width: 60rem; padding: 1rem;
       color: #222; }
h1 { font-size: 1.5rem; margin: 0 0 .2rem; } h2 { font-size: 1.15rem; margin: 2rem 0 .3rem; }
.period { color: #555; margin: 0 0 1rem; }
.tiles { display: grid; grid-template-columns: repeat(auto-fill, minmax(9rem, 1fr));
         gap: .5rem; margin: 1rem 0; }
.tile { border: 1px solid #ddd; border-radius: 6px; padding: .4rem .6rem; }
.tile b { display: block; font-size: 1.3rem; } .tile span { color: #555; font-size: .8rem; }
.note { color: #555; font-size: .85rem; margin: .2rem 0 .5rem; }
figure { margin: 0; } figure svg { max-width: 100%; height: auto; }
table { border-collapse: collapse; margin: .5rem 0; font-size: .85rem; }
th, td { border-bottom: 1px solid #e3e3e3; padding: .2rem .5rem; text-align: right; }
th { background: #f4f4f4; } td:first-child, th:first-child { text-align: left; }
td.text { text-align: left; }
"""


def _tiles(summary: dict[str, Any]) -> str:
    def pct(value: Any) -> str:
        return NO_VALUE if value is None else f"{value:.0%}"

    items = [(f"{summary['customers']:,}", "customers analysed"),
             (f"{summary['tiers'].get('vip', 0):,}", "VIP customers"),
             (f"{summary['at_risk']:,}", "churn warnings"),
             (pct(summary["csat"]), f"CSAT of {summary['ratings']:,} ratings"),
             (f"{summary['complaints']:,}", "complaints opened"),
             (f"{summary['calls_offered']:,}", "calls offered to queues"),
             (pct(summary["service_level"]), "service level"),
             (f"{summary['campaign_lines']:,}", "campaign lines dialed")]
    return '<div class="tiles">' + "".join(
        f'<div class="tile"><b>{html.escape(v)}</b><span>{html.escape(k)}</span></div>'
        for v, k in items) + "</div>"


def _html_table(table: pd.DataFrame) -> str:
    if table.empty:
        return '<p class="note">no rows</p>'
    headings, rows = table_rows(table)
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headings)
    body = "".join(
        "<tr>" + "".join(
            f'<td{" class=text" if not _numeric(v) else ""}>{html.escape(v)}</td>'
            for v in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _numeric(text: str) -> bool:
    return bool(text) and (text[0].isdigit() or text[0] == "-" or text == NO_VALUE) and \
        not text[-1].isalpha()


def render_html(report: Report, *, fragment: bool = False) -> str:
    """The whole report as one HTML document (``fragment``: only the body's content, for the
    supervisors' page)."""
    with matplotlib.rc_context(charts.STYLE):
        return _render_html(report, fragment)


def _render_html(report: Report, fragment: bool) -> str:
    parts = [f"<h1>Call-center analytics</h1><p class=\"period\">{_day(report.start)} to "
             f"{_day(report.end)} · call-center results per {report.interval_label}</p>",
             _tiles(report.summary())]
    for section, title, figure, table, note in figures(report):
        parts.append(f'<section id="{section}"><h2>{html.escape(title)}</h2>'
                     f'<p class="note">{html.escape(note)}</p>')
        if figure is not None:
            parts.append(f"<figure>{charts.svg(figure)}</figure>")
        parts.append(_html_table(table) + "</section>")
    body = "\n".join(parts)
    if fragment:
        return body
    data = html.escape(json.dumps(report.summary()))
    return (f"<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>Call-center analytics {report.start:%Y-%m-%d} to {report.end:%Y-%m-%d}"
            f"</title><meta name=\"callcenter-summary\" content=\"{data}\">"
            f"<style>{CSS}</style></head><body>{body}</body></html>")


# --- PDF ---------------------------------------------------------------------------------------

A4_LANDSCAPE = (11.69, 8.27)
ROWS_WITH_CHART = 12
ROWS_ALONE = 30


def _pdf_table(figure: Figure, rect: tuple[float, float, float, float],
               headings: list[str], rows: list[list[str]]) -> None:
    axes = figure.add_axes(rect)
    axes.set_axis_off()
    if not rows:
        axes.text(0, 1, "no rows", va="top", color=charts.GREY)
        return
    table = axes.table(cellText=rows, colLabels=headings, loc="upper left",
                       cellLoc="right", colLoc="right")
    table.auto_set_font_size(False)
    table.set_fontsize(8)
    table.scale(1, 1.25)
    for (row, column), item in table.get_celld().items():
        if row == 0:
            item.set_facecolor("#f0f0f0")
        if column == 0:
            item.get_text().set_horizontalalignment("left")
        item.set_edgecolor("#dddddd")
    table.auto_set_column_width(list(range(len(headings))))


def _page(pdf: PdfPages, heading: str, note: str, chart: Figure | None,
          headings: list[str], rows: list[list[str]]) -> None:
    page = Figure(figsize=A4_LANDSCAPE)
    page.text(0.04, 0.95, heading, fontsize=15, weight="bold")
    page.text(0.04, 0.915, note, fontsize=9, color="#555555")
    top = 0.88
    if chart is not None:
        buffer = io.BytesIO()
        chart.savefig(buffer, format="png", dpi=150)
        buffer.seek(0)
        import matplotlib.image as mpimg

        image = mpimg.imread(buffer)
        axes = page.add_axes((0.04, 0.47, 0.92, 0.41))
        axes.imshow(image)
        axes.set_axis_off()
        top = 0.44
    _pdf_table(page, (0.04, 0.04, 0.92, top - 0.05), headings, rows)
    pdf.savefig(page)


def render_pdf(report: Report) -> bytes:
    """The report as PDF: a title page with the headline figures, then one page per section
    (chart above, table below; a long table goes on over further pages)."""
    with matplotlib.rc_context(charts.STYLE):
        return _render_pdf(report)


def _render_pdf(report: Report) -> bytes:
    buffer = io.BytesIO()
    with PdfPages(buffer, metadata={"Title": "Call-center analytics",
                                    "Subject": f"{_day(report.start)} to {_day(report.end)}"}
                  ) as pdf:
        title = Figure(figsize=A4_LANDSCAPE)
        title.text(0.06, 0.82, "Call-center analytics", fontsize=26, weight="bold")
        title.text(0.06, 0.75, f"{_day(report.start)} to {_day(report.end)} · call-center "
                               f"results per {report.interval_label}", fontsize=13, color="#555555")
        summary = report.summary()
        lines = [("customers analysed", f"{summary['customers']:,}"),
                 ("VIP customers", f"{summary['tiers'].get('vip', 0):,}"),
                 ("churn warnings", f"{summary['at_risk']:,}"),
                 ("survey ratings", f"{summary['ratings']:,}"),
                 ("CSAT", NO_VALUE if summary["csat"] is None else f"{summary['csat']:.1%}"),
                 ("complaints opened", f"{summary['complaints']:,}"),
                 ("calls offered to queues", f"{summary['calls_offered']:,}"),
                 ("service level", NO_VALUE if summary["service_level"] is None
                  else f"{summary['service_level']:.1%}"),
                 ("campaign lines dialed", f"{summary['campaign_lines']:,}")]
        for i, (label, value) in enumerate(lines):
            title.text(0.08, 0.62 - i * 0.055, label, fontsize=13)
            title.text(0.45, 0.62 - i * 0.055, value, fontsize=13, weight="bold")
        pdf.savefig(title)
        for _section, heading, chart, table, note in figures(report):
            headings, rows = table_rows(table) if not table.empty else ([], [])
            first = ROWS_WITH_CHART if chart is not None else ROWS_ALONE
            _page(pdf, heading, note, chart, headings, rows[:first])
            rest = rows[first:]
            part = 2
            while rest:
                _page(pdf, f"{heading} (continued, {part})", note, None, headings,
                      rest[:ROWS_ALONE])
                rest = rest[ROWS_ALONE:]
                part += 1
    return buffer.getvalue()


Renderer = Callable[[Report], bytes]
FORMATS: dict[str, Renderer] = {
    "html": lambda report: render_html(report).encode(),
    "pdf": render_pdf,
}
