"""The CTI link against the real Asterisk 22 sandbox: calls, causes, load, resync."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from callcenter.core.errors import PbxUnavailable, UnknownChannel
from callcenter.core.pbx import OriginateReason, OriginateRequest
from callcenter.cti.model import CallState
from callcenter.events import CallEnded

from .conftest import Link, ami_settings_for, wait_no_channels

pytestmark = pytest.mark.system


def local(exten: str, talk_s: float | None = None, **variables: str) -> OriginateRequest:
    """A call into the test dialplan through a Local channel, the ;1 half parked in Wait."""
    if talk_s is not None:
        variables["CC_TALK_S"] = str(talk_s)
    return OriginateRequest(endpoint=f"Local/{exten}@cc-test", application="Wait",
                            data="600", timeout_s=10, variables=variables)


def ended(link: Link, call_id: str) -> CallEnded | None:
    for event in link.of_type("call.ended"):
        if event.call_id == call_id:  # type: ignore[attr-defined]
            return event  # type: ignore[return-value]
    return None


@pytest.mark.parametrize(
    ("exten", "cause", "answered", "reason"),
    [
        ("hangup16", 16, True, OriginateReason.ANSWERED),
        ("busy", 17, False, OriginateReason.BUSY),
        ("congestion", 34, False, OriginateReason.CONGESTION),
    ],
)
async def test_call_states_timestamps_and_hangup_causes(
        link: Link, exten: str, cause: int, answered: bool, reason: OriginateReason) -> None:
    before = time.time()
    handle = await link.pbx.originate(local(exten))
    call_id = handle.channel_id
    outcome = await asyncio.wait_for(handle.outcome, 30)
    assert outcome.reason is reason
    await link.wait_for(lambda: ended(link, call_id) is not None, what=f"{exten} call end")
    call = link.model.get_call(call_id)
    assert call is not None and call.state is CallState.ENDED
    after = time.time()
    assert before - 1 <= call.started_at <= call.ended_at <= after + 1  # type: ignore[operator]
    assert (call.answered_at is not None) is answered
    if answered:
        assert call.started_at <= call.answered_at <= call.ended_at  # type: ignore[operator]
    assert call.hangup_cause == cause, call.to_dict()
    assert len(call.legs) == 2  # the two halves of the Local channel
    assert all(leg.hangup_cause is not None for leg in call.legs.values())
    kinds = [e.type for e in link.events if getattr(e, "call_id", None) == call_id]
    assert kinds[0] == "call.started" and kinds[-1] == "call.ended"
    assert ("call.answered" in kinds) is answered


async def test_answered_call_with_variables_dtmf_and_control(link: Link) -> None:
    handle = await link.pbx.originate(local("dtmf", CC_DTMF="12#", CC_CUSTOMER="c-42"))
    call_id = handle.channel_id
    await link.wait_for(lambda: link.model.channels.get(call_id) is not None
                        and link.model.get_call(call_id).state is CallState.UP,  # type: ignore[union-attr]
                        what="answer")
    call = link.model.get_call(call_id)
    assert call is not None
    await link.wait_for(lambda: "12#" in "".join(leg.dtmf for leg in call.legs.values()),
                        what="DTMF 12#")
    assert call.variables()["CC_CUSTOMER"] == "c-42"
    await link.pbx.set_variable(call_id, "CC_QUEUE", "sales")
    assert await link.pbx.get_variable(call_id, "CC_QUEUE") == "sales"
    await link.wait_for(lambda: call.variables().get("CC_QUEUE") == "sales", what="VarSet")
    await link.pbx.hangup(call_id, cause=16)
    await link.wait_for(lambda: ended(link, call_id) is not None, what="hangup")
    with pytest.raises(UnknownChannel):
        await link.pbx.hangup(call_id)


async def test_bridge_two_parked_calls(link: Link) -> None:
    a = await link.pbx.originate(local("park"))
    b = await link.pbx.originate(local("park"))
    await asyncio.gather(a.outcome, b.outcome)
    await link.pbx.bridge(a.channel_id, b.channel_id)
    await link.wait_for(
        lambda: (link.model.channels[a.channel_id].bridge_id is not None
                 and link.model.channels[a.channel_id].bridge_id
                 == link.model.channels[b.channel_id].bridge_id),
        what="both in one bridge")
    await link.assert_matches_asterisk()
    await link.pbx.hangup(a.channel_id)
    await link.pbx.hangup(b.channel_id)
    await link.wait_for(lambda: not link.model.channels, what="all gone")


async def test_fifty_concurrent_calls_no_event_lost(link: Link) -> None:
    n = 50
    handles = await asyncio.gather(*(
        link.pbx.originate(local("answer", talk_s=2 + (i % 4))) for i in range(n)))
    ids = {h.channel_id for h in handles}
    outcomes = await asyncio.gather(*(h.outcome for h in handles))
    assert all(o.answered for o in outcomes)
    await link.wait_for(lambda: len(link.model.channels) == 2 * n, what="100 channels up")
    checkpoints = 0
    while link.model.channels:
        await link.assert_matches_asterisk()
        checkpoints += 1
        await asyncio.sleep(0.5)
    assert checkpoints >= 3
    print(f"50 calls: model equal to CoreShowChannels at {checkpoints} checkpoints")
    done = {e.call_id: e for e in link.of_type("call.ended")}  # type: ignore[attr-defined]
    assert ids <= set(done)
    for call_id in ids:
        call = link.model.get_call(call_id)
        assert call is not None and call.answered_at is not None
        assert done[call_id].hangup_cause == 16
        assert len(call.legs) == 2
        assert call.ended_at - call.answered_at >= 1.5  # type: ignore[operator]
    assert link.model.skipped == 0
    assert link.ami.stats.frames_malformed == 0


@pytest.mark.parametrize("how", ["restart", "crash"])
async def test_asterisk_going_away_mid_call_resyncs(
        link: Link, asterisk_sandbox: Any, how: str) -> None:
    handles = await asyncio.gather(*(link.pbx.originate(local("answer")) for _ in range(5)))
    await asyncio.gather(*(h.outcome for h in handles))
    await link.assert_matches_asterisk()
    assert len(link.model.calls) == 5
    stop = asterisk_sandbox.stop_asterisk if how == "restart" else asterisk_sandbox.crash_asterisk
    await asyncio.to_thread(stop)
    await link.wait_for(lambda: not link.ami.connected, what="link down")
    with pytest.raises(PbxUnavailable):
        await link.pbx.originate(local("answer"))
    if how == "crash":  # a long outage: the client's backoff reaches its maximum (2 s)
        await asyncio.sleep(6)
    await asyncio.to_thread(asterisk_sandbox.start_asterisk)
    ready_at = time.monotonic()
    await link.ami.wait_ready(10)
    reconnect_s = time.monotonic() - ready_at
    assert reconnect_s < 3.0, reconnect_s
    # every call that died with Asterisk is closed: no ghosts
    assert not link.model.calls and not link.model.channels
    resynced = link.of_type("pbx.resynced")[-1]
    for handle in handles:
        gone = ended(link, handle.channel_id)
        assert gone is not None
        if how == "crash":  # nothing was said: only the resync knows they are gone
            assert gone.hangup_cause == 0
    if how == "crash":
        assert resynced.ghosts_removed == 10  # type: ignore[attr-defined]
    await link.assert_matches_asterisk()
    # and the link works again
    again = await link.pbx.originate(local("hangup16"))
    await link.wait_for(lambda: ended(link, again.channel_id) is not None, what="new call")
    print(f"{how}: reconnect after Asterisk ready: {reconnect_s:.2f} s")


async def test_cut_ami_connection_resyncs_changes_made_meanwhile(
        asterisk_sandbox: Any, tcp_proxy: Any) -> None:
    await wait_no_channels(asterisk_sandbox)
    proxy = await tcp_proxy("127.0.0.1", asterisk_sandbox.settings.ami_port)
    link = Link(ami_settings_for(asterisk_sandbox, port=proxy.port))
    await link.ami.start()
    try:
        await link.ami.wait_ready(10)
        short = await link.pbx.originate(local("answer", talk_s=1.5))
        long = await link.pbx.originate(local("answer"))
        await asyncio.gather(short.outcome, long.outcome)
        await link.wait_for(lambda: len(link.model.channels) == 4, what="4 channels")
        proxy.blackhole()  # the network is gone: new connections are refused too
        await proxy.cut()
        await link.wait_for(lambda: not link.ami.connected, what="link down")
        # meanwhile: one call ends, a new one starts (placed by someone else), and a variable
        # of the remaining call changes
        await asyncio.to_thread(
            asterisk_sandbox.cli, "channel originate Local/answer@cc-test application Wait 600")
        long_name = link.model.channels[long.channel_id].name
        await asyncio.to_thread(
            asterisk_sandbox.cli, f"dialplan set chanvar {long_name} CC_QUEUE vip")
        await asyncio.sleep(2.5)
        assert len(link.model.channels) == 4  # stale until the link is back
        proxy.heal()
        healed_at = time.monotonic()
        await link.ami.wait_ready(10)
        healed_s = time.monotonic() - healed_at
        assert healed_s < 3.0
        print(f"cut: back and resynced {healed_s:.2f} s after the network healed")
        assert short.channel_id not in link.model.channels
        assert ended(link, short.channel_id) is not None
        assert long.channel_id in link.model.channels
        assert link.model.channels[long.channel_id].variables["CC_QUEUE"] == "vip"
        resynced = link.of_type("pbx.resynced")[-1]
        assert resynced.discovered == 2  # type: ignore[attr-defined]
        assert resynced.ghosts_removed == 2  # type: ignore[attr-defined]
        await link.assert_matches_asterisk()
    finally:
        await link.ami.stop()


async def test_silent_network_drop_is_detected_by_keepalive(
        asterisk_sandbox: Any, tcp_proxy: Any) -> None:
    await wait_no_channels(asterisk_sandbox)
    proxy = await tcp_proxy("127.0.0.1", asterisk_sandbox.settings.ami_port)
    link = Link(ami_settings_for(asterisk_sandbox, port=proxy.port, ping_interval_s=0.5))
    await link.ami.start()
    try:
        await link.ami.wait_ready(10)
        call = await link.pbx.originate(local("answer"))
        await call.outcome
        proxy.blackhole()  # packets vanish; no FIN, no RST
        started = time.monotonic()
        await link.wait_for(lambda: not link.ami.connected, timeout=5, what="keep-alive")
        detected_s = time.monotonic() - started
        assert detected_s < 2.0
        print(f"blackhole: found dead by keep-alive after {detected_s:.2f} s (Ping every 0.5 s)")
        proxy.heal()
        await link.ami.wait_ready(10)
        assert call.channel_id in link.model.channels
        await link.assert_matches_asterisk()
        assert link.ami.stats.reconnects >= 1
    finally:
        await link.ami.stop()


def test_wrong_secret_is_reported_not_fatal(asterisk_sandbox: Any) -> None:
    async def scenario() -> dict[str, Any]:
        link = Link(ami_settings_for(asterisk_sandbox, secret="wrong"))
        await link.ami.start()
        # Asterisk answers a refused login only after a delay (against guessing)
        for _ in range(100):
            if link.ami.stats.last_error:
                break
            await asyncio.sleep(0.1)
        state = {"connected": link.ami.connected, "error": link.ami.stats.last_error}
        await link.ami.stop()
        return state

    state = asyncio.run(scenario())
    assert state["connected"] is False
    assert "Authentication" in state["error"] or "authentication" in state["error"]


async def test_redirect_and_spy(link: Link) -> None:
    target = await link.pbx.originate(local("park"))
    await target.outcome
    spy = await link.pbx.spy("Local/answer@cc-test", target.channel_id)
    assert (await asyncio.wait_for(spy.outcome, 15)).answered
    truth = await link.asterisk_channels()
    assert truth[spy.channel_id]["Application"] == "ChanSpy"
    assert link.model.get_call(spy.channel_id).variables()["CC_SPY_MODE"] == "listen"  # type: ignore[union-attr]
    # the park half of the target goes elsewhere in the dialplan and ends there
    other_half = next(uid for uid in link.model.get_call(target.channel_id).legs  # type: ignore[union-attr]
                      if uid != target.channel_id)
    await link.pbx.redirect(other_half, "cc-test", "hangup16")
    await link.wait_for(lambda: ended(link, target.channel_id) is not None, what="redirected end")
    await link.wait_for(lambda: ended(link, spy.channel_id) is not None, what="spy exits (E)")
    with pytest.raises(UnknownChannel):
        await link.pbx.redirect(target.channel_id, "cc-test", "answer")
