"""A campaign as data: one document (REST body, CLI file, database row) checked by pydantic,
turned into the pure rules the dialer runs (:class:`~callcenter.dialer.compliance.DialRules`,
:class:`~callcenter.dialer.leads.RetryRules`, the AMD arguments and the abandonment message).
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from callcenter.dialer.compliance import MIN_RING_S, CallingWindow, DialRules
from callcenter.dialer.leads import RetryRule, RetryRules
from callcenter.dialer.pacing import parse_pacing

__all__ = ["AmdPolicy", "CampaignDefinition", "CampaignError", "Retry", "default_pacing"]

MODES = ("preview", "progressive", "predictive")
_HHMM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")


class CampaignError(ValueError):
    """A campaign document that cannot run: the message names the field."""


def default_pacing() -> str:
    """The predictive pacer a campaign uses unless it names one: ``predictive`` (the project's
    own, issue 13) where this build has it, else VICIdial's tapered adaptive level."""
    try:
        parse_pacing("predictive")
    except ValueError:
        return "vicidial-tapered"
    return "predictive"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class Retry(_Strict):
    delay_s: float = Field(ge=0, le=30 * 86400)
    max_attempts: int = Field(ge=1, le=50)

    def rule(self) -> RetryRule:
        return RetryRule(self.delay_s, self.max_attempts)


class AmdPolicy(_Strict):
    """Answering-machine detection: app_amd's parameters (milliseconds; Asterisk's defaults)
    and what to do with its NOTSURE verdict. ``false_positive_rate`` is the measured share of
    MACHINE verdicts that were people: counted as abandoned calls."""

    enabled: bool = True
    notsure: Literal["agent", "message"] = "agent"
    initial_silence_ms: int = Field(2500, ge=100, le=60000)
    greeting_ms: int = Field(1500, ge=100, le=60000)
    after_greeting_silence_ms: int = Field(800, ge=100, le=60000)
    total_analysis_ms: int = Field(5000, ge=500, le=60000)
    min_word_length_ms: int = Field(100, ge=10, le=5000)
    between_words_silence_ms: int = Field(50, ge=10, le=5000)
    max_words: int = Field(2, ge=1, le=20)
    silence_threshold: int = Field(256, ge=1, le=32767)
    max_word_length_ms: int = Field(5000, ge=100, le=60000)
    false_positive_rate: float = Field(0.0, ge=0.0, lt=1.0)

    def args(self) -> str:
        """AMD()'s arguments, in app_amd's order."""
        return ",".join(str(v) for v in (
            self.initial_silence_ms, self.greeting_ms, self.after_greeting_silence_ms,
            self.total_analysis_ms, self.min_word_length_ms, self.between_words_silence_ms,
            self.max_words, self.silence_threshold, self.max_word_length_ms))


def _e164(value: str, field_name: str) -> str:
    try:
        parsed = phonenumbers.parse(value, None)
    except phonenumbers.NumberParseException:
        raise ValueError(f"{field_name} must be an E.164 number (+CC...), got {value!r}") from None
    if not phonenumbers.is_valid_number(parsed):
        raise ValueError(f"{field_name} {value!r} is not a valid phone number")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


class CampaignDefinition(_Strict):
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
    mode: Literal["preview", "progressive", "predictive"] = "progressive"
    #: the pacer used in predictive mode (``callcenter simulate --pacing`` names)
    pacing: str = Field(default_factory=default_pacing)
    caller_id: str
    company: str = Field(min_length=1, max_length=100)
    #: the number the abandonment message gives to call back
    callback_number: str
    #: PJSIP endpoint to dial through (None: ``trunk``)
    trunk: str | None = Field(None, pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    ring_timeout_s: float = Field(25.0, ge=MIN_RING_S, le=120.0)
    #: the predictive pacer may hang up a line still ringing after this many seconds (never
    #: less than the law's 15) when more people are on their way than agents will be free
    #: for them; None: every unanswered line rings ``ring_timeout_s``
    hang_up_after_s: float | None = Field(MIN_RING_S, ge=MIN_RING_S, le=120.0)
    window_start: str = "08:00"
    window_end: str = "21:00"
    holidays: list[dt.date] = Field(default_factory=list)
    default_region: str = Field("US", pattern=r"^[A-Z]{2}$")
    #: zone of numbers whose own zone is unknown (None: they are not dialled)
    fallback_zone: str | None = None
    #: the campaign's own zone: where its "day" of abandonment figures begins
    timezone: str = "UTC"
    busy: Retry = Retry(delay_s=600, max_attempts=5)
    no_answer: Retry = Retry(delay_s=3600, max_attempts=4)
    machine: Retry = Retry(delay_s=4 * 3600, max_attempts=2)
    amd: AmdPolicy = Field(default_factory=AmdPolicy)
    abandon_limit_pct: float = Field(3.0, gt=0.0, le=3.0)
    message_voice: str = Field("en-us", pattern=r"^[A-Za-z0-9_+-]{1,32}$")
    #: dispositions that count as a conversion in the report
    success_dispositions: list[str] = Field(default_factory=lambda: ["sale"])
    cost_per_dial: float = Field(0.0, ge=0.0)
    cost_per_minute: float = Field(0.0, ge=0.0)

    @field_validator("caller_id")
    @classmethod
    def _caller_id(cls, value: str) -> str:
        return _e164(value, "caller_id")

    @field_validator("callback_number")
    @classmethod
    def _callback(cls, value: str) -> str:
        return _e164(value, "callback_number")

    @field_validator("window_start", "window_end")
    @classmethod
    def _hhmm(cls, value: str) -> str:
        if not _HHMM.match(value):
            raise ValueError(f"must be a clock time HH:MM, got {value!r}")
        return value

    @field_validator("timezone", "fallback_zone")
    @classmethod
    def _zone(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}") from None
        return value

    @field_validator("pacing")
    @classmethod
    def _pacing(cls, value: str) -> str:
        parse_pacing(value)  # ValueError names the problem
        return value

    @model_validator(mode="after")
    def _window(self) -> CampaignDefinition:
        if not self.window_start < self.window_end:
            raise ValueError(f"window_start {self.window_start} must be before window_end "
                             f"{self.window_end}")
        if self.hang_up_after_s is not None and self.hang_up_after_s > self.ring_timeout_s:
            raise ValueError(f"hang_up_after_s {self.hang_up_after_s:g} must not exceed "
                             f"ring_timeout_s {self.ring_timeout_s:g}")
        return self

    # --- what the dialer runs ------------------------------------------------------------

    def window(self) -> CallingWindow:
        start = dt.time.fromisoformat(self.window_start)
        end = dt.time.fromisoformat(self.window_end)
        return CallingWindow(start, end, frozenset(self.holidays))

    def rules(self) -> DialRules:
        return DialRules(window=self.window(), ring_timeout_s=self.ring_timeout_s,
                         default_region=self.default_region, fallback_zone=self.fallback_zone)

    def retry_rules(self) -> RetryRules:
        return RetryRules(busy=self.busy.rule(), no_answer=self.no_answer.rule(),
                          machine=self.machine.rule())

    def message_text(self) -> str:
        """The abandonment message: who called and a number to call back."""
        parsed = phonenumbers.parse(self.callback_number, None)
        national = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.NATIONAL)
        spoken = ", ".join(" ".join(ch for ch in part if ch.isdigit())
                           for part in re.split(r"[\s\-()]+", national) if part)
        return (f"Hello, this is {self.company}. We are sorry, we could not connect your call. "
                f"Please call us back at {spoken}. Thank you.")

    @classmethod
    def parse(cls, data: Any) -> CampaignDefinition:
        """Validate a document; :class:`CampaignError` names every field that is wrong."""
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'campaign'}: "
                                 f"{e['msg']}" for e in exc.errors())
            raise CampaignError(problems) from None

    def document(self) -> dict[str, Any]:
        return self.model_dump(mode="json")
