"""Logging setup: one stdlib root handler, JSON lines or human text, secrets redacted.

Why stdlib ``logging`` and not a framework: aiohttp, panoramisk and SQLAlchemy all log through
it, so one handler on the root logger catches everything and one filter can redact everything.

Redaction happens in :class:`RedactingFilter`, attached to the handler (filters on a *logger*
do not see records propagated from child loggers). It scrubs, before formatting:

- any :class:`pydantic.SecretStr` in the arguments or ``extra=`` fields;
- values under keys named like a secret (``secret``, ``password``, ``token``,
  ``authorization``, ``api_key`` …) in dicts, in ``extra=`` fields, and in text such as an AMI
  frame ``"Secret: xyz"`` → ``"Secret: ***"`` or ``password=xyz`` → ``password=***``;
- the password of URLs such as ``postgresql://user:pw@host/db`` (``database_url``);
- the same patterns inside formatted tracebacks.

It is a safety net, not a licence: code should still never log a secret on purpose.
"""

from __future__ import annotations

import json as jsonlib
import logging
import re
import sys
import traceback
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import IO, Any

from pydantic import SecretStr

REDACTED = "***"

_SECRET_WORDS = r"secret|passw(?:or)?d|pwd|token|authori[sz]ation|api[_-]?key|credential"
SECRET_KEY_RE = re.compile(_SECRET_WORDS, re.IGNORECASE)
"""A mapping key or header name whose value must never be logged."""

_TEXT_RE = re.compile(
    rf"""(?P<key>["']?[\w.-]*(?:{_SECRET_WORDS})[\w.-]*["']?)
         (?P<sep>[ \t]*[:=][ \t]*)
         (?P<value>"[^"]*"|'[^']*'|(?:(?:Bearer|Basic|Digest|Token)[ \t]+)?[^\s,;&'"}}\])]+)""",
    re.IGNORECASE | re.VERBOSE,
)
_URL_PASSWORD_RE = re.compile(r"(?P<head>\b[a-z][a-z0-9+.-]*://[^:/@\s]*:)[^@/\s]+@", re.I)

# Attributes every LogRecord has; anything else on a record came from ``extra=``.
_RECORD_ATTRS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message", "asctime", "taskName",
}


def _redact_match(match: re.Match[str]) -> str:
    value = match.group("value")
    quote = value[0] if value[:1] in ("'", '"') else ""
    return f"{match.group('key')}{match.group('sep')}{quote}{REDACTED}{quote}"


def redact_text(text: str) -> str:
    """Mask values of ``key: value`` / ``key=value`` pairs named like a secret, URL passwords."""
    return _URL_PASSWORD_RE.sub(rf"\g<head>{REDACTED}@", _TEXT_RE.sub(_redact_match, text))


def redact(value: Any) -> Any:
    """A copy of ``value`` safe to log (mappings, sequences and strings are scrubbed)."""
    if isinstance(value, SecretStr):
        return REDACTED
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, Mapping):
        return {
            k: (REDACTED if v is not None and SECRET_KEY_RE.search(str(k)) else redact(v))
            for k, v in value.items()
        }
    if type(value) in (list, tuple, set, frozenset):  # exact types: keep namedtuples intact
        return type(value)(redact(v) for v in value)
    return value


def extra_fields(record: logging.LogRecord) -> dict[str, Any]:
    """The ``extra=`` fields of a record (attributes the stdlib did not put there)."""
    return {k: v for k, v in vars(record).items() if k not in _RECORD_ATTRS and k[:1] != "_"}


class RedactingFilter(logging.Filter):
    """Scrubs secrets from a record in place; never drops a record."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "_redacted", False):
            return True
        try:
            if not isinstance(record.msg, str):
                record.msg = redact(record.msg)
            args = record.args
            if args:
                record.args = (
                    redact(args) if isinstance(args, Mapping) else tuple(redact(a) for a in args)
                )
            message = redact_text(record.getMessage())
            record.msg, record.args = message, None
            for key, value in extra_fields(record).items():
                secret = value is not None and SECRET_KEY_RE.search(key)
                setattr(record, key, REDACTED if secret else redact(value))
            if record.exc_info and not record.exc_text:
                formatted = "".join(traceback.format_exception(*record.exc_info))
                record.exc_text = formatted.rstrip("\n")
            if record.exc_text:  # may have been cached unredacted by an earlier handler
                record.exc_text = redact_text(record.exc_text)
            if record.stack_info:
                record.stack_info = redact_text(record.stack_info)
        except Exception:  # a broken __str__ must not lose the log line
            record.msg, record.args = redact_text(str(record.msg)), None
        setattr(record, "_redacted", True)  # noqa: B010 - not a LogRecord attribute
        return True


def _iso(created: float) -> str:
    return datetime.fromtimestamp(created, UTC).isoformat(timespec="milliseconds").replace(
        "+00:00", "Z"
    )


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ``ts``, ``level``, ``logger``, ``msg``, extras, ``exc``."""

    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "ts": _iso(record.created),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in extra_fields(record).items():
            data.setdefault(key, value)
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            data["exc"] = record.exc_text
        if record.stack_info:
            data["stack"] = record.stack_info
        return jsonlib.dumps(data, default=str, ensure_ascii=False)


class HumanFormatter(logging.Formatter):
    """``2024-05-01 12:00:00,123 INFO    callcenter.cti: message  key=value``."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        extras = extra_fields(record)
        if not extras:
            return text
        head, sep, tail = text.partition("\n")
        pairs = " ".join(f"{k}={v!r}" for k, v in extras.items())
        return f"{head}  {pairs}{sep}{tail}"


class _CallcenterHandler(logging.StreamHandler[IO[str]]):
    """Marks the handler we own so reconfiguring replaces it instead of stacking another."""


def wants_json(configured: bool | None, stream: IO[str] | None = None) -> bool:
    """JSON lines unless told otherwise or a person reads them (the stream is a terminal): a
    newcomer running ``callcenter demo`` reads sentences, a log shipper gets JSON."""
    if configured is not None:
        return configured
    target = stream if stream is not None else sys.stderr
    try:
        return not target.isatty()
    except (AttributeError, ValueError):  # closed or unusual streams: the machine format
        return True


def configure_logging(level: str, json: bool, *, stream: IO[str] | None = None) -> None:
    """(Re)configure the root logger: one handler to ``stream`` (stderr), redacting secrets.

    Safe to call again (tests, ``callcenter serve --log-level``): our previous handler is
    replaced; handlers installed by others (pytest's caplog) are left alone.
    """
    numeric = logging.getLevelName(level.upper())
    if not isinstance(numeric, int):
        raise ValueError(f"unknown log level {level!r}")
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, _CallcenterHandler)]:
        root.removeHandler(old)
        old.close()
    handler = _CallcenterHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(JsonFormatter() if json else HumanFormatter())
    handler.addFilter(RedactingFilter())
    root.addHandler(handler)
    root.setLevel(numeric)
