"""Fill a CRM database with synthetic data (:mod:`crm_bridge.synth`), fast enough for 1M customers.

Why Core and batches: ORM objects cost roughly ten times more per row than ``insert()`` with a
list of dicts (executemany), and one transaction per batch of customers (10k by default, with
their phones, orders, interactions ...) keeps memory flat and commits whole customers only — an
interrupted seed leaves complete batches, never a customer without phones.

Primary keys are assigned here (continuing after the rows already present), so children can
reference parents without a round trip; on PostgreSQL the id sequences are moved past them at
the end so later inserts do not collide.
"""

from __future__ import annotations

import datetime as dt
import sys
import time
from dataclasses import dataclass, field

from sqlalchemy import Table, func, insert, select, text
from sqlalchemy.ext.asyncio import AsyncConnection
from tqdm import tqdm

from crm_bridge.db import make_engine, upgrade_database
from crm_bridge.models import Base, Tag
from crm_bridge.synth import TABLES, NextIds, SyntheticCrm

DEFAULT_BATCH = 10_000
TAGS = ("vip", "wholesale", "reseller", "newsletter", "prefers-email", "prefers-chinese",
        "prefers-english", "late-payer", "key-account", "partner")


@dataclass
class SeedReport:
    """Rows written per table and the wall time (seconds)."""

    rows: dict[str, int] = field(default_factory=lambda: dict.fromkeys(TABLES, 0))
    seconds: float = 0.0

    def to_dict(self) -> dict[str, object]:
        return {"rows": dict(self.rows), "seconds": round(self.seconds, 2)}


async def _next_ids(conn: AsyncConnection) -> NextIds:
    ids = NextIds()
    for name in TABLES:
        table = Base.metadata.tables[name]
        if "id" in table.c:
            ids.ids[name] = (await conn.scalar(select(func.max(table.c.id))) or 0) + 1
    return ids


async def _tag_ids(conn: AsyncConnection) -> dict[str, int]:
    existing = set(await conn.scalars(select(Tag.name)))
    missing = [{"name": name} for name in TAGS if name not in existing]
    if missing:
        await conn.execute(insert(Tag), missing)
    rows = await conn.execute(select(Tag.name, Tag.id).where(Tag.name.in_(TAGS)))
    return {name: tag_id for name, tag_id in rows}


async def _advance_sequences(conn: AsyncConnection) -> None:
    """PostgreSQL: identity/serial sequences do not see explicit ids; move them past max(id)."""
    for name in ("tags", *TABLES):
        table: Table = Base.metadata.tables[name]
        if "id" not in table.c:
            continue
        await conn.execute(text(
            f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), "  # names are ours, not input
            f"COALESCE((SELECT MAX(id) FROM {name}), 0) + 1, false)"
        ))


async def seed(
    url: str,
    customers: int,
    orders_per_customer_mean: float = 10,
    seed: int = 0,
    progress: bool = True,
    *,
    batch_size: int = DEFAULT_BATCH,
    anchor: dt.datetime | None = None,
) -> SeedReport:
    """Add ``customers`` synthetic customers (with their orders etc.) to the database at ``url``.

    Upgrades the schema first. Deterministic for a given ``seed`` and ``anchor`` (the "now" of
    the generated history; default: the current time). ``progress`` draws a bar on stderr.
    """
    if customers < 0:
        raise ValueError("customers must be >= 0")
    if batch_size < 1:
        raise ValueError("batch_size must be >= 1")
    began = time.perf_counter()
    await upgrade_database(url)
    engine = make_engine(url)
    report = SeedReport()
    try:
        async with engine.begin() as conn:
            next_ids = await _next_ids(conn)
            tag_ids = await _tag_ids(conn)
        synthetic = SyntheticCrm(seed, orders_per_customer_mean,
                                 anchor or dt.datetime.now(dt.UTC), tag_ids, next_ids)
        with tqdm(total=customers, unit=" customers", disable=not progress, file=sys.stderr,
                  desc="seeding", smoothing=0.1) as bar:
            done = 0
            while done < customers:
                count = min(batch_size, customers - done)
                rows = synthetic.batch(count)
                async with engine.begin() as conn:
                    for name in TABLES:  # parents before children
                        if rows[name]:
                            await conn.execute(insert(Base.metadata.tables[name]), rows[name])
                            report.rows[name] += len(rows[name])
                done += count
                bar.update(count)
        if engine.dialect.name == "postgresql":
            async with engine.begin() as conn:
                await _advance_sequences(conn)
    finally:
        await engine.dispose()
    report.seconds = time.perf_counter() - began
    return report
