"""Which PBX endpoint is an agent's phone, and which agent a channel belongs to — the one place
that knows.

Agents ring on an endpoint made from a template (``PJSIP/{agent}`` by default: the agent id
is the PJSIP endpoint name, as in docker/asterisk/pjsip.conf). Asterisk names a channel of
that endpoint ``PJSIP/2001-0000002a`` (a Local channel ``Local/2001@agents-local-0000001a;1``):
the endpoint is the name without its unique suffix. The ACD and the dialer ring
``endpoint(agent)``; screen pops and anything else that sees a channel ask ``agent_of(name)``.
``is_agent`` keeps other endpoints of the same technology (the carrier ``trunk``) out. An agent
defined with an ``endpoint`` of its own (``PJSIP/alice``) rings there instead: ``overrides``
(agent -> endpoint) is the assembly's, updated when definitions change.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

#: what Asterisk appends to an endpoint to name one channel of it
_CHANNEL_SUFFIX = re.compile(r"-[0-9a-f]{8}(;[12])?$")
DEFAULT_TEMPLATE = "PJSIP/{agent}"


def _numeric(agent_id: str) -> bool:
    return agent_id.isdigit()


@dataclass(frozen=True, slots=True)
class AgentEndpoints:
    template: str = DEFAULT_TEMPLATE
    #: which ids are agents (the assembly passes "is on the agent board"; default: numeric)
    is_agent: Callable[[str], bool] = _numeric
    #: agent -> its own endpoint, in place of the template's (mutable: live definitions)
    overrides: dict[str, str] = field(default_factory=dict, compare=False)
    _pattern: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.template.count("{agent}") != 1 or "/" not in self.template:
            raise ValueError(f"agent endpoint template {self.template!r} must look like "
                             "TECH/...{agent}... with {agent} once")
        before, after = self.template.split("{agent}")
        pattern = re.compile(f"^{re.escape(before)}(?P<agent>[^/;@]+?){re.escape(after)}$")
        object.__setattr__(self, "_pattern", pattern)

    def endpoint(self, agent_id: str) -> str:
        """Where to ring ``agent_id`` (``PJSIP/2001``)."""
        override = self.overrides.get(agent_id)
        return override if override is not None else self.template.format(agent=agent_id)

    def agent_of(self, channel_name: str) -> str | None:
        """The agent whose phone ``channel_name`` is a channel of, or None."""
        endpoint = _CHANNEL_SUFFIX.sub("", channel_name)
        for agent_id, override in self.overrides.items():
            if override == endpoint:
                return agent_id if self.is_agent(agent_id) else None
        match = self._pattern.match(endpoint)
        if match is None:
            return None
        agent_id = match.group("agent")
        if agent_id in self.overrides:  # rings elsewhere: this endpoint is not its phone
            return None
        return agent_id if self.is_agent(agent_id) else None
