"""The AMI client: one supervised connection to Asterisk that never loses track of a call.

Life of the link, repeated forever until :meth:`AmiClient.stop`::

    connect (timeout) -> Login -> resync (CoreShowChannels + BridgeList, reconciled into the
    model while live events keep flowing; PJSIPShowContacts into the registrations) -> link up
    -> Ping every ``ping_interval_s`` -> connection lost / Shutdown / missed pong -> link down
    -> backoff -> connect ...

Backoff starts at ``reconnect_min_s`` and doubles up to ``reconnect_max_s``; it resets after a
session that got as far as a completed resync, so a restarted Asterisk is found again within
``reconnect_max_s`` of it listening.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Mapping
from typing import Any, BinaryIO, TypeAlias

from panoramisk.message import Message

from callcenter import events as ev
from callcenter.config import AmiSettings
from callcenter.core.errors import (
    ActionFailed,
    ActionTimeout,
    AuthenticationFailed,
    ConnectionLost,
    PbxError,
    PbxUnavailable,
    UnknownChannel,
)
from callcenter.cti.link import LinkStats
from callcenter.cti.model import OUR_VARIABLE_PREFIX, CallModel, SnapshotChannel
from callcenter.cti.protocol import AmiProtocol, TwoStepAction
from callcenter.cti.registrations import Registrations

log = logging.getLogger(__name__)

Answer: TypeAlias = Message | list[Message]

_NO_SUCH_CHANNEL = ("no such channel", "channel not found", "channel does not exist")


def first_message(answer: Answer) -> Message:
    return answer[0] if isinstance(answer, list) else answer


def raise_for_error(action: str, answer: Answer) -> None:
    """Map ``Response: Error`` to :class:`ActionFailed` / :class:`UnknownChannel`."""
    message = first_message(answer)
    if message.get("Response") in ("Error", "Failure", "Fail"):
        text = str(message.get("Message", "")) or "error"
        if any(marker in text.lower() for marker in _NO_SUCH_CHANNEL):
            raise UnknownChannel(action, text)
        raise ActionFailed(action, text)


class AmiClient:
    """Supervised AMI connection feeding a :class:`CallModel` and an :class:`EventBus`."""

    def __init__(
        self,
        settings: AmiSettings,
        model: CallModel,
        bus: ev.EventBus,
        stats: LinkStats | None = None,
        recorder: BinaryIO | None = None,
        registrations: Registrations | None = None,
    ) -> None:
        self.settings = settings
        self.model = model
        self.bus = bus
        #: which endpoints have a phone registered (ContactStatus events + resync)
        self.registrations = registrations or Registrations(emit=bus.publish)
        self.stats = stats or LinkStats()
        self.recorder = recorder
        self.protocol: AmiProtocol | None = None
        self.ready = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._sessions = 0
        #: why the current connection is going down, when we know before the socket closes
        #: (Shutdown event, unanswered Ping, a requested drop); read by on_connection_lost
        self._loss_cause: str | None = None

    # --- lifecycle ----------------------------------------------------------------------

    async def start(self) -> None:
        if self._task is None:
            self._stopping = False
            self._task = asyncio.create_task(self._supervise(), name="ami-client")

    async def stop(self) -> None:
        self._stopping = True
        if self.protocol is not None:
            self._loss_cause = "client stopped"
            self.protocol.close()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def wait_ready(self, timeout: float | None = None) -> None:
        """Wait until the link is up and the model resynchronised."""
        await asyncio.wait_for(self.ready.wait(), timeout)

    @property
    def connected(self) -> bool:
        return self.ready.is_set()

    def drop_connection(self) -> None:
        """Cut the TCP connection as a network failure would (used by tests and operators)."""
        if self.protocol is not None:
            self._loss_cause = "connection dropped on request"
            self.protocol.abort()

    async def _supervise(self) -> None:
        delay = self.settings.reconnect_min_s
        while not self._stopping:
            reached_ready = False
            try:
                reached_ready = await self._session()
            except asyncio.CancelledError:
                raise
            except AuthenticationFailed as exc:
                self.stats.last_error = str(exc)
                log.error("AMI login refused: %s", exc)
            except (OSError, TimeoutError, PbxError) as exc:
                self.stats.last_error = f"{type(exc).__name__}: {exc}"
                log.warning("AMI connection attempt failed: %s", self.stats.last_error)
            except Exception:
                log.exception("AMI session crashed; reconnecting")
            if self._stopping:
                break
            if reached_ready:
                delay = self.settings.reconnect_min_s
            await asyncio.sleep(delay * random.uniform(0.8, 1.0))
            delay = min(delay * 2, self.settings.reconnect_max_s)

    async def _session(self) -> bool:
        """One connection from connect to loss. True when it reached the ready state."""
        loop = asyncio.get_running_loop()
        s = self.settings
        _, protocol = await asyncio.wait_for(
            loop.create_connection(lambda: AmiProtocol(self, self.recorder), s.host, s.port),
            s.connect_timeout_s,
        )
        self.protocol = protocol
        self._loss_cause = None
        try:
            self.model.begin_resync()
            self.registrations.begin_resync()
            answer = await self._send(protocol, {
                "Action": "Login",
                "Username": s.username,
                "Secret": s.secret.get_secret_value(),
                "Events": "on",
            }, s.connect_timeout_s)
            if first_message(answer).get("Response") != "Success":
                refused = str(first_message(answer).get("Message", "refused"))
                # Asterisk closes the socket after refusing: that loss is the refusal, not a
                # bare EOF that would hide why the link stays down
                self._loss_cause = refused
                raise AuthenticationFailed(refused)
            self.stats.ami_version = protocol.version or ""
            settings = first_message(await self._send(protocol, {"Action": "CoreSettings"},
                                                      s.action_timeout_s))
            self.stats.asterisk_version = str(settings.get("AsteriskVersion", ""))
            await self._resync(protocol)
            self.stats.connected = True
            self.stats.connected_since = time.time()
            if self._sessions:
                self.stats.reconnects += 1
            self._sessions += 1
            self.ready.set()
            log.info("AMI link up", extra={"host": s.host, "port": s.port})
            self.bus.publish(ev.PbxLinkUp(at=time.time(), pbx=self.stats.pbx,
                                          version=self.stats.asterisk_version))
            await self._keep_alive(protocol)
            return True
        finally:
            was_ready = self.ready.is_set()
            self.ready.clear()
            self.stats.connected = False
            self.stats.connected_since = None
            protocol.close()
            self.protocol = None
            if was_ready:
                self.bus.publish(ev.PbxLinkDown(at=time.time(), pbx=self.stats.pbx,
                                                reason=self.stats.last_error))

    async def _keep_alive(self, protocol: AmiProtocol) -> None:
        interval = self.settings.ping_interval_s
        assert protocol.lost is not None, "connection_made has run"
        while not protocol.closed:
            done, _ = await asyncio.wait({protocol.lost}, timeout=interval)
            if done:  # on_connection_lost has recorded why
                return
            try:
                await self._send(protocol, {"Action": "Ping"}, interval)
            except ActionTimeout:
                # abort() reports the loss later: the link-down event, sent on return, must
                # already know why
                self._loss_cause = self.stats.last_error = "keep-alive Ping unanswered"
                log.warning("AMI keep-alive failed; dropping the connection")
                protocol.abort()
                return
            except ConnectionLost:
                return

    async def _resync(self, protocol: AmiProtocol) -> None:
        started = time.monotonic()
        timeout = self.settings.action_timeout_s
        channels = await self._send(protocol, {"Action": "CoreShowChannels"}, timeout)
        bridges = await self._send(protocol, {"Action": "BridgeList"}, timeout)
        raise_for_error("CoreShowChannels", channels)
        listed = [m for m in _list(channels) if m.get("Event") == "CoreShowChannel"]
        variables = await self._read_variables(protocol, timeout) if listed else {}
        rows = [
            SnapshotChannel(headers=m, bridge_id=(m.get("BridgeId") or None),
                            variables=variables.get(str(m.get("Uniqueid")), {}))
            for m in listed
        ]
        bridge_rows = [m for m in _list(bridges) if m.get("Event") == "BridgeListItem"]
        result = self.model.reconcile(rows, bridge_rows)
        await self._resync_contacts(protocol, timeout)
        elapsed = time.monotonic() - started
        self.stats.last_resync_s = elapsed
        self.stats.resyncs += 1
        log.info("AMI resync done", extra={"channels": len(rows), "ghosts": result.ghosts_removed,
                                           "discovered": result.discovered, "seconds": elapsed})
        self.bus.publish(ev.PbxResynced(
            at=time.time(), pbx=self.stats.pbx, channels=len(self.model.channels),
            calls=len(self.model.calls), bridges=len(self.model.bridges),
            ghosts_removed=result.ghosts_removed, discovered=result.discovered,
            duration_s=elapsed))

    async def _resync_contacts(self, protocol: AmiProtocol, timeout: float) -> None:
        """Registered phones: ``PJSIPShowContacts`` lists every dynamic contact; endpoints
        whose contacts vanished while the link was down become unregistered. Asterisk answers
        an error instead of an empty list when there is no contact at all; any other error
        (res_pjsip not loaded) leaves the registrations as they were, and says so."""
        answer = await self._send(protocol, {"Action": "PJSIPShowContacts"}, timeout)
        first = first_message(answer)
        if first.get("Response") in ("Error", "Failure", "Fail"):
            text = str(first.get("Message", ""))
            if "no contacts" not in text.lower():
                log.warning("AMI PJSIPShowContacts failed; registrations not resynced",
                            extra={"reason": text})
                self.registrations.cancel_resync()
                return
        self.registrations.reconcile(_list(answer))

    async def _read_variables(self, protocol: AmiProtocol,
                              timeout: float) -> dict[str, dict[str, str]]:
        """Our ``CC_*`` variables of every channel, in one ``Status`` action.

        ``AllVariables`` rather than a list of names: a variable set while the link was down
        may be one the model has never seen (only at resync, so its cost does not matter).
        """
        answer = await self._send(protocol, {"Action": "Status", "AllVariables": "true"},
                                  timeout)
        found: dict[str, dict[str, str]] = {}
        for message in _list(answer):
            if message.get("Event") != "Status":
                continue
            lines = message.get("Variable") or []
            values = {}
            for line in lines if isinstance(lines, list) else [lines]:
                name, _, value = str(line).partition("=")
                if value and name.startswith(OUR_VARIABLE_PREFIX):
                    values[name] = value
            found[str(message.get("Uniqueid"))] = values
        return found

    # --- protocol sink ------------------------------------------------------------------

    def on_event(self, headers: dict[str, Any]) -> None:
        if headers.get("Event") == "Shutdown":
            self._loss_cause = "Asterisk shutting down"
        self.model.apply(headers)
        self.registrations.apply(headers)

    def on_connection_lost(self, exc: BaseException | None) -> None:
        """Log and record why *this* connection ended.

        ``stats.last_error`` still holds the previous outage's reason (or a failed connect
        attempt's) until now, so it cannot be what is logged: the reason is the socket's
        error, else what we noticed first (Shutdown, missed Ping, a drop we asked for), else
        the peer closed the connection.
        """
        if exc is not None:
            reason = f"{type(exc).__name__}: {exc}"
        else:
            reason = self._loss_cause or "closed by peer (EOF)"
        self._loss_cause = None
        self.stats.last_error = reason
        log.warning("AMI connection lost", extra={"reason": reason})

    # --- actions ------------------------------------------------------------------------

    def _ready_protocol(self) -> AmiProtocol:
        protocol = self.protocol
        if protocol is None or protocol.closed or not self.ready.is_set():
            raise PbxUnavailable("AMI link is down")
        return protocol

    async def send(self, fields: Mapping[str, Any], timeout: float | None = None) -> Answer:
        """Send one action and return its answer; raises the errors of :mod:`cti.errors`.

        Only callable while the link is ready: during a resync or an outage the caller gets
        :class:`PbxUnavailable` at once instead of an action queued for an unknown future.
        """
        protocol = self._ready_protocol()
        answer = await self._send(protocol, fields, timeout or self.settings.action_timeout_s)
        try:
            raise_for_error(str(fields.get("Action")), answer)
        except ActionFailed:
            self.stats.actions_failed += 1
            raise
        return answer

    async def send_async(self, fields: Mapping[str, Any], accept_timeout: float | None = None,
                         ) -> tuple[Message, asyncio.Future[Answer]]:
        """Send an action answered in two steps (``Originate`` with ``Async: true``).

        Returns the first answer (raising if it is an error) and a future of the complete
        answer. The caller bounds the wait for the latter (it can take a full ring time).
        """
        protocol = self._ready_protocol()
        action = TwoStepAction(dict(fields))
        action.first_answer = asyncio.get_running_loop().create_future()
        protocol.send_action(action)
        self.stats.actions_sent += 1
        timeout = accept_timeout or self.settings.action_timeout_s
        try:
            first = await asyncio.wait_for(asyncio.shield(action.first_answer), timeout)
        except TimeoutError:
            protocol.forget(action)
            self.stats.actions_timed_out += 1
            raise ActionTimeout(f"{fields.get('Action')}: no answer in {timeout:g}s") from None
        try:
            raise_for_error(str(fields.get("Action")), first)
        except ActionFailed:
            self.stats.actions_failed += 1
            protocol.forget(action)
            raise
        return first, action.future

    def forget_action(self, future: asyncio.Future[Answer]) -> None:
        """Stop waiting for an answer (its future is cancelled)."""
        protocol = self.protocol
        if protocol is not None:
            for key, action in list(protocol.responses.items()):
                if action.future is future:
                    protocol.responses.pop(key, None)
        if not future.done():
            future.cancel()

    async def _send(self, protocol: AmiProtocol, fields: Mapping[str, Any],
                    timeout: float) -> Answer:
        action = protocol.send_action(fields)
        self.stats.actions_sent += 1
        try:
            return await asyncio.wait_for(asyncio.shield(action.future), timeout)
        except TimeoutError:
            protocol.forget(action)
            self.stats.actions_timed_out += 1
            if not action.future.done():
                action.future.cancel()
            raise ActionTimeout(f"{fields.get('Action')}: no answer in {timeout:g}s") from None


def _list(answer: Answer) -> list[Message]:
    return answer if isinstance(answer, list) else [answer]
