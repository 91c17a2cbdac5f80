"""Agents' phones registered or not, from the PBX's :class:`~callcenter.events.DeviceRegistration`
events, onto the agent board — so an agent whose phone is unregistered is never offered a call
and every console and wallboard shows it.

Why the board starts everyone unregistered: an agent configured but never seen registered has
no phone we could ring; offering it a call would hold a caller for a ring that cannot happen
(Asterisk fails it at once, and three such failures pause the agent ``no_answer``, which hides
the real cause). So :class:`AgentRegistrations` turns the board's
:attr:`~callcenter.acd.agents.AgentBoard.requires_registration` on and sets each agent from the
PBX's current view (``registered_endpoints()``: the AMI link's last resync and events, or the
simulated PBX's bots), then follows the events. The endpoint of an agent is the one
:class:`~callcenter.acd.identity.AgentEndpoints` rings: with a template that is not a
registering device (``Local/...``) no agent is ever registered — use ``PJSIP/{agent}``.

Each change is told to the board's registration listeners (the dispatchers) and published as
:class:`~callcenter.events.AgentRegistrationChanged`; causes first: ``device.registration``,
then ``agent.registration``, then any ``agent.state reserved`` the dispatcher made of it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from callcenter import events as ev
from callcenter.acd.agents import AgentBoard, RegistrationChange
from callcenter.acd.identity import AgentEndpoints
from callcenter.core.clock import Clock

log = logging.getLogger(__name__)


class AgentRegistrations:
    """Bus handler (``device.registration`` -> board) and board listener (-> bus)."""

    def __init__(self, board: AgentBoard, endpoints: AgentEndpoints, bus: ev.EventBus,
                 clock: Clock, registered_now: Iterable[str] = ()) -> None:
        self.board = board
        self.endpoints = endpoints
        self.bus = bus
        self.clock = clock
        board.requires_registration = True
        registered = frozenset(registered_now)
        now = clock.now()
        for agent in board:  # before listening: the starting point is not news
            board.set_registered(agent, endpoints.endpoint(agent.agent_id) in registered, now)
        board.registration_listeners.append(self.on_change)
        bus.add_handler(self.on_event)

    def close(self) -> None:
        self.bus.remove_handler(self.on_event)
        if self.on_change in self.board.registration_listeners:
            self.board.registration_listeners.remove(self.on_change)

    def on_event(self, event: ev.DomainEvent) -> None:
        if not isinstance(event, ev.DeviceRegistration):
            return
        agent_id = self.endpoints.agent_of(event.endpoint)
        if agent_id is None or self.endpoints.endpoint(agent_id) != event.endpoint:
            return
        agent = self.board[agent_id]
        if agent.registered is not event.registered:
            log.info("agent phone %s", "registered" if event.registered else "unregistered",
                     extra={"agent_id": agent_id, "endpoint": event.endpoint,
                            "contact": event.contact})
        self.board.set_registered(agent, event.registered, self.clock.now())

    def on_change(self, change: RegistrationChange) -> None:
        self.bus.publish(ev.AgentRegistrationChanged(
            at=change.at, agent_id=change.agent_id, registered=change.registered,
            state=change.agent.state.value))
