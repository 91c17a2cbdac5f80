"""Each agent's open console streams. A message for agent A is put on A's streams only."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from typing import Any


class AgentHub:
    """agent id -> bounded queues of JSON-ready messages (one queue per open WebSocket)."""

    def __init__(self, queue_size: int = 100) -> None:
        self.queue_size = queue_size
        self._streams: dict[str, set[asyncio.Queue[dict[str, Any]]]] = defaultdict(set)

    def open(self, agent_id: str) -> asyncio.Queue[dict[str, Any]]:
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(self.queue_size)
        self._streams[agent_id].add(queue)
        return queue

    def close(self, agent_id: str, queue: asyncio.Queue[dict[str, Any]]) -> None:
        streams = self._streams.get(agent_id)
        if streams is not None:
            streams.discard(queue)
            if not streams:
                del self._streams[agent_id]

    def connected(self, agent_id: str) -> int:
        return len(self._streams.get(agent_id, ()))

    def push(self, agent_id: str, message: dict[str, Any]) -> int:
        """Deliver to every stream of ``agent_id``; returns how many got it. A full queue
        (a console that stopped reading) loses its oldest message, never blocks the others."""
        streams = self._streams.get(agent_id, ())
        for queue in streams:
            if queue.full():
                queue.get_nowait()
            queue.put_nowait(message)
        return len(streams)
