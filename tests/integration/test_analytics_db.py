"""Customer analytics on REAL databases (SQLite file and PostgreSQL): the refresh stores what
the hand-computed dataset says, PostgreSQL aggregates in the database while SQLite reads in
chunks, cards and IVR priorities follow the stored tier, and the report renders as HTML and PDF
(also through ``callcenter report``)."""

from __future__ import annotations

import datetime as dt
import json
import re
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from callcenter.cli import cli
from callcenter.ivr import steps as s
from callcenter.ivr_media.crm import CrmEffects
from crm_bridge.analytics import sources
from crm_bridge.analytics.customers import AnalyticsSettings, OrderTotals
from crm_bridge.analytics.report import build_report, render_html, render_pdf
from crm_bridge.analytics.store import refresh
from crm_bridge.db import make_engine, session_factory, upgrade_database
from crm_bridge.lookup import build_card, lookup_card
from crm_bridge.models import (
    Complaint,
    Customer,
    CustomerAnalyticsRow,
    Interaction,
    Order,
    Phone,
    QueueLogRow,
    SatisfactionRating,
)

pytestmark = pytest.mark.integration

AS_OF = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)


def ago(days: float) -> dt.datetime:
    return AS_OF - dt.timedelta(days=days)


ORDERS = [  # (customer, days ago, amount): the unit tests' base, now in a database
    (1, 10, "100.00"), (1, 200, "50.00"), (2, 100, "30.00"), (3, 5, "500.00"),
    (3, 6, "10.00"), (3, 7, "10.00"), (5, 150, "20.00"), (6, 300, "5.00"),
    (6, 400, "999.00"),  # outside the window
    (4, 100, "10.00"), (4, 150, "10.00"), (4, 200, "10.00"), (4, 250, "10.00"),  # 4 earlier
]


async def fill(sessions: async_sessionmaker[AsyncSession]) -> None:
    async with sessions() as session, session.begin():
        for cid in range(1, 8):
            session.add(Customer(id=cid, customer_code=str(1000 + cid), name=f"Customer {cid}"))
        await session.flush()
        session.add(Phone(customer_id=4, e164="+14155550104", raw="415 555 0104"))
        await session.execute(insert(Order), [
            {"customer_id": c, "product": "p", "amount": Decimal(a), "ordered_at": ago(d)}
            for c, d, a in ORDERS])
        session.add_all([
            Complaint(customer_id=3, status="open", category="billing", summary="x",
                      opened_at=ago(10)),
            Complaint(customer_id=2, status="closed", category="delivery", summary="y",
                      opened_at=ago(20), closed_at=ago(19)),
        ])
        calls = [Interaction(id=i, call_id=f"c{i}", direction="inbound", queue="support",
                             agent="2001", disposition="resolved", started_at=ago(d),
                             answered_at=ago(d), talk_started_at=ago(d),
                             talk_ended_at=ago(d) + dt.timedelta(seconds=120))
                 for i, d in ((1, 200), (2, 10), (3, 2))]
        calls += [Interaction(id=10 + i, call_id=f"o{i}", direction="outbound",
                              campaign="renewals", started_at=ago(1),
                              answered_at=ago(1) if i < 2 else None,
                              talk_started_at=ago(1) if i == 0 else None,
                              talk_ended_at=ago(1) + dt.timedelta(seconds=60) if i == 0
                              else None, disposition="sale" if i == 0 else None)
                  for i in range(3)]
        session.add_all(calls)
        await session.flush()
        session.add_all([
            SatisfactionRating(customer_id=5, interaction_id=1, score=5, rated_at=ago(200)),
            SatisfactionRating(customer_id=5, interaction_id=2, score=2, rated_at=ago(10)),
            SatisfactionRating(customer_id=7, interaction_id=3, score=1, rated_at=ago(2)),
        ])
        start = ago(2)
        session.add_all([
            QueueLogRow(at=start, queue="support", call_id="c3", channel_id="ch3",
                        kind="enter"),
            QueueLogRow(at=start + dt.timedelta(seconds=12), queue="support", call_id="c3",
                        channel_id="ch3", kind="answer", agent="2001", wait_s=12.0),
            QueueLogRow(at=start + dt.timedelta(seconds=30), queue="support", call_id="c4",
                        channel_id="ch4", kind="enter"),
            QueueLogRow(at=start + dt.timedelta(seconds=90), queue="support", call_id="c4",
                        channel_id="ch4", kind="abandon", wait_s=60.0, detail="waiting"),
        ])


@pytest.fixture
async def filled(sessions: async_sessionmaker[AsyncSession]
                 ) -> async_sessionmaker[AsyncSession]:
    await fill(sessions)
    return sessions


async def stored(sessions: async_sessionmaker[AsyncSession]) -> dict[int, dict[str, Any]]:
    async with sessions() as session:
        rows = (await session.scalars(select(CustomerAnalyticsRow))).all()
    return {row.customer_id: {
        "tier": row.value_tier, "rfm": (row.r_score, row.f_score, row.m_score),
        "segment": row.segment, "monetary": row.monetary, "frequency": row.frequency,
        "risk": row.churn_risk,
        "reasons": [r["code"] for r in json.loads(row.churn_reasons or "[]")]}
        for row in rows}


async def test_refresh_stores_the_hand_computed_analytics(
        db_url: str, filled: async_sessionmaker[AsyncSession],
        monkeypatch: pytest.MonkeyPatch) -> None:
    engine = make_engine(db_url)
    added: list[int] = []
    original = OrderTotals.add

    def counting(self: OrderTotals, chunk: Any) -> None:
        added.append(len(chunk["customer_id"]))
        original(self, chunk)

    monkeypatch.setattr(OrderTotals, "add", counting)
    try:
        report = await refresh(engine, AS_OF)
        async with engine.connect() as conn:
            small_chunks = await sources.order_totals(conn, AS_OF, AnalyticsSettings(), 3)
    finally:
        await engine.dispose()
    if "postgresql" in db_url:
        assert added == []  # GROUP BY in the database: no order row came to Python
    else:
        # the window's 12 orders, in chunks (3 rows each in the second read)
        assert sum(added) == 12 + 12 and added[-4:] == [3, 3, 3, 3]
    assert small_chunks.loc[3, "frequency"] == 3
    rows = await stored(filled)
    # six buyers: last orders 10, 100, 5, 100, 150, 300 days ago (2 and 4 tie at rank 3.5),
    # 2, 1, 3, 4, 1, 1 orders, totals 150, 30, 520, 40, 20, 5; score = ceil(5 * rank / 6)
    assert rows[1] == {"tier": "ordinary", "rfm": (5, 4, 5), "segment": "champions",
                       "monetary": Decimal("150.00"), "frequency": 2, "risk": False,
                       "reasons": []}
    assert rows[3]["tier"] == "vip" and rows[3]["rfm"] == (5, 5, 5)  # the top 1 % of 6: 1
    assert rows[3]["reasons"] == ["complaints"]  # an open complaint 10 days ago
    assert rows[2]["rfm"] == (3, 2, 3) and rows[2]["reasons"] == ["complaints"]  # closed
    assert rows[4]["reasons"] == ["falling_frequency"]  # 4 earlier orders, none recent
    assert rows[5]["reasons"] == ["falling_satisfaction"]  # 5 -> 2
    assert rows[6]["monetary"] == Decimal("5.00")  # the 999.00 order is too old
    assert rows[7] == {"tier": "none", "rfm": (None, None, None), "segment": None,
                       "monetary": Decimal("0.00"), "frequency": 0, "risk": True,
                       "reasons": ["falling_satisfaction"]}  # one recent rating of 1
    # cut-offs for 6 buyers: ceil(0.06) = 1 vip, ceil(0.3) = 1 (no major), ceil(1.2) = 2
    assert report.tiers == {"vip": 1, "major": 0, "ordinary": 1, "small": 4, "none": 1}
    assert report.churn_risk == 5


async def test_the_card_and_the_ivr_follow_the_stored_tier(
        db_url: str, filled: async_sessionmaker[AsyncSession]) -> None:
    engine = make_engine(db_url)
    try:
        await refresh(engine, AS_OF)
    finally:
        await engine.dispose()
    async with filled() as session:
        card = await build_card(session, 4, now=AS_OF)
    assert card["value_tier"] == "small"
    assert card["churn"]["at_risk"] is True
    assert card["churn"]["reasons"] == [{"code": "falling_frequency",
                                         "params": {"expected": 1.3, "recent": 0, "days": 90},
                                         "text": "orders fell from 1.3 to 0 per 90 days"}]

    async def lookup(text: str) -> dict[str, Any]:
        async with filled() as session:
            return await lookup_card(session, text, "US", now=AS_OF)

    found = await CrmEffects(filled, lookup).lookup(s.Lookup("customer", "number",
                                                              "+14155550104"))
    assert found is not None
    # a small customer gets no head start of its own, but its churn warning adds 3
    assert (found["tier"], found["churn_risk"], found["priority"]) == ("small", "yes", "3")


async def test_the_report_renders_html_and_pdf(
        db_url: str, filled: async_sessionmaker[AsyncSession]) -> None:
    engine = make_engine(db_url)
    try:
        built = await build_report(engine, ago(30), AS_OF, interval_s=3600)
    finally:
        await engine.dispose()
    summary = built.summary()
    assert summary["calls_offered"] == 2 and summary["service_level"] == 1.0 / 2
    assert summary["campaign_lines"] == 3 and summary["complaints"] == 2
    assert summary["ratings"] == 2 and summary["csat"] == 0.0  # scores 2 and 1
    assert built.campaigns.loc["renewals", "connected"] == 1
    assert built.queue_totals.loc["support", "aht_s"] == 120.0
    html = render_html(built)
    for section in ("pyramid", "segments", "churn", "satisfaction", "complaints", "intervals",
                    "campaigns"):
        assert f'id="{section}"' in html
    assert html.count("<svg") >= 8 and "renewals" in html
    pdf = render_pdf(built)
    pages = re.findall(rb"/Type\s*/Page[^s]", pdf)
    assert pdf.startswith(b"%PDF") and len(pages) >= 13  # title + one per section


def test_callcenter_report_writes_both_formats(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'crm.db'}"

    async def prepare() -> None:
        await upgrade_database(url)
        engine = make_engine(url)
        try:
            await fill(session_factory(engine))
        finally:
            await engine.dispose()

    import asyncio

    asyncio.run(prepare())
    runner = CliRunner()
    refreshed = runner.invoke(cli, ["analytics", "refresh", "--db", url,
                                    "--as-of", "2026-06-01", "--json"])
    assert refreshed.exit_code == 0, refreshed.output
    assert json.loads(refreshed.output)["tiers"]["vip"] == 1
    for fmt in ("html", "pdf"):
        out = tmp_path / f"report.{fmt}"
        result = runner.invoke(cli, ["report", "--db", url, "--format", fmt, "--out", str(out),
                                     "--end", "2026-06-01", "--days", "7"])
        assert result.exit_code == 0, result.output
        assert out.stat().st_size > 10_000
    assert (tmp_path / "report.pdf").read_bytes().startswith(b"%PDF")
    assert "Call-center analytics" in (tmp_path / "report.html").read_text()
    refused = runner.invoke(cli, ["report", "--db", url, "--format", "pdf"])
    assert refused.exit_code != 0 and "--out" in refused.output
    bad = runner.invoke(cli, ["report", "--db", url, "--end", "yesterday"])
    assert bad.exit_code != 0 and "ISO 8601" in bad.output
