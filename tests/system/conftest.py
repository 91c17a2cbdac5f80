"""Fixtures for system tests: a real AMI client connected to the Asterisk sandbox."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from callcenter.config import AmiSettings
from callcenter.cti.ami import AmiClient
from callcenter.cti.asterisk_pbx import AsteriskPbx
from callcenter.cti.model import CallModel
from callcenter.events import DomainEvent, EventBus


def ami_settings_for(sandbox: Any, **overrides: Any) -> AmiSettings:
    values: dict[str, Any] = {
        "host": "127.0.0.1",
        "port": sandbox.settings.ami_port,
        "username": "callcenter",
        "secret": "callcenter",
        "ping_interval_s": 1.0,  # reconnect backoff: production defaults (0.2 s -> 2 s)
    }
    values.update(overrides)
    return AmiSettings(**values)


class Link:
    """A started AMI client plus everything it published, for assertions."""

    def __init__(self, settings: AmiSettings) -> None:
        self.bus = EventBus()
        self.events: list[DomainEvent] = []
        self.bus.add_handler(self.events.append)
        self.model = CallModel(emit=self.bus.publish)
        self.ami = AmiClient(settings, self.model, self.bus)
        self.pbx = AsteriskPbx(self.ami)

    def of_type(self, kind: str) -> list[DomainEvent]:
        return [e for e in self.events if e.type == kind]

    async def wait_for(self, predicate: Any, timeout: float = 20.0, what: str = "",
                       story: Any = None) -> None:
        """Poll ``predicate``; on timeout fail with ``what`` and, if given, ``story()`` (what
        the test saw, so that a rare failure in CI says why)."""
        deadline = asyncio.get_running_loop().time() + timeout
        while not predicate():
            if asyncio.get_running_loop().time() > deadline:
                told = f"; {story()}" if story is not None else ""
                raise AssertionError(f"timed out waiting for {what or predicate}{told}")
            await asyncio.sleep(0.02)

    async def asterisk_channels(self) -> dict[str, dict[str, Any]]:
        """CoreShowChannels over our own link: uniqueid -> headers."""
        answer = await self.ami.send({"Action": "CoreShowChannels"})
        messages = answer if isinstance(answer, list) else [answer]
        return {str(m["Uniqueid"]): dict(m) for m in messages
                if m.get("Event") == "CoreShowChannel"}

    async def assert_matches_asterisk(self, attempts: int = 20) -> None:
        """The model's live channels equal Asterisk's (ids, states, bridges).

        Events in flight while the list is produced can make one comparison race; the
        model must converge within a few tries, never drift.
        """
        last = ""
        for _ in range(attempts):
            truth = await self.asterisk_channels()
            ours = {uid: ch for uid, ch in self.model.channels.items()}
            if set(truth) == set(ours) and all(
                ours[uid].state.value == _STATE[truth[uid]["ChannelState"]]
                and (ours[uid].bridge_id or "") == (truth[uid].get("BridgeId") or "")
                for uid in truth
            ):
                return
            last = (f"asterisk={sorted(truth)} ours={sorted(ours)} "
                    f"missing={sorted(set(truth) - set(ours))} "
                    f"ghosts={sorted(set(ours) - set(truth))}")
            await asyncio.sleep(0.1)
        raise AssertionError(f"model differs from Asterisk: {last}")


_STATE = {"0": "down", "1": "reserved", "2": "offhook", "3": "dialing", "4": "ring",
          "5": "ringing", "6": "up", "7": "busy", "8": "dialing_offhook", "9": "prering"}


async def wait_no_channels(sandbox: Any, timeout: float = 20.0) -> None:
    """Hang up leftovers from an earlier test so each test starts from an idle PBX."""
    sandbox.cli("channel request hangup all")
    deadline = asyncio.get_running_loop().time() + timeout
    while "0 active channels" not in sandbox.cli("core show channels count"):
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("sandbox still has channels")
        await asyncio.sleep(0.1)


@pytest.fixture
async def link(asterisk_sandbox: Any) -> AsyncIterator[Link]:
    await wait_no_channels(asterisk_sandbox)
    lk = Link(ami_settings_for(asterisk_sandbox))
    await lk.ami.start()
    await lk.ami.wait_ready(15)
    yield lk
    await lk.ami.stop()


@pytest.fixture
async def tcp_proxy() -> AsyncIterator[Any]:
    from .tcp_proxy import TcpProxy

    proxies: list[TcpProxy] = []

    async def make(host: str, port: int) -> TcpProxy:
        proxy = await TcpProxy(host, port).start()
        proxies.append(proxy)
        return proxy

    yield make
    for proxy in proxies:
        await proxy.close()


#: what an agent's console stream carries besides screen pops (routes/agents.py): the agent's
#: state as the ACD holds it, and its own state and wrap-up events
AGENT_STREAM_STATE = frozenset({"agent", "agent.state", "agent.wrap_up"})


async def next_pop(ws: Any, timeout: float) -> dict[str, Any]:
    """The next message on an agent's console stream that is not the agent's own state: the
    screen pop (or whatever else came, for the caller to assert on)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        left = deadline - asyncio.get_running_loop().time()
        if left <= 0:
            raise TimeoutError(f"no message but agent state within {timeout} s")
        message: dict[str, Any] = await ws.receive_json(timeout=left)
        if message.get("type") not in AGENT_STREAM_STATE:
            return message

