"""The agent connector bridges an answered agent leg only once it waits in ``[agent-connect]``
(``CC_AGENT_WAITING``). Bridged any earlier, Asterisk 22 sent the leg back to a fresh
``Wait(600)`` after the conversation and left the caller's Local ``;2`` up with no
application: nobody hung either up (a CI failure of test_supervision, reproduced on the
sandbox with a slow ``[agent-connect]``)."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Any

import pytest

from callcenter import events as ev
from callcenter.acd.agents import Agent
from callcenter.acd.connect import LEG_WAITING, AgentConnector, ConnectResult
from callcenter.acd.identity import AgentEndpoints
from callcenter.core.errors import UnknownChannel
from callcenter.core.pbx import OriginateHandle, OriginateOutcome, OriginateReason
from callcenter.events import EventBus

pytestmark = pytest.mark.unit


@dataclass
class _Leg:
    channel_id: str
    name: str
    call_id: str = "call"
    hungup_at: float | None = None
    bridge_id: str | None = None
    context: str = ""
    variables: dict[str, str] = field(default_factory=dict)


@dataclass
class _Phones:
    failed: list[str] = field(default_factory=list)

    def expect(self, leg_id: str, agent: Any, wrap_up_s: float | None) -> None:
        pass

    def leg_failed(self, leg_id: str, missed: bool = False) -> None:
        self.failed.append(leg_id)


@dataclass
class _Pbx:
    """Answers every ring at once; the agent leg appears in the model as Asterisk shows it,
    before it reached the wait."""

    legs: dict[str, _Leg]
    bridged: list[tuple[str, str]] = field(default_factory=list)
    hung_up: list[str] = field(default_factory=list)

    @property
    def calls(self) -> Any:
        return self

    def channel(self, channel_id: str) -> _Leg | None:
        leg = self.legs.get(channel_id)
        return leg if leg is not None and leg.hungup_at is None else None

    def live_channels(self) -> list[_Leg]:
        return [leg for leg in self.legs.values() if leg.hungup_at is None]

    async def originate(self, request: Any) -> OriginateHandle:
        self.legs[request.channel_id] = _Leg(request.channel_id, "PJSIP/1001-00000001",
                                             context="agent-connect")
        outcome: asyncio.Future[OriginateOutcome] = asyncio.get_running_loop().create_future()
        outcome.set_result(OriginateOutcome(request.channel_id, OriginateReason.ANSWERED))
        return OriginateHandle(request.channel_id, outcome)

    async def bridge(self, channel_id: str, other_channel_id: str) -> None:
        if self.channel(channel_id) is None or self.channel(other_channel_id) is None:
            raise UnknownChannel("Bridge", "Channel1 or Channel2 does not exist")
        self.bridged.append((channel_id, other_channel_id))

    async def hangup(self, channel_id: str, cause: int = 16) -> None:
        self.hung_up.append(channel_id)


def _connector(leg_wait_s: float = 5.0) -> tuple[AgentConnector, _Pbx, EventBus]:
    bus = EventBus()
    pbx = _Pbx({"caller": _Leg("caller", "Local/x@inbound-00000001;2", context="holding")})
    connector = AgentConnector(
        pbx, bus, _Phones(),  # type: ignore[arg-type]
        AgentEndpoints("PJSIP/{agent}", is_agent=lambda agent: agent == "1001"),
        new_channel_id=lambda: "leg", leg_wait_s=leg_wait_s)
    return connector, pbx, bus


async def test_the_leg_is_bridged_only_once_it_waits() -> None:
    connector, pbx, bus = _connector()
    connecting = asyncio.create_task(connector.connect("caller", Agent("1001")))
    await asyncio.sleep(0.05)
    assert pbx.bridged == [], "bridged before the leg reached its wait"
    pbx.legs["leg"].variables[LEG_WAITING] = "1796400000"
    bus.publish(ev.ChannelVariableSet(at=1.0, call_id="call", channel_id="leg",
                                      name=LEG_WAITING, value="1796400000"))
    assert await asyncio.wait_for(connecting, 1) is ConnectResult.CONNECTED
    assert pbx.bridged == [("leg", "caller")]
    await connector.close()


async def test_a_leg_already_waiting_is_bridged_at_once() -> None:
    connector, pbx, _ = _connector()
    original = pbx.originate

    async def originate_waiting(request: Any) -> OriginateHandle:
        handle = await original(request)
        pbx.legs[request.channel_id].variables[LEG_WAITING] = "1796400000"
        return handle

    pbx.originate = originate_waiting  # type: ignore[method-assign]
    result = await asyncio.wait_for(connector.connect("caller", Agent("1001")), 0.5)
    assert result is ConnectResult.CONNECTED and pbx.bridged == [("leg", "caller")]
    await connector.close()


async def test_a_caller_leaving_meanwhile_stops_the_wait() -> None:
    connector, pbx, bus = _connector()
    connecting = asyncio.create_task(connector.connect("caller", Agent("1001")))
    await asyncio.sleep(0.05)
    pbx.legs["caller"].hungup_at = 2.0
    bus.publish(ev.ChannelHungUp(at=2.0, call_id="call", channel_id="caller",
                                 name="Local/x@inbound-00000001;2", cause=16,
                                 cause_text="Normal Clearing"))
    # no 5-s wait for a leg that is hung up with its pair: the bridge is tried and fails
    assert await asyncio.wait_for(connecting, 1) is ConnectResult.PARTY_GONE
    await asyncio.sleep(0.05)
    assert "leg" in pbx.hung_up and pbx.bridged == []
    await connector.close()


async def test_an_older_dialplan_is_bridged_after_the_grace_with_a_warning(
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="callcenter.acd.connect")
    connector, pbx, _ = _connector(leg_wait_s=0.1)
    result = await asyncio.wait_for(connector.connect("caller", Agent("1001")), 1)
    assert result is ConnectResult.CONNECTED and pbx.bridged == [("leg", "caller")]
    assert any(LEG_WAITING in r.getMessage() for r in caplog.records)
    await connector.close()
