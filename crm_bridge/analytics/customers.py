"""Customer value and risk: RFM scores and segments, the value pyramid, churn warnings.

Pure (pandas and numpy, no database, no clock): every function takes its data and the "now"
(``as_of``) as arguments. ``crm_bridge.analytics.sources`` reads the data (chunked on SQLite,
``GROUP BY`` in PostgreSQL) and ``crm_bridge.analytics.store`` keeps the result per customer.

**Windows** (:class:`AnalyticsSettings`). Orders count when ``as_of - window_days <=
ordered_at < as_of`` (365 days by default: what a customer is worth *now*). The last
``recent_days`` (90) of it are the *recent* period, the rest (275 days) the *earlier* one; churn
compares the two.

**RFM scores**, each 1 (worst) to 5 (best), for every customer with at least one order in the
window: R from the time of the last order (more recent is better), F from the number of orders,
M from the order total. A score is the *quintile of the customer's rank*: with ``n``
customers and ``rank`` the customer's average rank among them in ascending order (ties share
the average of their positions, so equal values always get equal scores),
``score = ceil(5 * rank / n)``, computed in integers (``ceil(5 * 2rank / 2n)``) so every
engine gets exactly the same answer. ``rfm`` is the three digits as a number (``545``);
``fm = round_half_up((F + M) / 2)``.

**Segments** (first rule that matches, on R and fm):

=============  ====================  ==========================================================
segment        rule                  meaning
=============  ====================  ==========================================================
champions      R >= 4 and fm >= 4    bought recently, often and much
loyal          R >= 3 and fm >= 3    regular buyers
new            R = 5                 bought very recently, not (yet) often or much
promising      R >= 3                recent buyers of little value so far
cant_lose      R = 1 and fm >= 4     used to buy often and much, nothing for a long time
at_risk        R <= 2 and fm >= 3    valuable customers drifting away
hibernating    R = 2                 occasional buyers, last order a while ago
lost           (the rest: R = 1)     little value, long ago
=============  ====================  ==========================================================

**Value pyramid** (:class:`PyramidShares`): customers with a positive order total in the window,
ranked by that total (largest first; equal totals share the better rank). With ``n`` such
customers, ranks up to ``ceil(1% of n)`` are ``vip``, up to ``ceil(5% of n)`` ``major`` (the
next 4 %), up to ``ceil(20% of n)`` ``ordinary`` (the next 15 %), the rest ``small``. A
customer without orders in the window (or with refunds outweighing purchases) is ``none``.

**Churn warning**: a customer is at risk when one or more of these reasons holds (all are
reported, each with its numbers):

- ``complaints``: at least ``complaint_min`` complaints opened in the recent period;
- ``falling_frequency``: at least ``earlier_orders_min`` orders in the earlier period, and the
  recent period's orders are fewer than ``frequency_drop`` (half) of the earlier rate scaled to
  the recent period's length (``earlier * recent_days / (window_days - recent_days)``);
- ``falling_satisfaction``: the average survey score (1-5) of the recent period is at least
  ``satisfaction_drop`` (1 point) below the earlier period's, or, with no earlier rating, at
  most ``satisfaction_low`` (2).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import numpy as np
import pandas as pd

SEGMENTS = ("champions", "loyal", "new", "promising", "cant_lose", "at_risk", "hibernating",
            "lost")
"""RFM segments, best first (rules in the module docstring)."""
PYRAMID_TIERS = ("vip", "major", "ordinary", "small", "none")
"""Value-pyramid tiers, highest first; ``none``: no positive order total in the window."""
CHURN_REASONS = ("complaints", "falling_frequency", "falling_satisfaction")

DAY_S = 86_400


@dataclass(frozen=True)
class PyramidShares:
    """Cumulative shares of the ranked customers per tier: the top 1 % are ``vip``, the top
    5 % (the next 4 %) ``major`` or better, the top 20 % (the next 15 %) ``ordinary`` or
    better; the rest are ``small``."""

    vip: str = "0.01"
    major: str = "0.05"
    ordinary: str = "0.20"

    def __post_init__(self) -> None:
        shares = [Fraction(value) for value in (self.vip, self.major, self.ordinary)]
        if not 0 <= shares[0] <= shares[1] <= shares[2] <= 1:
            raise ValueError(f"pyramid shares must rise from 0 to 1: {shares}")

    def cutoffs(self, n: int) -> tuple[int, int, int]:
        """The last rank of each tier among ``n`` customers (``ceil(share * n)``, exact)."""
        return tuple(math.ceil(Fraction(value) * n)  # type: ignore[return-value]
                     for value in (self.vip, self.major, self.ordinary))


@dataclass(frozen=True)
class AnalyticsSettings:
    """Windows and thresholds of customer analytics (see the module docstring)."""

    window_days: int = 365
    recent_days: int = 90
    pyramid: PyramidShares = field(default_factory=PyramidShares)
    complaint_min: int = 1
    earlier_orders_min: int = 2
    frequency_drop: float = 0.5
    satisfaction_drop: float = 1.0
    satisfaction_low: float = 2.0

    def __post_init__(self) -> None:
        if not 0 < self.recent_days < self.window_days:
            raise ValueError("recent_days must be between 0 and window_days "
                             f"(got {self.recent_days} and {self.window_days})")
        if self.complaint_min < 1 or self.earlier_orders_min < 1:
            raise ValueError("complaint_min and earlier_orders_min must be at least 1")
        if not 0 < self.frequency_drop <= 1:
            raise ValueError(f"frequency_drop must be in (0, 1], got {self.frequency_drop}")

    def bounds(self, as_of: dt.datetime) -> tuple[int, int, int]:
        """(window start, recent start, end) in epoch seconds."""
        end = _epoch(as_of)
        return end - self.window_days * DAY_S, end - self.recent_days * DAY_S, end


def _epoch(when: dt.datetime) -> int:
    if when.tzinfo is None:
        raise ValueError(f"naive datetime {when!r}: analytics times must carry a timezone")
    return math.floor(when.timestamp())


# --- the order totals, one chunk at a time -----------------------------------------------------

ORDER_COLUMNS = ("customer_id", "ordered_at", "amount")
"""What an order chunk holds: customer id (int), ``ordered_at`` in epoch seconds (int) and the
amount (float)."""
TOTAL_COLUMNS = ("frequency", "recent_orders", "monetary", "last_order_at")


class OrderTotals:
    """Per-customer order totals over the window, accumulated chunk by chunk so the order
    table never has to be in memory at once (memory: a few arrays of one value per customer,
    plus one chunk).

    ``customer_ids`` are the customers to count for (orders of others are ignored). Chunks
    are mappings of :data:`ORDER_COLUMNS` to arrays (a DataFrame, or a dict of numpy arrays);
    :meth:`frame` gives the totals of the customers with an order in the window.
    """

    def __init__(self, customer_ids: Iterable[int] | np.ndarray, as_of: dt.datetime,
                 settings: AnalyticsSettings | None = None) -> None:
        self.settings = settings or AnalyticsSettings()
        self.start, self.recent_start, self.end = self.settings.bounds(as_of)
        ids = np.unique(np.asarray(list(customer_ids) if not isinstance(customer_ids, np.ndarray)
                                   else customer_ids, dtype=np.int64))
        self.ids = ids
        # dense ids (1..n, the usual case) are their own index; otherwise a hash look-up
        self._offset: int | None = (int(ids[0]) if len(ids) and
                                    int(ids[-1]) - int(ids[0]) + 1 == len(ids) else None)
        self._index = None if self._offset is not None else pd.Index(ids)
        size = len(ids)
        self.frequency = np.zeros(size, dtype=np.int64)
        self.recent = np.zeros(size, dtype=np.int64)
        self.monetary = np.zeros(size, dtype=np.float64)
        self.last = np.full(size, np.iinfo(np.int64).min, dtype=np.int64)
        self.rows_read = 0

    def _positions(self, customer_ids: np.ndarray) -> np.ndarray:
        if self._offset is not None:
            positions = customer_ids - self._offset
            positions[(positions < 0) | (positions >= len(self.ids))] = -1
            return positions
        assert self._index is not None
        return np.asarray(self._index.get_indexer(pd.Index(customer_ids)), dtype=np.int64)

    def add(self, chunk: Any) -> None:
        """Count one chunk of orders (any order, any size)."""
        customer_ids = np.asarray(chunk["customer_id"], dtype=np.int64)
        when = np.asarray(chunk["ordered_at"], dtype=np.int64)
        amount = np.asarray(chunk["amount"], dtype=np.float64)
        self.rows_read += len(customer_ids)
        positions = self._positions(customer_ids)
        keep = (positions >= 0) & (when >= self.start) & (when < self.end)
        if not keep.all():
            positions, when, amount = positions[keep], when[keep], amount[keep]
        size = len(self.ids)
        self.frequency += np.bincount(positions, minlength=size)
        self.recent += np.bincount(positions, weights=(when >= self.recent_start),
                                   minlength=size).astype(np.int64)
        self.monetary += np.bincount(positions, weights=amount, minlength=size)
        np.maximum.at(self.last, positions, when)

    def frame(self) -> pd.DataFrame:
        """Totals of the customers with an order in the window, by ``customer_id``: frequency,
        recent_orders, monetary (rounded to cents), last_order_at (epoch seconds)."""
        bought = self.frequency > 0
        return pd.DataFrame({
            "frequency": self.frequency[bought],
            "recent_orders": self.recent[bought],
            "monetary": np.round(self.monetary[bought], 2),
            "last_order_at": self.last[bought],
        }, index=pd.Index(self.ids[bought], name="customer_id"))


def order_totals(chunks: Iterable[Any], customer_ids: Iterable[int] | np.ndarray,
                 as_of: dt.datetime, settings: AnalyticsSettings | None = None) -> pd.DataFrame:
    """:class:`OrderTotals` over ``chunks``, as a DataFrame."""
    totals = OrderTotals(customer_ids, as_of, settings)
    for chunk in chunks:
        totals.add(chunk)
    return totals.frame()


# --- RFM ---------------------------------------------------------------------------------------


def quintile(values: pd.Series) -> pd.Series:
    """1..5 by average rank, ascending (see the module docstring): ``ceil(5 * rank / n)``."""
    n = len(values)
    if n == 0:
        return pd.Series([], index=values.index, dtype=np.int8)
    twice_rank = np.rint(values.rank(method="average").to_numpy() * 2).astype(np.int64)
    scores = -((-5 * twice_rank) // (2 * n))  # ceil division in integers
    return pd.Series(np.clip(scores, 1, 5).astype(np.int8), index=values.index)


def rfm_scores(totals: pd.DataFrame, as_of: dt.datetime) -> pd.DataFrame:
    """R, F and M scores, the ``rfm`` code, ``recency_days`` and the segment for every row of
    :func:`order_totals` (columns added to a copy)."""
    end = _epoch(as_of)
    out = totals.copy()
    out["recency_days"] = ((end - out["last_order_at"]) // DAY_S).astype(np.int64)
    out["r_score"] = quintile(out["last_order_at"])
    out["f_score"] = quintile(out["frequency"])
    out["m_score"] = quintile(out["monetary"])
    out["rfm"] = (out["r_score"].astype(np.int64) * 100 + out["f_score"].astype(np.int64) * 10
                  + out["m_score"].astype(np.int64))
    out["segment"] = segments(out["r_score"], out["f_score"], out["m_score"])
    return out


def segments(r: pd.Series, f: pd.Series, m: pd.Series) -> pd.Series:
    """The segment of each (R, F, M) (rules in the module docstring)."""
    r_ = r.to_numpy(dtype=np.int64)
    fm = (f.to_numpy(dtype=np.int64) + m.to_numpy(dtype=np.int64) + 1) // 2
    conditions = [
        (r_ >= 4) & (fm >= 4),
        (r_ >= 3) & (fm >= 3),
        r_ == 5,
        r_ >= 3,
        (r_ == 1) & (fm >= 4),
        (r_ <= 2) & (fm >= 3),
        r_ == 2,
    ]
    codes = np.select(conditions, list(range(len(SEGMENTS) - 1)), default=len(SEGMENTS) - 1)
    return pd.Series(_categorical(codes, SEGMENTS), index=r.index)


def _categorical(codes: np.ndarray, categories: tuple[str, ...]) -> pd.Categorical:
    """Category codes -> a Categorical (codes index ``categories``; cheaper than strings)."""
    from_codes: Any = pd.Categorical.from_codes  # pandas-stubs want an Index of categories
    result: pd.Categorical = from_codes(codes.astype(np.int64), categories=list(categories))
    return result


# --- the value pyramid -------------------------------------------------------------------------


def value_pyramid(monetary: pd.Series, shares: PyramidShares | None = None) -> pd.Series:
    """The tier of each customer from its order total in the window (module docstring)."""
    shares = shares or PyramidShares()
    positive = monetary[monetary > 0]
    vip, major, ordinary = shares.cutoffs(len(positive))
    rank = positive.rank(method="min", ascending=False).to_numpy()
    codes = np.full(len(monetary), PYRAMID_TIERS.index("none"), dtype=np.int8)
    codes[(monetary > 0).to_numpy()] = np.select(
        [rank <= vip, rank <= major, rank <= ordinary], [0, 1, 2], default=3)
    return pd.Series(_categorical(codes, PYRAMID_TIERS), index=monetary.index)


# --- churn -------------------------------------------------------------------------------------


def complaint_counts(complaints: pd.DataFrame, as_of: dt.datetime,
                     settings: AnalyticsSettings | None = None) -> pd.DataFrame:
    """Per customer: complaints opened in the recent period and how many of those are open.

    ``complaints``: columns ``customer_id``, ``opened_at`` (epoch s), ``status``."""
    settings = settings or AnalyticsSettings()
    _start, recent_start, end = settings.bounds(as_of)
    recent = complaints[(complaints["opened_at"] >= recent_start)
                        & (complaints["opened_at"] < end)]
    grouped = recent.assign(open=recent["status"] != "closed").groupby("customer_id")
    return pd.DataFrame({"complaints": grouped.size(),
                         "complaints_open": grouped["open"].sum()}).astype(np.int64)


def rating_means(ratings: pd.DataFrame, as_of: dt.datetime,
                 settings: AnalyticsSettings | None = None) -> pd.DataFrame:
    """Per customer: the average survey score and count in the recent and the earlier period
    (``rating_recent``, ``ratings_recent``, ``rating_earlier``, ``ratings_earlier``; the
    average is NaN without ratings in that period).

    ``ratings``: columns ``customer_id``, ``rated_at`` (epoch s), ``score`` (1-5)."""
    settings = settings or AnalyticsSettings()
    start, recent_start, end = settings.bounds(as_of)
    when = ratings["rated_at"].to_numpy(np.int64)
    inside = (when >= start) & (when < end)
    recent = (when >= recent_start)[inside]
    score = ratings["score"].to_numpy(np.float64)[inside]
    # sums and counts per customer and period with one factorisation and four bincounts
    codes, customers = pd.factorize(ratings["customer_id"].to_numpy(np.int64)[inside],
                                    sort=True)
    size = len(customers)
    out = pd.DataFrame(index=pd.Index(customers, name="customer_id"))
    for name, chosen in (("recent", recent), ("earlier", ~recent)):
        count = np.bincount(codes[chosen], minlength=size)
        total = np.bincount(codes[chosen], weights=score[chosen], minlength=size)
        with np.errstate(invalid="ignore", divide="ignore"):
            out[f"rating_{name}"] = np.where(count > 0, total / count, np.nan)
        out[f"ratings_{name}"] = count.astype(np.int64)
    return out


def churn_warnings(totals: pd.DataFrame, complaints: pd.DataFrame, ratings: pd.DataFrame,
                   settings: AnalyticsSettings | None = None) -> pd.DataFrame:
    """The churn warning of every customer in any of the three inputs (:func:`order_totals`,
    :func:`complaint_counts`, :func:`rating_means`; rules in the module docstring).

    Columns: ``churn_risk`` (any reason), one boolean per reason (``complaints_reason``,
    ``falling_frequency_reason``, ``falling_satisfaction_reason``) and the numbers the reasons
    are stated with (``complaints``, ``complaints_open``, ``recent_orders``,
    ``expected_orders``: the earlier rate per recent period, ``rating_recent``,
    ``rating_earlier``); :func:`churn_reasons` words them. Vectorised: no loop per customer.
    """
    settings = settings or AnalyticsSettings()
    index = totals.index.union(complaints.index).union(ratings.index)
    index.name = "customer_id"

    positions = {id(frame): frame.index.get_indexer(index)
                 for frame in (totals, complaints, ratings)}

    def column(frame: pd.DataFrame, name: str, fill: float) -> np.ndarray:
        if name not in frame:
            return np.full(len(index), fill)
        where = positions[id(frame)]
        values = frame[name].to_numpy(dtype=np.float64)
        out = values[where] if len(values) else np.full(len(index), fill)
        out[where < 0] = fill
        return out

    frequency = column(totals, "frequency", 0)
    recent = column(totals, "recent_orders", 0)
    earlier = frequency - recent
    expected = earlier * settings.recent_days / (settings.window_days - settings.recent_days)
    falling = (earlier >= settings.earlier_orders_min) & (
        recent < settings.frequency_drop * expected)
    count = column(complaints, "complaints", 0)
    complained = count >= settings.complaint_min
    now_score = column(ratings, "rating_recent", np.nan)
    before = column(ratings, "rating_earlier", np.nan)
    has_before = ~np.isnan(before)
    unhappy = ~np.isnan(now_score) & np.where(
        has_before, now_score <= before - settings.satisfaction_drop,
        now_score <= settings.satisfaction_low)
    return pd.DataFrame({
        "churn_risk": complained | falling | unhappy,
        "complaints_reason": complained,
        "falling_frequency_reason": falling,
        "falling_satisfaction_reason": unhappy,
        "complaints": count.astype(np.int64),
        "complaints_open": column(complaints, "complaints_open", 0).astype(np.int64),
        "recent_orders": recent.astype(np.int64),
        "expected_orders": np.round(expected, 2),
        "rating_recent": now_score,
        "rating_earlier": before,
    }, index=index)


def churn_reasons(row: Any, settings: AnalyticsSettings | None = None) -> list[dict[str, Any]]:
    """The reasons of one :func:`churn_warnings` row (a mapping or a pandas row): a code, the
    figures behind it (``params``, so a page can word it in its own language) and an English
    wording: ``[{"code": "complaints", "params": {"count": 2, "open": 1, "days": 90},
    "text": "2 complaints in the last 90 days (1 open)"}, ...]``. Codes and params:
    ``complaints`` (count, open, days), ``falling_frequency`` (expected, recent, days),
    ``falling_satisfaction`` (now, before; before absent when there was no earlier rating)."""
    settings = settings or AnalyticsSettings()
    days = settings.recent_days
    found: list[dict[str, Any]] = []
    if row["complaints_reason"]:
        count, still_open = int(row["complaints"]), int(row["complaints_open"])
        found.append({"code": "complaints",
                      "params": {"count": count, "open": still_open, "days": days},
                      "text": f"{count} complaint{'s' if count != 1 else ''} in the last "
                              f"{days} days ({still_open} open)"})
    if row["falling_frequency_reason"]:
        expected, recent = round(float(row["expected_orders"]), 1), int(row["recent_orders"])
        found.append({"code": "falling_frequency",
                      "params": {"expected": expected, "recent": recent, "days": days},
                      "text": f"orders fell from {expected:.1f} to {recent} per {days} days"})
    if row["falling_satisfaction_reason"]:
        now, before = float(row["rating_recent"]), float(row["rating_earlier"])
        if math.isnan(before):
            found.append({"code": "falling_satisfaction", "params": {"now": round(now, 1)},
                          "text": f"satisfaction {now:.1f} of 5"})
        else:
            found.append({"code": "falling_satisfaction",
                          "params": {"now": round(now, 1), "before": round(before, 1)},
                          "text": f"satisfaction fell from {before:.1f} to {now:.1f} of 5"})
    return found


# --- everything per customer -------------------------------------------------------------------


def customer_analytics(totals: pd.DataFrame, complaints: pd.DataFrame, ratings: pd.DataFrame,
                       as_of: dt.datetime,
                       settings: AnalyticsSettings | None = None) -> pd.DataFrame:
    """One row per customer with orders in the window or a churn signal: the totals, RFM
    scores and segment (NaN/None without orders), ``value_tier`` and the churn columns.

    ``complaints`` and ``ratings`` are the raw rows (see :func:`complaint_counts` and
    :func:`rating_means` for their columns)."""
    settings = settings or AnalyticsSettings()
    scored = rfm_scores(totals, as_of)
    scored["value_tier"] = value_pyramid(scored["monetary"], settings.pyramid)
    churn = churn_warnings(totals, complaint_counts(complaints, as_of, settings),
                           rating_means(ratings, as_of, settings), settings)
    out = scored.drop(columns=["recent_orders"]).join(churn, how="outer")
    out["value_tier"] = out["value_tier"].fillna("none")
    out["churn_risk"] = out["churn_risk"].fillna(False).astype(bool)
    out.index.name = "customer_id"
    return out
