"""RedisEventRelay against the REAL Redis of the harness: two nodes, one event stream."""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
import redis.asyncio as aioredis
from redis.asyncio.client import PubSub

from callcenter import events as ev
from callcenter.events import CallAnswered, CallStarted, DomainEvent, EventBus, Subscription
from callcenter.redis_relay import RedisEventRelay
from tests.harness import RedisServer

_channels = itertools.count()

MakeRelay = Callable[..., Awaitable[RedisEventRelay]]


@pytest.fixture
def channel() -> str:
    """A channel of this test only, so tests never see each other's events."""
    return f"test:relay:{time.monotonic_ns()}:{next(_channels)}"


@pytest.fixture
async def make_relay(redis_url: str, channel: str) -> AsyncIterator[MakeRelay]:
    relays: list[RedisEventRelay] = []

    async def make(bus: EventBus, node_id: str | None = None) -> RedisEventRelay:
        relay = RedisEventRelay(
            bus, redis_url, channel=channel, node_id=node_id, reconnect_max_s=0.5
        )
        relays.append(relay)
        await relay.start()
        async with asyncio.timeout(5):
            await relay.wait_ready()
        return relay

    yield make
    for relay in relays:
        await relay.stop()


async def next_event(sub: Subscription, within: float = 5.0) -> DomainEvent:
    async with asyncio.timeout(within):
        return await sub.get()


async def eventually(condition: Callable[[], bool], within: float = 10.0) -> None:
    """Poll ``condition`` (a counter of the relay) until true; fail after ``within`` seconds."""
    for _ in range(int(within / 0.05)):
        if condition():
            return
        await asyncio.sleep(0.05)
    pytest.fail(f"condition not met within {within} s")


async def settle(seconds: float = 0.3) -> None:
    """Give stray (echoed, looping) messages the time to show up."""
    await asyncio.sleep(seconds)


async def drain(pubsub: PubSub, seconds: float = 0.5) -> list[bytes]:
    """Every message the spy subscription got (a ``None`` may also be a subscribe reply)."""
    found: list[bytes] = []
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=left)
        if message is not None:
            found.append(message["data"])
    return found


def started(call_id: str) -> CallStarted:
    return CallStarted(at=time.time(), call_id=call_id, caller_num="5551234", context="ivr")


async def test_two_nodes_see_each_others_events_without_echo(
    make_relay: MakeRelay, redis_url: str, channel: str
) -> None:
    bus_a, bus_b = EventBus(), EventBus()
    relay_a = await make_relay(bus_a, "node-a")
    relay_b = await make_relay(bus_b, "node-b")
    sub_a, sub_b = bus_a.subscribe(), bus_b.subscribe()

    # a third party counts what crosses Redis: one message per event means no loop
    spy = aioredis.from_url(redis_url)
    pubsub = spy.pubsub()
    await pubsub.subscribe(channel)
    try:
        from_a = started("call-a")
        bus_a.publish(from_a)
        assert (await next_event(sub_a)) is from_a  # the local publication itself
        got_b = await next_event(sub_b)
        assert got_b == from_a and got_b.to_dict() == from_a.to_dict()

        from_b = CallAnswered(at=time.time(), call_id="call-b")
        bus_b.publish(from_b)
        assert (await next_event(sub_b)) is from_b
        assert (await next_event(sub_a)) == from_b

        await settle()
        assert sub_a.queue.empty() and sub_b.queue.empty(), "an event came back (echo loop)"
        assert (bus_a.published, bus_b.published) == (2, 2)
        assert (relay_a.sent, relay_a.received) == (1, 1)
        assert (relay_b.sent, relay_b.received) == (1, 1)

        crossed = [json.loads(data) for data in await drain(pubsub)]
        assert [(m["node"], m["event"]["type"]) for m in crossed] == [
            ("node-a", "call.started"),
            ("node-b", "call.answered"),
        ]
    finally:
        await pubsub.aclose()
        await spy.aclose()


async def test_handlers_reacting_to_relayed_events_do_not_loop(make_relay: MakeRelay) -> None:
    """A synchronous handler that publishes while a relayed event is injected stays local."""
    bus_a, bus_b = EventBus(), EventBus()
    await make_relay(bus_a, "node-a")
    relay_b = await make_relay(bus_b, "node-b")

    def answer_every_start(event: DomainEvent) -> None:
        if isinstance(event, CallStarted):
            bus_b.publish(CallAnswered(at=event.at, call_id=event.call_id))

    bus_b.add_handler(answer_every_start)
    sub_a, sub_b = bus_a.subscribe(), bus_b.subscribe()
    bus_a.publish(started("call-1"))
    # the handler runs inside publish, before the subscribers are offered the event
    assert {(await next_event(sub_b)).type for _ in range(2)} == {"call.started", "call.answered"}
    assert (await next_event(sub_a)).type == "call.started"
    await settle()
    assert sub_a.queue.empty(), "node b relayed its local reaction back to node a"
    assert relay_b.sent == 0


async def test_malformed_messages_are_skipped(
    make_relay: MakeRelay, redis_url: str, channel: str
) -> None:
    bus = EventBus()
    relay = await make_relay(bus, "node-a")
    sub = bus.subscribe()
    good = started("call-after-garbage")
    garbage = [
        b"not json at all",
        b"\xff\xfe binary",
        json.dumps([1, 2, 3]),
        json.dumps({"node": "other"}),
        json.dumps({"node": 7, "event": good.to_dict()}),
        json.dumps({"node": "other", "event": {"type": "no.such.event", "at": 1.0}}),
        json.dumps({"node": "other", "event": {"type": "call.answered", "at": 1.0}}),
        json.dumps({"node": "other", "event": {**good.to_dict(), "bogus": 1}}),
    ]
    client = aioredis.from_url(redis_url)
    try:
        for payload in garbage:
            await client.publish(channel, payload)
        await client.publish(channel, json.dumps({"node": "other", "event": good.to_dict()}))
    finally:
        await client.aclose()

    assert (await next_event(sub)) == good
    await settle()
    assert sub.queue.empty()
    assert relay.skipped == len(garbage)
    assert relay.received == 1


async def test_own_messages_are_ignored(make_relay: MakeRelay, redis_url: str, channel: str):
    bus = EventBus()
    relay = await make_relay(bus, "node-a")
    sub = bus.subscribe()
    client = aioredis.from_url(redis_url)
    try:
        payload = {"node": "node-a", "event": started("mine").to_dict()}
        await client.publish(channel, json.dumps(payload))
    finally:
        await client.aclose()
    await settle()
    assert sub.queue.empty()
    assert (relay.received, relay.skipped) == (0, 0)


async def test_relay_survives_a_redis_restart(
    make_relay: MakeRelay, redis_server: RedisServer
) -> None:
    bus_a, bus_b = EventBus(), EventBus()
    relay_a = await make_relay(bus_a, "node-a")
    relay_b = await make_relay(bus_b, "node-b")
    sub_b = bus_b.subscribe()
    bus_a.publish(started("before"))
    assert (await next_event(sub_b)).call_id == "before"

    await asyncio.to_thread(redis_server.restart, 1.0)

    # Pub/sub keeps no history: keep publishing probes until one crosses, i.e. until both the
    # publisher of A and the subscriber of B are connected again.
    async with asyncio.timeout(20):
        probe = 0
        while True:
            probe += 1
            bus_a.publish(started(f"probe-{probe}"))
            try:
                event = await next_event(sub_b, within=0.5)
            except TimeoutError:
                continue
            if event.call_id.startswith("probe-"):
                break
    assert relay_a.ready and relay_b.ready

    # and the other direction, now that both are back
    sub_a = bus_a.subscribe()
    bus_b.publish(CallAnswered(at=time.time(), call_id="after"))
    while (event := await next_event(sub_a)).type != "call.answered":
        pass
    assert event.call_id == "after"


async def test_events_published_while_redis_is_down_are_sent_later(
    make_relay: MakeRelay, redis_server: RedisServer, redis_url: str
) -> None:
    bus = EventBus()
    relay = await make_relay(bus, "node-a")
    redis_server.stop()
    try:
        bus.publish(started("while-down"))
        await asyncio.sleep(0.3)
        assert relay.sent == 0
    finally:
        redis_server.start()
    # the publisher retries with backoff (at most reconnect_max_s = 0.5 s apart)
    await eventually(lambda: relay.sent > 0)
    # A subscriber made after the restart could miss it (pub/sub has no history), so ask the
    # new Redis process itself: it has served exactly one PUBLISH since it started.
    client = aioredis.from_url(redis_url)
    try:
        stats = await client.info("commandstats")
    finally:
        await client.aclose()
    assert stats["cmdstat_publish"]["calls"] == 1
    assert relay.sent == 1


async def test_stop_removes_the_bus_handler_and_is_idempotent(redis_url: str) -> None:
    bus = EventBus()
    relay = RedisEventRelay(bus, redis_url, channel="test:relay:stop")
    await relay.start()
    await relay.start()
    assert bus.handlers.count(relay._on_local_event) == 1
    async with asyncio.timeout(5):
        await relay.wait_ready()
    await relay.stop()
    await relay.stop()
    assert bus.handlers == []
    assert not relay.ready


async def test_serve_keeps_back_what_each_node_sees_on_its_own_pbx_link(
        redis_url: str, channel: str) -> None:
    """Every node has its own AMI link to the same Asterisk: channel and call events are not
    relayed (each node would see them twice); a queue step is, and the receiving bus says
    it is relayed while delivering it (so that node does not write it to the queue log)."""
    from callcenter.redis_relay import not_from_the_pbx

    bus_a, bus_b = EventBus(), EventBus()
    seen: list[tuple[str, bool]] = []
    bus_b.add_handler(lambda event: seen.append((event.type, bus_b.relayed)))
    relays = [RedisEventRelay(bus, redis_url, channel=channel, node_id=node,
                              relays=not_from_the_pbx)
              for bus, node in ((bus_a, "a"), (bus_b, "b"))]
    for relay in relays:
        await relay.start()
        async with asyncio.timeout(5):
            await relay.wait_ready()
    try:
        bus_a.publish(ev.ChannelCreated(at=1.0, call_id="c", channel_id="c", name="PJSIP/x-1",
                                        state="ring"))
        bus_a.publish(ev.CallQueued(at=1.0, queue="support", call_id="c", channel_id="c",
                                    priority=0, waiting=1))
        await eventually(lambda: relays[1].received >= 1)
        await settle()
        assert seen == [("queue.entered", True)] and not bus_b.relayed
    finally:
        for relay in relays:
            await relay.stop()
