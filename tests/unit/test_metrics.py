"""Metrics: live values read at scrape time, domain events counted, one registry per app."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from prometheus_client.parser import text_string_to_metric_families

from callcenter.cti.link import LinkStats
from callcenter.events import CallEnded, CallStarted, EventBus
from callcenter.metrics import Metrics

pytestmark = pytest.mark.unit


@dataclass
class FakeModel:
    calls: dict[str, object] = field(default_factory=dict)
    channels: dict[str, object] = field(default_factory=dict)
    bridges: dict[str, object] = field(default_factory=dict)


def samples(metrics: Metrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    body, _ = metrics.render()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(body.decode())
        for s in family.samples
    }


def test_live_counts_are_read_at_scrape_time() -> None:
    model = FakeModel()
    metrics = Metrics(calls=model)
    assert samples(metrics)[("callcenter_active_calls", ())] == 0
    model.calls["c1"] = object()
    model.channels.update(a=object(), b=object())
    model.bridges["br"] = object()
    got = samples(metrics)
    assert got[("callcenter_active_calls", ())] == 1
    assert got[("callcenter_active_channels", ())] == 2
    assert got[("callcenter_active_bridges", ())] == 1


def test_link_stats_are_exposed_with_pbx_label() -> None:
    link = LinkStats(
        connected=True, events_received=42, frames_malformed=2, reconnects=3,
        actions_sent=10, actions_failed=1, actions_timed_out=4, last_resync_s=0.25,
    )
    got = samples(Metrics(link=link))
    pbx = (("pbx", "asterisk"),)
    assert got[("callcenter_ami_connected", pbx)] == 1
    assert got[("callcenter_ami_events_received_total", pbx)] == 42
    assert got[("callcenter_ami_frames_malformed_total", pbx)] == 2
    assert got[("callcenter_ami_reconnects_total", pbx)] == 3
    assert got[("callcenter_ami_actions_sent_total", pbx)] == 10
    assert got[("callcenter_ami_actions_failed_total", pbx)] == 1
    assert got[("callcenter_ami_actions_timed_out_total", pbx)] == 4
    assert got[("callcenter_ami_last_resync_seconds", pbx)] == 0.25
    link.connected = False
    assert samples(Metrics(link=link))[("callcenter_ami_connected", pbx)] == 0


def test_unbound_sources_and_unknown_resync_are_omitted() -> None:
    names = {name for name, _ in samples(Metrics())}
    assert not any(n.startswith(("callcenter_ami_", "callcenter_active_")) for n in names)
    names = {name for name, _ in samples(Metrics(link=LinkStats()))}
    assert "callcenter_ami_connected" in names
    assert "callcenter_ami_last_resync_seconds" not in names


def test_domain_events_counted_by_type_through_the_bus() -> None:
    metrics = Metrics()
    bus = EventBus()
    bus.add_handler(metrics.on_event)
    bus.publish(CallStarted(at=1.0, call_id="c1"))
    bus.publish(CallStarted(at=2.0, call_id="c2"))
    bus.publish(CallEnded(at=3.0, call_id="c1", hangup_cause=16, hangup_cause_text="Normal",
                          duration_s=2.0, answered=True))
    got = samples(metrics)
    assert got[("callcenter_domain_events_total", (("type", "call.started"),))] == 2
    assert got[("callcenter_domain_events_total", (("type", "call.ended"),))] == 1


def test_websocket_clients_gauge() -> None:
    metrics = Metrics()
    with metrics.websocket_clients.track_inprogress():
        assert samples(metrics)[("callcenter_websocket_clients", ())] == 1
    assert samples(metrics)[("callcenter_websocket_clients", ())] == 0


def test_each_metrics_has_its_own_registry() -> None:
    first, second = Metrics(), Metrics()  # the global registry would refuse the second
    first.on_event(CallStarted(at=1.0, call_id="c1"))
    assert ("callcenter_domain_events_total", (("type", "call.started"),)) not in samples(second)


def test_content_negotiation() -> None:
    metrics = Metrics(link=LinkStats())
    body, content_type = metrics.render("")
    assert content_type.startswith("text/plain")
    body, content_type = metrics.render("application/openmetrics-text; version=1.0.0")
    assert content_type.startswith("application/openmetrics-text")
    assert body.rstrip().endswith(b"# EOF")


def test_agents_by_state_are_read_at_scrape_time() -> None:
    from callcenter.acd.agents import AgentBoard, AgentState
    from callcenter.metrics import Metrics

    board = AgentBoard()
    for name in ("a", "b", "c"):
        board.log_in(board.add(name), 0.0)
    metrics = Metrics(agents=board)
    board.move(board["b"], AgentState.PAUSED, 1.0, reason="break")
    body = metrics.render()[0].decode()
    assert 'callcenter_agents{state="ready"} 2.0' in body
    assert 'callcenter_agents{state="paused"} 1.0' in body
    assert 'callcenter_agents{state="offline"} 0.0' in body


def test_registered_and_unregistered_phones_per_state() -> None:
    from callcenter.acd.agents import AgentBoard
    from callcenter.metrics import Metrics

    board = AgentBoard(requires_registration=True)  # phones unknown until the PBX tells
    for name in ("a", "b", "c"):
        board.log_in(board.add(name), 0.0)
    board.set_registered(board["a"], True, 1.0)
    metrics = Metrics(agents=board)
    body = metrics.render()[0].decode()
    assert 'callcenter_agents_registered{state="ready"} 1.0' in body
    assert 'callcenter_agents_unregistered{state="ready"} 2.0' in body
    for name in ("b", "c"):
        board.set_registered(board[name], True, 2.0)
    board.set_registered(board["a"], False, 3.0)
    body = metrics.render()[0].decode()
    assert 'callcenter_agents_registered{state="ready"} 2.0' in body
    assert 'callcenter_agents_unregistered{state="ready"} 1.0' in body
    assert 'callcenter_agents_unregistered{state="offline"} 0.0' in body


def test_dispatch_leases_held_are_read_at_scrape_time() -> None:
    metrics = Metrics()
    held = {"sales": True, "support": False}
    metrics.leases = lambda: held
    assert samples(metrics)[("callcenter_dispatch_leases_held", (("queue", "sales"),))] == 1.0
    assert samples(metrics)[("callcenter_dispatch_leases_held", (("queue", "support"),))] == 0.0
    held["support"] = True  # this process took the queue over
    assert samples(metrics)[("callcenter_dispatch_leases_held", (("queue", "support"),))] == 1.0
