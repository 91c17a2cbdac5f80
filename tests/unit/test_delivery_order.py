"""Delivery runs to completion on the event bus and the agent board: whatever order handlers
and listeners were added in, every one of them hears causes before effects."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from callcenter import events as ev
from callcenter.acd.agents import AgentBoard, AgentState, AgentTransition
from callcenter.acd.dispatcher import Dispatcher, WaitingCall
from callcenter.acd.phones import AgentEventPublisher
from callcenter.acd.routing import LongestIdle
from callcenter.core.errors import ConnectionLost
from callcenter.core.pbx import OriginateReason
from callcenter.cti.asterisk_pbx import AsteriskPbx

pytestmark = pytest.mark.unit


def _up(channel_id: str) -> ev.ChannelStateChanged:
    return ev.ChannelStateChanged(at=1.0, call_id="c", channel_id=channel_id, name="PJSIP/1-x",
                                  state="up", previous="ringing")


def _agent(state: str, previous: str) -> ev.AgentStateChanged:
    return ev.AgentStateChanged(at=1.0, agent_id="1", state=state, previous=previous)


@pytest.mark.parametrize("reacting_first", [True, False])
def test_an_event_published_by_a_handler_waits_for_the_current_one(
        reacting_first: bool) -> None:
    bus = ev.EventBus()
    heard: list[tuple[str, str]] = []

    def reacting(event: ev.DomainEvent) -> None:
        if isinstance(event, ev.ChannelStateChanged):
            bus.publish(_agent("on_call", "reserved"))  # the effect of the channel going up

    def recording(event: ev.DomainEvent) -> None:
        heard.append(("recording", event.type))

    handlers = [reacting, recording] if reacting_first else [recording, reacting]
    for handler in handlers:
        bus.add_handler(handler)
    sub = bus.subscribe()
    bus.publish(_up("leg"))
    assert heard == [("recording", "channel.state"), ("recording", "agent.state")]
    streamed = [sub.queue.get_nowait().type for _ in range(sub.queue.qsize())]
    assert streamed == ["channel.state", "agent.state"]
    assert bus.published == 2


def test_a_failing_handler_does_not_stop_delivery_nor_the_queue() -> None:
    bus = ev.EventBus()
    heard: list[str] = []

    def failing(event: ev.DomainEvent) -> None:
        if isinstance(event, ev.ChannelStateChanged):
            bus.publish(_agent("on_call", "reserved"))
            raise RuntimeError("boom")

    bus.add_handler(failing)
    bus.add_handler(lambda e: heard.append(e.type))
    bus.publish(_up("leg"))
    bus.publish(_up("leg2"))
    assert heard == ["channel.state", "agent.state", "channel.state", "agent.state"]


@pytest.mark.parametrize("dispatcher_first", [True, False])
def test_a_newly_ready_agent_reserved_by_a_listener_is_told_in_order(
        dispatcher_first: bool) -> None:
    """The dispatcher reserves an agent while the board is still telling "became ready": the
    stream must say wrap_up -> ready -> reserved, never wrap_up -> reserved."""
    board = AgentBoard()
    agent = board.add("1")
    board.log_in(agent, 0.0)
    board.reserve(agent, "old", 1.0)
    board.answer(agent, 2.0)
    board.end_call(agent, 3.0)
    bus = ev.EventBus()
    stream: list[tuple[str, str]] = []
    bus.add_handler(lambda e: stream.append((e.previous, e.state))  # type: ignore[attr-defined]
                    if isinstance(e, ev.AgentStateChanged) else None)
    assigned: list[str] = []
    if dispatcher_first:
        dispatcher = Dispatcher(board, LongestIdle(), lambda c, a, t, d: assigned.append(c.call_id))
        AgentEventPublisher(board, bus)
    else:
        AgentEventPublisher(board, bus)
        dispatcher = Dispatcher(board, LongestIdle(), lambda c, a, t, d: assigned.append(c.call_id))
    dispatcher.offer(WaitingCall("waiting", 0.5), 3.5)
    board.finish_work(agent, 4.0)
    assert assigned == ["waiting"]
    assert agent.state is AgentState.RESERVED
    assert stream == [("wrap_up", "ready"), ("ready", "reserved")]


def test_two_dispatchers_on_one_board_never_double_book_an_agent() -> None:
    board = AgentBoard()
    agent = board.add("1")
    assigned: list[tuple[str, str]] = []
    first = Dispatcher(board, LongestIdle(), lambda c, a, t, d: assigned.append(("in", c.call_id)))
    second = Dispatcher(board, LongestIdle(),
                        lambda c, a, t, d: assigned.append(("out", c.call_id)))
    first.offer(WaitingCall("a", 0.0), 0.0)
    second.offer(WaitingCall("b", 0.0), 0.0)
    heard: list[AgentTransition] = []
    board.listeners.append(heard.append)
    board.log_in(agent, 1.0)  # both dispatchers hear "ready"; only one may take the agent
    assert assigned == [("in", "a")]
    assert [(t.previous, t.state) for t in heard] == [(AgentState.OFFLINE, AgentState.READY),
                                                      (AgentState.READY, AgentState.RESERVED)]
    assert second.waiting and second.ready_agents == 0


class _Ami:
    """Just enough of AmiClient for AsteriskPbx's originate outcome."""

    def __init__(self) -> None:
        from callcenter.cti.link import LinkStats
        from callcenter.cti.model import CallModel

        self.model = CallModel()
        self.stats = LinkStats()
        self.forgotten = 0

    def forget_action(self, future: Any) -> None:
        self.forgotten += 1


async def test_an_originate_whose_response_never_came_is_unknown_not_no_answer() -> None:
    pbx = AsteriskPbx(_Ami())  # type: ignore[arg-type]
    loop = asyncio.get_running_loop()
    lost: asyncio.Future[Any] = loop.create_future()
    lost.set_exception(ConnectionLost("AMI connection lost"))
    assert (await pbx._outcome("x", lost, 1.0)).reason is OriginateReason.UNKNOWN
    silent: asyncio.Future[Any] = loop.create_future()
    assert (await pbx._outcome("x", silent, 0.01)).reason is OriginateReason.UNKNOWN
    no_response: asyncio.Future[Any] = loop.create_future()
    no_response.set_result([{"Response": "Success", "Message": "Originate queued"}])
    assert (await pbx._outcome("x", no_response, 1.0)).reason is OriginateReason.UNKNOWN
    failed: asyncio.Future[Any] = loop.create_future()
    failed.set_result({"Event": "OriginateResponse", "Response": "Failure", "Reason": "3"})
    assert (await pbx._outcome("x", failed, 1.0)).reason is OriginateReason.NO_ANSWER
    answered: asyncio.Future[Any] = loop.create_future()
    answered.set_result({"Event": "OriginateResponse", "Response": "Success", "Reason": "4"})
    assert (await pbx._outcome("x", answered, 1.0)).answered
