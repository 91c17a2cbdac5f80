"""AMI wire protocol: panoramisk's protocol, hardened and with a fast path for events.

Why a subclass and not panoramisk's ``Manager``: the manager replays unanswered actions after
a reconnect (an Originate could dial a customer twice), reconnects on a fixed timer without
backoff and has no resync. We keep panoramisk's action objects and response correlation
(:class:`panoramisk.actions.Action` decides when a multi-message answer is complete) and
replace what sits around them:

* Events (the bulk of the stream) are parsed into plain ``dict[str, str]`` with exact
  Asterisk casing, without building a panoramisk ``Message``; only messages that answer one of
  our actions become ``Message`` objects.
* Nothing a peer sends can crash the reader: a block that cannot be read is counted and
  skipped; a message larger than ``max_message_bytes`` is discarded up to its terminator, so a
  runaway header cannot exhaust memory.
* When the connection is lost, actions in flight fail with :class:`ConnectionLost`.
"""

from __future__ import annotations

import asyncio
import codecs
import logging
from collections.abc import Mapping
from typing import Any, BinaryIO, Protocol

from panoramisk import actions
from panoramisk.ami_protocol import AMIProtocol
from panoramisk.message import Message

from callcenter.core.errors import ConnectionLost
from callcenter.cti.link import LinkStats

log = logging.getLogger(__name__)

EOL = "\r\n"
TERMINATOR = "\r\n\r\n"
BANNER = "Asterisk Call Manager/"


class TwoStepAction(actions.Action):
    """An action whose first answer matters on its own (``Originate`` with ``Async``).

    panoramisk resolves ``future`` only when the whole answer is in; ``first_answer``
    resolves with the first message. (A plain attribute lookup would not do: panoramisk's
    dict-like actions answer ``''`` for any missing attribute.)
    """

    first_answer: asyncio.Future[Message] | None = None


class ProtocolSink(Protocol):
    """What the protocol reports to (the AMI client)."""

    stats: LinkStats

    def on_event(self, headers: dict[str, Any]) -> None: ...

    def on_connection_lost(self, exc: BaseException | None) -> None: ...


def parse_block(block: str) -> dict[str, Any]:
    """Headers of one AMI message. Repeated keys (``Output``, ``ChanVariable``) become lists.

    Lines without ``": "`` are ignored, except ``Key:`` with an empty value.
    """
    lines = block.split(EOL)
    try:
        headers: dict[str, Any] = dict([line.split(": ", 1) for line in lines])
        if len(headers) == len(lines):
            return headers
    except ValueError:
        pass
    headers = {}
    for line in lines:
        key, sep, value = line.partition(": ")
        if not sep:
            if line.endswith(":") and len(line) > 1:
                key, value = line[:-1], ""
            else:
                continue
        if key in headers:
            existing = headers[key]
            if isinstance(existing, list):
                existing.append(value)
            else:
                headers[key] = [existing, value]
        else:
            headers[key] = value
    return headers


class AmiProtocol(AMIProtocol):
    """One AMI TCP connection. ``sink`` receives events and the loss of the connection."""

    max_message_bytes = 1 << 20

    def __init__(self, sink: ProtocolSink, recorder: BinaryIO | None = None) -> None:
        self.sink = sink
        self.recorder = recorder
        self.buffer = ""
        # incremental: a UTF-8 character split across two TCP reads must not become U+FFFD
        self.decoder = codecs.getincrementaldecoder("utf-8")("replace")
        self.discarding = False
        self.banner_seen = False
        self.version: str | None = None
        self.responses: dict[str, actions.Action] = {}
        self.closed = False
        #: resolves when the connection is gone (created in connection_made, inside the loop)
        self.lost: asyncio.Future[None] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport
        self.closed = False
        self.lost = asyncio.get_running_loop().create_future()

    # --- reading ------------------------------------------------------------------------

    def data_received(self, data: bytes) -> None:
        if self.recorder is not None:
            self.recorder.write(data)
        text = self.buffer + self.decoder.decode(data)
        if not self.banner_seen:
            text = self._read_banner(text)
            if not self.banner_seen:
                self.buffer = text
                return
        if self.discarding:  # skip the rest of an oversized message, up to its terminator
            end = text.find(TERMINATOR)
            if end < 0:
                self.buffer = text[-(len(TERMINATOR) - 1):]
                return
            text = text[end + len(TERMINATOR):]
            self.discarding = False
        blocks = text.split(TERMINATOR)
        self.buffer = blocks.pop()
        for block in blocks:
            if block:
                self.feed_block(block)
        if len(self.buffer) > self.max_message_bytes:
            self.sink.stats.frames_oversized += 1
            log.warning("AMI message over %d bytes discarded", self.max_message_bytes)
            self.buffer = ""
            self.discarding = True

    def _read_banner(self, text: str) -> str:
        if EOL not in text:
            if len(text) > 256:  # no banner at all: not fatal, read on
                self.banner_seen = True
            return text
        first, _, rest = text.partition(EOL)
        self.banner_seen = True
        if first.startswith(BANNER):
            self.version = first[len(BANNER):].strip()
            return rest
        return text

    def feed_block(self, block: str) -> None:
        """Handle one complete message (without its terminator). Never raises."""
        try:
            headers = parse_block(block.strip(EOL))
            action_id = headers.get("ActionID")
            if action_id is not None and self.responses:
                action = self.responses.get(action_id) if isinstance(action_id, str) else None
                if action is not None:
                    self._answer(action, headers)
                    return
            if "Event" in headers:
                if not isinstance(headers["Event"], str):
                    raise ValueError("repeated Event header")
                self.sink.stats.events_received += 1
                self.sink.on_event(headers)
            elif "Response" not in headers:
                raise ValueError("neither Event nor Response")
        except Exception as exc:
            self.sink.stats.frames_malformed += 1
            log.warning("skipped unreadable AMI message: %s", exc,
                        extra={"ami_block": block[:200]})

    def _answer(self, action: actions.Action, headers: dict[str, Any]) -> None:
        message = Message(headers)
        first = action.first_answer if isinstance(action, TwoStepAction) else None
        if first is not None and not first.done():
            first.set_result(message)
        if action.add_message(message):
            self.responses.pop(action.id, None)

    # --- writing ------------------------------------------------------------------------

    def send_action(self, fields: Mapping[str, Any]) -> actions.Action:
        """Write one action; its ``future`` resolves with the answer (Message or list)."""
        action = fields if isinstance(fields, actions.Action) else actions.Action(dict(fields))
        if self.closed:
            action.future.set_exception(ConnectionLost("AMI connection closed"))
            return action
        self.responses[action.id] = action
        self.transport.write(str(action).encode("utf-8"))  # type: ignore[attr-defined]
        return action

    def forget(self, action: actions.Action) -> None:
        self.responses.pop(action.id, None)

    # --- closing ------------------------------------------------------------------------

    def connection_lost(self, exc: Exception | None) -> None:
        self._fail_pending()
        if self.lost is not None and not self.lost.done():
            self.lost.set_result(None)
        if not self.closed:
            self.closed = True
            self.sink.on_connection_lost(exc)

    def _fail_pending(self) -> None:
        pending, self.responses = self.responses, {}
        for action in pending.values():
            first = action.first_answer if isinstance(action, TwoStepAction) else None
            for future in (action.future, first):
                if future is not None and not future.done():
                    future.set_exception(ConnectionLost("AMI connection lost"))
                    future.exception()  # mark retrieved: nobody may be waiting any more

    def close(self) -> None:
        if not self.closed:
            transport = getattr(self, "transport", None)
            if transport is not None:
                transport.close()

    def abort(self) -> None:
        """Drop the TCP connection at once (keep-alive failure, or tests cutting the link)."""
        transport = getattr(self, "transport", None)
        if transport is not None:
            transport.abort()
