"""Logging set-up: JSON and human lines, and the secret redaction safety net."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest
from pydantic import SecretStr

from callcenter.logs import REDACTED, configure_logging, redact, redact_text

pytestmark = pytest.mark.unit


@pytest.fixture
def restore_root() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in list(root.handlers):
        if handler not in handlers:
            root.removeHandler(handler)
    root.setLevel(level)


@pytest.fixture
def json_stream(restore_root: None) -> io.StringIO:
    stream = io.StringIO()
    configure_logging("debug", json=True, stream=stream)
    return stream


def lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Action: Login\r\nSecret: xyz\r\n\r\n", "Action: Login\r\nSecret: ***\r\n\r\n"),
        ("Authorization: Bearer abc.def", "Authorization: ***"),
        ("GET /ws/events?token=abc&types=call.ended", "GET /ws/events?token=***&types=call.ended"),
        ("{'Action': 'Login', 'Secret': 'xyz'}", "{'Action': 'Login', 'Secret': '***'}"),
        ('{"password": "two words"}', '{"password": "***"}'),
        ("ami_secret=hunter2 user=bob", "ami_secret=*** user=bob"),
        ("postgresql+asyncpg://cc:pw@db:5432/cc", "postgresql+asyncpg://cc:***@db:5432/cc"),
        ("redis://:pw@localhost:6379/0", "redis://:***@localhost:6379/0"),
        ("http://localhost:8080/health", "http://localhost:8080/health"),
        ("call c1 ended, cause 16", "call c1 ended, cause 16"),
    ],
)
def test_redact_text(text: str, expected: str) -> None:
    assert redact_text(text) == expected


def test_redact_structures() -> None:
    data = {
        "Action": "Login",
        "Secret": "xyz",
        "nested": {"api_key": 1, "ok": [SecretStr("s"), "Password: p"]},
        "token": None,
    }
    assert redact(data) == {
        "Action": "Login",
        "Secret": REDACTED,
        "nested": {"api_key": REDACTED, "ok": [REDACTED, f"Password: {REDACTED}"]},
        "token": None,
    }
    assert data["Secret"] == "xyz"  # the caller's object is left untouched


def test_json_line_fields_and_extras(json_stream: io.StringIO) -> None:
    logging.getLogger("callcenter.cti").info("call %s up", "c1", extra={"call_id": "c1"})
    (line,) = lines(json_stream)
    assert line["level"] == "INFO"
    assert line["logger"] == "callcenter.cti"
    assert line["msg"] == "call c1 up"
    assert line["call_id"] == "c1"
    assert str(line["ts"]).endswith("Z")


def test_json_redacts_args_extras_and_secretstr(json_stream: io.StringIO) -> None:
    frame = {"Action": "Login", "Username": "cc", "Secret": "hunter2"}
    logging.getLogger("callcenter.cti.ami").debug(
        "sending %s with %s",
        frame,
        SecretStr("hunter2"),
        extra={"authorization": "Bearer abc", "dsn": SecretStr("hunter2"), "peer": "pbx1"},
    )
    logging.getLogger("panoramisk").debug(frame)  # a non-str message
    out = json_stream.getvalue()
    assert "hunter2" not in out and "abc" not in out
    first, second = lines(json_stream)
    assert first["authorization"] == REDACTED and first["dsn"] == REDACTED
    assert first["peer"] == "pbx1"
    assert "'Secret': '***'" in str(first["msg"]) and "'Secret': '***'" in str(second["msg"])


def test_exception_traceback_is_included_and_redacted(json_stream: io.StringIO) -> None:
    try:
        raise RuntimeError("login refused, Secret: hunter2")
    except RuntimeError:
        logging.getLogger("x").exception("AMI login failed")
    (line,) = lines(json_stream)
    assert "Traceback" in str(line["exc"]) and "RuntimeError" in str(line["exc"])
    assert "hunter2" not in json_stream.getvalue()


def test_human_format(restore_root: None) -> None:
    stream = io.StringIO()
    configure_logging("INFO", json=False, stream=stream)
    log = logging.getLogger("callcenter.web")
    log.debug("hidden")
    log.warning("password=%s", "pw1", extra={"call_id": "c9"})
    text = stream.getvalue()
    assert "hidden" not in text
    assert "WARNING" in text and "callcenter.web: password=***" in text
    assert "call_id='c9'" in text and "pw1" not in text


def test_reconfigure_replaces_our_handler(restore_root: None) -> None:
    first, second = io.StringIO(), io.StringIO()
    configure_logging("info", json=True, stream=first)
    configure_logging("info", json=True, stream=second)
    logging.getLogger("x").info("once")
    assert first.getvalue() == ""
    assert len(lines(second)) == 1


def test_unknown_level_is_refused(restore_root: None) -> None:
    with pytest.raises(ValueError, match="unknown log level"):
        configure_logging("LOUD", json=True)
