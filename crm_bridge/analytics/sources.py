"""Reading what analytics needs from the CRM database (the adapter of ``crm_bridge.analytics``).

**Order totals** are where the volume is (10M orders and more):

- on **PostgreSQL** the aggregation runs in the database: one ``GROUP BY customer_id`` with
  ``FILTER`` for the recent period returns one row per customer (what pandas then scores), so a
  bigger center scales with its database server, and the rows are streamed in chunks;
- on **SQLite** the orders of the window are read in chunks of :data:`CHUNK_ROWS` rows (keyset
  pagination on the primary key, never the whole table at once) and counted by
  :class:`~crm_bridge.analytics.customers.OrderTotals`. Values come raw (times as SQLite's
  text, amounts as numbers) and are converted a chunk at a time by pandas, not row by row.

Everything else (complaints, ratings, interactions, the queue log) is read for the asked period
only and is small next to the orders.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Float, String, func, select, type_coerce
from sqlalchemy.ext.asyncio import AsyncConnection

from crm_bridge.analytics.customers import AnalyticsSettings, OrderTotals
from crm_bridge.models import (
    Complaint,
    Customer,
    Interaction,
    Order,
    SatisfactionRating,
)

CHUNK_ROWS = 100_000
"""Rows per read on SQLite (and per streamed partition on PostgreSQL)."""


def epoch_seconds(values: pd.Series) -> np.ndarray:
    """Times (SQLite text without offset = UTC, or aware datetimes) -> int64 epoch seconds."""
    if len(values) == 0:
        return np.zeros(0, dtype=np.int64)
    parsed = pd.to_datetime(values, utc=True, format="ISO8601")
    return np.asarray(parsed.astype("int64") // _unit_per_second(parsed), dtype=np.int64)


def _unit_per_second(parsed: pd.Series) -> int:
    unit = np.datetime_data(parsed.dt.tz_localize(None).to_numpy().dtype)[0]
    return {"s": 1, "ms": 1_000, "us": 1_000_000, "ns": 1_000_000_000}[unit]


def _frame(rows: Any, columns: list[str]) -> pd.DataFrame:
    """Rows -> a DataFrame, column by column. (Handing SQLAlchemy ``Row`` objects to pandas
    directly makes it probe each row's attributes, which SQLAlchemy answers with a caught
    exception per row: 14 s of a 100k-customer refresh.)"""
    values = list(zip(*rows, strict=True)) if rows else [()] * len(columns)
    return pd.DataFrame({name: list(column) for name, column in
                         zip(columns, values, strict=True)}, columns=columns)


def _when(epoch: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(epoch, dt.UTC)


async def customer_ids(conn: AsyncConnection) -> np.ndarray:
    """Every customer's id, ascending."""
    parts: list[np.ndarray] = []
    result = await conn.stream(select(Customer.id).order_by(Customer.id))
    async for rows in result.partitions(CHUNK_ROWS):
        parts.append(np.fromiter((row[0] for row in rows), dtype=np.int64, count=len(rows)))
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)


async def order_totals(conn: AsyncConnection, as_of: dt.datetime,
                       settings: AnalyticsSettings | None = None,
                       chunk_rows: int = CHUNK_ROWS) -> pd.DataFrame:
    """Per customer with an order in the window: frequency, recent_orders, monetary,
    last_order_at (epoch s), as :meth:`OrderTotals.frame` gives them, from the database."""
    settings = settings or AnalyticsSettings()
    start, recent_start, end = settings.bounds(as_of)
    if conn.dialect.name == "postgresql":
        return await _grouped_in_database(conn, _when(start), _when(recent_start), _when(end),
                                          chunk_rows)
    totals = OrderTotals(await customer_ids(conn), as_of, settings)
    after = 0
    while True:
        rows = (await conn.execute(
            select(Order.id, Order.customer_id, type_coerce(Order.ordered_at, String),
                   type_coerce(Order.amount, Float))
            .where(Order.id > after, Order.ordered_at >= _when(start),
                   Order.ordered_at < _when(end))
            .order_by(Order.id).limit(chunk_rows))).all()
        if not rows:
            break
        frame = _frame(rows, ["id", "customer_id", "ordered_at", "amount"])
        totals.add({"customer_id": frame["customer_id"].to_numpy(np.int64),
                    "ordered_at": epoch_seconds(frame["ordered_at"]),
                    "amount": frame["amount"].to_numpy(np.float64)})
        after = int(frame["id"].iloc[-1])
    return totals.frame()


async def _grouped_in_database(conn: AsyncConnection, start: dt.datetime,
                               recent_start: dt.datetime, end: dt.datetime,
                               chunk_rows: int) -> pd.DataFrame:
    statement = (
        select(Order.customer_id,
               func.count().label("frequency"),
               func.count().filter(Order.ordered_at >= recent_start).label("recent_orders"),
               type_coerce(func.sum(Order.amount), Float).label("monetary"),
               func.max(Order.ordered_at).label("last_order_at"))
        .where(Order.ordered_at >= start, Order.ordered_at < end)
        .group_by(Order.customer_id))
    parts = []
    result = await conn.stream(statement)
    async for rows in result.partitions(chunk_rows):
        parts.append(_frame(rows, ["customer_id", "frequency", "recent_orders",
                                                 "monetary", "last_order_at"]))
    if not parts:
        return OrderTotals([], end).frame()
    frame = pd.concat(parts, ignore_index=True)
    frame["last_order_at"] = epoch_seconds(frame["last_order_at"])
    frame["monetary"] = frame["monetary"].astype(np.float64).round(2)
    for name in ("frequency", "recent_orders"):
        frame[name] = frame[name].astype(np.int64)
    return frame.set_index("customer_id").sort_index()


async def complaints_frame(conn: AsyncConnection, since: dt.datetime | None = None,
                           until: dt.datetime | None = None) -> pd.DataFrame:
    """Complaints opened in ``[since, until)`` (all when None): id, customer_id, status,
    category, department, ``opened_at``, ``closed_at`` and ``deadline_at`` as aware
    datetimes, ``opened_epoch``."""
    statement = select(Complaint.id, Complaint.customer_id, Complaint.status,
                       Complaint.category, Complaint.department, Complaint.opened_at,
                       Complaint.closed_at, Complaint.deadline_at)
    if since is not None:
        statement = statement.where(Complaint.opened_at >= since)
    if until is not None:
        statement = statement.where(Complaint.opened_at < until)
    rows = (await conn.execute(statement.order_by(Complaint.id))).all()
    frame = _frame(rows, ["id", "customer_id", "status", "category",
                                        "department", "opened_at", "closed_at",
                                        "deadline_at"])
    frame["opened_epoch"] = epoch_seconds(frame["opened_at"])
    return frame


def complaints_for_churn(frame: pd.DataFrame) -> pd.DataFrame:
    """The columns :func:`~crm_bridge.analytics.customers.complaint_counts` reads."""
    return pd.DataFrame({"customer_id": frame["customer_id"].astype(np.int64),
                         "opened_at": frame["opened_epoch"], "status": frame["status"]})


async def ratings_frame(conn: AsyncConnection, since: dt.datetime,
                        until: dt.datetime) -> pd.DataFrame:
    """Survey ratings given in ``[since, until)`` with the rated call's agent, queue and
    disposition: customer_id, score, rated_at (aware), rated_epoch, agent, queue,
    disposition."""
    rating, call = SatisfactionRating, Interaction
    rows = (await conn.execute(
        select(rating.customer_id, rating.score, rating.rated_at, call.agent, call.queue,
               call.disposition)
        .outerjoin(call, call.id == rating.interaction_id)
        .where(rating.rated_at >= since, rating.rated_at < until)
        .order_by(rating.id))).all()
    frame = _frame(rows, ["customer_id", "score", "rated_at", "agent", "queue",
                                        "disposition"])
    frame["rated_epoch"] = epoch_seconds(frame["rated_at"])
    return frame


def ratings_for_churn(frame: pd.DataFrame) -> pd.DataFrame:
    """The columns :func:`~crm_bridge.analytics.customers.rating_means` reads."""
    return pd.DataFrame({"customer_id": frame["customer_id"].astype(np.int64),
                         "rated_at": frame["rated_epoch"],
                         "score": frame["score"].astype(np.float64)})


async def interactions_frame(conn: AsyncConnection, since: dt.datetime,
                             until: dt.datetime) -> pd.DataFrame:
    """Interactions started in ``[since, until)``: what AHT and campaign results need."""
    columns = ("id", "direction", "queue", "agent", "campaign", "disposition", "started_at",
               "answered_at", "talk_started_at", "talk_ended_at")
    table: Any = Interaction.__table__
    rows = (await conn.execute(
        select(*(table.c[name] for name in columns))
        .where(table.c.started_at >= since, table.c.started_at < until)
        .order_by(table.c.id))).all()
    return _frame(rows, list(columns))
