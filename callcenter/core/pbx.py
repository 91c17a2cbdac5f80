"""The PBX interface: what the ACD, the dialer and the IVR may ask of a telephone switch.

Two implementations exist: :class:`callcenter.cti.asterisk_pbx.AsteriskPbx` (real Asterisk
over AMI) and, from the simulator issue on, ``SimulatedPbx``. Code above this line never
imports either; it receives a :class:`Pbx` from the composition root.

Channels are named by ``channel_id`` (Asterisk's Uniqueid), never by channel name: names
change when Asterisk masquerades a channel, the id does not. A call's id is the id of its
first channel (Asterisk's linkedid), so the id :meth:`Pbx.originate` returns is also the
call id of everything that call spawns.

Errors are those of :mod:`callcenter.cti.errors` (``PbxError`` and its subclasses).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol, runtime_checkable

from callcenter.cti.model import CallModel


class SpyMode(StrEnum):
    """Supervisor modes: hear only, talk to the agent only, talk to both."""

    LISTEN = "listen"
    WHISPER = "whisper"
    BARGE = "barge"


@dataclass(frozen=True, slots=True)
class OriginateRequest:
    """Place a call to ``endpoint`` and, once answered, run a dialplan location or an app.

    Exactly one of (``context``, ``exten``) or ``application`` must be given.
    """

    endpoint: str
    context: str | None = None
    exten: str | None = None
    priority: int = 1
    application: str | None = None
    data: str = ""
    caller_id: str = ""
    timeout_s: float = 30.0
    variables: Mapping[str, str] = field(default_factory=dict)
    channel_id: str | None = None

    def __post_init__(self) -> None:
        has_dialplan = self.context is not None and self.exten is not None
        if has_dialplan == (self.application is not None):
            raise ValueError("give either context+exten or application")
        if not self.endpoint or "/" not in self.endpoint:
            raise ValueError(f"endpoint must look like TECH/resource, got {self.endpoint!r}")
        if self.timeout_s <= 0:
            raise ValueError("timeout_s must be positive")
        for name in self.variables:
            if not name or "=" in name or "," in name:
                raise ValueError(f"bad channel variable name {name!r}")


class OriginateReason(StrEnum):
    """Why an originated call did or did not connect (Asterisk's OriginateResponse Reason)."""

    ANSWERED = "answered"
    NO_ANSWER = "no_answer"
    BUSY = "busy"
    CONGESTION = "congestion"
    HANGUP = "hangup"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class OriginateOutcome:
    channel_id: str
    reason: OriginateReason

    @property
    def answered(self) -> bool:
        return self.reason is OriginateReason.ANSWERED


@dataclass(slots=True)
class OriginateHandle:
    """Returned as soon as the PBX accepted the request; ``outcome`` resolves later."""

    channel_id: str
    outcome: asyncio.Future[OriginateOutcome]


@runtime_checkable
class Pbx(Protocol):
    """Call control shared by every PBX implementation."""

    name: str
    model: CallModel

    async def originate(self, request: OriginateRequest) -> OriginateHandle: ...

    async def redirect(self, channel_id: str, context: str, exten: str,
                       priority: int = 1) -> None: ...

    async def bridge(self, channel_id: str, other_channel_id: str) -> None: ...

    async def hangup(self, channel_id: str, cause: int = 16) -> None: ...

    async def set_variable(self, channel_id: str, name: str, value: str) -> None: ...

    async def get_variable(self, channel_id: str, name: str) -> str | None: ...

    async def spy(self, supervisor_endpoint: str, channel_id: str,
                  mode: SpyMode = SpyMode.LISTEN) -> OriginateHandle: ...
