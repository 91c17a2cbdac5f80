"""Customer and center analytics against small datasets computed by hand (issue 14)."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pandas as pd
import pytest

from callcenter.acd.queueing import CHURN_PRIORITY, TIER_PRIORITY, routing_priority
from crm_bridge.analytics.customers import (
    AnalyticsSettings,
    PyramidShares,
    churn_reasons,
    churn_warnings,
    complaint_counts,
    customer_analytics,
    order_totals,
    quintile,
    rating_means,
    rfm_scores,
    segments,
    value_pyramid,
)
from crm_bridge.analytics.operations import (
    call_center_intervals,
    call_center_totals,
    campaign_results,
    combine_queues,
    complaint_statistics,
    satisfaction_summary,
    satisfaction_trend,
)
from crm_bridge.queue_log import QueueLogEntry

pytestmark = pytest.mark.unit

AS_OF = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)
END = int(AS_OF.timestamp())
DAY = 86_400


def days_ago(days: float) -> int:
    return END - int(days * DAY)


def orders(rows: list[tuple[int, float, float]]) -> pd.DataFrame:
    """(customer, days ago, amount) -> an order chunk."""
    return pd.DataFrame({"customer_id": [r[0] for r in rows],
                         "ordered_at": [days_ago(r[1]) for r in rows],
                         "amount": [r[2] for r in rows]})


# --- RFM ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(("values", "scores"), [
    ([10, 20, 30, 40, 50], [1, 2, 3, 4, 5]),
    ([50, 40, 30, 20, 10], [5, 4, 3, 2, 1]),
    (list(range(1, 11)), [1, 1, 2, 2, 3, 3, 4, 4, 5, 5]),
    # ties share the average rank: (1+2+3)/3 = 2 -> ceil(5*2/5) = 2
    ([1, 1, 1, 2, 3], [2, 2, 2, 4, 5]),
    ([7], [5]),  # one customer is the best of one
    ([3, 3], [4, 4]),  # average rank 1.5 of 2 -> ceil(3.75)
])
def test_quintile_scores_by_average_rank(values: list[int], scores: list[int]) -> None:
    assert quintile(pd.Series(values)).tolist() == scores


@pytest.mark.parametrize(("r", "f", "m", "segment"), [
    (5, 5, 5, "champions"), (4, 4, 3, "champions"),  # fm = (4 + 3 + 1) // 2 = 4
    (3, 3, 3, "loyal"), (5, 3, 2, "loyal"),  # fm = 3
    (5, 1, 1, "new"), (5, 2, 2, "new"),
    (4, 2, 2, "promising"), (3, 1, 2, "promising"),  # fm = 2
    (1, 5, 4, "cant_lose"), (1, 4, 3, "cant_lose"),  # fm = 4
    (2, 4, 4, "at_risk"), (1, 3, 3, "at_risk"), (2, 5, 5, "at_risk"),
    (2, 1, 2, "hibernating"), (2, 2, 1, "hibernating"),
    (1, 2, 2, "lost"), (1, 1, 1, "lost"),
])
def test_segment_rules(r: int, f: int, m: int, segment: str) -> None:
    found = segments(pd.Series([r]), pd.Series([f]), pd.Series([m]))
    assert found.tolist() == [segment]


def test_order_totals_over_chunks_and_the_window() -> None:
    data = orders([
        (1, 10, 100.0), (1, 200, 50.0),  # both in the window; one recent
        (2, 100, 30.0), (2, 400, 999.0),  # the second is outside the 365-day window
        (3, 5, 500.0), (3, 6, 10.0), (3, 7, 10.0),
        (9, 1, 1.0),  # not a customer we count for: ignored
        (4, -1, 5.0),  # after as_of: ignored
    ])
    # chunks split customer 3's orders: totals must not depend on where chunks end
    totals = order_totals([data.iloc[:5], data.iloc[5:]], [1, 2, 3, 4, 5], AS_OF)
    assert totals.index.tolist() == [1, 2, 3]
    assert totals["frequency"].tolist() == [2, 1, 3]
    assert totals["recent_orders"].tolist() == [1, 0, 3]
    assert totals["monetary"].tolist() == [150.0, 30.0, 520.0]
    assert totals["last_order_at"].tolist() == [days_ago(10), days_ago(100), days_ago(5)]
    sparse = order_totals([data], [3, 1, 1000, 2], AS_OF)  # not dense ids: hashed look-up
    pd.testing.assert_frame_equal(sparse, totals)


def test_rfm_of_a_hand_computed_base() -> None:
    totals = order_totals([orders([
        (1, 10, 100.0), (1, 200, 50.0), (2, 100, 30.0), (3, 5, 500.0), (3, 6, 10.0),
        (3, 7, 10.0), (5, 150, 20.0), (6, 300, 5.0)])], range(1, 7), AS_OF)
    scored = rfm_scores(totals, AS_OF)
    # last order days ago 10, 100, 5, 150, 300 -> recency ranks 4, 3, 5, 2, 1 of 5
    assert scored["recency_days"].tolist() == [10, 100, 5, 150, 300]
    assert scored["r_score"].tolist() == [4, 3, 5, 2, 1]
    # frequencies 2, 1, 3, 1, 1: the three 1s share rank 2 -> 2; 2 -> 4; 3 -> 5
    assert scored["f_score"].tolist() == [4, 2, 5, 2, 2]
    # totals 150, 30, 520, 20, 5 -> ranks 4, 3, 5, 2, 1
    assert scored["m_score"].tolist() == [4, 3, 5, 2, 1]
    assert scored["rfm"].tolist() == [444, 323, 555, 222, 121]
    assert scored["segment"].tolist() == ["champions", "loyal", "champions", "hibernating",
                                          "lost"]


# --- the value pyramid -------------------------------------------------------------------------


def test_pyramid_of_a_hundred_customers() -> None:
    monetary = pd.Series([float(100 - i) for i in range(100)] + [0.0, -20.0],
                         index=range(1, 103))
    tiers = value_pyramid(monetary)
    assert tiers.loc[1] == "vip"  # the top 1 % of 100: one customer
    assert set(tiers.loc[2:5]) == {"major"}  # the next 4 %
    assert set(tiers.loc[6:20]) == {"ordinary"}  # the next 15 %
    assert set(tiers.loc[21:100]) == {"small"}
    assert tiers.loc[101] == tiers.loc[102] == "none"  # nothing (net) bought
    assert tiers.value_counts()[["vip", "major", "ordinary", "small", "none"]].tolist() == [
        1, 4, 15, 80, 2]


def test_pyramid_ties_share_the_better_tier_and_small_bases_have_a_vip() -> None:
    tiers = value_pyramid(pd.Series([500.0, 500.0, 10.0, 9.0, 8.0]))
    # n = 5: cut-offs ceil(0.05) = 1, ceil(0.25) = 1, ceil(1.0) = 1; both 500s rank 1
    assert tiers.tolist() == ["vip", "vip", "small", "small", "small"]
    custom = value_pyramid(pd.Series([4.0, 3.0, 2.0, 1.0]),
                           PyramidShares(vip="0.25", major="0.5", ordinary="0.75"))
    assert custom.tolist() == ["vip", "major", "ordinary", "small"]
    with pytest.raises(ValueError):
        PyramidShares(vip="0.3", major="0.2")


# --- churn -------------------------------------------------------------------------------------


def churn_world() -> pd.DataFrame:
    ids = range(1, 8)
    totals = order_totals([orders([
        (1, 100, 10.0), (1, 150, 10.0), (1, 200, 10.0), (1, 300, 10.0),  # 4 earlier, 0 recent
        (2, 120, 10.0), (2, 250, 10.0), (2, 30, 10.0),  # 2 earlier, 1 recent: steady
        (3, 40, 10.0),
    ])], ids, AS_OF)
    complaints = pd.DataFrame({
        "customer_id": [3, 3, 4], "opened_at": [days_ago(10), days_ago(100), days_ago(20)],
        "status": ["open", "closed", "closed"]})
    ratings = pd.DataFrame({
        "customer_id": [5, 5, 5, 6, 6, 6, 7],
        "rated_at": [days_ago(200), days_ago(150), days_ago(10),
                     days_ago(200), days_ago(20), days_ago(10), days_ago(5)],
        "score": [5, 4, 3, 4, 3, 4, 2]})
    return customer_analytics(totals, complaints, ratings, AS_OF)


def test_churn_reasons_of_a_hand_computed_base() -> None:
    result = churn_world()
    reasons = {int(cid): churn_reasons(row) for cid, row in result.iterrows()
               if row["churn_risk"]}
    assert reasons == {
        # 4 orders in 275 days = 1.31 per 90 days; 0 recent < half of that
        1: [{"code": "falling_frequency", "params": {"expected": 1.3, "recent": 0, "days": 90},
             "text": "orders fell from 1.3 to 0 per 90 days"}],
        # the complaint 100 days ago is outside the recent period
        3: [{"code": "complaints", "params": {"count": 1, "open": 1, "days": 90},
             "text": "1 complaint in the last 90 days (1 open)"}],
        4: [{"code": "complaints", "params": {"count": 1, "open": 0, "days": 90},
             "text": "1 complaint in the last 90 days (0 open)"}],
        # earlier average 4.5, recent 3.0: a drop of 1.5 >= 1
        5: [{"code": "falling_satisfaction", "params": {"now": 3.0, "before": 4.5},
             "text": "satisfaction fell from 4.5 to 3.0 of 5"}],
        # only a recent rating, and it is low (<= 2)
        7: [{"code": "falling_satisfaction", "params": {"now": 2.0},
             "text": "satisfaction 2.0 of 5"}],
    }
    # customer 2: 2 earlier (0.65 per 90 days), 1 recent: not falling; customer 6: earlier
    # 4.0, recent 3.5: a drop of 0.5 only
    assert not result.loc[2, "churn_risk"] and not result.loc[6, "churn_risk"]
    assert result.loc[4, "value_tier"] == "none"  # no orders: not in the pyramid
    assert result.loc[1, "expected_orders"] == pytest.approx(4 * 90 / 275, abs=0.01)


def test_churn_settings_change_the_rules() -> None:
    strict = AnalyticsSettings(complaint_min=2, satisfaction_drop=0.5)
    counts = complaint_counts(pd.DataFrame({
        "customer_id": [3], "opened_at": [days_ago(10)], "status": ["open"]}), AS_OF, strict)
    means = rating_means(pd.DataFrame({"customer_id": [6, 6], "rated_at": [
        days_ago(200), days_ago(10)], "score": [4, 3.5]}), AS_OF, strict)
    flags = churn_warnings(pd.DataFrame(columns=["frequency", "recent_orders"]), counts,
                           means, strict)
    assert not flags.loc[3, "churn_risk"]  # one complaint is not two
    assert flags.loc[6, "falling_satisfaction_reason"]  # 0.5 >= 0.5
    with pytest.raises(ValueError):
        AnalyticsSettings(recent_days=400)


def test_tier_and_churn_give_the_routing_priority() -> None:
    assert routing_priority("vip") == TIER_PRIORITY["vip"] == 10
    assert routing_priority("major") == 5 and routing_priority("ordinary") == 2
    assert routing_priority("small") == routing_priority("none") == routing_priority(None) == 0
    assert routing_priority("small", at_risk=True) == CHURN_PRIORITY == 3
    assert routing_priority("vip", at_risk=True) == 13


# --- satisfaction, complaints, call-center and campaign results --------------------------------


def rated_calls() -> pd.DataFrame:
    at = pd.Timestamp("2026-05-04 10:00", tz="UTC")  # a Monday
    week = pd.Timedelta(days=7)
    return pd.DataFrame({
        "rated_at": [at, at, at + week, at + week, at + week],
        "score": [5, 3, 4, 2, 1],
        "agent": ["2001", "2002", "2001", "2002", None],
        "queue": ["sales", "support", "sales", "support", "support"],
        "disposition": ["sale", "resolved", "sale", None, "resolved"],
    })


def test_satisfaction_by_agent_queue_category_and_week() -> None:
    ratings = rated_calls()
    by_agent = satisfaction_summary(ratings, "agent")
    assert by_agent.loc["2001"].tolist() == [2, 4.5, 1.0]  # ratings, average, csat
    assert by_agent.loc["2002"].tolist() == [2, 2.5, 0.0]
    assert by_agent.loc["(none)"].tolist() == [1, 1.0, 0.0]
    by_queue = satisfaction_summary(ratings, "queue")
    assert by_queue.loc["support"].tolist() == [3, 2.0, 0.0]
    by_category = satisfaction_summary(ratings, "category")
    assert by_category.loc["sale", "csat"] == 1.0
    assert by_category.loc["resolved", "average"] == 2.0
    trend = satisfaction_trend(ratings)
    assert trend["ratings"].tolist() == [2, 3]
    assert trend["average"].tolist() == [4.0, round(7 / 3, 2)]
    assert trend["csat"].tolist() == [0.5, round(1 / 3, 3)]
    assert trend["period"].iloc[0] == pd.Timestamp("2026-05-04", tz="UTC")
    per_queue = satisfaction_trend(ratings, "queue")
    assert len(per_queue) == 4
    with pytest.raises(ValueError):
        satisfaction_summary(ratings, "region")


def test_complaint_statistics() -> None:
    opened = pd.Timestamp("2026-05-01 00:00", tz="UTC")
    hours = pd.Timedelta(hours=1)
    complaints = pd.DataFrame({
        "category": ["billing", "billing", "billing", "delivery", None],
        "department": ["finance", "finance", None, "logistics", None],
        "status": ["closed", "closed", "open", "closed", "in_progress"],
        "opened_at": [opened] * 5,
        "closed_at": [opened + 24 * hours, opened + 48 * hours, None, opened + 10 * hours,
                      None],
        # the second closed after its deadline, the third is still open past it, the last
        # has none
        "deadline_at": [opened + 36 * hours, opened + 36 * hours, opened + 36 * hours,
                        opened + 36 * hours, None],
    })
    as_of = dt.datetime(2026, 5, 3, tzinfo=dt.UTC)  # 48 h after opening
    stats = complaint_statistics(complaints, as_of=as_of)
    assert stats.index.tolist() == ["billing", "(none)", "delivery", "all"]  # most, then by name
    # total, open, closed, hours to resolve mean and median, past the deadline
    assert stats.loc["billing"].tolist() == [3, 1, 2, 36.0, 36.0, 2]
    assert stats.loc["delivery"].tolist() == [1, 0, 1, 10.0, 10.0, 0]
    assert stats.loc["(none)", "open"] == 1 and math.isnan(stats.loc["(none)",
                                                                     "resolve_hours_mean"])
    assert stats.loc["all"].tolist() == [5, 2, 3, round(82 / 3, 1), 24.0, 2]
    by_department = complaint_statistics(complaints, "department", as_of)
    assert by_department.index.tolist() == ["(none)", "finance", "logistics", "all"]
    assert by_department.loc["finance"].tolist() == [2, 0, 2, 36.0, 36.0, 1]
    assert by_department.loc["(none)"].tolist()[:3] == [2, 2, 0]
    early = complaint_statistics(complaints, as_of=dt.datetime(2026, 5, 1, 12, tzinfo=dt.UTC))
    assert early.loc["billing", "breached"] == 1  # the open one is not late yet
    with pytest.raises(ValueError):
        complaint_statistics(complaints, "severity")


def test_call_center_results_by_interval() -> None:
    start = dt.datetime(2026, 5, 4, 9, 0, tzinfo=dt.UTC)
    t0 = start.timestamp()
    log = [
        QueueLogEntry(t0, "support", "a", "a1", "enter"),
        QueueLogEntry(t0 + 10, "support", "a", "a1", "answer", agent="2001", wait_s=10.0),
        QueueLogEntry(t0 + 100, "support", "b", "b1", "enter"),
        QueueLogEntry(t0 + 160, "support", "b", "b1", "abandon", wait_s=60.0,
                      detail="waiting"),
        QueueLogEntry(t0 + 170, "support", "d", "d1", "enter"),
        QueueLogEntry(t0 + 175, "support", "d", "d1", "abandon", wait_s=5.0,
                      detail="waiting"),  # within 20 s: left out of the service level
        QueueLogEntry(t0 + 950, "support", "c", "c1", "enter"),
        QueueLogEntry(t0 + 980, "support", "c", "c1", "answer", agent="2002", wait_s=30.0),
    ]
    talks = pd.DataFrame({
        "queue": ["support", "support", "sales"],
        "talk_started_at": [start + dt.timedelta(seconds=20),
                            start + dt.timedelta(seconds=985), None],
        "talk_ended_at": [start + dt.timedelta(seconds=200),
                          start + dt.timedelta(seconds=1285), None],
    })
    frame = call_center_intervals(log, talks, start, start + dt.timedelta(minutes=30),
                                  wrap_up_s={"support": 10.0})
    first, second = frame.to_dict("records")
    assert first["start"] == pd.Timestamp(start)
    assert (first["offered"], first["answered"], first["abandoned"]) == (3, 1, 2)
    # within 20 s: 1 answered; judged: answered 1 + abandoned 2 - abandoned within 20 s 1
    assert first["service_level"] == 0.5
    assert first["asa_s"] == 10.0 and first["abandon_rate"] == round(2 / 3, 4)
    assert first["aht_s"] == 190.0  # 180 s talk + 10 s wrap-up
    assert (second["offered"], second["answered"], second["service_level"]) == (1, 1, 0.0)
    assert second["asa_s"] == 30.0 and second["aht_s"] == 310.0
    assert (first["answered_within"], first["abandoned_within"], first["handled"]) == (1, 1, 1)
    totals = call_center_totals(frame)
    # offered, answered, abandoned, SL = 1 within / (2 + 2 - 1), ASA, AHT, abandon rate, talks
    assert totals.loc["support"].tolist() == [4, 2, 2, round(1 / 3, 4), 20.0, 250.0, 0.5, 2]
    assert totals.loc["all"].tolist() == totals.loc["support"].tolist()
    together = combine_queues(frame)
    assert together["offered"].tolist() == [3, 1]
    assert together["service_level"].tolist() == [0.5, 0.0]


def test_campaign_results() -> None:
    t = pd.Timestamp("2026-05-04 10:00", tz="UTC")
    s = pd.Timedelta(seconds=1)
    interactions = pd.DataFrame({
        "direction": ["outbound"] * 5 + ["inbound"],
        "campaign": ["renewals"] * 4 + [None, "renewals"],
        "answered_at": [t, t, t, None, t, t],
        "talk_started_at": [t, t, None, None, t, t],
        "talk_ended_at": [t + 60 * s, t + 120 * s, None, None, t, t],
        "disposition": ["sale", "callback", None, None, "sale", "sale"],
    })
    results = campaign_results(interactions)
    assert results.index.tolist() == ["renewals"]
    assert results.loc["renewals"].tolist() == [4, 3, 2, 0.5, 1, 0.5, 90.0]
    assert campaign_results(interactions.iloc[0:0]).empty


def test_analytics_of_an_empty_base() -> None:
    empty = order_totals([], np.array([], dtype=np.int64), AS_OF)
    result = customer_analytics(
        empty, pd.DataFrame(columns=["customer_id", "opened_at", "status"]),
        pd.DataFrame(columns=["customer_id", "rated_at", "score"]), AS_OF)
    assert result.empty


def test_hostile_names_stay_text_in_charts_and_tables() -> None:
    from crm_bridge.analytics import charts
    from crm_bridge.analytics.report import _html_table

    hostile = '<script>alert(1)</script><img src=x onerror="x()">'
    table = pd.DataFrame({"ratings": [2], "average": [4.0], "csat": [0.5]},
                         index=pd.Index([hostile], name="agent"))
    for html in (charts.svg(charts.satisfaction_by(table, "agent")), _html_table(table)):
        assert "<script>" not in html and "<img" not in html
        assert "&lt;script&gt;" in html
