"""Prometheus metrics of one server process, in a registry owned by one :class:`Metrics`.

Why a private ``CollectorRegistry`` and not the global one: tests (and ``callcenter demo``)
build many apps in one process; the global registry would refuse the second set of names.

Why a custom collector instead of gauges bumped by events: counting calls up on
``call.started`` and down on ``call.ended`` drifts for ever after one lost event (an AMI
reconnect, a resync that removes ghosts). Reading ``len(model.calls)`` and the
:class:`~callcenter.cti.link.LinkStats` counters *at scrape time* is always right and costs
nothing between scrapes. Only things that exist nowhere else are kept here: the number of
domain events per type (from :meth:`Metrics.on_event`, added to the EventBus by the
composition root) and the number of open WebSocket clients.

AMI series carry a ``pbx`` label (``LinkStats.pbx``) so a process serving several Asterisk
boxes later keeps the same metric names.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sized
from typing import Any, Protocol

from prometheus_client import CollectorRegistry, Gauge
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.exposition import choose_encoder
from prometheus_client.registry import Collector

from callcenter.core.pbx import PbxStatus
from callcenter.cti.link import LinkStats
from callcenter.events import DomainEvent


class AgentCounts(Protocol):
    """What the metrics read from the agent state machine (``AgentBoard`` fits): agents per
    state, read at scrape time like the call counts."""

    @property
    def counts(self) -> Mapping[Any, int]: ...

    @property
    def unregistered(self) -> Mapping[Any, int]:
        """Per state, how many of ``counts`` have no registered phone."""
        ...


class CallCounts(Protocol):
    """What the metrics read from the call model: its live collections (only ``len`` is used)."""

    @property
    def calls(self) -> Sized: ...

    @property
    def channels(self) -> Sized: ...

    @property
    def bridges(self) -> Sized: ...


# (metric name without _total, LinkStats attribute, help) — monotonic counters of the AMI link.
_LINK_COUNTERS: tuple[tuple[str, str, str], ...] = (
    ("callcenter_ami_events_received", "events_received", "AMI events read from Asterisk"),
    ("callcenter_ami_frames_malformed", "frames_malformed", "AMI frames that failed to parse"),
    ("callcenter_ami_frames_oversized", "frames_oversized", "AMI frames dropped as too large"),
    ("callcenter_ami_reconnects", "reconnects", "AMI reconnections after a lost link"),
    ("callcenter_ami_actions_sent", "actions_sent", "AMI actions sent"),
    ("callcenter_ami_actions_failed", "actions_failed", "AMI actions answered with an error"),
    ("callcenter_ami_actions_timed_out", "actions_timed_out", "AMI actions with no answer in time"),
    ("callcenter_ami_resyncs", "resyncs", "reconciliations of the call model with Asterisk"),
)


class _LiveCollector(Collector):
    """Reads the live state of the owning :class:`Metrics` at every scrape."""

    def __init__(self, owner: Metrics) -> None:
        self._owner = owner

    def describe(self) -> list[GaugeMetricFamily]:
        return []  # names are dynamic enough; skip the registry's duplicate check

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        owner = self._owner
        events = CounterMetricFamily(
            "callcenter_domain_events", "domain events published, by type", labels=["type"]
        )
        for kind, count in sorted(owner.domain_events.items()):
            events.add_metric([kind], count)
        yield events
        if owner.calls is not None:
            for name, sized, doc in (
                ("callcenter_active_calls", owner.calls.calls, "calls in the call model"),
                ("callcenter_active_channels", owner.calls.channels, "channels in the model"),
                ("callcenter_active_bridges", owner.calls.bridges, "bridges in the model"),
            ):
                yield GaugeMetricFamily(name, doc, value=len(sized))
        if owner.pbx_status is not None:
            status = owner.pbx_status()
            up = GaugeMetricFamily("callcenter_pbx_up", "1 while the PBX link is up and the "
                                   "call model resynced (any PBX)", labels=["pbx"])
            up.add_metric([status.pbx], 1.0 if status.connected else 0.0)
            yield up
        if owner.link is not None:
            yield from _link_families(owner.link)
        if owner.leases is not None:
            leases = GaugeMetricFamily(
                "callcenter_dispatch_leases_held",
                "1 for each queue this process dispatches now (its lease), 0 on standby",
                labels=["queue"])
            for queue, held in sorted(owner.leases().items()):
                leases.add_metric([queue], 1.0 if held else 0.0)
            yield leases
        if owner.agents is not None:
            agents = GaugeMetricFamily("callcenter_agents", "agents by state", labels=["state"])
            registered = GaugeMetricFamily(
                "callcenter_agents_registered",
                "agents whose phone is registered, by state", labels=["state"])
            unregistered = GaugeMetricFamily(
                "callcenter_agents_unregistered",
                "agents whose phone is not registered (never offered a call), by state",
                labels=["state"])
            missing = owner.agents.unregistered
            for state, count in owner.agents.counts.items():
                agents.add_metric([str(state)], count)
                registered.add_metric([str(state)], count - missing.get(state, 0))
                unregistered.add_metric([str(state)], missing.get(state, 0))
            yield agents
            yield registered
            yield unregistered


def _link_families(link: LinkStats) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
    labels = [link.pbx]
    up = GaugeMetricFamily("callcenter_ami_connected", "1 while the AMI link is up", labels=["pbx"])
    up.add_metric(labels, 1.0 if link.connected else 0.0)
    yield up
    for name, attr, doc in _LINK_COUNTERS:
        family = CounterMetricFamily(name, doc, labels=["pbx"])
        family.add_metric(labels, getattr(link, attr))
        yield family
    if link.last_resync_s is not None:
        resync = GaugeMetricFamily(
            "callcenter_ami_last_resync_seconds", "duration of the last resync", labels=["pbx"]
        )
        resync.add_metric(labels, link.last_resync_s)
        yield resync


class Metrics:
    """The metrics of one app. Bind ``calls``/``link`` now or later (attributes are public).

    Wiring (composition root)::

        metrics = Metrics(calls=model, link=ami.stats)
        bus.add_handler(metrics.on_event)
    """

    def __init__(self, *, calls: CallCounts | None = None, link: LinkStats | None = None,
                 agents: AgentCounts | None = None,
                 pbx_status: Callable[[], PbxStatus] | None = None) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self.calls = calls
        #: the AMI link's own counters (Asterisk only)
        self.link = link
        #: the PBX link's neutral status (``Pbx.status``), whatever the PBX
        self.pbx_status = pbx_status
        self.agents = agents
        #: queue -> whether this process holds its dispatch lease now
        self.leases: Callable[[], Mapping[str, bool]] | None = None
        self.domain_events: Counter[str] = Counter()
        self.websocket_clients = Gauge(
            "callcenter_websocket_clients",
            "open WebSocket event streams",
            registry=self.registry,
        )
        self.registry.register(_LiveCollector(self))

    def on_event(self, event: DomainEvent) -> None:
        """EventBus handler: count the event by type (cheap; runs inside ``publish``)."""
        self.domain_events[event.type] += 1

    def render(self, accept: str = "") -> tuple[bytes, str]:
        """(body, content type) for a scrape, negotiated from the ``Accept`` header."""
        encoder, content_type = choose_encoder(accept)
        return encoder(self.registry), content_type
