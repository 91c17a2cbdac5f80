"""Device registration folded into the agent state machine: AMI contacts -> registered endpoints
(recorded from Asterisk 22), the board's ``registered``, the dispatcher's one filter, the
dialer's pacing count, and the whole assembly on the simulated PBX."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from callcenter import events as ev
from callcenter.acd.agents import AgentBoard, AgentState, AgentTransition, RegistrationChange
from callcenter.acd.dispatcher import Dispatcher, RoutingDecision, WaitingCall
from callcenter.acd.identity import AgentEndpoints
from callcenter.acd.registration import AgentRegistrations
from callcenter.acd.routing import make_routing
from callcenter.config import AcdSettings
from callcenter.contact_center import build_contact_center
from callcenter.core.clock import RealtimeClock
from callcenter.cti.model import CallModel
from callcenter.cti.protocol import parse_block
from callcenter.cti.registrations import Registrations
from callcenter.dialer.loop import DialerLoop
from callcenter.dialer.pacing import parse_pacing
from callcenter.sim.pbx import Behaviour, Delay, SimulatedPbx
from tests.event_order import check_event_order

pytestmark = pytest.mark.unit

#: a real session with the sandbox (Asterisk 22.10): PJSIPShowContacts (ActionID 2) with 2001
#: and 2002 registered, PJSIPShowEndpoints (3), then 2009 registers from port 25409, again from
#: 25419 (its AOR has remove_existing), unregisters (REGISTER Contact: *, Expires: 0), and
#: PJSIPShowContacts again (4)
RECORDING = Path(__file__).resolve().parent.parent / "fixtures" / "ami" / \
    "registrations.contacts.ami"


def recorded() -> list[dict[str, Any]]:
    text = RECORDING.read_bytes().decode()
    blocks = text.split("\r\n\r\n")
    return [parse_block(b) for b in blocks[1:] if b.strip()]  # [0] is the banner + login


def listing(action_id: str) -> list[dict[str, Any]]:
    return [h for h in recorded() if h.get("ActionID") == action_id]


def status(uri_port: int, state: str, agent: str = "2009", at: str = "10.0") -> dict[str, str]:
    return {"Event": "ContactStatus", "Timestamp": at, "URI": f"sip:{agent}@127.0.0.1:{uri_port}",
            "ContactStatus": state, "AOR": agent, "EndpointName": agent,
            "RoundtripUsec": "0"}


def tracker() -> tuple[Registrations, list[ev.DeviceRegistration]]:
    seen: list[ev.DeviceRegistration] = []

    def emit(event: ev.DomainEvent) -> None:
        assert isinstance(event, ev.DeviceRegistration)
        seen.append(event)

    return Registrations(emit=emit, clock=lambda: 99.0), seen


def changes(seen: list[ev.DeviceRegistration]) -> list[tuple[str, bool]]:
    return [(e.endpoint, e.registered) for e in seen]


# --- the AMI side: what Asterisk 22 really sends ---------------------------------------------


def test_the_recording_holds_the_fields_we_read() -> None:
    """ContactList names the endpoint in ``Endpoint`` and the AOR only inside ``ObjectName``;
    ContactStatus has ``AOR``, ``EndpointName``, ``URI``; agents' contacts are NonQualified."""
    rows = [h for h in listing("2") if h.get("Event") == "ContactList"]
    assert [(r["Endpoint"], r["ObjectName"].partition(";@")[0], r["Status"]) for r in rows] == \
        [("2001", "2001", "NonQualified"), ("2002", "2002", "NonQualified")]
    assert all("AOR" not in r and r["Uri"].startswith("sip:") for r in rows)
    live = [h for h in recorded() if h.get("Event") == "ContactStatus"]
    assert [(h["URI"].rsplit(":", 1)[1], h["ContactStatus"]) for h in live] == [
        ("25409", "NonQualified"), ("25419", "NonQualified"), ("25409", "Removed"),
        ("25419", "Removed")]
    assert {h["AOR"] for h in live} == {h["EndpointName"] for h in live} == {"2009"}


def test_recorded_session_resync_then_live_contacts() -> None:
    """A phone registering again from a new port is told *new contact, then old removed*: it
    never looks unregistered in between. Expires: 0 does unregister it."""
    reg, seen = tracker()
    reg.begin_resync()
    reg.reconcile(listing("2"))
    assert changes(seen) == [("PJSIP/2001", True), ("PJSIP/2002", True)]
    assert reg.registered_endpoints() == {"PJSIP/2001", "PJSIP/2002"}
    seen.clear()
    live = [h for h in recorded() if h.get("Event") == "ContactStatus"]
    reg.apply(live[0])
    reg.apply(live[1])
    reg.apply(live[2])  # the first contact removed: the second one still holds
    assert changes(seen) == [("PJSIP/2009", True)]
    assert reg.registered("PJSIP/2009") and reg.registered("2009")
    reg.apply(live[3])
    assert changes(seen) == [("PJSIP/2009", True), ("PJSIP/2009", False)]
    assert seen[0].contact == "sip:2009@127.0.0.1:25409"
    assert seen[1].at == float(live[3]["Timestamp"])
    seen.clear()
    reg.begin_resync()
    reg.reconcile(listing("4"))  # the same two phones: nothing new to tell
    assert seen == []


def test_resync_marks_phones_that_went_away_during_the_outage_unregistered() -> None:
    reg, seen = tracker()
    reg.reconcile(listing("2"))
    seen.clear()
    only_2002 = [h for h in listing("4") if h.get("Endpoint") != "2001"]
    reg.begin_resync()
    reg.reconcile(only_2002)
    assert changes(seen) == [("PJSIP/2001", False)]
    reg.begin_resync()
    reg.reconcile([])  # "No Contacts found": nobody is registered
    assert changes(seen) == [("PJSIP/2001", False), ("PJSIP/2002", False)]
    assert reg.registered_endpoints() == frozenset()


def test_a_live_event_during_the_listing_wins_over_the_listing() -> None:
    reg, seen = tracker()
    reg.reconcile(listing("2"))
    reg.begin_resync()
    reg.apply(status(25341, "Removed", agent="2001"))  # arrives while the list is produced
    reg.reconcile(listing("4"))  # taken before: still shows 2001
    assert not reg.registered("PJSIP/2001")
    assert changes(seen)[-1] == ("PJSIP/2001", False)


@pytest.mark.parametrize(("sequence", "registered"), [
    (["NonQualified"], True),
    (["Reachable"], True),
    (["Created"], True),
    (["Reachable", "Unreachable"], False),
    (["Reachable", "Unreachable", "Reachable"], True),
    (["Unreachable", "Updated"], False),  # a refresh keeps the last status
    (["NonQualified", "Updated"], True),
    (["Updated"], True),  # a contact we had not heard of exists
    (["NonQualified", "Removed"], False),
])
def test_contact_status_values(sequence: list[str], registered: bool) -> None:
    reg, _ = tracker()
    for state in sequence:
        reg.apply(status(25409, state))
    assert reg.registered("PJSIP/2009") is registered


def test_a_contact_status_without_endpoint_name_uses_the_aor_s_endpoint() -> None:
    reg, seen = tracker()
    reg.apply(status(25409, "NonQualified"))
    reg.apply({**status(25409, "Removed"), "EndpointName": ""})
    assert changes(seen) == [("PJSIP/2009", True), ("PJSIP/2009", False)]


async def test_the_simulated_pbx_tells_registration_as_asterisk_does() -> None:
    """Same headers, same path: the sim's ContactStatus is one the AMI tracker accepts and
    produces the same domain events."""
    events: list[ev.DomainEvent] = []
    clock = RealtimeClock()
    model = CallModel(emit=events.append)
    pbx = SimulatedPbx(clock, model, random.Random(1))
    tapped: list[dict[str, str]] = []
    pbx.taps.append(tapped.append)
    pbx.register_endpoint("PJSIP/1001")
    pbx.register_endpoint("1001")  # again: no news
    pbx.unregister_endpoint("PJSIP/1001")
    pbx.unregister_endpoint("PJSIP/1001")  # was not registered: nothing
    assert [h["ContactStatus"] for h in tapped] == ["NonQualified", "NonQualified", "Removed"]
    reg, seen = tracker()
    for headers in tapped:
        reg.apply(headers)
    assert changes(seen) == [("PJSIP/1001", True), ("PJSIP/1001", False)]
    assert [(e.endpoint, e.registered) for e in events
            if isinstance(e, ev.DeviceRegistration)] == changes(seen)
    pbx.register_endpoint("PJSIP/1002")
    assert pbx.registered_endpoints() == {"PJSIP/1002"}


# --- the board and the dispatcher ----------------------------------------------------------


def offered_board(*agent_ids: str) -> tuple[AgentBoard, Dispatcher, list[RoutingDecision]]:
    board = AgentBoard(requires_registration=True)
    for agent_id in agent_ids:
        board.log_in(board.add(agent_id), 0.0)
    decisions: list[RoutingDecision] = []
    dispatcher = Dispatcher(board, make_routing(AcdSettings().routing),
                            lambda call, agent, now, decision: decisions.append(decision))
    return board, dispatcher, decisions


def test_an_agent_starts_unregistered_when_the_board_tracks_registration() -> None:
    assert AgentBoard().add("a1").registered  # the simulator: no phones to track
    board = AgentBoard(requires_registration=True)
    agent = board.add("a1")
    assert not agent.registered
    assert board.snapshot()[0]["registered"] is False
    board.log_in(agent, 1.0)
    assert board.count(AgentState.READY) == 1 and board.available == 0
    board.set_registered(agent, True, 2.0)
    assert board.available == 1 and board.snapshot()[0]["registered"] is True
    board.move(agent, AgentState.PAUSED, 3.0, reason="break")
    board.set_registered(agent, False, 4.0)
    board.move(agent, AgentState.READY, 5.0)
    assert board.available == 0 and board.unregistered[AgentState.READY] == 1
    assert agent.state is AgentState.READY and agent.since == 5.0  # not a transition


def test_an_unregistered_agent_is_never_offered_a_call() -> None:
    board, dispatcher, decisions = offered_board("a1", "a2")
    board.set_registered(board["a2"], True, 0.0)
    assert dispatcher.offer(WaitingCall("c1", 1.0), 1.0) is board["a2"]
    assert dispatcher.offer(WaitingCall("c2", 2.0), 2.0) is None  # a1 is ready, not registered
    assert dispatcher.queue_length == 1 and board["a1"].state is AgentState.READY
    board.finish_work(board["a2"], 3.0)  # a2 (reserved) back to ready: takes c2, not a1
    assert [(d.call_id, d.agent_id) for d in decisions] == [("c1", "a2"), ("c2", "a2")]


def test_registering_while_callers_wait_offers_the_next_one_at_once() -> None:
    board, dispatcher, decisions = offered_board("a1")
    dispatcher.offer(WaitingCall("c1", 1.0), 1.0)
    dispatcher.offer(WaitingCall("c2", 2.0), 2.0)
    assert decisions == []
    board.set_registered(board["a1"], True, 5.0)
    assert [(d.call_id, d.agent_id, d.trigger) for d in decisions] == [("c1", "a1", "agent")]
    assert "phone registered" in decisions[0].reason
    assert board["a1"].state is AgentState.RESERVED and dispatcher.queue_length == 1


def test_a_registration_is_heard_after_the_transition_being_told() -> None:
    """Run to completion: a transition listener that changes registration does not make the
    others hear the registration before the transition."""
    board = AgentBoard(requires_registration=True)
    agent = board.add("a1")
    heard: list[str] = []

    def first(move: AgentTransition) -> None:
        heard.append(f"first {move.state}")
        if move.state is AgentState.READY:
            board.set_registered(move.agent, True, move.at)

    def second(move: AgentTransition) -> None:
        heard.append(f"second {move.state}")

    def registration(change: RegistrationChange) -> None:
        heard.append(f"registered {change.registered}")

    board.listeners.extend([first, second])
    board.registration_listeners.append(registration)
    board.log_in(agent, 1.0)
    assert heard == ["first ready", "second ready", "registered True"]
    board.set_registered(agent, True, 2.0)  # no change: nothing told
    assert len(heard) == 3


async def test_the_dialer_paces_for_registered_ready_agents_only() -> None:
    board = AgentBoard(requires_registration=True)
    for agent_id in ("a1", "a2", "a3"):
        board.log_in(board.add(agent_id), 0.0)
    board.set_registered(board["a2"], True, 0.0)

    class Port:
        def place(self, line: Any) -> None: ...
        def connect(self, line: Any, agent: Any) -> None: ...
        def hang_up(self, line: Any) -> None: ...

    loop = DialerLoop(RealtimeClock(), parse_pacing("progressive"), board,
                      make_routing(AcdSettings().routing), Port(), lambda: None)  # type: ignore[arg-type]
    assert loop.snapshot().ready == 1


async def test_agent_registrations_map_endpoints_to_agents_and_publish() -> None:
    bus = ev.EventBus()
    events: list[ev.DomainEvent] = []
    bus.add_handler(events.append)
    board = AgentBoard()
    for agent_id in ("2001", "2002"):
        board.add(agent_id)
    endpoints = AgentEndpoints(is_agent=board.__contains__)
    registrations = AgentRegistrations(board, endpoints, bus, RealtimeClock(),
                                       registered_now={"PJSIP/2002", "PJSIP/trunk"})
    assert [a.registered for a in board] == [False, True]
    assert events == []  # the starting point is not news
    board.add("2003")
    assert not board["2003"].registered  # added later: unregistered until seen
    bus.publish(ev.DeviceRegistration(at=1.0, endpoint="PJSIP/2001", registered=True))
    bus.publish(ev.DeviceRegistration(at=1.0, endpoint="PJSIP/9999", registered=True))
    bus.publish(ev.DeviceRegistration(at=1.0, endpoint="Local/2002@x", registered=False))
    assert board["2001"].registered and board["2002"].registered
    assert [e.to_dict()["type"] for e in events] == [
        "device.registration", "agent.registration", "device.registration",
        "device.registration"]
    told = [e for e in events if isinstance(e, ev.AgentRegistrationChanged)]
    assert [(e.agent_id, e.registered, e.state) for e in told] == [("2001", True, "offline")]
    registrations.close()
    bus.publish(ev.DeviceRegistration(at=2.0, endpoint="PJSIP/2001", registered=False))
    assert board["2001"].registered


# --- the whole assembly on the simulated PBX -------------------------------------------------


SPEED = 50.0


async def until(predicate: Callable[[], bool], simulated_s: float = 60.0) -> None:
    for _ in range(int(simulated_s / SPEED / 0.005) + 1):
        if predicate():
            return
        await asyncio.sleep(0.005)
    raise AssertionError("timed out")


async def test_the_assembly_rings_only_registered_phones_and_registering_brings_calls() -> None:
    clock = RealtimeClock(speed=SPEED)
    bus = ev.EventBus()
    events: list[ev.DomainEvent] = []
    bus.add_handler(events.append)
    model = CallModel(emit=bus.publish)
    behaviour = Behaviour(agent_answer_after=Delay.fixed(1.0), talk=Delay.fixed(5.0))
    sim = SimulatedPbx(clock, model, random.Random(3), behaviour)
    sim.register_endpoint("PJSIP/1002")  # before the assembly: read from the PBX's view
    center = build_contact_center(sim, bus, clock, AcdSettings(
        queues=["support"], agents=["1001", "1002"], wrap_up_s=60.0, ring_timeout_s=10.0))
    board = center.board
    try:
        assert [(a.agent_id, a.registered) for a in board] == [("1001", False), ("1002", True)]
        await center.start()
        for number in ("+14155550101", "+14155550102"):
            sim.inject_inbound_call(number, "8005550100", variables={"CC_QUEUE": "support"})
        await until(lambda: board["1002"].state is AgentState.ON_CALL)
        acd = center.queues["support"]
        await until(lambda: acd.dispatcher.queue_length == 1)
        assert board["1001"].state is AgentState.READY  # ready, but no phone: not rung
        offered = [e for e in events if isinstance(e, ev.CallOffered)]
        assert [e.agent_id for e in offered] == ["1002"]
        sim.register_endpoint("PJSIP/1001")
        await until(lambda: board["1001"].state is AgentState.ON_CALL)
        offered = [e for e in events if isinstance(e, ev.CallOffered)]
        assert [e.agent_id for e in offered] == ["1002", "1001"]
        kinds = [(e.type, getattr(e, "agent_id", getattr(e, "endpoint", ""))) for e in events]
        first = kinds.index(("device.registration", "PJSIP/1001"))
        assert kinds[first + 1] == ("agent.registration", "1001")
        reserved = next(i for i, e in enumerate(events) if isinstance(e, ev.AgentStateChanged)
                        and e.agent_id == "1001" and e.state == "reserved")
        assert reserved > first + 1  # the offer it caused, after it
        sim.unregister_endpoint("PJSIP/1001")  # on a call: the call goes on
        await until(lambda: not board["1001"].registered)
        assert board["1001"].state is AgentState.ON_CALL
        check_event_order([e.to_dict() for e in events])
    finally:
        await center.close()
