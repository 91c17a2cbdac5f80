"""Relay domain events between server processes over Redis pub/sub.

When several ``callcenter serve`` processes share one center, each one sees only its own AMI
link, dialer and consoles. The relay makes them see one event stream: every event published on
the local :class:`~callcenter.events.EventBus` is published to a Redis channel as JSON
``{"node": <node id>, "event": event.to_dict()}``, and every event another node published there
is decoded with :func:`~callcenter.events.event_from_dict` and published on the local bus.

Loop safety, both ways:

- a node ignores messages that carry its own ``node`` id (Redis echoes them back to it);
- an event injected from Redis is published on the local bus while a flag is set, and the
  relay's own bus handler skips whatever is published during that window. Bus handlers are
  synchronous, so the window covers exactly the injected event *and* anything a synchronous
  handler derives from it on the spot. Those derivations stay local on purpose: every node runs
  the same handlers and derives the same thing itself.

Robustness: a message that is not JSON, not an object of that shape, or names an unknown event
type is logged and skipped (``skipped`` counts them). Redis going away never stops the relay:
both the publisher and the subscriber reconnect with exponential backoff. Events published
locally while Redis is unreachable wait in a bounded outbox (oldest dropped first, counted in
``dropped``) and are sent after the reconnect; pub/sub has no history, so what other nodes
published while this node was disconnected is lost (consumers re-read snapshots after a
``pbx.resynced`` or their own reconnect).

Publishing on the bus never awaits: the bus handler only puts the event in the outbox.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from collections.abc import Callable
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.client import PubSub

from callcenter.events import DomainEvent, EventBus, event_from_dict

log = logging.getLogger(__name__)

DEFAULT_CHANNEL = "callcenter:events"

#: what every node derives from its own link to the same Asterisk (channels, calls, the link,
#: phones' registrations): relayed, each node would see every such event twice
_FROM_THE_PBX = ("channel.", "call.", "pbx.", "device.", "agent.registration")


def not_from_the_pbx(event: DomainEvent) -> bool:
    """Relay only what another node cannot see itself: its decisions (queue steps, agents'
    moves and controls, screen pops, IVR steps, configuration changes, campaigns)."""
    return not event.type.startswith(_FROM_THE_PBX)

async def publish_once(url: str, event: DomainEvent, node: str,
                       channel: str = DEFAULT_CHANNEL) -> int:
    """Publish one event as a relay node would, for a process that is not a server (a CLI
    command that changed what the servers share): every server's relay puts it on its bus.
    Returns how many subscribers received it; Redis errors pass through."""
    client = aioredis.from_url(url)
    try:
        return int(await client.publish(
            channel, json.dumps({"node": node, "event": event.to_dict()})))
    finally:
        await client.aclose()


class RedisEventRelay:
    """Bridges one local :class:`EventBus` and one Redis pub/sub channel.

    ``await start()`` returns at once (Redis may still be down: the relay keeps trying);
    ``await wait_ready()`` waits until the channel is subscribed. ``await stop()`` sends
    what is still in the outbox (for up to ``flush_timeout_s``) and closes every connection.
    """

    def __init__(
        self,
        bus: EventBus,
        url: str,
        channel: str = DEFAULT_CHANNEL,
        node_id: str | None = None,
        *,
        reconnect_min_s: float = 0.1,
        reconnect_max_s: float = 5.0,
        outbox_size: int = 10_000,
        health_check_interval_s: float = 10.0,
        relays: Callable[[DomainEvent], bool] = lambda _event: True,
    ) -> None:
        """``relays(event)``: whether this kind of event goes to the other nodes (all by
        default; ``callcenter serve`` keeps back what each node sees on its own PBX link:
        :func:`not_from_the_pbx`)."""
        self.bus = bus
        self.relays = relays
        self.url = url
        self.channel = channel
        self.node_id = node_id or uuid.uuid4().hex
        self.reconnect_min_s = reconnect_min_s
        self.reconnect_max_s = reconnect_max_s
        self.health_check_interval_s = health_check_interval_s
        self._outbox: asyncio.Queue[DomainEvent] = asyncio.Queue(outbox_size)
        self._injecting = False
        self._tasks: list[asyncio.Task[None]] = []
        self._subscribed = asyncio.Event()
        self._running = False
        # counters (exported as metrics by whoever owns the relay)
        self.sent = 0
        self.received = 0
        self.skipped = 0
        self.dropped = 0
        self.subscriptions = 0  # successful (re)subscriptions; > 1 means it reconnected

    # --- lifecycle ----------------------------------------------------------------------------

    @property
    def ready(self) -> bool:
        """True while the channel is subscribed (events from other nodes arrive)."""
        return self._subscribed.is_set()

    async def start(self) -> None:
        if self._running:
            return
        self._running = True
        self.bus.add_handler(self._on_local_event)
        self._tasks = [
            asyncio.create_task(self._publish_loop(), name=f"redis-relay-out:{self.channel}"),
            asyncio.create_task(self._subscribe_loop(), name=f"redis-relay-in:{self.channel}"),
        ]

    async def wait_ready(self) -> None:
        """Wait until the channel is subscribed (wrap in ``asyncio.timeout`` to bound it)."""
        await self._subscribed.wait()

    async def stop(self, flush_timeout_s: float = 1.0) -> None:
        if not self._running:
            return
        self.bus.remove_handler(self._on_local_event)
        if flush_timeout_s > 0 and not self._outbox.empty():
            try:
                async with asyncio.timeout(flush_timeout_s):
                    await self._outbox.join()
            except TimeoutError:
                log.warning(
                    "redis relay stopping with %d unsent events", self._outbox.qsize()
                )
        self._running = False
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        self._subscribed.clear()

    # --- local bus -> Redis -------------------------------------------------------------------

    def _on_local_event(self, event: DomainEvent) -> None:
        if self._injecting:
            return  # relayed in from another node (or derived from it): never send it back
        if not self.relays(event):
            return
        if self._outbox.full():
            self._outbox.get_nowait()
            self._outbox.task_done()
            self.dropped += 1
        self._outbox.put_nowait(event)

    def _encode(self, event: DomainEvent) -> str | None:
        try:
            return json.dumps({"node": self.node_id, "event": event.to_dict()})
        except (TypeError, ValueError):
            log.exception("redis relay cannot encode %s; not relayed", event.type)
            return None

    async def _publish_loop(self) -> None:
        delay = self.reconnect_min_s
        failures = 0  # consecutive failed attempts: warn once per outage, then debug
        client: aioredis.Redis | None = None
        try:
            while True:
                event = await self._outbox.get()
                payload = self._encode(event)
                while payload is not None:
                    try:
                        if client is None:
                            client = self._client()
                        await client.publish(self.channel, payload)
                        self.sent += 1
                        if failures:
                            log.info("redis relay: publishing again after %d retries", failures)
                        delay, failures = self.reconnect_min_s, 0
                        break
                    except Exception as exc:  # connection lost, Redis restarting, auth ...
                        failures += 1
                        log.log(
                            logging.WARNING if failures == 1 else logging.DEBUG,
                            "redis relay: publish to %s failed (%s); retrying every <= %.1f s, "
                            "%d events waiting", self.channel, exc, self.reconnect_max_s,
                            self._outbox.qsize() + 1,
                        )
                        await self._close_client(client)
                        client = None
                        await asyncio.sleep(delay)
                        delay = min(delay * 2, self.reconnect_max_s)
                self._outbox.task_done()
        finally:
            await self._close_client(client)

    # --- Redis -> local bus -------------------------------------------------------------------

    async def _subscribe_loop(self) -> None:
        delay = self.reconnect_min_s
        failures = 0  # consecutive failed attempts: warn once per outage, then debug
        while True:
            client = self._client(health_check_interval=self.health_check_interval_s)
            pubsub: PubSub = client.pubsub()
            try:
                await pubsub.subscribe(self.channel)
                self.subscriptions += 1
                delay, failures = self.reconnect_min_s, 0
                self._subscribed.set()
                log.info("redis relay subscribed to %s as node %s", self.channel, self.node_id)
                while True:
                    message = await pubsub.get_message(
                        ignore_subscribe_messages=True, timeout=1.0
                    )
                    if message is not None and message.get("type") == "message":
                        self._on_remote_message(message.get("data"))
            except Exception as exc:  # connection lost, Redis restarting, auth ...
                self._subscribed.clear()
                failures += 1
                log.log(
                    logging.WARNING if failures == 1 else logging.DEBUG,
                    "redis relay: no subscription to %s (%s); retrying every <= %.1f s",
                    self.channel, exc, self.reconnect_max_s,
                )
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()
                await self._close_client(client)
            await asyncio.sleep(delay)
            delay = min(delay * 2, self.reconnect_max_s)

    def _on_remote_message(self, data: Any) -> None:
        try:
            message = json.loads(data)
            if not isinstance(message, dict):
                raise ValueError("not a JSON object")
            node, payload = message.get("node"), message.get("event")
            if not isinstance(node, str) or not isinstance(payload, dict):
                raise ValueError('expected {"node": str, "event": object}')
            if node == self.node_id:
                return  # our own event, echoed by Redis
            event = event_from_dict(payload)
        except Exception as exc:  # malformed input must never stop the relay
            self.skipped += 1
            log.warning(
                "redis relay: skipped a message on %s (%s: %s): %.200r",
                self.channel, type(exc).__name__, exc, data,
            )
            return
        self.received += 1
        self._injecting = True
        self.bus.relayed = True
        try:
            self.bus.publish(event)
        finally:
            self._injecting = False
            self.bus.relayed = False

    # --- helpers ------------------------------------------------------------------------------

    def _client(self, **options: Any) -> aioredis.Redis:
        return aioredis.from_url(
            self.url, socket_connect_timeout=5.0, socket_keepalive=True, **options
        )

    @staticmethod
    async def _close_client(client: aioredis.Redis | None) -> None:
        if client is not None:
            with contextlib.suppress(Exception):
                await client.aclose()
