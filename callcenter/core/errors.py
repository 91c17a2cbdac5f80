"""The errors of the PBX port, whichever PBX implements it (Asterisk over AMI, the simulator).

Callers (ACD, dialer, IVR, HTTP handlers) catch these, never panoramisk's or asyncio's; the
adapters map their own failures to them at the boundary (httpx-style)::

    PbxError
    ├── PbxUnavailable          not sent: no usable link. Safe to retry later.
    ├── OutcomeUnknown          sent, but no complete answer: the action MAY have run.
    │   ├── ConnectionLost      the link dropped while the action was in flight
    │   └── ActionTimeout       no answer within the timeout
    ├── AuthenticationFailed    the PBX refused our credentials
    └── ActionFailed            the PBX answered "error": it ran and failed (message kept)
        └── UnknownChannel      the channel named does not exist (any more)

Why "not sent" and "outcome unknown" are separate types: retrying an Originate whose outcome
is unknown can dial a customer twice. Nothing in this server retries an
:class:`OutcomeUnknown`; code that wants to retry catches :class:`PbxUnavailable` only. For the
same reason the AMI adapter fails pending actions when the connection drops instead of
replaying them (panoramisk's default).
"""

from __future__ import annotations


class PbxError(Exception):
    """Base of every PBX port error."""


class PbxUnavailable(PbxError):
    """No usable PBX link: the action was not sent, so retrying later is safe."""


class OutcomeUnknown(PbxError):
    """The action was sent but its answer never came: it may or may not have run."""


class ConnectionLost(OutcomeUnknown):
    """The link dropped while an action was in flight."""


class ActionTimeout(OutcomeUnknown):
    """The PBX did not answer an action within its timeout."""


class AuthenticationFailed(PbxError):
    """The PBX refused our login (wrong user or secret, or not permitted from this host)."""


class ActionFailed(PbxError):
    """The PBX answered the action with an error."""

    def __init__(self, action: str, message: str) -> None:
        super().__init__(f"{action}: {message}")
        self.action = action
        self.message = message


class UnknownChannel(ActionFailed):
    """The action named a channel that does not exist (already hung up, or never did)."""
