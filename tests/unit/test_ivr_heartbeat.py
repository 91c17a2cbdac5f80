"""The IVR's heartbeat: the dialplan global CC_IVR_ALIVE is the last beat's epoch second while
the listener runs, set again when the AMI link is back, emptied on stop; a link that is down
loses a beat, never the server."""

from __future__ import annotations

import asyncio
import random

from callcenter import events as ev
from callcenter.core.clock import RealtimeClock
from callcenter.core.errors import PbxUnavailable
from callcenter.cti.model import CallModel
from callcenter.ivr_media.heartbeat import ADDRESS_VARIABLE, ALIVE_VARIABLE, IvrHeartbeat
from callcenter.sim.pbx import SimulatedPbx


class DownPbx(SimulatedPbx):
    down = False

    async def set_global(self, name: str, value: str) -> None:
        if self.down:
            raise PbxUnavailable("Setvar", "AMI link is down")
        await super().set_global(name, value)


async def test_beats_while_running_and_clears_on_stop() -> None:
    clock = RealtimeClock()
    bus = ev.EventBus()
    pbx = DownPbx(clock, CallModel(emit=bus.publish), random.Random(1))
    heartbeat = IvrHeartbeat(pbx, bus, clock, "127.0.0.1:19092", interval_s=0.05)
    await heartbeat.start()
    assert pbx.globals[ADDRESS_VARIABLE] == "127.0.0.1:19092"
    assert abs(int(pbx.globals[ALIVE_VARIABLE]) - clock.now()) <= 1
    await asyncio.sleep(0.18)
    assert heartbeat.beats >= 3
    pbx.down = True
    beats = heartbeat.beats
    await asyncio.sleep(0.12)
    assert heartbeat.beats == beats  # lost beats, the loop goes on
    pbx.down = False
    pbx.globals[ALIVE_VARIABLE] = "0"
    bus.publish(ev.PbxResynced(at=clock.now(), pbx="asterisk", channels=0, calls=0, bridges=0,
                                ghosts_removed=0, discovered=0, duration_s=0.1))
    await asyncio.sleep(0.01)
    assert pbx.globals[ALIVE_VARIABLE] != "0"  # at once, not at the next beat
    await heartbeat.stop()
    assert pbx.globals[ALIVE_VARIABLE] == ""
    after = heartbeat.beats
    await asyncio.sleep(0.1)
    assert heartbeat.beats == after
