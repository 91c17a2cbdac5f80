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
    return customer_analytics(totals, sources.complaints_for_churn(complaints),
                              sources.ratings_for_churn(ratings), as_of, settings)


def _rows(result: pd.DataFrame, as_of: dt.datetime,
          settings: AnalyticsSettings) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for customer_id, row in result.iterrows():
        scored = not pd.isna(row["r_score"])
        reasons = churn_reasons(row, settings) if row["churn_risk"] else None
        rows.append({
            "customer_id": int(cast(Any, customer_id)),
            "value_tier": str(row["value_tier"]),
            "monetary": Decimal(f"{row['monetary']:.2f}") if scored else Decimal("0.00"),
            "frequency": int(row["frequency"]) if scored else 0,
            "last_order_at": (dt.datetime.fromtimestamp(int(row["last_order_at"]), dt.UTC)
                              if scored else None),
            "r_score": int(row["r_score"]) if scored else None,
            "f_score": int(row["f_score"]) if scored else None,
            "m_score": int(row["m_score"]) if scored else None,
            "segment": str(row["segment"]) if scored else None,
            "churn_risk": bool(row["churn_risk"]),
            "churn_reasons": json.dumps(reasons, ensure_ascii=False) if reasons else None,
            "computed_at": as_of,
        })
    return rows


async def refresh(engine: AsyncEngine, as_of: dt.datetime | None = None,
                  settings: AnalyticsSettings | None = None) -> RefreshReport:
    """Recompute every customer's analytics and replace the stored rows (one transaction)."""
    began = time.perf_counter()
    as_of = (as_of or dt.datetime.now(dt.UTC)).replace(microsecond=0)
    settings = settings or AnalyticsSettings()
    result = await compute(engine, as_of, settings)
    rows = _rows(result, as_of, settings)
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

