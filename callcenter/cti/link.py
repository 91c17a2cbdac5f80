"""Counters and status of one PBX link, read by /health and /metrics."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True)
class LinkStats:
    """Plain counters the adapter bumps; readers only read (no locking needed in asyncio)."""

    pbx: str = "asterisk"
    connected: bool = False
    connected_since: float | None = None
    #: Asterisk's release (CoreSettings ``AsteriskVersion``), e.g. "22.10.1"
    asterisk_version: str = ""
    #: the AMI protocol version from the banner ("Asterisk Call Manager/11.0.0")
    ami_version: str = ""
    events_received: int = 0
    frames_malformed: int = 0
    frames_oversized: int = 0
    actions_sent: int = 0
    actions_failed: int = 0
    actions_timed_out: int = 0
    reconnects: int = 0
    last_error: str = ""
    last_resync_s: float | None = None
    resyncs: int = 0
