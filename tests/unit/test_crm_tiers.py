"""Value tiers and card shaping: pure functions, documented thresholds."""

from __future__ import annotations

import datetime as dt
import itertools
from decimal import Decimal

import pytest

from crm_bridge import cards
from crm_bridge.cards import FREQUENT_BUYER_ORDERS, TIERS, value_tier

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("total", "count", "tier"),
    [
        (0, 0, "none"),
        (Decimal("0.01"), 1, "bronze"),
        (Decimal("1999.99"), 3, "bronze"),
        (Decimal("2000"), 3, "silver"),
        (Decimal("9999.99"), 11, "silver"),
        (Decimal("10000.00"), 1, "gold"),
        (Decimal("49999.99"), 40, "gold"),  # frequency never makes platinum
        (Decimal("50000"), 1, "platinum"),
        ("123456.78", 2, "platinum"),
        (Decimal("-50.00"), 2, "bronze"),  # refunds exceeding purchases: still a customer
        (Decimal("100"), FREQUENT_BUYER_ORDERS, "silver"),  # frequent small buyer: lifted
        (Decimal("2500"), FREQUENT_BUYER_ORDERS, "gold"),
        (Decimal("2500"), FREQUENT_BUYER_ORDERS - 1, "silver"),
    ],
)
def test_value_tier_thresholds(total: object, count: int, tier: str) -> None:
    assert value_tier(total, count) == tier  # type: ignore[arg-type]


def test_value_tier_is_monotonic_in_money() -> None:
    rank = {name: index for index, name in enumerate(reversed(TIERS))}
    for count in (1, 5, FREQUENT_BUYER_ORDERS, 50):
        tiers = [value_tier(Decimal(total), count) for total in range(0, 120_000, 250)]
        assert all(rank[a] <= rank[b] for a, b in itertools.pairwise(tiers))


@pytest.mark.parametrize(("total", "count"), [(0, -1), (Decimal("10"), 0), ("nan", 1),
                                              (Decimal("Infinity"), 3)])
def test_inconsistent_input_is_an_error(total: object, count: int) -> None:
    with pytest.raises(ValueError):
        value_tier(total, count)  # type: ignore[arg-type]


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
    assert card["customer_id"] == 7 and card["value_tier"] == "bronze"
    assert card["recent_orders"] == [{"order_id": 3, "product": "Headset", "amount": "80.50",
                                      "currency": "USD", "ordered_at": "2026-02-01T00:00:00Z"}]
    assert card["birthday"] == "1990-05-01" and card["consent"] is True
    assert card["value_12m"] == {"total": "80.50", "orders": 1,
                                 "since": "2025-03-01T12:00:00Z"}
    assert card["satisfaction"] == {"average": None, "count": 0}
    assert cards.iso(dt.datetime(2026, 1, 1, 8, tzinfo=dt.timezone(dt.timedelta(hours=8)))) \
        == "2026-01-01T00:00:00Z"
