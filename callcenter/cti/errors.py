"""The exceptions the CTI layer raises, mapped from AMI at the boundary (httpx-style).

Callers (ACD, dialer, IVR, HTTP handlers) catch these, never panoramisk's or asyncio's::

    PbxError
    ├── PbxUnavailable          the link is down; nothing was sent (safe to retry later)
    │   └── ConnectionLost      the link dropped after the action was sent: outcome unknown
    ├── ActionTimeout           no complete answer in time: outcome unknown
    ├── AuthenticationFailed    Asterisk refused our AMI credentials
    └── ActionFailed            Asterisk answered "Error" (message kept)
        └── UnknownChannel      the channel named does not exist (any more)

"Outcome unknown" matters for Originate: the ACD and dialer must not blindly resend, or a
customer could be dialled twice. That is why pending actions are failed, not replayed, when
the connection drops (panoramisk's default is to replay them).
"""

from __future__ import annotations


class PbxError(Exception):
    """Base of every CTI error."""


class PbxUnavailable(PbxError):
    """No usable PBX link: the action was not sent."""


class ConnectionLost(PbxUnavailable):
    """The link dropped while an action was in flight; whether it ran is unknown."""


class ActionTimeout(PbxError):
    """The PBX did not answer an action within its timeout."""


class AuthenticationFailed(PbxError):
    """The AMI login was refused (wrong user or secret, or not permitted from this host)."""


class ActionFailed(PbxError):
    """Asterisk answered the action with ``Response: Error``."""

    def __init__(self, action: str, message: str) -> None:
        super().__init__(f"{action}: {message}")
        self.action = action
        self.message = message


class UnknownChannel(ActionFailed):
    """The action named a channel that does not exist (already hung up, or never did)."""
