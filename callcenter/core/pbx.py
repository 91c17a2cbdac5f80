"""The PBX port: what the ACD, the dialer and the IVR may ask of a telephone switch, and what
they may read of its calls.

Two implementations exist: :class:`callcenter.cti.asterisk_pbx.AsteriskPbx` (real Asterisk
over AMI) and :class:`callcenter.sim.pbx.SimulatedPbx`. Code above this line never imports
either; it receives a :class:`Pbx` from the one assembly (:mod:`callcenter.contact_center`).

Channels are named by ``channel_id`` (Asterisk's Uniqueid), never by channel name: names
change when Asterisk masquerades a channel, the id does not. A call's id is the id of its
first channel (Asterisk's linkedid), so the id :meth:`Pbx.originate` returns is also the
call id of everything that call spawns.

Errors are those of :mod:`callcenter.core.errors`: :class:`PbxUnavailable` (not sent, safe to
retry) and :class:`OutcomeUnknown` (may have run: never retried) are different types.

Reading calls: :attr:`Pbx.calls` is a read-only :class:`CallReader` (the call model the PBX
feeds). Consumers see channels through the :class:`ChannelInfo` / :class:`CallInfo` protocols,
never the adapter's classes, and learn of changes from the domain events on the bus.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol, runtime_checkable


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
    #: the call the new channel is a leg of (the waiting party's call id), or None for a call
    #: of its own: the model joins it there and the PBX stores it on the channel
    #: (``CC_CALL_ID``) so a restarted server groups it the same way
    call_id: str | None = None

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
    #: the request was sent but its result never came (link lost, no OriginateResponse in
    #: time): the call may be up. Never treat it as "no answer" and never retry it blindly.
    UNKNOWN = "unknown"


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


@dataclass(frozen=True, slots=True)
class PbxStatus:
    """The PBX link as the web, metrics and health read it, whatever the PBX is.

    ``connected`` means the link is up *and* the call model was reconciled with the PBX
    since it came up: only then is what :attr:`Pbx.calls` shows the PBX's truth (before the
    first resync the model may simply be empty). ``details`` holds adapter-specific counters
    (AMI: events received, reconnects, last resync time ...), shown as they are.
    """

    pbx: str
    connected: bool
    version: str = ""
    connected_since: float | None = None
    last_error: str = ""
    details: Mapping[str, Any] = field(default_factory=dict)


class ChannelInfo(Protocol):
    """One leg of a call, read-only (``callcenter.cti.model.Channel`` fits)."""

    @property
    def channel_id(self) -> str: ...
    @property
    def call_id(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def state(self) -> str: ...
    @property
    def created_at(self) -> float: ...
    @property
    def answered_at(self) -> float | None: ...
    @property
    def hungup_at(self) -> float | None: ...
    @property
    def caller_num(self) -> str: ...
    @property
    def connected_num(self) -> str: ...
    @property
    def context(self) -> str: ...
    @property
    def bridge_id(self) -> str | None: ...
    @property
    def variables(self) -> Mapping[str, str]: ...


class CallInfo(Protocol):
    """All legs of one call (Asterisk's linkedid), read-only."""

    @property
    def call_id(self) -> str: ...
    @property
    def caller_num(self) -> str: ...
    @property
    def legs(self) -> Mapping[str, ChannelInfo]: ...

    def variables(self) -> dict[str, str]: ...


class CallReader(Protocol):
    """What the ACD, dialer and screen pops may read of the PBX's calls."""

    def channel(self, channel_id: str) -> ChannelInfo | None:
        """The live channel; None once it hung up, or if never seen."""
        ...

    def get_call(self, call_id: str) -> CallInfo | None: ...

    def live_channels(self) -> Iterable[ChannelInfo]:
        """Every channel up or ringing now (a new dispatcher adopts the callers waiting)."""
        ...


def is_live(calls: CallReader, channel_id: str) -> bool:
    """The channel exists and has not hung up."""
    channel = calls.channel(channel_id)
    return channel is not None and channel.hungup_at is None


@runtime_checkable
class Pbx(Protocol):
    """Call control shared by every PBX implementation."""

    name: str

    @property
    def calls(self) -> CallReader:
        """The calls as this PBX reports them (kept current by its events)."""
        ...

    def status(self) -> PbxStatus: ...

    def registered_endpoints(self) -> frozenset[str]:
        """Endpoints (``PJSIP/2001``) that have a phone registered now, as the PBX last
        reported; changes arrive as :class:`~callcenter.events.DeviceRegistration` events."""
        ...

    async def originate(self, request: OriginateRequest) -> OriginateHandle: ...

    async def redirect(self, channel_id: str, context: str, exten: str,
                       priority: int = 1) -> None: ...

    async def bridge(self, channel_id: str, other_channel_id: str) -> None: ...

    async def hangup(self, channel_id: str, cause: int = 16) -> None: ...

    async def set_variable(self, channel_id: str, name: str, value: str) -> None: ...

    async def get_variable(self, channel_id: str, name: str) -> str | None: ...

    async def set_global(self, name: str, value: str) -> None:
        """Set a dialplan-wide variable (e.g. the IVR's heartbeat, ``CC_IVR_ALIVE``)."""
        ...

    async def record(self, channel_id: str, file: str) -> None:
        """Record both directions of ``channel_id``'s audio (mixed) into ``file``, a path
        relative to the PBX's recordings directory, until the channel hangs up: a caller who
        hangs up leaves a complete file."""
        ...

    async def spy(self, supervisor_endpoint: str, channel_id: str,
                  mode: SpyMode = SpyMode.LISTEN) -> OriginateHandle: ...
