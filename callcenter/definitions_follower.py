"""Several server processes run one set of definitions: a ``config.changed`` made by another
process (relayed over Redis, :mod:`callcenter.redis_relay`) makes this one reload the
definitions from the shared database and run them.

Why reload rather than carry the change in the event: the database is the record (the other
process stored the change before announcing it), so a process that missed an event still
converges on the next one, and events stay flat. The reload runs without announcing
(``apply(..., announce=False)``): the change was announced once, by its maker; announcing it
again would make the processes reload each other forever. Reloads are serialised and
coalesced: a burst of changes costs one reload after the one running.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from callcenter import events as ev
from callcenter.acd.definitions import AcdDefinitions, DefinitionError
from callcenter.tasks import BackgroundTasks

log = logging.getLogger(__name__)

Load = Callable[[], Awaitable[AcdDefinitions | None]]
Apply = Callable[..., Awaitable[None]]


class DefinitionsFollower:
    """Bus handler: another origin's ``config.changed`` -> ``apply(await load())``."""

    def __init__(self, bus: ev.EventBus, origin: str, load: Load, apply: Apply) -> None:
        self.bus = bus
        self.origin = origin
        self.load = load
        self.apply = apply
        self.reloads = 0
        self._lock = asyncio.Lock()
        self._pending = False
        self._tasks = BackgroundTasks("definitions follower")
        bus.add_handler(self.on_event)

    async def close(self) -> None:
        self.bus.remove_handler(self.on_event)
        await self._tasks.close()

    def on_event(self, event: ev.DomainEvent) -> None:
        if isinstance(event, ev.ConfigChanged) and event.origin != self.origin:
            if not self._pending:
                self._pending = True
                self._tasks.spawn(self._reload())

    async def _reload(self) -> None:
        async with self._lock:
            self._pending = False
            try:
                definitions = await self.load()
            except (OSError, DefinitionError) as exc:
                log.warning("definitions changed elsewhere; cannot reload them: %s", exc)
                return
            except Exception:  # the database: the next change retries
                log.exception("definitions changed elsewhere; reload failed")
                return
            if definitions is not None:
                await self.apply(definitions, announce=False)
                self.reloads += 1
