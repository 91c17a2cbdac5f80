"""Phone numbers as people write them -> E.164, the one form the database stores and searches.

Why one form: a caller id arrives as ``+8613800138000`` from one trunk and ``013800138000`` from
another, and an agent types ``138-0013-8000``. Normalising on the way in (import, seed, REST) and
on the way out (lookup) makes "find the customer by number" an exact, indexed string match.

Numbers without a country code are read in ``default_region`` (``CALLCENTER_CRM_DEFAULT_REGION``).
A leading ``00`` is the international (IDD) prefix of most of the world, so ``0044 20 7946 0958``
is London whatever the default region is; the region's own IDD (``011`` in North America) works
too. Only numbers that ``phonenumbers`` considers *valid* are accepted: a possible-but-unassigned
number stored today would never match a real caller id later.
"""

from __future__ import annotations

import re

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberType, ValidationResult

MAX_INPUT_CHARS = 64
"""Longer input is refused before parsing: no phone number needs it, and it bounds the work."""

_PHONE_CHARS = re.compile(r"^\+?[\d\s().\-/]+$")
_DIGITS = re.compile(r"\d")
MIN_PHONE_DIGITS = 6  # shorter digit strings are extensions, PINs or customer codes

_PARSE_REASONS = {
    NumberParseException.INVALID_COUNTRY_CODE: "unknown country code",
    NumberParseException.NOT_A_NUMBER: "not a phone number",
    NumberParseException.TOO_SHORT_AFTER_IDD: "too short after the international prefix",
    NumberParseException.TOO_SHORT_NSN: "too short",
    NumberParseException.TOO_LONG: "too long",
}
_POSSIBLE_REASONS = {
    ValidationResult.INVALID_COUNTRY_CODE: "unknown country code",
    ValidationResult.TOO_SHORT: "too short",
    ValidationResult.TOO_LONG: "too long",
    ValidationResult.INVALID_LENGTH: "wrong length for its country",
    ValidationResult.IS_POSSIBLE_LOCAL_ONLY: "local number only: the area code is missing",
}


class InvalidNumber(ValueError):
    """``raw`` cannot be read as a valid phone number; ``reason`` says why, for reports and 4xx."""

    def __init__(self, raw: str, reason: str) -> None:
        self.raw = raw
        self.reason = reason
        super().__init__(f"{raw[:MAX_INPUT_CHARS]!r}: {reason}")


def check_region(region: str) -> str:
    """``region`` upper-cased if ``phonenumbers`` knows it (ISO 3166 alpha-2), else ValueError.

    A bad default region is a configuration error, not a bad number, so it is not InvalidNumber.
    """
    code = (region or "").strip().upper()
    if code not in phonenumbers.SUPPORTED_REGIONS:
        raise ValueError(f"unknown region {region!r}: use an ISO 3166 code such as US, CN, GB")
    return code


def parse(raw: str, default_region: str) -> phonenumbers.PhoneNumber:
    """The parsed, *valid* number (see :func:`normalise`); InvalidNumber otherwise."""
    region = check_region(default_region)
    text = (raw or "").strip()
    if not text:
        raise InvalidNumber(raw or "", "empty")
    if len(text) > MAX_INPUT_CHARS:
        raise InvalidNumber(text, f"longer than {MAX_INPUT_CHARS} characters")
    if text.startswith("00"):  # the ITU international prefix, whatever the default region
        text = "+" + text[2:]
    try:
        number = phonenumbers.parse(text, region)
    except NumberParseException as exc:
        raise InvalidNumber(text, _PARSE_REASONS.get(exc.error_type, str(exc))) from exc
    possible = phonenumbers.is_possible_number_with_reason(number)
    if possible != ValidationResult.IS_POSSIBLE:
        raise InvalidNumber(text, _POSSIBLE_REASONS.get(possible, "not a possible number"))
    if not phonenumbers.is_valid_number(number):
        where = phonenumbers.region_code_for_number(number) or f"+{number.country_code}"
        raise InvalidNumber(text, f"not a valid number in {where}")
    return number


def normalise(raw: str, default_region: str) -> str:
    """E.164 (``+8613800138000``) of a human-written number; InvalidNumber with a reason.

    >>> normalise("(415) 555-0132", "US")
    '+14155550132'
    >>> normalise("0044 20 7946 0958", "CN")
    '+442079460958'
    """
    number = parse(raw, default_region)
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def is_mobile(e164: str) -> bool:
    """True for mobile (or mobile-or-fixed) numbers: an import tells ``mobile`` from ``other``."""
    kind = phonenumbers.number_type(phonenumbers.parse(e164, None))
    return kind in (PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE_OR_MOBILE)


def looks_like_phone(text: str) -> bool:
    """Could ``text`` be a phone number (digits and phone punctuation, at least 6 digits)?

    A cheap syntactic test, no validity check. Customer codes are digits too (callers key them on
    the keypad), so a long all-digit code also "looks like" a phone: that is why lookups try the
    exact customer code first and only then the number.
    """
    stripped = (text or "").strip()
    if not stripped or len(stripped) > MAX_INPUT_CHARS or not _PHONE_CHARS.match(stripped):
        return False
    return len(_DIGITS.findall(stripped)) >= MIN_PHONE_DIGITS
