"""The card's value tier and churn warning (stored by analytics) and card shaping: pure."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

import pytest

from crm_bridge import cards
from crm_bridge.cards import TIERS, churn_json, rfm_json, stored_tier

pytestmark = pytest.mark.unit


def test_the_card_shows_the_stored_pyramid_tier() -> None:
    assert TIERS == ("vip", "major", "ordinary", "small", "none")
    for tier in TIERS:
        assert stored_tier(tier) == tier
    assert stored_tier(None) == "none"  # not computed yet (no refresh since the customer came)
    with pytest.raises(ValueError, match="platinum"):
        stored_tier("platinum")


def test_churn_and_rfm_on_the_card() -> None:
    when = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)
    reasons = [{"code": "complaints", "text": "2 complaints in the last 90 days (1 open)"}]
    assert churn_json(True, json.dumps(reasons), when) == {
        "at_risk": True, "reasons": reasons, "as_of": "2026-06-01T00:00:00Z"}
    assert churn_json(None, None, None) == {"at_risk": False, "reasons": [], "as_of": None}
    assert rfm_json({"segment": "loyal", "r_score": 3, "f_score": 4, "m_score": 2}) == {
        "r": 3, "f": 4, "m": 2, "segment": "loyal"}
    assert rfm_json({"segment": None}) is None


def test_full_card_is_json_ready() -> None:
    now = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)
    customer = {"id": 7, "customer_code": "10000007", "name": "王伟", "company": "Acme",
                "region": "上海", "title": None, "email": None, "address": None,
                "industry": None, "birthday": dt.date(1990, 5, 1), "consent": 1,
                "do_not_call": 0}
    order = {"id": 3, "product": "Headset", "amount": Decimal("80.5"), "currency": "USD",
             "ordered_at": dt.datetime(2026, 2, 1, tzinfo=dt.UTC)}
    card = cards.full_card(
        customer, phones=["+8613800138000"], tags=["vip"], total_12m=Decimal("80.5"),
        orders_12m=1, recent_orders=[order], recent_interactions=[], open_complaints=[],
        rating_average=None, rating_count=0, since=now - cards.TIER_WINDOW,
    )
    assert card["customer_id"] == 7 and card["value_tier"] == "none"  # no stored row
    assert card["churn"] == {"at_risk": False, "reasons": [], "as_of": None}
    assert card["rfm"] is None
    stored = cards.full_card(
        {**customer, "a_value_tier": "major", "a_churn_risk": True, "a_segment": "at_risk",
         "a_churn_reasons": '[{"code": "falling_frequency", "text": "orders fell"}]',
         "a_computed_at": now, "a_r_score": 2, "a_f_score": 4, "a_m_score": 4},
        phones=[], tags=[], total_12m=0, orders_12m=0, recent_orders=[],
        recent_interactions=[], open_complaints=[], rating_average=None, rating_count=0,
        since=now - cards.TIER_WINDOW)
    assert stored["value_tier"] == "major"
    assert stored["churn"]["at_risk"] is True
    assert stored["churn"]["reasons"] == [{"code": "falling_frequency", "text": "orders fell"}]
    assert stored["rfm"] == {"r": 2, "f": 4, "m": 4, "segment": "at_risk"}
    assert card["recent_orders"] == [{"order_id": 3, "product": "Headset", "amount": "80.50",
                                      "currency": "USD", "ordered_at": "2026-02-01T00:00:00Z"}]
    assert card["birthday"] == "1990-05-01" and card["consent"] is True
    assert card["value_12m"] == {"total": "80.50", "orders": 1,
                                 "since": "2025-03-01T12:00:00Z"}
    assert card["satisfaction"] == {"average": None, "count": 0}
    assert cards.iso(dt.datetime(2026, 1, 1, 8, tzinfo=dt.timezone(dt.timedelta(hours=8)))) \
        == "2026-01-01T00:00:00Z"
