"""Dispatch leases and ring claims on a real Redis (``callcenter/redis_lease.py``): one holder per
queue, a crashed holder replaced within its TTL with a larger fencing token, a stale holder's
ring refused, an agent never claimed by two nodes, a caller whose ring may still go on not
offered again before that ring is over, a clean stop handing over at once."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from callcenter.acd.agents import AgentBoard
from callcenter.acd.lease import RingClaim
from callcenter.core.clock import RealtimeClock
from callcenter.redis_lease import RedisLeases

pytestmark = pytest.mark.integration

TTL_S = 1.0
RENEW_S = 0.2


def _board() -> AgentBoard:
    board = AgentBoard()
    for agent_id in ("2001", "2002"):
        board.log_in(board.add(agent_id), time.time())
    return board


async def _until(predicate: Callable[[], bool], timeout: float, what: str) -> float:
    began = time.monotonic()
    while not predicate():
        if time.monotonic() - began > timeout:
            raise AssertionError(f"timed out: {what}")
        await asyncio.sleep(0.01)
    return time.monotonic() - began


@pytest.fixture
async def nodes(redis_url: str, request: pytest.FixtureRequest) -> AsyncIterator[Any]:
    made: list[RedisLeases] = []
    prefix = f"test-{request.node.name}"

    async def make(name: str, *queues: str, ready: Callable[[], bool] = lambda: True,
                   board: AgentBoard | None = None) -> RedisLeases:
        node = RedisLeases(redis_url, board or _board(), RealtimeClock(), node_id=name,
                           prefix=prefix, ttl_s=TTL_S, renew_s=RENEW_S, ready=ready)
        for queue in queues:
            node.lease(queue)
        await node.start()
        made.append(node)
        return node

    yield make
    for node in made:
        await node.stop()


def _crash(node: RedisLeases) -> None:
    """The node's process stops dead: no more renewals, nothing released."""
    assert node._task is not None
    node._stopping.set()
    node._task.cancel()


async def test_one_holder_and_a_crashed_one_replaced_within_the_ttl(nodes: Any) -> None:
    a = await nodes("a", "support")
    await _until(lambda: a.held == ["support"], 2, "a holds")
    b = await nodes("b", "support")
    await asyncio.sleep(3 * RENEW_S)
    assert b.held == [] and a.held == ["support"], "one holder at a time"
    old = a.lease("support").token
    heard: list[bool] = []
    b.lease("support").subscribe(heard.append)
    _crash(a)
    took = await _until(lambda: b.held == ["support"], TTL_S + 2 * RENEW_S + 1, "b takes over")
    assert took <= TTL_S + 2 * RENEW_S + 0.3
    assert b.lease("support").token > old and heard == [True]
    # the crashed node still believes it holds the lease: its ring is refused (fencing)
    assert a.lease("support").held
    answer = await a.lease("support").claim_ring("caller-1", "2001", 20.0)
    assert answer.claim is RingClaim.STALE
    assert (await b.lease("support").claim_ring("caller-1", "2001", 20.0)).claim \
        is RingClaim.GRANTED


async def test_a_standby_rings_nobody(nodes: Any) -> None:
    a = await nodes("a", "support")
    await _until(lambda: a.held == ["support"], 2, "a holds")
    b = await nodes("b", "support")
    answer = await b.lease("support").claim_ring("caller-1", "2001", 20.0)
    assert answer.claim is RingClaim.STALE


async def test_two_queues_in_two_nodes_never_claim_the_same_agent(nodes: Any) -> None:
    board_a = _board()
    a = await nodes("a", "sales", board=board_a)
    b = await nodes("b", "support")
    await _until(lambda: a.held == ["sales"] and b.held == ["support"], 2, "both hold")
    assert (await a.lease("sales").claim_ring("c1", "2001", 20.0)).claim is RingClaim.GRANTED
    assert (await b.lease("support").claim_ring("c2", "2001", 20.0)).claim \
        is RingClaim.AGENT_BUSY
    assert (await b.lease("support").claim_ring("c2", "2002", 20.0)).claim \
        is RingClaim.GRANTED
    # the agent talks (renewed beyond the TTL), then is free on a's board: b may ring it
    agent = board_a["2001"]
    board_a.reserve(agent, "c1", time.time())
    await a.lease("sales").ring_ended("c1", "2001", connected=True)
    board_a.answer(agent, time.time())
    await asyncio.sleep(TTL_S * 1.5)
    assert (await b.lease("support").claim_ring("c3", "2001", 20.0)).claim \
        is RingClaim.AGENT_BUSY
    board_a.end_call(agent, time.time(), wrap_up=False)
    await asyncio.sleep(0.1)
    assert (await b.lease("support").claim_ring("c3", "2001", 20.0)).claim \
        is RingClaim.GRANTED


async def test_a_caller_rung_by_a_dead_node_waits_until_that_ring_is_over(
        nodes: Any) -> None:
    a = await nodes("a", "support")
    await _until(lambda: a.held == ["support"], 2, "a holds")
    b = await nodes("b", "support")
    ring_s = 3.0
    assert (await a.lease("support").claim_ring("c1", "2001", ring_s)).claim \
        is RingClaim.GRANTED
    _crash(a)
    await _until(lambda: b.held == ["support"], TTL_S + 1, "b takes over")
    answer = await b.lease("support").claim_ring("c1", "2002", 20.0)
    assert answer.claim is RingClaim.CALLER_TAKEN
    assert ring_s < answer.retry_after_s <= ring_s + 5.0
    # the agent's claim of the dead node lapsed with its TTL: that agent is free for others
    assert (await b.lease("support").claim_ring("c2", "2001", 20.0)).claim \
        is RingClaim.GRANTED


async def test_a_ring_not_connected_frees_the_caller_at_once(nodes: Any) -> None:
    a = await nodes("a", "support")
    await _until(lambda: a.held == ["support"], 2, "a holds")
    lease = a.lease("support")
    assert (await lease.claim_ring("c1", "2001", 20.0)).claim is RingClaim.GRANTED
    await lease.ring_ended("c1", "2001", connected=False)
    assert (await lease.claim_ring("c1", "2002", 20.0)).claim is RingClaim.GRANTED


async def test_a_clean_stop_hands_over_at_once_and_a_node_without_its_pbx_holds_nothing(
        nodes: Any) -> None:
    pbx_up = {"a": True}
    a = await nodes("a", "support", ready=lambda: pbx_up["a"])
    await _until(lambda: a.held == ["support"], 2, "a holds")
    b = await nodes("b", "support")
    pbx_up["a"] = False
    took = await _until(lambda: b.held == ["support"] and a.held == [], 2, "b takes over")
    assert took < TTL_S, "given up, not left to expire"
    pbx_up["a"] = True
    await b.stop()
    took = await _until(lambda: a.held == ["support"], 2, "a takes it back")
    assert took < TTL_S
