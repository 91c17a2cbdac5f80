"""Compute customer analytics from the database and keep the result per customer.

:func:`refresh` is what ``callcenter analytics refresh`` (and the demo's preparation) runs:
it reads the order totals (``GROUP BY`` in PostgreSQL, chunks on SQLite: see
``crm_bridge.analytics.sources``), the recent complaints and the survey ratings of the window,
computes RFM scores, segments, value-pyramid tiers and churn warnings
(``crm_bridge.analytics.customers``), and replaces the ``customer_analytics`` table in one
transaction, so a screen pop reads either the old or the new tiers, never a mix.

The screen-pop card (``crm_bridge.lookup``) shows the stored tier and churn warning, and routing
priority follows them (``callcenter.acd.queueing.routing_priority``). Run it on a schedule (a
nightly cron or systemd timer: tiers are relative to the whole customer base, so they are
recomputed for everyone at once).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import time
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, cast

import numpy as np
import pandas as pd
from sqlalchemy import Table, delete, insert
from sqlalchemy.ext.asyncio import AsyncEngine

from crm_bridge.analytics import sources
from crm_bridge.analytics.customers import (
    AnalyticsSettings,
    churn_reasons,
    customer_analytics,
)
from crm_bridge.models import CustomerAnalyticsRow

WRITE_BATCH = 5_000
_TABLE = cast(Table, CustomerAnalyticsRow.__table__)


@dataclass
class RefreshReport:
    """What a refresh computed (counts) and how long it took."""

    as_of: dt.datetime
    customers: int = 0
    scored: int = 0
    tiers: dict[str, int] = field(default_factory=dict)
    segments: dict[str, int] = field(default_factory=dict)
    churn_risk: int = 0
    reasons: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"as_of": self.as_of.isoformat(), "customers": self.customers,
                "scored": self.scored, "tiers": self.tiers, "segments": self.segments,
                "churn_risk": self.churn_risk, "reasons": self.reasons,
                "seconds": round(self.seconds, 2)}


async def compute(engine: AsyncEngine, as_of: dt.datetime,
                  settings: AnalyticsSettings | None = None) -> pd.DataFrame:
    """:func:`~crm_bridge.analytics.customers.customer_analytics` of the database's data."""
    settings = settings or AnalyticsSettings()
    start = as_of - dt.timedelta(days=settings.window_days)
    recent = as_of - dt.timedelta(days=settings.recent_days)
    async with engine.connect() as conn:
        totals = await sources.order_totals(conn, as_of, settings)
        complaints = await sources.complaints_frame(conn, recent, as_of)
        ratings = await sources.ratings_frame(conn, start, as_of)
    # the scoring is seconds of CPU for a big base: off the event loop (a server keeps serving)
    return await asyncio.to_thread(
        customer_analytics, totals, sources.complaints_for_churn(complaints),
        sources.ratings_for_churn(ratings), as_of, settings)


def _rows(result: pd.DataFrame, as_of: dt.datetime,
          settings: AnalyticsSettings) -> list[dict[str, Any]]:
    """The table's rows, column by column (no per-row pandas access: a million customers)."""
    scored = result["r_score"].notna().to_numpy()
    risky = result["churn_risk"].to_numpy(dtype=bool)
    reasons: list[str | None] = [None] * len(result)
    reason_columns = ["complaints_reason", "falling_frequency_reason",
                      "falling_satisfaction_reason", "complaints", "complaints_open",
                      "expected_orders", "recent_orders", "rating_recent", "rating_earlier"]
    for position, record in zip(np.flatnonzero(risky),
                                result.loc[risky, reason_columns].to_dict("records"),
                                strict=True):
        reasons[position] = json.dumps(churn_reasons(record, settings), ensure_ascii=False)

    def ints(name: str) -> list[int | None]:
        values = result[name].to_numpy()
        return [int(v) if ok else None for v, ok in zip(values, scored, strict=True)]

    monetary = [Decimal(f"{v:.2f}") if ok else Decimal("0.00") for v, ok in
                zip(result["monetary"].to_numpy(), scored, strict=True)]
    last = [dt.datetime.fromtimestamp(int(v), dt.UTC) if ok else None for v, ok in
            zip(result["last_order_at"].to_numpy(), scored, strict=True)]
    frequency = [v or 0 for v in ints("frequency")]
    r, f, m = ints("r_score"), ints("f_score"), ints("m_score")
    segment = result["segment"].astype(object).where(result["segment"].notna(), None).tolist()
    tiers = result["value_tier"].astype(str).tolist()
    ids = result.index.to_numpy(dtype=np.int64).tolist()
    return [{"customer_id": ids[i], "value_tier": tiers[i], "monetary": monetary[i],
             "frequency": frequency[i], "last_order_at": last[i], "r_score": r[i],
             "f_score": f[i], "m_score": m[i], "segment": segment[i],
             "churn_risk": bool(risky[i]), "churn_reasons": reasons[i], "computed_at": as_of}
            for i in range(len(ids))]


async def refresh(engine: AsyncEngine, as_of: dt.datetime | None = None,
                  settings: AnalyticsSettings | None = None) -> RefreshReport:
    """Recompute every customer's analytics and replace the stored rows (one transaction)."""
    began = time.perf_counter()
    as_of = (as_of or dt.datetime.now(dt.UTC)).replace(microsecond=0)
    settings = settings or AnalyticsSettings()
    result = await compute(engine, as_of, settings)
    rows = await asyncio.to_thread(_rows, result, as_of, settings)
    async with engine.begin() as conn:
        await conn.execute(delete(_TABLE))
        for lo in range(0, len(rows), WRITE_BATCH):
            await conn.execute(insert(_TABLE), rows[lo:lo + WRITE_BATCH])
    report = summarise(result, as_of)
    report.seconds = time.perf_counter() - began
    return report


def summarise(result: pd.DataFrame, as_of: dt.datetime) -> RefreshReport:
    """Counts of a :func:`compute` result."""
    return RefreshReport(
        as_of=as_of, customers=len(result), scored=int(result["r_score"].notna().sum()),
        tiers={str(k): int(v) for k, v in result["value_tier"].value_counts(sort=False).items()},
        segments={str(k): int(v) for k, v in
                  result["segment"].value_counts(sort=False).items()},
        churn_risk=int(result["churn_risk"].sum()),
        reasons={name: int(np.asarray(result[f"{name}_reason"], dtype=bool).sum())
                 for name in ("complaints", "falling_frequency", "falling_satisfaction")})

