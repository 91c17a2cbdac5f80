"""A campaign runner on the simulated PBX (fast real time): it says ``finished`` when its
leads are worked out, also when the gate closed the last of them after the last line ended
(no line outcome follows such a refusal)."""

from __future__ import annotations

import asyncio
import random

import pytest

from callcenter import events as ev
from callcenter.acd.routing import make_routing
from callcenter.campaign_runner import CampaignRunner
from callcenter.config import AcdSettings
from callcenter.contact_center import build_contact_center
from callcenter.core.clock import RealtimeClock
from callcenter.cti.model import CallModel
from callcenter.dialer.campaign import CampaignDefinition
from callcenter.dialer.leads import Lead
from callcenter.events import EventBus
from callcenter.sim.pbx import Behaviour, Delay, SimulatedPbx

pytestmark = pytest.mark.unit

SPEED = 50.0


async def test_a_campaign_whose_last_lead_the_gate_refuses_after_the_last_line_finishes(
        ) -> None:
    clock = RealtimeClock(speed=SPEED)
    bus = EventBus()
    events: list[ev.DomainEvent] = []
    bus.add_handler(events.append)
    model = CallModel(emit=bus.publish)
    behaviour = Behaviour(human=1.0, machine=0.0, busy=0.0, answer_after=Delay.fixed(2.0),
                          amd_human_after=Delay.fixed(1.0), amd_false_machine=0.0,
                          talk=Delay.fixed(5.0), agent_answer_after=Delay.fixed(0.5))
    pbx = SimulatedPbx(clock, model, random.Random(3), behaviour)
    pbx.register_endpoint("PJSIP/1001")
    center = build_contact_center(pbx, bus, clock, AcdSettings(
        queues=[], agents=["1001"], wrap_up_s=1.0))
    await center.start()
    definition = CampaignDefinition(name="c1", mode="progressive", caller_id="+13125550199",
                                    company="Example", callback_number="+13125550100",
                                    window_start="00:00", window_end="23:59")
    # one agent: the first lead (higher priority) is dialled; the listed one is asked about
    # only when the agent is free again, after that line ended
    leads = [Lead("first", "+12125550101", priority=5), Lead("listed", "+12125550106")]
    runner = CampaignRunner(definition, leads, pbx=pbx, bus=bus, board=center.board,
                            connector=center.connector, clock=clock,
                            routing=make_routing("fifo-longest-idle"),
                            global_dnc={"+12125550106"})
    runner.start("tester")
    try:
        for _ in range(int(60 / SPEED / 0.005)):
            if runner.state == "finished":
                break
            await asyncio.sleep(0.005)
        assert runner.state == "finished", (runner.state, runner.book.pending)
    finally:
        await runner.close()
        await center.close()
    decided = [(e.lead_id, e.verdict, e.reason) for e in events
               if isinstance(e, ev.DialDecided)]
    assert decided == [("first", "dial", "allowed"), ("listed", "never", "dnc_global")]
    ended = next(e.at for e in events if isinstance(e, ev.CampaignLine) and e.outcome == "ended")
    refused = next(e.at for e in events if isinstance(e, ev.DialDecided) and e.verdict == "never")
    assert ended <= refused  # the refusal came after the last line: it had to finish the list
    assert [e.state for e in events if isinstance(e, ev.CampaignStatus)][-1] == "finished"
