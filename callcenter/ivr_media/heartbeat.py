"""The IVR's heartbeat in the dialplan: Asterisk hands a caller to the AudioSocket listener only
while the server says the listener is there.

Why. When the connection is refused, Asterisk 22's ``AudioSocket()`` closes its socket twice
(``res_audiosocket.c``, ``ast_audiosocket_connect``: ``close(s)`` in the address loop, then
again after it). The second ``close()`` can hit a descriptor another thread opened meanwhile —
the timer of some other call, which then fails ("Failed to acknowledge timer in ast_read") and
hangs up. Seen on the sandbox: with no IVR listening, a caller waiting in ``[holding]`` or an
agent's ringing phone hung up at random. So the dialplan never tries a listener that is not
there: while it listens, the server sets the global ``CC_IVR_ALIVE`` to the current epoch second
every :data:`HEARTBEAT_S` (and at once when the AMI link is back), and clears it when it stops;
with each beat it also sets ``CALLCENTER_AUDIOSOCKET`` to where it listens, so a beat never
points the dialplan at a port nobody listens on (the file's value is only the default);
``[ivr]`` sends callers straight to ``[holding]`` when the beat is older than the dialplan's
``CC_IVR_STALE_S`` (15 s). A server that dies leaves a stale beat: for at most 15 s callers may
still meet a refused connection, then they skip the IVR until a server beats again.
"""

from __future__ import annotations

import asyncio
import logging

from callcenter import events as ev
from callcenter.core.clock import Clock
from callcenter.core.errors import PbxError
from callcenter.core.pbx import Pbx
from callcenter.tasks import BackgroundTasks

log = logging.getLogger(__name__)

#: the dialplan global holding the last beat (epoch seconds; empty: no IVR)
ALIVE_VARIABLE = "CC_IVR_ALIVE"
#: the dialplan global naming the listener (host:port)
ADDRESS_VARIABLE = "CALLCENTER_AUDIOSOCKET"
#: how often the server beats (the dialplan's CC_IVR_STALE_S must be a few beats longer)
HEARTBEAT_S = 5.0


class IvrHeartbeat:
    def __init__(self, pbx: Pbx, bus: ev.EventBus, clock: Clock, address: str,
                 interval_s: float = HEARTBEAT_S) -> None:
        """``address``: host:port of the listener, as Asterisk reaches it."""
        self.pbx = pbx
        self.address = address
        self.bus = bus
        self.clock = clock
        self.interval_s = interval_s
        #: beats the PBX accepted
        self.beats = 0
        self._tasks = BackgroundTasks("ivr heartbeat")

    async def start(self) -> None:
        """Beat now (a caller arriving right after start-up already meets the IVR), then on."""
        self.bus.add_handler(self._on_event)
        await self.beat()
        self._tasks.spawn(self._run())

    async def stop(self) -> None:
        self.bus.remove_handler(self._on_event)
        await self._tasks.close()
        try:  # callers skip the IVR from now on, not 15 s later
            await asyncio.wait_for(self.pbx.set_global(ALIVE_VARIABLE, ""), 2.0)
        except (PbxError, TimeoutError) as exc:
            log.info("ivr heartbeat not cleared (%s): it goes stale in the dialplan", exc)

    async def beat(self) -> None:
        try:
            await self.pbx.set_global(ADDRESS_VARIABLE, self.address)
            await self.pbx.set_global(ALIVE_VARIABLE, str(int(self.clock.now())))
        except PbxError as exc:  # link down: the next beat, or the resync, sets it
            log.info("ivr heartbeat not sent: %s", exc)
        else:
            self.beats += 1

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval_s)
            await self.beat()

    def _on_event(self, event: ev.DomainEvent) -> None:
        if isinstance(event, ev.PbxResynced):
            self._tasks.spawn(self.beat())
