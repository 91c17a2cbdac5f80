"""Checks that an event stream tells causes before effects, shared by the transcript replay
and the demo stream tests.

- every agent's ``agent.state`` events form a path the state machine allows, each one starting
  where the previous ended (no skipped or reordered move);
- an agent goes on call only after one of its phone's channels went up, and into wrap-up only
  after one of them hung up (both since the agent was last reserved).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from callcenter.acd.agents import TRANSITIONS, AgentState
from callcenter.acd.identity import AgentEndpoints


def check_event_order(events: Iterable[Mapping[str, Any]],
                      endpoints: AgentEndpoints | None = None,
                      start: Mapping[str, str] | None = None) -> dict[str, int]:
    """Raise AssertionError at the first event out of order; return agent moves checked.
    ``start``: each agent's state before the first event (e.g. from a WebSocket snapshot)."""
    endpoints = endpoints or AgentEndpoints(is_agent=lambda _: True)
    state: dict[str, str] = dict(start or {})
    #: agent -> what its phone did since the agent was last reserved
    phone_up: dict[str, bool] = {}
    phone_hung_up: dict[str, bool] = {}
    moves: dict[str, int] = {}
    for index, event in enumerate(events):
        kind = event.get("type")
        if kind in ("channel.state", "channel.hangup"):
            agent = endpoints.agent_of(str(event.get("name", "")))
            if agent is None:
                continue
            if kind == "channel.state" and event.get("state") == "up":
                phone_up[agent] = True
            elif kind == "channel.hangup":
                phone_hung_up[agent] = True
        elif kind == "agent.state":
            agent, previous, new = event["agent_id"], event["previous"], event["state"]
            where = f"event {index}: agent {agent} {previous} -> {new}"
            if agent in state:
                assert previous == state[agent], f"{where}, but it was {state[agent]}"
            assert AgentState(new) in TRANSITIONS[AgentState(previous)], \
                f"{where}: a move the state machine forbids"
            if new == "reserved":
                phone_up[agent] = phone_hung_up[agent] = False
            elif new == "on_call" and previous == "reserved":
                assert phone_up.get(agent), f"{where} before its phone's channel went up"
            elif new == "wrap_up":
                assert phone_hung_up.get(agent), f"{where} before its phone's channel hung up"
            state[agent] = new
            moves[agent] = moves.get(agent, 0) + 1
    return moves
