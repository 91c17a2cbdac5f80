"""A call from a known number rings a real SIP agent phone (SIPp) through the real Asterisk;
the caller's CRM card arrives on that agent's console WebSocket before the agent answers."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select

from callcenter.app import build_app, build_services
from callcenter.config import Settings
from callcenter.core.pbx import OriginateRequest
from crm_bridge.db import make_engine, session_factory, upgrade_database
from crm_bridge.models import Customer, Interaction, Order, Phone
from tests.accounts import sign_in

from .conftest import next_pop, wait_no_channels
from .sipp_agent import SippAgent

pytestmark = pytest.mark.system


async def seed_customer(url: str) -> None:
    await upgrade_database(url)
    engine = make_engine(url)
    async with session_factory(engine)() as session, session.begin():
        customer = Customer(customer_code="C-000042", name="王伟", company="Acme",
                            consent=True, do_not_call=False)
        session.add(customer)
        await session.flush()
        session.add_all([
            Phone(customer_id=customer.id, e164="+8613800138000", raw="138 0013 8000",
                  kind="mobile"),
            Order(customer_id=customer.id, product="Router", amount=899, currency="CNY",
                  ordered_at=dt.datetime.now(dt.UTC)),
        ])
    await engine.dispose()


async def wait_for_interaction(url: str, call_id: str, timeout: float = 15) -> Interaction:
    engine = make_engine(url)
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            async with session_factory(engine)() as session:
                row = (await session.execute(
                    select(Interaction).where(Interaction.call_id == call_id))).scalar_one_or_none()
            if row is not None and row.ended_at is not None:
                return row
            await asyncio.sleep(0.2)
        raise AssertionError(f"no finished interaction for {call_id}")
    finally:
        await engine.dispose()


async def test_card_arrives_on_the_ringing_agents_console_before_answer(
        asterisk_sandbox: Any, tmp_path: Path) -> None:
    await wait_no_channels(asterisk_sandbox)
    url = f"sqlite+aiosqlite:///{tmp_path / 'crm.db'}"
    await seed_customer(url)
    settings = Settings(database_url=url, crm_default_region="CN",
                        ami={"port": asterisk_sandbox.settings.ami_port},
                        acd={"agents": ["2001", "2002"]})
    services = build_services(settings)
    client = TestClient(TestServer(build_app(services)))
    await client.start_server()
    await sign_in(client, "supervisor")
    agent = SippAgent(asterisk_sandbox, "2001", port=25_301, ring_ms=2500)
    try:
        await services.ami.wait_ready(10)
        await agent.start()
        mine = await client.ws_connect("/ws/agents/2001")
        other = await client.ws_connect("/ws/agents/2002")
        assert (await mine.receive_json(timeout=5))["type"] == "hello"
        assert (await other.receive_json(timeout=5))["type"] == "hello"

        seen: list[Any] = []
        services.bus.add_handler(seen.append)
        handle = await services.pbx.originate(OriginateRequest(
            endpoint="Local/2001@agents-local", application="Wait", data="3",
            caller_id='"Wang Wei" <+86 138-0013-8000>', timeout_s=15))
        try:
            pop = await next_pop(mine, 10)
        except TimeoutError:
            trail = [(e.type, getattr(e, "name", ""), getattr(e, "state", ""),
                      getattr(e, "cause", "")) for e in seen]
            raise AssertionError(f"no screen pop; events: {trail}") from None
        received = time.time()
        agent_leg = next(ch for ch in services.model.channels.values()
                         if ch.name.startswith("PJSIP/2001-"))
        assert agent_leg.answered_at is None, "the card must arrive before the agent answers"
        assert agent_leg.state.value in ("ring", "ringing")
        assert pop["type"] == "screen_pop" and pop["call_id"] == handle.channel_id
        card = pop["card"]
        assert card is not None, pop
        assert card["name"] == "王伟" and card["customer_code"] == "C-000042"
        assert "+8613800138000" in card["phones"]
        assert card["recent_orders"] and "open_complaints" in card

        outcome = await asyncio.wait_for(handle.outcome, 20)
        assert outcome.answered
        # the OriginateResponse and the agent leg's Newstate(Up) travel separately in Asterisk
        # (the response may come first): wait for the model to see the answer
        for _ in range(300):
            if agent_leg.answered_at is not None:
                break
            await asyncio.sleep(0.01)
        assert agent_leg.answered_at is not None and agent_leg.answered_at > received - 0.05
        rang = next(e for e in seen if e.type in ("channel.state", "channel.created")
                    and e.name.startswith("PJSIP/2001-")  # type: ignore[attr-defined]
                    and e.state in ("ring", "ringing"))  # type: ignore[attr-defined]
        popped = next(e for e in seen if e.type == "screen.popped")
        assert popped.consoles == 1  # type: ignore[attr-defined]
        print(f"ring-to-pop: {(received - rang.at) * 1000:.1f} ms "
              f"(CRM look-up {popped.lookup_ms} ms)")  # type: ignore[attr-defined]
        with pytest.raises(asyncio.TimeoutError):
            await next_pop(other, 0.5)

        # the server recorded the call as an interaction of this customer
        row = await wait_for_interaction(url, handle.channel_id)
        assert row.customer_id is not None and row.agent == "2001"
        assert row.caller_number == "+8613800138000" and row.direction == "outbound"
        assert row.answered_at is not None and row.hangup_cause.startswith("16")
        # the agent's wrap-up, then the card's history shows the call
        wrap = await client.patch(f"/api/interactions/{row.id}",
                                  json={"disposition": "resolved", "notes": "router reset"})
        assert wrap.status == 200, await wrap.text()
        history = await (await client.get(
            f"/api/customers/{row.customer_id}/interactions")).json()
        assert history["interactions"][0]["call_id"] == handle.channel_id
        assert history["interactions"][0]["disposition"] == "resolved"
        await mine.close()
        await other.close()
    finally:
        await agent.stop()
        await client.close()
