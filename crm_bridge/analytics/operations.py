"""How the center performs: satisfaction trends, complaint statistics, call-center results by
interval and outbound campaign results. Pure (pandas over rows already read; no database).

**Satisfaction** comes from survey ratings (``satisfaction_ratings``: 1-5, written by the IVR's
survey node, ``crm_bridge`` rows with ``interaction_id``), joined to the rated call's
interaction for its ``agent`` and ``queue``; the *category* of a rating is the call's
``disposition`` (what the agent filed the call under at wrap-up; ``(none)`` when not filed).
Per group and period: ``ratings`` (count), ``average`` (mean score) and ``csat`` (the share of
ratings of 4 or 5, the usual "customer satisfaction" figure, 0..1).

**Complaints** (``complaints``: status open / in_progress / closed, category, department,
opened_at, closed_at, deadline_at — the workflow's columns): per category and per department
(most complaints first, then by name) ``total``, ``open`` (open or in progress), ``closed``,
for the closed ones the time to resolve (``closed_at - opened_at``) in hours, mean and
median, and ``breached``: complaints past their deadline (closed after it, or still open).

**Call-center results by interval** are ``crm_bridge.queue_figures``' figures from the
``queue_log`` (offered, answered, abandoned, service level, ASA: formulas there), per queue and
interval, plus ``abandon_rate`` = abandoned / (answered + abandoned) (callers who left the line
without an agent) and ``aht_s``, the average handling time: the agents' talk time
(``interactions.talk_started_at`` to ``talk_ended_at``) of the queue's calls whose talk ended in
the interval, plus the queue's wrap-up time when given (the server does not store each call's
wrap-up; the configured ``wrap_up_s`` is what every agent gets).

**Campaign results** come from the interactions of outbound campaigns (``direction`` outbound,
``campaign`` set from the dialer's ``CC_CAMPAIGN``): ``dialed`` (lines placed), ``answered``
(someone or something picked up), ``connected`` (an agent talked), ``connect_rate`` =
connected / dialed, ``sales`` (disposition ``sale``), ``conversion`` = sales / connected and
``talk_s`` (average talk of the connected calls).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from crm_bridge.queue_figures import DEFAULT_INTERVAL_S, DEFAULT_THRESHOLD_S, queue_figures
from crm_bridge.queue_log import QueueLogEntry

SATISFACTION_DIMENSIONS = ("agent", "queue", "category")
NO_CATEGORY = "(none)"


def _utc(values: pd.Series) -> pd.Series:
    return pd.to_datetime(values, utc=True)


# --- satisfaction ------------------------------------------------------------------------------


def satisfaction_frame(ratings: pd.DataFrame) -> pd.DataFrame:
    """Ratings (``rated_at``, ``score`` and the rated call's ``agent``, ``queue``,
    ``disposition``) with ``category`` set and missing groups named ``(none)``."""
    out = ratings.copy()
    out["rated_at"] = _utc(out["rated_at"])
    for name in ("agent", "queue"):
        out[name] = out[name].fillna(NO_CATEGORY) if name in out else NO_CATEGORY
    disposition = out["disposition"] if "disposition" in out else pd.Series(
        None, index=out.index, dtype=object)
    out["category"] = disposition.fillna(NO_CATEGORY)
    return out


def _satisfaction_figures(scores: Any) -> pd.DataFrame:
    """``scores``: a group-by of the scores (pandas' SeriesGroupBy)."""
    frame = scores.agg(ratings="size", average="mean",
                       csat=lambda s: float((s >= 4).mean()))
    frame["average"] = frame["average"].round(2)
    frame["csat"] = frame["csat"].round(3)
    return frame


def satisfaction_summary(ratings: pd.DataFrame, by: str) -> pd.DataFrame:
    """Per ``by`` (agent, queue or category): ratings, average, csat; most ratings first."""
    if by not in SATISFACTION_DIMENSIONS:
        raise ValueError(f"by must be one of {SATISFACTION_DIMENSIONS}, not {by!r}")
    frame = satisfaction_frame(ratings)
    if frame.empty:
        return pd.DataFrame(columns=["ratings", "average", "csat"],
                            index=pd.Index([], name=by))
    out = _satisfaction_figures(frame.groupby(by)["score"])
    return out.sort_values(["ratings", "average"], ascending=[False, False])


def satisfaction_trend(ratings: pd.DataFrame, by: str | None = None,
                       freq: str = "W-SUN") -> pd.DataFrame:
    """Per period (``freq``: a pandas frequency; the default ``W-SUN``, weeks ending on
    Sunday, starts them on Monday) and, with
    ``by``, per agent / queue / category: ratings, average, csat. Columns ``period`` (the
    period's start, UTC), ``by`` if given, and the figures."""
    if by is not None and by not in SATISFACTION_DIMENSIONS:
        raise ValueError(f"by must be one of {SATISFACTION_DIMENSIONS}, not {by!r}")
    frame = satisfaction_frame(ratings)
    columns = ["period", *([by] if by else []), "ratings", "average", "csat"]
    if frame.empty:
        return pd.DataFrame(columns=columns)
    period = frame["rated_at"].dt.tz_localize(None).dt.to_period(freq).dt.start_time
    keys: list[pd.Series] = [period.rename("period")]
    if by:
        keys.append(frame[by])
    out = _satisfaction_figures(frame.groupby(keys)["score"]).reset_index()
    out["period"] = out["period"].dt.tz_localize("UTC")
    return out[columns]


# --- complaints --------------------------------------------------------------------------------


COMPLAINT_DIMENSIONS = ("category", "department")
COMPLAINT_COLUMNS = ("total", "open", "closed", "resolve_hours_mean", "resolve_hours_median",
                     "breached")


def complaint_statistics(complaints: pd.DataFrame, by: str = "category",
                         as_of: dt.datetime | None = None) -> pd.DataFrame:
    """Per category or department (``(none)`` when not set): total, open, closed,
    resolve_hours_mean and resolve_hours_median (closed complaints only) and ``breached``
    (complaints past their deadline: closed after ``deadline_at``, or still open at
    ``as_of``; complaints without a deadline never count), most first; the last row, ``all``,
    is every complaint together. ``deadline_at`` and ``department`` are optional columns."""
    if by not in COMPLAINT_DIMENSIONS:
        raise ValueError(f"by must be one of {COMPLAINT_DIMENSIONS}, not {by!r}")
    columns = list(COMPLAINT_COLUMNS)
    frame = complaints.copy()
    if frame.empty:
        return pd.DataFrame([[0, 0, 0, np.nan, np.nan, 0]], columns=columns,
                            index=pd.Index(["all"], name=by))
    keys = frame[by] if by in frame else pd.Series(None, index=frame.index, dtype=object)
    frame["key"] = keys.fillna(NO_CATEGORY)
    frame["is_closed"] = frame["status"] == "closed"
    closed_at, opened_at = _utc(frame["closed_at"]), _utc(frame["opened_at"])
    hours = (closed_at - opened_at).dt.total_seconds() / 3600
    frame["resolve_hours"] = hours.where(frame["is_closed"])
    if "deadline_at" in frame:
        deadline = _utc(frame["deadline_at"])
        now = pd.Timestamp(as_of) if as_of is not None else pd.Timestamp.now(tz="UTC")
        late_closed = frame["is_closed"] & (closed_at > deadline)
        late_open = ~frame["is_closed"] & (deadline < now)
        frame["breached"] = (late_closed | late_open) & deadline.notna()
    else:
        frame["breached"] = False

    def figures(group: pd.DataFrame) -> pd.Series:
        closed = int(group["is_closed"].sum())
        resolve = group["resolve_hours"].dropna()
        return pd.Series({"total": len(group), "open": len(group) - closed, "closed": closed,
                          "resolve_hours_mean": round(float(resolve.mean()), 1)
                          if len(resolve) else np.nan,
                          "resolve_hours_median": round(float(resolve.median()), 1)
                          if len(resolve) else np.nan,
                          "breached": int(group["breached"].sum())})

    per = pd.DataFrame({name: figures(group) for name, group in frame.groupby("key")}).T
    per = per.sort_index().sort_values("total", ascending=False, kind="stable")
    per.loc["all"] = figures(frame)
    per.index.name = by
    for name in ("total", "open", "closed", "breached"):
        per[name] = per[name].astype(np.int64)
    return per[columns]


def complaints_by_month(complaints: pd.DataFrame) -> pd.DataFrame:
    """Complaints opened per calendar month (UTC) and category: a table of counts."""
    if complaints.empty:
        return pd.DataFrame()
    opened = _utc(complaints["opened_at"]).dt.tz_localize(None).dt.to_period("M")
    table = pd.crosstab(opened.rename("month"),
                        complaints["category"].fillna(NO_CATEGORY).rename("category"))
    table.index = table.index.astype(str)
    return table


# --- call-center results by interval -----------------------------------------------------------

INTERVAL_COLUMNS = ("start", "queue", "offered", "answered", "abandoned", "service_level",
                    "asa_s", "aht_s", "abandon_rate", "longest_wait_s", "answered_within",
                    "abandoned_within", "handled")
"""``answered_within`` / ``abandoned_within``: answered / abandoned within the service-level
threshold; ``handled``: talks ended in the interval (what ``aht_s`` averages). With them,
intervals and queues add up exactly (:func:`combine_queues`, :func:`call_center_totals`)."""


def call_center_intervals(entries: Iterable[QueueLogEntry], talks: pd.DataFrame,
                          start: dt.datetime, end: dt.datetime, *,
                          interval_s: float = DEFAULT_INTERVAL_S,
                          threshold_s: float | Callable[[str], float] = DEFAULT_THRESHOLD_S,
                          wrap_up_s: Mapping[str, float] | None = None,
                          queues: Iterable[str] = ()) -> pd.DataFrame:
    """One row per queue and interval of ``[start, end)`` (columns
    :data:`INTERVAL_COLUMNS`; ``start`` aware UTC): ``queue_figures`` of the log entries, the
    abandon rate, and AHT from ``talks`` (interactions' ``queue``, ``talk_started_at``,
    ``talk_ended_at``) plus the queue's ``wrap_up_s``."""
    begin, finish = start.timestamp(), end.timestamp()
    reports = queue_figures(entries, begin, finish, interval_s=interval_s,
                            threshold_s=threshold_s, queues=queues)
    rows = []
    for queue, report in reports.items():
        for lo, _hi, tally in report.intervals:
            figures = tally.figures()
            left = figures["answered"] + figures["abandoned"]
            rows.append({"start": lo, "queue": queue, "offered": figures["offered"],
                         "answered": figures["answered"], "abandoned": figures["abandoned"],
                         "service_level": figures["service_level"], "asa_s": figures["asa_s"],
                         "abandon_rate": round(figures["abandoned"] / left, 4) if left else None,
                         "longest_wait_s": figures["longest_wait_s"],
                         "answered_within": figures["answered_within_threshold"],
                         "abandoned_within": figures["abandoned_within_threshold"]})
    frame = pd.DataFrame(rows, columns=[c for c in INTERVAL_COLUMNS
                                        if c not in ("aht_s", "handled")])
    frame["start"] = frame["start"].astype(np.float64)
    frame["queue"] = frame["queue"].astype(object)
    aht = _aht(talks, begin, finish, interval_s, wrap_up_s or {})
    aht["start"] = aht["start"].astype(np.float64)
    aht["queue"] = aht["queue"].astype(object)
    frame = frame.merge(aht, on=["start", "queue"], how="left")
    frame["handled"] = frame["handled"].fillna(0).astype(np.int64)
    frame["start"] = pd.to_datetime(frame["start"], unit="s", utc=True)
    return frame[list(INTERVAL_COLUMNS)].sort_values(["queue", "start"]).reset_index(drop=True)


def _aht(talks: pd.DataFrame, begin: float, finish: float, interval_s: float,
         wrap_up_s: Mapping[str, float]) -> pd.DataFrame:
    empty = pd.DataFrame({"start": pd.Series(dtype=float), "queue": pd.Series(dtype=object),
                          "aht_s": pd.Series(dtype=float), "handled": pd.Series(dtype=float)})
    if talks.empty:
        return empty
    frame = talks.dropna(subset=["queue", "talk_started_at", "talk_ended_at"])
    ended = _utc(frame["talk_ended_at"]).map(lambda t: t.timestamp()).astype(float) \
        if len(frame) else pd.Series(dtype=float)
    began = _utc(frame["talk_started_at"]).map(lambda t: t.timestamp()).astype(float) \
        if len(frame) else pd.Series(dtype=float)
    inside = (ended >= begin) & (ended < finish)
    if not inside.any():
        return empty
    talk = (ended - began).clip(lower=0)[inside]
    slot = begin + ((ended[inside] - begin) // interval_s) * interval_s
    handled = talk + frame.loc[inside, "queue"].map(
        lambda q: float(wrap_up_s.get(q, 0.0))).astype(float)
    out = pd.DataFrame({"start": slot, "queue": frame.loc[inside, "queue"], "aht_s": handled})
    out = out.groupby(["start", "queue"], as_index=False)["aht_s"].agg(["mean", "size"])
    return out.rename(columns={"mean": "aht_s", "size": "handled"}).round({"aht_s": 1})


def _weighted(frame: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Add up interval rows by ``keys`` and recompute the ratios from the sums."""
    frame = frame.assign(wait_sum=frame["asa_s"].fillna(0) * frame["answered"],
                         handle_sum=frame["aht_s"].fillna(0) * frame["handled"])
    sums = frame.groupby(keys)[["offered", "answered", "abandoned", "answered_within",
                                "abandoned_within", "handled", "wait_sum",
                                "handle_sum"]].sum()
    judged = sums["answered"] + sums["abandoned"] - sums["abandoned_within"]
    left = sums["answered"] + sums["abandoned"]
    out = sums[["offered", "answered", "abandoned"]].copy()
    out["service_level"] = (sums["answered_within"] / judged.replace(0, np.nan)).round(4)
    out["asa_s"] = (sums["wait_sum"] / sums["answered"].replace(0, np.nan)).round(1)
    out["aht_s"] = (sums["handle_sum"] / sums["handled"].replace(0, np.nan)).round(1)
    out["abandon_rate"] = (sums["abandoned"] / left.replace(0, np.nan)).round(4)
    out["handled"] = sums["handled"]
    return out


TOTAL_COLUMNS = ("offered", "answered", "abandoned", "service_level", "asa_s", "aht_s",
                 "abandon_rate", "handled")


def call_center_totals(intervals: pd.DataFrame) -> pd.DataFrame:
    """Per queue over all intervals (and an ``all`` row: every queue): offered, answered,
    abandoned, and service level, ASA, AHT and abandon rate recomputed from the sums (not
    averages of the intervals' ratios)."""
    if intervals.empty:
        return pd.DataFrame(columns=list(TOTAL_COLUMNS), index=pd.Index([], name="queue"))
    out = _weighted(intervals, ["queue"])
    out.loc["all"] = _weighted(intervals.assign(queue="all"), ["queue"]).loc["all"]
    for name in ("offered", "answered", "abandoned", "handled"):
        out[name] = out[name].astype(np.int64)
    return out[list(TOTAL_COLUMNS)]


def combine_queues(intervals: pd.DataFrame) -> pd.DataFrame:
    """Every queue together, per interval (``start`` as the index): the same figures."""
    if intervals.empty:
        return pd.DataFrame(columns=list(TOTAL_COLUMNS), index=pd.Index([], name="start"))
    out = _weighted(intervals, ["start"])
    for name in ("offered", "answered", "abandoned", "handled"):
        out[name] = out[name].astype(np.int64)
    return out[list(TOTAL_COLUMNS)]


# --- campaigns ---------------------------------------------------------------------------------

CAMPAIGN_COLUMNS = ("dialed", "answered", "connected", "connect_rate", "sales", "conversion",
                    "talk_s")


def campaign_results(interactions: pd.DataFrame) -> pd.DataFrame:
    """Per campaign (outbound interactions with a ``campaign``): see the module docstring."""
    frame = interactions
    if not frame.empty:
        frame = frame[(frame["direction"] == "outbound") & frame["campaign"].notna()]
    if frame.empty:
        return pd.DataFrame(columns=list(CAMPAIGN_COLUMNS), index=pd.Index([], name="campaign"))
    frame = frame.assign(
        answered=frame["answered_at"].notna(),
        connected=frame["talk_started_at"].notna(),
        sale=frame["disposition"] == "sale",
        talk=(_utc(frame["talk_ended_at"]) - _utc(frame["talk_started_at"]))
        .dt.total_seconds())
    grouped = frame.groupby("campaign")
    out = pd.DataFrame({
        "dialed": grouped.size(),
        "answered": grouped["answered"].sum(),
        "connected": grouped["connected"].sum(),
        "sales": grouped["sale"].sum(),
        "talk_s": grouped["talk"].mean().round(1),
    })
    out["connect_rate"] = (out["connected"] / out["dialed"]).round(4)
    out["conversion"] = (out["sales"] / out["connected"].replace(0, np.nan)).round(4)
    return out[list(CAMPAIGN_COLUMNS)]
