"""The queue-event log's tracker (events -> rows) and the figures computed from the rows,
checked on a hand-worked day (every expected number is worked out in the comments)."""

from __future__ import annotations

import pytest

from callcenter import events as ev
from crm_bridge.queue_figures import interval_bounds, queue_figures
from crm_bridge.queue_log import QueueLogEntry, QueueLogTracker, entries_of

pytestmark = pytest.mark.unit

T0 = 1_780_000_000.0  # the report's start (epoch seconds)


def entered(at: float, channel: str, queue: str = "sales", priority: int = 0,
            requeued: bool = False) -> ev.CallQueued:
    return ev.CallQueued(at=T0 + at, queue=queue, call_id=f"call-{channel}", channel_id=channel,
                         priority=priority, waiting=1, requeued=requeued)


def offered(at: float, channel: str, wait: float, agent: str = "2001") -> ev.CallOffered:
    return ev.CallOffered(at=T0 + at, queue="sales", call_id=f"call-{channel}",
                          channel_id=channel, agent_id=agent, waited_s=wait,
                          reason="longest_idle")


def answered(at: float, channel: str, wait: float, queue: str = "sales") -> ev.CallConnected:
    return ev.CallConnected(at=T0 + at, queue=queue, call_id=f"call-{channel}",
                            channel_id=channel, agent_id="2001", waited_s=wait)


def not_answered(at: float, channel: str) -> ev.CallNotConnected:
    return ev.CallNotConnected(at=T0 + at, queue="sales", call_id=f"call-{channel}",
                               channel_id=channel, agent_id="2001", result="not_answered")


def abandoned(at: float, channel: str, wait: float, stage: str) -> ev.CallAbandoned:
    return ev.CallAbandoned(at=T0 + at, queue="sales", call_id=f"call-{channel}",
                            channel_id=channel, waited_s=wait, stage=stage)


DAY: list[ev.DomainEvent] = [
    # A: answered after 5 s (within 20 s)
    entered(10, "A"), offered(12, "A", 2), answered(15, "A", 5),
    # B (VIP): rang out once, back at its place, answered after 65 s
    entered(20, "B", priority=5), offered(50, "B", 30), not_answered(70, "B"),
    entered(70, "B", priority=5, requeued=True), offered(80, "B", 60), answered(85, "B", 65),
    # C: hung up after 10 s in line (a short abandon: within the threshold)
    entered(100, "C"), abandoned(110, "C", 10, "waiting"),
    # D: hung up after 30 s while an agent's phone rang
    entered(200, "D"), offered(220, "D", 20), abandoned(230, "D", 30, "ringing"),
    # F: another queue, answered at exactly the threshold
    entered(300, "F", queue="support"), answered(320, "F", 20, queue="support"),
    # G: entered, re-announced (a restart re-adopted it), answered after 30 s
    entered(400, "G"), entered(410, "G"), answered(430, "G", 30),
    # E: entered in the first interval, gave up in the second after 150 s
    entered(800, "E"), abandoned(950, "E", 150, "waiting"),
    # not a queue event: no row
    ev.ChannelHungUp(at=T0 + 960, channel_id="E", call_id="call-E", name="PJSIP/x", cause=16,
                     cause_text="Normal Clearing"),
]


def test_tracker_makes_one_row_per_step_and_carries_the_priority() -> None:
    entries = entries_of(DAY)
    assert [(e.channel_id, e.kind) for e in entries if e.channel_id == "B"] == [
        ("B", "enter"), ("B", "offer"), ("B", "not_connected"), ("B", "requeue"),
        ("B", "offer"), ("B", "answer")]
    b_rows = [e for e in entries if e.channel_id == "B"]
    assert {e.priority for e in b_rows} == {5}  # the answer row says VIP: no join needed
    assert b_rows[1] == QueueLogEntry(T0 + 50, "sales", "call-B", "B", "offer", agent="2001",
                                      wait_s=30, priority=5, detail="longest_idle")
    assert b_rows[2].detail == "not_answered" and b_rows[2].agent == "2001"
    assert b_rows[0].waiting == 1 and b_rows[0].wait_s is None
    d_abandon = next(e for e in entries if e.channel_id == "D" and e.kind == "abandon")
    assert (d_abandon.wait_s, d_abandon.detail, d_abandon.agent) == (30, "ringing", None)
    assert len(entries) == len(DAY) - 1  # the hang-up makes none


def test_tracker_forgets_callers_that_left_and_cuts_long_text() -> None:
    tracker = QueueLogTracker()
    tracker.on_event(entered(0, "A", priority=3))
    tracker.on_event(entered(0, "B", priority=4))
    tracker.on_event(answered(5, "A", 5))
    tracker.on_event(ev.ChannelHungUp(at=T0 + 6, channel_id="B", call_id="call-B", name="",
                                      cause=16, cause_text=""))
    assert tracker.priority == {}
    long = ev.CallOffered(at=T0, queue="q" * 100, call_id="c", channel_id="h", agent_id="a",
                          waited_s=0, reason="why " * 100)
    entry = tracker.on_event(long)
    assert entry is not None and len(entry.queue) == 64 and len(entry.detail or "") == 255
    assert entry.priority is None  # never entered: unknown, not 0


def test_figures_of_the_hand_worked_day() -> None:
    reports = queue_figures(entries_of(DAY), T0, T0 + 1800, interval_s=900, threshold_s=20)
    assert list(reports) == ["sales", "support"]
    sales = reports["sales"].to_dict()
    first, second = sales["intervals"]
    assert first == {
        "start": T0, "end": T0 + 900,
        "offered": 6,  # A B C D G E (G once, B's requeue is no new caller)
        "answered": 3, "answered_within_threshold": 1,  # A (5 s); not B (65), G (30)
        "abandoned": 2, "abandoned_waiting": 1, "abandoned_ringing": 1,  # C, D
        "abandoned_within_threshold": 1,  # C (10 s)
        "service_level": 0.25,  # 1 / (3 answered + 2 abandoned - 1 short abandon)
        "threshold_s": 20,
        "asa_s": 33.333,  # (5 + 65 + 30) / 3
        "average_wait_s": 28.0,  # (5 + 65 + 30 + 10 + 30) / 5
        "longest_wait_s": 65,
        "average_abandon_s": 20.0,  # (10 + 30) / 2
        "requeued": 1, "ring_no_answer": 1, "agent_offers": 4,  # A, B twice, D
    }
    assert second["offered"] == 0 and second["abandoned"] == 1  # E, counted where it left
    assert second["service_level"] == 0.0  # 0 / (0 + 1 - 0)
    assert second["asa_s"] is None and second["longest_wait_s"] == 150
    total = sales["total"]
    assert (total["offered"], total["answered"], total["abandoned"]) == (6, 3, 3)
    assert total["service_level"] == 0.2  # 1 / (3 + 3 - 1)
    assert total["average_wait_s"] == round((140 + 150) / 6, 3)
    assert total["longest_wait_s"] == 150
    support = reports["support"].to_dict()["total"]
    assert (support["offered"], support["answered_within_threshold"]) == (1, 1)  # 20 <= 20
    assert support["service_level"] == 1.0 and support["asa_s"] == 20.0


def test_intervals_add_up_to_the_total() -> None:
    reports = queue_figures(entries_of(DAY), T0, T0 + 1800, interval_s=300)
    for report in reports.values():
        for name in ("offered", "answered", "abandoned", "requeued", "agent_offers"):
            assert sum(getattr(t, name) for _, _, t in report.intervals) == getattr(
                report.total, name)


def test_range_threshold_per_queue_and_empty_queues() -> None:
    # only [T0 + 100, T0 + 250): C and D enter and abandon there; nothing else
    reports = queue_figures(entries_of(DAY), T0 + 100, T0 + 250, interval_s=900,
                            threshold_s=lambda q: 40.0 if q == "sales" else 5.0,
                            queues=["sales", "empty"])
    assert list(reports) == ["empty", "sales"]
    sales = reports["sales"].to_dict()["total"]
    assert (sales["offered"], sales["abandoned"], sales["abandoned_within_threshold"]) == (
        2, 2, 2)  # both within 40 s
    assert sales["service_level"] is None  # nobody judged: no fair chance either time
    empty = reports["empty"].to_dict()
    assert empty["total"]["offered"] == 0 and empty["total"]["threshold_s"] == 5.0
    assert len(empty["intervals"]) == 1  # 150 s in 900 s intervals: one, cut at the end


def test_interval_bounds() -> None:
    assert interval_bounds(0, 2000, 900) == [(0, 900), (900, 1800), (1800, 2000)]
    assert interval_bounds(0, 0, 900) == []
    with pytest.raises(ValueError, match="positive"):
        interval_bounds(0, 10, 0)
