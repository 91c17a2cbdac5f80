"""The agent connector ends a finished conversation (the agent hangs up: the caller too), but
not one the agent's phone transferred first (issue 12's console: SIP REFER). Blind: the
caller is in the agents' dialplan context on its way to the target; attended: it is bridged
with a third channel. Sent back to ``[holding]`` by Asterisk: hung up, as before."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import pytest

from callcenter import events as ev
from callcenter.acd.connect import AgentConnector
from callcenter.acd.identity import AgentEndpoints
from callcenter.events import EventBus

pytestmark = pytest.mark.unit


@dataclass
class _Leg:
    channel_id: str
    name: str
    context: str = "holding"
    bridge_id: str | None = None
    hungup_at: float | None = None


@dataclass
class _Pbx:
    legs: dict[str, _Leg]
    hung_up: list[str] = field(default_factory=list)

    @property
    def calls(self) -> Any:
        return self

    def channel(self, channel_id: str) -> _Leg | None:
        return self.legs.get(channel_id)

    def live_channels(self) -> list[_Leg]:
        return [leg for leg in self.legs.values() if leg.hungup_at is None]

    async def hangup(self, channel_id: str) -> None:
        self.hung_up.append(channel_id)


@pytest.mark.parametrize(("caller", "third", "ended"), [
    (_Leg("caller", "Local/x@inbound;1", context="holding"), None, True),
    (_Leg("caller", "Local/x@inbound;1", context="agents"), None, False),
    (_Leg("caller", "Local/x@inbound;1", context="holding", bridge_id="b2"),
     _Leg("target", "PJSIP/2002-00000001", context="agents", bridge_id="b2"), False),
    # still in the old bridge, alone (its Unbridged not seen yet): a finished conversation
    (_Leg("caller", "Local/x@inbound;1", context="holding", bridge_id="b1"), None, True),
])
async def test_the_agent_hangs_up_after_a_transfer_or_not(
        caller: _Leg, third: _Leg | None, ended: bool) -> None:
    bus = EventBus()
    legs = {"caller": caller}
    if third is not None:
        legs["target"] = third
    pbx = _Pbx(legs)
    connector = AgentConnector(pbx, bus, None, AgentEndpoints(  # type: ignore[arg-type]
        "PJSIP/{agent}", is_agent=lambda agent: agent == "1001"), transfer_grace_s=0.05)
    connector._pairs.update({"caller": "leg", "leg": "caller"})
    bus.publish(ev.ChannelHungUp(at=2.0, call_id="c", channel_id="leg",
                                 name="PJSIP/1001-00000007", cause=16,
                                 cause_text="Normal Clearing"))
    await asyncio.sleep(0.2)  # the hang-up runs as a task, after the transfer grace
    await connector.close()
    assert pbx.hung_up == (["caller"] if ended else [])
    assert connector.paired_with("caller") is None


async def test_the_transfer_may_show_just_after_the_agent_hung_up() -> None:
    """Asterisk hangs the transferring leg up a few ms before the party enters the target's
    context: the connector looks again after its grace, and leaves the party alone."""
    bus = EventBus()
    caller = _Leg("caller", "Local/x@inbound;1", context="holding")
    pbx = _Pbx({"caller": caller})
    connector = AgentConnector(pbx, bus, None, AgentEndpoints(  # type: ignore[arg-type]
        "PJSIP/{agent}", is_agent=lambda agent: agent == "1001"), transfer_grace_s=0.1)
    connector._pairs.update({"caller": "leg", "leg": "caller"})
    bus.publish(ev.ChannelHungUp(at=2.0, call_id="c", channel_id="leg",
                                 name="PJSIP/1001-00000007", cause=16,
                                 cause_text="Normal Clearing"))
    await asyncio.sleep(0.01)
    assert connector.is_ending("caller")  # meanwhile not a new wait in [holding]
    caller.context = "agents"  # the REFER's Newexten arrives
    await asyncio.sleep(0.2)
    await connector.close()
    assert pbx.hung_up == [] and not connector.is_ending("caller")
