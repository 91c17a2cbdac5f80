"""Phone normalisation (E.164), phone-vs-code detection, and the synthetic numbers' validity."""

from __future__ import annotations

import datetime as dt

import phonenumbers
import pytest

from crm_bridge.phones import InvalidNumber, check_region, looks_like_phone, normalise
from crm_bridge.synth import SyntheticCrm

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("raw", "region", "e164"),
    [
        ("+86 138-0013-8000", "US", "+8613800138000"),
        ("(415) 555-0132", "US", "+14155550132"),
        ("0044 20 7946 0958", "US", "+442079460958"),
        ("0044 20 7946 0958", "CN", "+442079460958"),
        ("0044 20 7946 0958", "DE", "+442079460958"),
        ("13800138000", "CN", "+8613800138000"),
        ("011 44 20 7946 0958", "US", "+442079460958"),  # the region's own IDD
        ("020 7946 0958", "GB", "+442079460958"),
        ("+8613800138000", "GB", "+8613800138000"),
        ("  415.555.0132  ", "us", "+14155550132"),  # region is case-insensitive
        ("\uff11\uff13\uff18 \uff10\uff10\uff11\uff13 \uff18\uff10\uff10\uff10", "CN",
         "+8613800138000"),  # full-width digits, as typed with a Chinese input method
    ],
)
def test_normalise_human_formats(raw: str, region: str, e164: str) -> None:
    assert normalise(raw, region) == e164


@pytest.mark.parametrize(
    ("raw", "region", "reason"),
    [
        ("", "US", "empty"),
        ("   ", "US", "empty"),
        ("+1 555", "US", "too short"),
        ("13800138000", "US", "not a valid number"),  # a Chinese mobile read as American
        ("hello", "US", "not a phone number"),
        ("+999 1234 5678", "US", "unknown country code"),
        ("1" * 65, "US", "longer than 64"),
        ("+1 415 555 0132 0132 0132", "US", "too long"),
        ("'; DROP TABLE phones; --", "US", "not a phone number"),
    ],
)
def test_bad_numbers_raise_with_a_reason(raw: str, region: str, reason: str) -> None:
    with pytest.raises(InvalidNumber) as caught:
        normalise(raw, region)
    assert reason in caught.value.reason
    assert isinstance(caught.value, ValueError)


def test_unknown_default_region_is_a_config_error_not_a_bad_number() -> None:
    with pytest.raises(ValueError, match="unknown region") as caught:
        normalise("(415) 555-0132", "XX")
    assert not isinstance(caught.value, InvalidNumber)
    assert check_region(" gb ") == "GB"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("+86 138-0013-8000", True),
        ("(415) 555-0132", True),
        ("0044 20 7946 0958", True),
        ("13800138000", True),
        ("4711", False),  # too few digits: a short code, an extension
        ("C-10023", False),
        ("VIP42", False),
        ("", False),
        ("'; DROP TABLE customers; --", False),
        ("1' OR '1'='1", False),
        ("9" * 80, False),
    ],
)
def test_looks_like_phone(text: str, expected: bool) -> None:
    assert looks_like_phone(text) is expected


def test_every_synthetic_number_is_valid_and_its_raw_form_reads_back() -> None:
    """The seed promises numbers valid for phonenumbers; the raw text must mean the same."""
    crm = SyntheticCrm(seed=7, orders_per_customer_mean=0,
                       anchor=dt.datetime(2026, 1, 1, tzinfo=dt.UTC), tag_ids={})
    phones = crm.batch(3000)["phones"]
    assert len(phones) > 3000  # some customers have two numbers
    regions = set()
    for phone in phones:
        number = phonenumbers.parse(phone["e164"], None)
        assert phonenumbers.is_valid_number(number), phone
        region = phonenumbers.region_code_for_number(number)
        regions.add(region)
        assert normalise(phone["raw"], region) == phone["e164"], phone
    assert {"CN", "US", "GB", "DE", "AU"} <= regions
