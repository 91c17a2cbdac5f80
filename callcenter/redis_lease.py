"""Dispatch leases and ring claims in Redis: several server processes, one dispatcher per queue.

The core's side is :mod:`callcenter.acd.lease`; this adapter keeps, for one process (a *node*):

- ``{prefix}:lease:{queue}`` = ``node:token``, with a TTL (``ttl_s``, 3 s). A node that does not
  hold it tries to take it every ``renew_s`` (1 s); the holder extends it at the same pace. Taking
  it draws a new **fencing token** from ``{prefix}:fence:{queue}`` (INCR, so tokens only grow).
  Both are one Lua script (compare-and-extend, or take-if-free): no two nodes can believe they
  took the same free lease. A holder that cannot reach Redis for longer than ``ttl_s - renew_s``
  counts its lease as lost *before* Redis lets it expire, so two holders never overlap in their
  own eyes; the fencing check below covers any clock surprise on top.
- ``{prefix}:caller:{channel}`` and ``{prefix}:agent:{agent}`` = ``node:token:agent:seq``: the
  **ring claim**, taken by a script that first checks that ``lease:{queue}`` still is this
  node's holding with this token (else ``stale``), then that no *other* node has the caller
  (``caller_taken``, with the time left) or the agent (``agent_busy``). The caller's claim lasts
  the ring (ring time + 5 s, not renewed: if this node dies mid-ring, the new holder waits until
  that ring is over before offering the caller again) and, once connected, is renewed until the
  caller hangs up; the agent's is renewed until the agent is free again on this node's board
  (ready, paused, logged out). A node that dies leaves claims that expire within ``ttl_s``.

Why not a Redis list of waiting callers: Asterisk already holds every waiting caller (in
``[holding]``, with ``CC_HOLD_START``, ``CC_QUEUE`` and ``CC_PRIORITY`` on the channel), and
every node sees the same channels over AMI. A new holder adopts them from its own call model;
only who dispatches and who is being rung must be shared.

Stopping releases this node's leases at once (another node takes over on its next try, within
``renew_s``) — only a crash costs the TTL.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

import redis.asyncio as aioredis

from callcenter.acd.agents import AgentBoard, AgentState, AgentTransition
from callcenter.acd.lease import ClaimAnswer, LeaseListener, QueueLease, RingClaim
from callcenter.core.clock import Clock

log = logging.getLogger(__name__)

#: KEYS lease, fence; ARGV node, token held (0: none), ttl ms -> the token now held (0: none)
_KEEP = """
local current = redis.call('GET', KEYS[1])
if current == ARGV[1] .. ':' .. ARGV[2] then
  redis.call('PEXPIRE', KEYS[1], ARGV[3])
  return tonumber(ARGV[2])
end
if current then return 0 end
local token = redis.call('INCR', KEYS[2])
redis.call('SET', KEYS[1], ARGV[1] .. ':' .. token, 'PX', ARGV[3])
return token
"""

#: KEYS lease, caller, agent; ARGV node, token, agent, caller ttl ms, agent ttl ms, seq
_CLAIM = """
local mine = ARGV[1] .. ':'
if redis.call('GET', KEYS[1]) ~= mine .. ARGV[2] then return {'stale', 0} end
local caller = redis.call('GET', KEYS[2])
if caller and string.sub(caller, 1, #mine) ~= mine then
  return {'caller_taken', redis.call('PTTL', KEYS[2])}
end
local agent = redis.call('GET', KEYS[3])
if agent and string.sub(agent, 1, #mine) ~= mine then return {'agent_busy', 0} end
local value = mine .. ARGV[2] .. ':' .. ARGV[3] .. ':' .. ARGV[6]
redis.call('SET', KEYS[2], value, 'PX', ARGV[4])
redis.call('SET', KEYS[3], value, 'PX', ARGV[5])
return {'granted', 0}
"""

#: KEYS k1..kn; ARGV ttl ms (0: delete), v1..vn -> how many still held (compare, then act)
_TOUCH = """
local held = 0
for i, key in ipairs(KEYS) do
  if redis.call('GET', key) == ARGV[i + 1] then
    if ARGV[1] == '0' then redis.call('DEL', key) else redis.call('PEXPIRE', key, ARGV[1]) end
    held = held + 1
  end
end
return held
"""

#: the agent is free on this node's board: its claim goes
_FREE = frozenset({AgentState.READY, AgentState.PAUSED, AgentState.OFFLINE})


@dataclass(slots=True)
class RedisQueueLease:
    """One queue's lease on this node (made and kept by :class:`RedisLeases`)."""

    owner: RedisLeases
    queue: str
    token: int = 0
    listeners: list[LeaseListener] = field(default_factory=list)

    @property
    def held(self) -> bool:
        return self.token > 0

    def subscribe(self, listener: LeaseListener) -> None:
        self.listeners.append(listener)

    def unsubscribe(self, listener: LeaseListener) -> None:
        if listener in self.listeners:
            self.listeners.remove(listener)

    def _set(self, token: int, *, releasing: bool = False) -> None:
        was = self.held
        if token != self.token and was:  # lost, or lost and taken again (a new token)
            self.token = 0
            log.log(logging.INFO if releasing else logging.WARNING,
                    "dispatch lease of queue %s %s by node %s", self.queue,
                    "released" if releasing else "lost", self.owner.node_id)
            self._tell(False)
        if token and not self.held:
            self.token = token
            log.info("node %s dispatches queue %s (token %d)", self.owner.node_id,
                     self.queue, token)
            self._tell(True)

    def _tell(self, held: bool) -> None:
        for listener in tuple(self.listeners):
            try:
                listener(held)
            except Exception:  # one queue's listener must not stop the keeper
                log.exception("lease listener of queue %s failed", self.queue)

    async def claim_ring(self, caller_id: str, agent_id: str,
                         ring_timeout_s: float) -> ClaimAnswer:
        return await self.owner.claim(self, caller_id, agent_id, ring_timeout_s)

    async def ring_ended(self, caller_id: str, agent_id: str, *, connected: bool) -> None:
        await self.owner.ring_ended(caller_id, agent_id, connected=connected)

    async def caller_gone(self, caller_id: str) -> None:
        await self.owner.caller_gone(caller_id)


class RedisLeases:
    """Every queue's lease and this node's ring claims over one Redis (see the module doc).

    ``start()`` runs the keeper (one round at once, then every ``renew_s``); ``stop()`` releases
    what this node holds. Redis errors never escape to the ACD: a claim that cannot be checked
    is ``stale`` (nothing is rung on a belief), a keeper round that fails is retried."""

    def __init__(self, url: str, board: AgentBoard, clock: Clock, *, node_id: str | None = None,
                 prefix: str = "callcenter", ttl_s: float = 3.0, renew_s: float = 1.0,
                 ready: Callable[[], bool] = lambda: True) -> None:
        """``ready()``: may this node dispatch at all (its PBX link up and resynced)? While
        not, it takes no lease and gives up those it holds, so a node that lost Asterisk
        leaves its queues to one that sees it."""
        if not 0 < renew_s < ttl_s:
            raise ValueError("renew_s must be positive and shorter than ttl_s")
        self.url = url
        self.board = board
        self.clock = clock
        self.node_id = node_id or uuid.uuid4().hex[:12]
        self.prefix = prefix
        self.ttl_ms = int(ttl_s * 1000)
        self.renew_s = renew_s
        self.ready = ready
        self._leases: dict[str, RedisQueueLease] = {}
        #: key -> value of every claim this node keeps alive
        self._kept: dict[str, str] = {}
        #: (caller, agent) -> the value of that ring's claims
        self._rings: dict[tuple[str, str], str] = {}
        #: agent -> the value of this node's claim on it
        self._agents: dict[str, str] = {}
        self._seq = itertools.count(1)
        #: connects lazily (on the keeper's first round)
        self._redis = aioredis.from_url(url, socket_connect_timeout=2.0, socket_timeout=2.0,
                                        decode_responses=True)
        self._keep_script = self._redis.register_script(_KEEP)
        self._claim_script = self._redis.register_script(_CLAIM)
        self._touch_script = self._redis.register_script(_TOUCH)
        self._running = False
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._last_kept = 0.0
        self._releases: set[asyncio.Task[None]] = set()
        board.listeners.append(self._on_agent)

    # --- what the assembly and the metrics see -----------------------------------------------

    def lease(self, queue: str) -> QueueLease:
        lease = self._leases.get(queue)
        if lease is None:
            lease = self._leases[queue] = RedisQueueLease(self, queue)
        return lease

    @property
    def held(self) -> list[str]:
        """The queues this node dispatches now."""
        return sorted(name for name, lease in self._leases.items() if lease.held)

    # --- lifecycle -----------------------------------------------------------------------------

    async def start(self) -> None:
        self._running = True
        self._stopping.clear()
        self._task = asyncio.create_task(self._keeper(), name=f"dispatch leases {self.node_id}")

    async def stop(self) -> None:
        self._stopping.set()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if not self._running:
            return
        self._running = False
        mine = {self._key("lease", name): f"{self.node_id}:{lease.token}"
                for name, lease in self._leases.items() if lease.held}
        for lease in self._leases.values():
            lease._set(0, releasing=True)
        try:
            await self._touch({**mine, **self._kept}, ttl_ms=0)
        except Exception as exc:  # Redis gone: the TTL frees them
            log.warning("dispatch leases not released (%s): they expire in %d ms", exc,
                        self.ttl_ms)
        for task in list(self._releases):
            task.cancel()
        await self._redis.aclose()

    def _key(self, kind: str, name: str) -> str:
        return f"{self.prefix}:{kind}:{name}"

    async def _keeper(self) -> None:
        # not ``while True``: a cancellation that lands inside a Redis command may be swallowed
        # by the client (redis-py), so the loop also ends on the event
        while not self._stopping.is_set():
            try:
                await self.keep()
            except Exception as exc:
                log.warning("dispatch leases: Redis round failed (%s)", exc)
                if self.clock.now() - self._last_kept > (self.ttl_ms / 1000 - self.renew_s):
                    for lease in self._leases.values():
                        lease._set(0)  # stop before Redis may give it to another node
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self.renew_s)

    async def keep(self) -> None:
        """One round: extend or take each queue's lease, renew the claims kept alive."""
        if not self.ready():
            held = {self._key("lease", name): f"{self.node_id}:{lease.token}"
                    for name, lease in self._leases.items() if lease.held}
            for lease in self._leases.values():
                lease._set(0, releasing=True)
            await self._touch(held, ttl_ms=0)
            self._last_kept = self.clock.now()
            return
        for name, lease in list(self._leases.items()):
            token = int(await self._keep_script(
                keys=[self._key("lease", name), self._key("fence", name)],
                args=[self.node_id, lease.token, self.ttl_ms]))
            lease._set(token)
        if self._kept:
            await self._touch(dict(self._kept), ttl_ms=self.ttl_ms)
        self._last_kept = self.clock.now()

    async def _touch(self, values: dict[str, str], *, ttl_ms: int) -> int:
        if not values:
            return 0
        return int(await self._touch_script(keys=list(values),
                                            args=[ttl_ms, *values.values()]))

    # --- ring claims ---------------------------------------------------------------------------

    async def claim(self, lease: RedisQueueLease, caller_id: str, agent_id: str,
                    ring_timeout_s: float) -> ClaimAnswer:
        if not self._running or not lease.held:
            return ClaimAnswer(RingClaim.STALE)
        seq = next(self._seq)
        try:
            verdict, left_ms = await self._claim_script(
                keys=[self._key("lease", lease.queue), self._key("caller", caller_id),
                      self._key("agent", agent_id)],
                args=[self.node_id, lease.token, agent_id, int((ring_timeout_s + 5) * 1000),
                      self.ttl_ms, seq])
        except Exception as exc:
            log.warning("ring claim for %s not checked (%s): not rung", caller_id, exc)
            return ClaimAnswer(RingClaim.STALE)
        claim = RingClaim(verdict)
        if claim is RingClaim.GRANTED:
            value = f"{self.node_id}:{lease.token}:{agent_id}:{seq}"
            self._rings[caller_id, agent_id] = value
            self._agents[agent_id] = value
            self._kept[self._key("agent", agent_id)] = value
        return ClaimAnswer(claim, max(0, int(left_ms)) / 1000)

    async def ring_ended(self, caller_id: str, agent_id: str, *, connected: bool) -> None:
        value = self._rings.pop((caller_id, agent_id), None)
        if value is None:
            return
        key = self._key("caller", caller_id)
        try:
            if connected:
                self._kept[key] = value
                await self._touch({key: value}, ttl_ms=self.ttl_ms)
            else:
                await self._touch({key: value}, ttl_ms=0)
        except Exception as exc:  # the claim lapses by its TTL
            log.warning("ring claim of %s not updated (%s)", caller_id, exc)

    async def caller_gone(self, caller_id: str) -> None:
        key = self._key("caller", caller_id)
        value = self._kept.pop(key, None)
        if value is not None:
            await self._release(key, value)

    def _on_agent(self, move: AgentTransition) -> None:
        """The agent is free on this board: this node's claim on it goes."""
        if move.state in _FREE:
            value = self._agents.pop(move.agent_id, None)
            if value is not None:
                key = self._key("agent", move.agent_id)
                self._kept.pop(key, None)
                task = asyncio.get_running_loop().create_task(self._release(key, value))
                self._releases.add(task)
                task.add_done_callback(self._releases.discard)

    async def _release(self, key: str, value: str) -> None:
        if not self._running:
            return
        try:
            await self._touch({key: value}, ttl_ms=0)
        except Exception as exc:
            log.warning("claim %s not released (%s): it expires in %d ms", key, exc,
                        self.ttl_ms)
