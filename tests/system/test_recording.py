"""A recorded queue on the real Asterisk: the caller (who plays a prompt) reaches a SIP agent
through the assembly's ACD, the conversation is recorded with MixMonitor from the caller's
side, and when the caller hangs up the file is complete: a valid WAV with the prompt's audio,
named on the channel (``CC_RECORDING``) for the call's interaction."""

from __future__ import annotations

import array
import asyncio
import wave
from pathlib import Path
from typing import Any

import pytest

from callcenter.acd.agents import AgentState
from callcenter.config import AcdSettings
from callcenter.contact_center import build_contact_center
from callcenter.core.clock import RealtimeClock
from callcenter.core.pbx import OriginateRequest

from .conftest import Link
from .sipp_agent import SippAgent

pytestmark = pytest.mark.system


def _wav_facts(path: Path) -> tuple[float, float]:
    """(seconds, RMS of the samples) of a 16-bit WAV."""
    with wave.open(str(path)) as wav:
        frames = wav.readframes(wav.getnframes())
        seconds = wav.getnframes() / wav.getframerate()
        assert wav.getsampwidth() == 2
    samples = array.array("h", frames)
    rms = (sum(s * s for s in samples) / max(1, len(samples))) ** 0.5
    return seconds, rms


async def test_a_recorded_queue_leaves_a_complete_file_when_the_caller_hangs_up(
        link: Link, asterisk_sandbox: Any) -> None:
    settings = AcdSettings(agents=["2001"], wrap_up_s=0.5, record_queues=["default"],
                           recording_file="cc-test/{date}/{call_id}.wav")
    center = build_contact_center(link.pbx, link.bus, RealtimeClock(), settings)
    phone = SippAgent(asterisk_sandbox, "2001", port=25_341, ring_ms=200)
    await phone.start()
    await center.start()
    agent = center.board["2001"]
    try:
        # the ;1 half plays 8 s of the hold announcement (a recorded voice) towards the
        # caller's ;2 half, which waits in [holding] and is bridged to the agent: that is
        # what the recording must hold; then the ;1 half hangs up
        caller = await link.pbx.originate(OriginateRequest(
            endpoint="Local/5550100@inbound", application="MusicOnHold",
            data="default,8", caller_id="+14155550123", timeout_s=10))
        assert (await asyncio.wait_for(caller.outcome, 10)).answered
        await link.wait_for(lambda: agent.state is AgentState.ON_CALL, 15, "agent on call")
        holder = next(ch for ch in link.model.channels.values() if ch.context == "holding"
                      or ch.variables.get("CC_HOLD_START"))
        await link.wait_for(lambda: "CC_RECORDING" in holder.variables, 5, "file named")
        name = holder.variables["CC_RECORDING"]
        # the prompt ends, the caller's ;1 hangs up: the pair ends, the file is closed
        try:
            await link.wait_for(lambda: agent.state is AgentState.READY, 30, "conversation over")
        except AssertionError:
            raise AssertionError((agent.state, [(c.name, c.state.value, c.context, c.bridge_id)
                                                for c in link.model.channels.values()],
                                  [e.type for e in link.events][-30:])) from None
        await link.wait_for(lambda: not link.model.channels, 10, "all channels gone")
        path = asterisk_sandbox.settings.root / "var/spool/asterisk/monitor" / name
        for _ in range(50):  # MixMonitor closes the file just after the hang-up
            if path.exists():
                break
            await asyncio.sleep(0.1)
        assert path.exists(), f"no recording at {path}"
        seconds, rms = await asyncio.to_thread(_wav_facts, path)
        print(f"recording {name}: {seconds:.2f} s, RMS {rms:.0f}")
        assert seconds > 2.0, seconds  # 8 s of announcement, bridged for most of it
        assert rms > 100, rms  # speech, not silence
    finally:
        await center.close()
        await phone.stop()
