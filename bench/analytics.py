"""Customer analytics benchmark (issue 14): RFM, segments, value pyramid and churn flags for
1M customers and 10M orders, pandas (chunked) against DuckDB on the same files.

    nice python bench/analytics.py [--customers 1000000] [--orders 10000000] [--seed 14]
                                   [--chunk 1000000] [--cache DIR] [--json]

DuckDB is only the yardstick (``pip install 'callcenter[bench]'``); the server never uses it.

**Data**, generated once with numpy from ``--seed`` and cached as Parquet under
``$TMPDIR/callcenter-bench/analytics-<customers>-<orders>-<seed>/`` (a ``done.json`` marker is
written last): customers (ids 1..N), orders (customer drawn with log-normal weights, so some
buy often; 30 % of customers stop buying at a random time in the last two years; log-normal
amounts in cents; times over two years, epoch seconds; row groups of 1M rows), complaints
(5 % of N, opened over the last year) and survey ratings (2N over two years; one customer in
ten rates worse in the last 90 days).

**Measured**, each in a child process of its own (so peak memory is its own; imports are not
timed), in the same run:

- **pandas**: exactly what ``callcenter analytics refresh`` runs
  (``crm_bridge.analytics.customers``): :class:`OrderTotals` fed one Parquet batch at a time
  (``--chunk`` rows; never the whole order table), then ``customer_analytics`` (RFM scores,
  segments, pyramid tiers, churn flags with their reasons' numbers);
- **DuckDB**: the same computation in one SQL statement over the same Parquet files (same
  integer quintile formula, same pyramid cut-offs, same churn rules), with all its threads.

Printed: seconds of each and their ratio (target: pandas <= 20 s and <= 3x DuckDB), peak
resident memory of each child (``getrusage`` maxrss) next to the size the order table would
take as one DataFrame, and a check that both give the same segments, tiers and churn flags
(customers whose results differ; 0 expected, a cent-rounding tie aside).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import multiprocessing as mp
import os
import resource
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

AS_OF = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)
DAY = 86_400
ROW_GROUP = 1_000_000


def cache_dir(args: argparse.Namespace) -> Path:
    base = Path(args.cache) if args.cache else Path(tempfile.gettempdir()) / "callcenter-bench"
    return base / f"analytics-{args.customers}-{args.orders}-{args.seed}"


def generate(folder: Path, customers: int, orders: int, seed: int) -> None:
    """Write the synthetic Parquet files (deterministic for ``seed``)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    end = int(AS_OF.timestamp())
    start = end - 730 * DAY
    ids = np.arange(1, customers + 1, dtype=np.int64)
    pq.write_table(pa.table({"id": ids}), folder / "customers.parquet")
    weight = rng.lognormal(0.0, 1.0, customers)
    spend = rng.lognormal(0.0, 0.8, customers)
    stops = np.where(rng.random(customers) < 0.3,
                     start + rng.random(customers) * (end - start), end).astype(np.int64)
    cumulative = np.cumsum(weight / weight.sum())
    writer = pq.ParquetWriter(folder / "orders.parquet", pa.schema([
        ("customer_id", pa.int64()), ("ordered_at", pa.int64()), ("amount", pa.float64())]))
    try:
        for lo in range(0, orders, ROW_GROUP):
            size = min(ROW_GROUP, orders - lo)
            who = np.minimum(np.searchsorted(cumulative, rng.random(size)), customers - 1)
            when = start + (rng.random(size) * (stops[who] - start)).astype(np.int64)
            amount = np.round(rng.lognormal(4.0, 1.0, size) * spend[who], 2)
            writer.write_table(pa.table({"customer_id": ids[who], "ordered_at": when,
                                         "amount": amount}))
    finally:
        writer.close()
    complaints = customers // 20
    pq.write_table(pa.table({
        "customer_id": rng.integers(1, customers + 1, complaints),
        "opened_at": end - (rng.random(complaints) * 365 * DAY).astype(np.int64),
        "status": rng.choice(np.array(["open", "in_progress", "closed"]), complaints,
                             p=[0.3, 0.2, 0.5]),
    }), folder / "complaints.parquet")
    ratings = 2 * customers
    who = rng.integers(1, customers + 1, ratings)
    when = end - (rng.random(ratings) * 730 * DAY).astype(np.int64)
    souring = (who % 10 == 0) & (when >= end - 90 * DAY)
    score = np.clip(np.rint(rng.normal(4.0, 0.9, ratings) - 2.0 * souring), 1, 5)
    pq.write_table(pa.table({"customer_id": who, "rated_at": when,
                             "score": score.astype(np.int64)}), folder / "ratings.parquet")
    (folder / "done.json").write_text(json.dumps(
        {"customers": customers, "orders": orders, "seed": seed}))


def _rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_pandas(folder: str, chunk: int, out: Any) -> None:
    import pandas as pd
    import pyarrow.parquet as pq

    from crm_bridge.analytics.customers import OrderTotals, customer_analytics

    base = Path(folder)
    rss_before = _rss_mib()
    began = time.perf_counter()
    ids = pq.read_table(base / "customers.parquet", columns=["id"]).column(0).to_numpy()
    totals = OrderTotals(ids, AS_OF)
    for batch in pq.ParquetFile(base / "orders.parquet").iter_batches(batch_size=chunk):
        totals.add({name: batch.column(name).to_numpy() for name in batch.schema.names})
    read_s = time.perf_counter() - began
    complaints = pd.read_parquet(base / "complaints.parquet")
    ratings = pd.read_parquet(base / "ratings.parquet")
    result = customer_analytics(totals.frame(), complaints, ratings, AS_OF)
    seconds = time.perf_counter() - began
    out.put({"seconds": seconds, "orders_s": read_s, "rows_read": totals.rows_read,
             "rss_before_mib": rss_before, "peak_rss_mib": _rss_mib(),
             "summary": _summary(result), "table": _comparable(result)})


def run_duckdb(folder: str, out: Any) -> None:
    import duckdb

    from crm_bridge.analytics.customers import AnalyticsSettings

    settings = AnalyticsSettings()
    start, recent_start, end = settings.bounds(AS_OF)
    base = Path(folder)
    connection = duckdb.connect()
    rss_before = _rss_mib()
    began = time.perf_counter()
    # the pyramid's cut-offs, ceil(share * n) in integers, as pandas computes them
    shares = [Fraction(value) for value in (settings.pyramid.vip, settings.pyramid.major,
                                            settings.pyramid.ordinary)]
    cut = [f"(n_positive * {share.numerator} + {share.denominator - 1}) "
           f"// {share.denominator}" for share in shares]
    sql = DUCKDB_SQL.format(base=base, start=start, recent_start=recent_start, end=end,
                            vip=cut[0], major=cut[1], ordinary=cut[2],
                            recent_days=settings.recent_days,
                            earlier_days=settings.window_days - settings.recent_days,
                            complaint_min=settings.complaint_min,
                            earlier_min=settings.earlier_orders_min,
                            drop=settings.frequency_drop,
                            sat_drop=settings.satisfaction_drop,
                            sat_low=settings.satisfaction_low)
    result = connection.execute(sql).df()
    seconds = time.perf_counter() - began
    result = result.set_index("customer_id")
    out.put({"seconds": seconds, "rss_before_mib": rss_before, "peak_rss_mib": _rss_mib(),
             "summary": _summary(result), "table": _comparable(result)})


def _twice_rank(column: str) -> str:
    """2 x the average ascending rank of ``column`` (ties share the average): the first
    position of the ties plus their last, ``n + 1 - `` the first position in descending order
    (two plain sorts: DuckDB's ``count(*) OVER (PARTITION BY ...)`` over ~700k small
    partitions took several seconds)."""
    return (f"(rank() OVER (ORDER BY {column}) + n + 1 "
            f"- rank() OVER (ORDER BY {column} DESC))")


def _score(column: str) -> str:
    return (f"greatest(1, least(5, (5 * {_twice_rank(column)} + 2 * n - 1) // (2 * n)))")


DUCKDB_SQL = """
WITH totals AS MATERIALIZED (
  SELECT o.customer_id, count(*) AS frequency,
         count(*) FILTER (WHERE ordered_at >= {recent_start}) AS recent_orders,
         round(sum(amount), 2) AS monetary, max(ordered_at) AS last_order_at
  FROM read_parquet('{base}/orders.parquet') o
  SEMI JOIN read_parquet('{base}/customers.parquet') c ON c.id = o.customer_id
  WHERE ordered_at >= {start} AND ordered_at < {end}
  GROUP BY o.customer_id),
counted AS (SELECT *, count(*) OVER () AS n FROM totals),
scored AS (
  SELECT customer_id, frequency, recent_orders, monetary, last_order_at,
         """ + _score("last_order_at") + """ AS r_score,
         """ + _score("frequency") + """ AS f_score,
         """ + _score("monetary") + """ AS m_score
  FROM counted),
tiers AS (
  SELECT customer_id, rank() OVER (ORDER BY monetary DESC) AS value_rank,
         count(*) OVER () AS n_positive
  FROM totals WHERE monetary > 0),
complaints AS (
  SELECT customer_id, count(*) AS complaints,
         count(*) FILTER (WHERE status <> 'closed') AS complaints_open
  FROM read_parquet('{base}/complaints.parquet')
  WHERE opened_at >= {recent_start} AND opened_at < {end} GROUP BY customer_id),
ratings AS (
  SELECT customer_id,
         avg(score) FILTER (WHERE rated_at >= {recent_start}) AS rating_recent,
         avg(score) FILTER (WHERE rated_at < {recent_start}) AS rating_earlier
  FROM read_parquet('{base}/ratings.parquet')
  WHERE rated_at >= {start} AND rated_at < {end} GROUP BY customer_id),
everyone AS (
  SELECT customer_id FROM totals UNION SELECT customer_id FROM complaints
  UNION SELECT customer_id FROM ratings),
joined AS (
  SELECT e.customer_id, s.r_score, s.f_score, s.m_score,
         (s.f_score + s.m_score + 1) // 2 AS fm,
         CASE WHEN t.value_rank <= {vip} THEN 'vip' WHEN t.value_rank <= {major} THEN 'major'
              WHEN t.value_rank <= {ordinary} THEN 'ordinary'
              WHEN t.value_rank IS NOT NULL THEN 'small' ELSE 'none' END AS value_tier,
         coalesce(c.complaints, 0) >= {complaint_min} AS complaints_reason,
         (coalesce(s.frequency, 0) - coalesce(s.recent_orders, 0)) >= {earlier_min}
           AND coalesce(s.recent_orders, 0) < {drop} * ((coalesce(s.frequency, 0)
           - coalesce(s.recent_orders, 0)) * {recent_days} / {earlier_days})
           AS falling_frequency_reason,
         coalesce(CASE WHEN r.rating_earlier IS NOT NULL
                       THEN r.rating_recent <= r.rating_earlier - {sat_drop}
                       ELSE r.rating_recent <= {sat_low} END, false)
           AS falling_satisfaction_reason
  FROM everyone e LEFT JOIN scored s USING (customer_id) LEFT JOIN tiers t USING (customer_id)
  LEFT JOIN complaints c USING (customer_id) LEFT JOIN ratings r USING (customer_id))
SELECT customer_id, r_score, f_score, m_score, value_tier,
       CASE WHEN r_score IS NULL THEN NULL
            WHEN r_score >= 4 AND fm >= 4 THEN 'champions'
            WHEN r_score >= 3 AND fm >= 3 THEN 'loyal'
            WHEN r_score = 5 THEN 'new' WHEN r_score >= 3 THEN 'promising'
            WHEN r_score = 1 AND fm >= 4 THEN 'cant_lose'
            WHEN r_score <= 2 AND fm >= 3 THEN 'at_risk'
            WHEN r_score = 2 THEN 'hibernating' ELSE 'lost' END AS segment,
       complaints_reason OR falling_frequency_reason OR falling_satisfaction_reason
         AS churn_risk,
       complaints_reason, falling_frequency_reason, falling_satisfaction_reason
FROM joined
"""

COMPARED = ("r_score", "f_score", "m_score", "segment", "value_tier", "churn_risk",
            "complaints_reason", "falling_frequency_reason", "falling_satisfaction_reason")


def _comparable(result: Any) -> Any:
    """The compared columns as plain strings (one form whatever the engine), by id."""
    import pandas as pd

    def plain(value: Any) -> str:
        if value is None or pd.isna(value):  # None, NaN, NA
            return "-"
        if isinstance(value, bool | np.bool_):
            return str(bool(value))
        if isinstance(value, float | np.floating | np.integer):
            return str(int(value))
        return str(value)

    frame = result[list(COMPARED)].astype(object)
    return frame.map(plain).sort_index()


def _summary(result: Any) -> dict[str, Any]:
    return {
        "customers": len(result),
        "scored": int(result["r_score"].notna().sum()),
        "segments": {str(k): int(v) for k, v in
                     result["segment"].value_counts().sort_index().items()},
        "tiers": {str(k): int(v) for k, v in
                  result["value_tier"].value_counts().sort_index().items()},
        "churn_risk": int(result["churn_risk"].sum()),
        "reasons": {name: int(result[f"{name}_reason"].sum()) for name in
                    ("complaints", "falling_frequency", "falling_satisfaction")},
    }


def _child(target: Any, *args: Any) -> dict[str, Any]:
    context = mp.get_context("spawn")
    out = context.Queue()
    process = context.Process(target=target, args=(*args, out))
    process.start()
    found: dict[str, Any] = out.get()
    process.join()
    if process.exitcode:
        raise SystemExit(f"{target.__name__} failed ({process.exitcode})")
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--orders", type=int, default=10_000_000)
    parser.add_argument("--seed", type=int, default=14)
    parser.add_argument("--chunk", type=int, default=1_000_000,
                        help="orders per chunk read (default 1M)")
    parser.add_argument("--cache", default=None, help="cache folder (default: under $TMPDIR)")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    args = parser.parse_args(argv)
    folder = cache_dir(args)
    if not (folder / "done.json").exists():
        began = time.perf_counter()
        generate(folder, args.customers, args.orders, args.seed)
        print(f"generated {folder} in {time.perf_counter() - began:.1f} s", file=sys.stderr)
    pandas_run = _child(run_pandas, str(folder), args.chunk)
    duck_run = _child(run_duckdb, str(folder))
    differ = _differences(pandas_run, duck_run)
    whole_table_mib = args.orders * 3 * 8 / 2**20
    results = {
        "customers": args.customers, "orders": args.orders, "seed": args.seed,
        "chunk_rows": args.chunk, "cpus": os.cpu_count(),
        "pandas_s": round(pandas_run["seconds"], 2),
        "pandas_orders_s": round(pandas_run["orders_s"], 2),
        "duckdb_s": round(duck_run["seconds"], 2),
        "ratio": round(pandas_run["seconds"] / duck_run["seconds"], 2),
        "pandas_peak_rss_mib": round(pandas_run["peak_rss_mib"]),
        "pandas_rss_before_mib": round(pandas_run["rss_before_mib"]),
        "duckdb_peak_rss_mib": round(duck_run["peak_rss_mib"]),
        "order_table_as_one_frame_mib": round(whole_table_mib),
        "rows_read": pandas_run["rows_read"],
        "customers_differing": differ,
        "summary": pandas_run["summary"],
        "duckdb_summary_equal": pandas_run["summary"] == duck_run["summary"],
    }
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        summary = results["summary"]
        print(f"{args.customers:,} customers, {args.orders:,} orders, chunks of "
              f"{args.chunk:,}, {os.cpu_count()} CPUs")
        print(f"pandas (chunked)  {results['pandas_s']:7.2f} s  (orders read and counted in "
              f"{results['pandas_orders_s']:.2f} s)  peak RSS {results['pandas_peak_rss_mib']}"
              f" MiB (after imports {results['pandas_rss_before_mib']} MiB)")
        print(f"DuckDB            {results['duckdb_s']:7.2f} s  peak RSS "
              f"{results['duckdb_peak_rss_mib']} MiB")
        print(f"ratio pandas/DuckDB {results['ratio']:.2f} (target <= 3); pandas target "
              f"<= 20 s; the order table as one DataFrame would be "
              f"{results['order_table_as_one_frame_mib']} MiB of values alone")
        print(f"customers {summary['customers']:,}, scored {summary['scored']:,}, at risk "
              f"{summary['churn_risk']:,} {summary['reasons']}")
        print(f"segments {summary['segments']}")
        print(f"tiers {summary['tiers']}")
        print(f"customers whose results differ between pandas and DuckDB: {differ}")
    return 0


def _differences(pandas_run: dict[str, Any], duck_run: dict[str, Any]) -> int:
    left, right = pandas_run.pop("table"), duck_run.pop("table")
    if not left.index.equals(right.index):
        return len(left.index.symmetric_difference(right.index))
    return int((left != right).any(axis=1).sum())


if __name__ == "__main__":
    sys.exit(main())
