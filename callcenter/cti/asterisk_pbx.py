"""The :class:`~callcenter.pbx.Pbx` interface implemented over AMI."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from callcenter.core.errors import OutcomeUnknown, UnknownChannel
from callcenter.core.pbx import (
    OriginateHandle,
    OriginateOutcome,
    OriginateReason,
    OriginateRequest,
    PbxStatus,
    SpyMode,
)
from callcenter.cti.ami import AmiClient, Answer, first_message
from callcenter.cti.model import CALL_ID_VARIABLE, CallModel

#: OriginateResponse ``Reason`` codes (Asterisk's AST_CONTROL_* values) to our reasons.
_REASONS = {
    "4": OriginateReason.ANSWERED,
    "3": OriginateReason.NO_ANSWER,
    "5": OriginateReason.BUSY,
    "8": OriginateReason.CONGESTION,
    "1": OriginateReason.HANGUP,
}

_SPY_OPTIONS = {SpyMode.LISTEN: "qE", SpyMode.WHISPER: "qEw", SpyMode.BARGE: "qEB"}

#: extra time beyond the ring timeout to wait for Asterisk's OriginateResponse
_OUTCOME_GRACE_S = 15.0


class AsteriskPbx:
    """Call control over one Asterisk's AMI link; channel ids resolve through the model."""

    name = "asterisk"

    def __init__(self, ami: AmiClient) -> None:
        self.ami = ami
        self.model: CallModel = ami.model

    @property
    def calls(self) -> CallModel:
        return self.model

    def status(self) -> PbxStatus:
        stats = self.ami.stats
        return PbxStatus(
            pbx=stats.pbx, connected=stats.connected, version=stats.asterisk_version,
            connected_since=stats.connected_since, last_error=stats.last_error,
            details={"ami_version": stats.ami_version, "reconnects": stats.reconnects,
                     "resyncs": stats.resyncs, "last_resync_s": stats.last_resync_s,
                     "events_received": stats.events_received,
                     "frames_malformed": stats.frames_malformed,
                     "actions_sent": stats.actions_sent, "actions_failed": stats.actions_failed,
                     "actions_timed_out": stats.actions_timed_out})

    def registered_endpoints(self) -> frozenset[str]:
        return self.ami.registrations.registered_endpoints()

    def _name_of(self, channel_id: str) -> str:
        channel = self.model.channels.get(channel_id)
        if channel is None:
            raise UnknownChannel("lookup", f"no such channel {channel_id!r}")
        return channel.name

    async def originate(self, request: OriginateRequest) -> OriginateHandle:
        channel_id = request.channel_id or uuid.uuid4().hex
        fields: dict[str, Any] = {
            "Action": "Originate",
            "Channel": request.endpoint,
            "Async": "true",
            "Timeout": str(int(request.timeout_s * 1000)),
            "ChannelId": channel_id,
            "OtherChannelId": f"{channel_id}-2",
        }
        if request.application is not None:
            fields["Application"] = request.application
            fields["Data"] = request.data
        else:
            fields.update(Context=request.context, Exten=request.exten,
                          Priority=str(request.priority))
        if request.caller_id:
            fields["CallerID"] = request.caller_id
        variables = dict(request.variables)
        if request.call_id:
            # joined before Asterisk can announce the channel; the variable is for a resync
            variables[CALL_ID_VARIABLE] = request.call_id
            self.model.join(channel_id, request.call_id, variables)
            self.model.join(f"{channel_id}-2", request.call_id)
        if variables:
            fields["Variable"] = [f"{k}={v}" for k, v in variables.items()]
        _, complete = await self.ami.send_async(fields)
        outcome = asyncio.ensure_future(
            self._outcome(channel_id, complete, request.timeout_s + _OUTCOME_GRACE_S))
        return OriginateHandle(channel_id=channel_id, outcome=outcome)

    async def _outcome(self, channel_id: str, complete: asyncio.Future[Answer],
                       timeout: float) -> OriginateOutcome:
        """The OriginateResponse, mapped. No response in time, or the link lost before it came:
        UNKNOWN (the call may well be up), never FAILED or NO_ANSWER."""
        try:
            answer = await asyncio.wait_for(complete, timeout)
        except (TimeoutError, OutcomeUnknown):
            self.ami.forget_action(complete)
            return OriginateOutcome(channel_id, OriginateReason.UNKNOWN)
        messages = answer if isinstance(answer, list) else [answer]
        for message in messages:
            if message.get("Event") == "OriginateResponse":
                if message.get("Response") == "Success":
                    return OriginateOutcome(channel_id, OriginateReason.ANSWERED)
                # a known failure whose reason code we do not map (e.g. 0: unavailable)
                reason = _REASONS.get(str(message.get("Reason")), OriginateReason.FAILED)
                return OriginateOutcome(channel_id, reason)
        return OriginateOutcome(channel_id, OriginateReason.UNKNOWN)

    async def redirect(self, channel_id: str, context: str, exten: str,
                       priority: int = 1) -> None:
        await self.ami.send({"Action": "Redirect", "Channel": self._name_of(channel_id),
                             "Context": context, "Exten": exten, "Priority": str(priority)})

    async def bridge(self, channel_id: str, other_channel_id: str) -> None:
        await self.ami.send({"Action": "Bridge", "Channel1": self._name_of(channel_id),
                             "Channel2": self._name_of(other_channel_id), "Tone": "no"})

    async def hangup(self, channel_id: str, cause: int = 16) -> None:
        await self.ami.send({"Action": "Hangup", "Channel": self._name_of(channel_id),
                             "Cause": str(cause)})

    async def set_variable(self, channel_id: str, name: str, value: str) -> None:
        await self.ami.send({"Action": "Setvar", "Channel": self._name_of(channel_id),
                             "Variable": name, "Value": value})

    async def set_global(self, name: str, value: str) -> None:
        await self.ami.send({"Action": "Setvar", "Variable": name, "Value": value})

    async def get_variable(self, channel_id: str, name: str) -> str | None:
        answer = await self.ami.send({"Action": "Getvar", "Channel": self._name_of(channel_id),
                                      "Variable": name})
        value = first_message(answer).get("Value")
        return None if value in (None, "", "(null)") else str(value)

    async def record(self, channel_id: str, file: str) -> None:
        """MixMonitor (both directions mixed; relative paths land in Asterisk's monitor spool,
        /var/spool/asterisk/monitor). The file is closed when the channel hangs up."""
        await self.ami.send({"Action": "MixMonitor", "Channel": self._name_of(channel_id),
                             "File": file})

    async def spy(self, supervisor_endpoint: str, channel_id: str,
                  mode: SpyMode = SpyMode.LISTEN) -> OriginateHandle:
        target = self._name_of(channel_id)
        return await self.originate(OriginateRequest(
            endpoint=supervisor_endpoint, application="ChanSpy",
            data=f"{target},{_SPY_OPTIONS[mode]}",
            variables={"CC_SPY_TARGET": channel_id, "CC_SPY_MODE": mode.value}))
