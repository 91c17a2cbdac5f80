"""Listen / whisper / barge on the real Asterisk: a caller (who plays a recorded voice) talks
to a SIP agent through the ACD; the supervisor's "phone" (a Local channel that records what it
hears) is rung into ChanSpy on the agent's leg and hears the conversation; whisper and barge
run ChanSpy with their own options on the same leg; every spy call ends with the conversation.
"""

from __future__ import annotations

import array
import asyncio
import wave
from pathlib import Path
from typing import Any

import pytest

from callcenter import events as ev
from callcenter.acd.agents import AgentState
from callcenter.config import AcdSettings
from callcenter.contact_center import build_contact_center
from callcenter.core.clock import RealtimeClock
from callcenter.core.pbx import OriginateRequest, SpyMode
from callcenter.supervision import NotOnCall, Supervision

from .conftest import Link
from .sipp_agent import SippAgent

pytestmark = pytest.mark.system


def _rms(path: Path) -> tuple[float, float]:
    """(seconds, RMS of the samples) of a 16-bit WAV."""
    with wave.open(str(path)) as wav:
        frames = wav.readframes(wav.getnframes())
        seconds = wav.getnframes() / wav.getframerate()
    samples = array.array("h", frames)
    return seconds, (sum(s * s for s in samples) / max(1, len(samples))) ** 0.5


async def test_a_supervisor_hears_the_agents_call_and_can_whisper_and_barge(
        link: Link, asterisk_sandbox: Any) -> None:
    settings = AcdSettings(agents=["2001"], wrap_up_s=0.5)
    clock = RealtimeClock()
    center = build_contact_center(link.pbx, link.bus, clock, settings)
    supervision = Supervision(link.pbx, link.bus, center.board, center.endpoints, clock)
    phone = SippAgent(asterisk_sandbox, "2001", port=25_351, ring_ms=200, echo=True)
    await phone.start()
    await center.start()
    agent = center.board["2001"]
    name = f"t{int(clock.now() * 1000)}"
    try:
        with pytest.raises(NotOnCall):
            await supervision.spy("2001", f"Local/spy-{name}@cc-test", SpyMode.LISTEN)
        # the caller's ;1 half plays 12 s of the hold announcement (a recorded voice) towards
        # its ;2 half, which waits in [holding] and is bridged to the agent
        caller = await link.pbx.originate(OriginateRequest(
            endpoint="Local/5550100@inbound", application="MusicOnHold",
            data="default,12", caller_id="+14155550124", timeout_s=10))
        assert (await asyncio.wait_for(caller.outcome, 10)).answered
        await link.wait_for(lambda: agent.state is AgentState.ON_CALL, 15, "agent on call")
        await link.wait_for(lambda: supervision_ready(supervision), 5, "agent leg bridged")

        started = await supervision.spy("2001", f"Local/spy-{name}@cc-test", SpyMode.LISTEN,
                                        supervisor="sup1")
        await link.wait_for(lambda: answered(link, started), 10, "listen answered")
        target = link.model.channels[started.target_channel_id]
        assert target.name.startswith("PJSIP/2001-")
        whisper = await supervision.spy("2001", f"Local/spy-{name}w@cc-test", SpyMode.WHISPER)
        barge = await supervision.spy("2001", f"Local/spy-{name}b@cc-test", SpyMode.BARGE)
        for spy in (whisper, barge):
            await link.wait_for(lambda spy=spy: answered(link, spy), 10, f"{spy.mode} answered")
        truth = await link.asterisk_channels()
        options = {truth[s.spy_channel_id]["ApplicationData"]
                   for s in (started, whisper, barge)}
        assert {truth[s.spy_channel_id]["Application"] for s in (started, whisper, barge)} == {
            "ChanSpy"}
        assert options == {f"{target.name},qE", f"{target.name},qEw", f"{target.name},qEB"}
        assert [e.mode for e in link.events if isinstance(e, ev.SpyStarted)] == [
            "listen", "whisper", "barge"]

        # the announcement ends, the caller hangs up: the pair ends and so does every spy
        try:
            await link.wait_for(lambda: agent.state is AgentState.READY, 30,
                                "conversation over", lambda: _story(link, agent))
        except AssertionError as failure:  # a stale model, or channels Asterisk kept?
            truth = await link.asterisk_channels()
            kept = sorted((c.get("Channel"), c.get("ChannelStateDesc"), c.get("Application"),
                           c.get("BridgeId")) for c in truth.values())
            raise AssertionError(f"{failure}; Asterisk has {kept}") from None
        await link.wait_for(lambda: not link.model.channels, 15, "every channel gone")
        path = asterisk_sandbox.settings.root / f"var/spool/asterisk/monitor/spy-{name}.wav"
        for _ in range(50):
            if path.exists():
                break
            await asyncio.sleep(0.1)
        assert path.exists(), f"the supervisor's phone recorded nothing at {path}"
        seconds, rms = await asyncio.to_thread(_rms, path)
        print(f"supervisor heard {seconds:.2f} s, RMS {rms:.0f}")
        assert seconds > 3.0, seconds
        assert rms > 100, rms  # the caller's voice, not silence
    finally:
        await center.close()
        await phone.stop()


def _story(link: Link, agent: Any) -> str:
    """The agent's state and moves and the channels still up (for a failure message)."""
    channels = [(c.name, c.state.value, c.bridge_id) for c in link.model.channels.values()]
    moves = [(e.previous, e.state) for e in link.events if isinstance(e, ev.AgentStateChanged)]
    return f"agent {agent.state.value}; channels {channels}; agent moves {moves}"


def supervision_ready(supervision: Supervision) -> bool:
    try:
        supervision.agent_leg("2001")
    except NotOnCall:
        return False
    return True


def answered(link: Link, spy: ev.SpyStarted) -> bool:
    """The supervisor's spy channel is up (its Local half answered and runs ChanSpy)."""
    channel = link.model.channels.get(spy.spy_channel_id)
    return channel is not None and channel.state.value == "up"
