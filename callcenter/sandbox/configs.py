"""Render the repository's Asterisk configs (docker/asterisk/*.conf) for the sandbox.

Pure functions, no I/O except reading the source directory: the same files serve docker compose
(standard ports) and the sandbox, which only moves ports so that a sandbox never collides with
an Asterisk (or another sandbox) already on the machine.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Mapping
from pathlib import Path

from callcenter.config import SandboxSettings

__all__ = [
    "ConfigRewriteError",
    "config_digest",
    "default_config_dir",
    "render_configs",
    "rewrite_config",
]


class ConfigRewriteError(ValueError):
    """A config file no longer has the line the sandbox rewrites (configs and code drifted)."""


# (file, pattern, replacement builder, what it is) -- every pattern must match at least once.
_Rule = tuple[str, re.Pattern[str], Callable[[SandboxSettings], str], str]


def _rx(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern, re.MULTILINE)


_RULES: list[_Rule] = [
    (
        "manager.conf",
        _rx(r"^(?P<k>[ \t]*port[ \t]*=[ \t]*)\d+"),
        lambda s: str(s.ami_port),
        "AMI port",
    ),
    (
        "http.conf",
        _rx(r"^(?P<k>[ \t]*bindport[ \t]*=[ \t]*)\d+"),
        lambda s: str(s.http_port),
        "HTTP bindport",
    ),
    (
        # UDP and TCP transports: loopback only in the sandbox, on the configured port.
        "pjsip.conf",
        _rx(r"^(?P<k>[ \t]*bind[ \t]*=[ \t]*)[0-9.]+:\d+"),
        lambda s: f"127.0.0.1:{s.sip_port}",
        "PJSIP transport bind",
    ),
    (
        "pjsip.conf",
        _rx(r"^(?P<k>[ \t]*contact[ \t]*=[ \t]*sip:127\.0\.0\.1:)\d+"),
        lambda s: str(s.trunk_port),
        "trunk contact port",
    ),
    (
        # the test customers' loopback trunk points at this Asterisk's own SIP port
        "pjsip.conf",
        _rx(r"^(?P<k>[ \t]*contact[ \t]*=[ \t]*sip:cc-loop@127\.0\.0\.1:)\d+"),
        lambda s: str(s.sip_port),
        "loopback trunk contact port",
    ),
    (
        "rtp.conf",
        _rx(r"^(?P<k>[ \t]*rtpstart[ \t]*=[ \t]*)\d+"),
        lambda s: str(s.rtp_start),
        "rtpstart",
    ),
    (
        "rtp.conf",
        _rx(r"^(?P<k>[ \t]*rtpend[ \t]*=[ \t]*)\d+"),
        lambda s: str(s.rtp_end),
        "rtpend",
    ),
    (
        "extensions.conf",
        _rx(r"^(?P<k>[ \t]*CALLCENTER_AUDIOSOCKET[ \t]*=[ \t]*)[^\s;]+"),
        lambda s: f"127.0.0.1:{s.audiosocket_port}",
        "CALLCENTER_AUDIOSOCKET global",
    ),
]


def rewrite_config(name: str, text: str, settings: SandboxSettings) -> str:
    """Return ``text`` (the content of config file ``name``) with the sandbox's ports.

    Files without sandbox-specific values come back unchanged.  Raises
    :class:`ConfigRewriteError` when a value the sandbox must move is not found.
    """
    for file_name, pattern, value, what in _RULES:
        if file_name != name:
            continue
        replacement = value(settings)

        def keep_key(m: re.Match[str], r: str = replacement) -> str:
            return m.group("k") + r

        text, count = pattern.subn(keep_key, text)
        if count == 0:
            raise ConfigRewriteError(
                f"{name}: no {what} line matching {pattern.pattern!r}; "
                "update callcenter/sandbox/configs.py together with docker/asterisk/"
            )
    return text


def render_configs(source_dir: Path, settings: SandboxSettings) -> dict[str, str]:
    """All ``*.conf`` files of ``source_dir``, rewritten for the sandbox, by file name."""
    files = sorted(p for p in source_dir.glob("*.conf") if p.is_file())
    if not files:
        raise ConfigRewriteError(f"no *.conf files in {source_dir}")
    rendered = {p.name: rewrite_config(p.name, p.read_text(), settings) for p in files}
    missing = {rule[0] for rule in _RULES} - rendered.keys()
    if missing:
        raise ConfigRewriteError(f"{source_dir}: missing {', '.join(sorted(missing))}")
    return rendered


def config_digest(configs: Mapping[str, str]) -> str:
    """A stable hash of rendered configs (to tell whether a running sandbox matches)."""
    h = hashlib.sha256()
    for name in sorted(configs):
        h.update(name.encode())
        h.update(b"\0")
        h.update(configs[name].encode())
        h.update(b"\0")
    return h.hexdigest()


def default_config_dir() -> Path | None:
    """``docker/asterisk`` of the source tree this package runs from (an editable install or a
    checkout), else of the current directory; None if neither has one."""
    here = Path(__file__).resolve()
    for parent in here.parents:
        candidate = parent / "docker" / "asterisk"
        if (candidate / "extensions.conf").is_file():
            return candidate
        if (parent / "pyproject.toml").is_file():
            break
    candidate = Path.cwd() / "docker" / "asterisk"
    if (candidate / "extensions.conf").is_file():
        return candidate.resolve()
    return None
