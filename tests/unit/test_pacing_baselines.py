"""Pacing baselines against hand-worked small cases (arithmetic in the comments).

Progressive, Ratio and VICIdial's adaptive dial level (shared/PACING_BASELINES.md,
docs/PACING.md). Each adaptive case drives ``decide`` once per simulated second, as the dialer
loop does, so a level update happens 15 s after the first ``decide`` and the drop rules are
applied 60 s after it.
"""

from __future__ import annotations

import pytest

from callcenter.dialer.pacing import (
    DialerSnapshot,
    LineOutcome,
    Progressive,
    Ratio,
    parse_pacing,
)
from callcenter.dialer.vicidial import AdaptiveMethod, VicidialAdaptive

pytestmark = pytest.mark.unit

HOUR = 3600.0


def snap(now: float, **kw: int) -> DialerSnapshot:
    return DialerSnapshot(now=now, **kw)


def drive(p: VicidialAdaptive, start: float, end: float, **kw: int) -> int:
    """decide() at every whole second start..end inclusive with a constant snapshot."""
    n = 0
    t = start
    while t <= end:
        n = p.decide(snap(t, **kw))
        t += 1.0
    return n


def record_many(p: VicidialAdaptive, outcome: LineOutcome, times: range | list[float]) -> None:
    for t in times:
        p.record(outcome, float(t))


# -- Progressive ----------------------------------------------------------------------------


def test_progressive_one_line_per_uncovered_ready_agent() -> None:
    p = Progressive()
    # 5 ready - 2 dialing - 1 waiting = 2 (connected lines and busy agents don't matter)
    assert p.decide(snap(0, ready=5, on_call=7, dialing=2, waiting=1, connected=7)) == 2
    # 1 ready - 3 dialing = -2 -> 0
    assert p.decide(snap(0, ready=1, dialing=3)) == 0
    assert p.decide(snap(0)) == 0
    assert p.next_decision_at(10.0) == 11.0
    assert p.name == "progressive"
    assert isinstance(parse_pacing("progressive"), Progressive)


# -- Ratio ----------------------------------------------------------------------------------


def test_ratio_rounds_half_up_and_subtracts_lines_in_use() -> None:
    r = Ratio(2.5)
    # working = 1 ready + 1 on call + 1 wrap-up = 3 (paused not counted); 2.5 * 3 = 7.5 -> 8
    s = snap(0, ready=1, on_call=1, wrap_up=1, paused=4)
    assert r.decide(s) == 8
    # lines in use = 1 dialing + 1 waiting + 1 connected = 3 -> 8 - 3 = 5
    assert r.decide(snap(0, ready=1, on_call=1, wrap_up=1, dialing=1, waiting=1, connected=1)) == 5
    # 1.5 * 3 = 4.5 -> 5 (Python's round would give 4)
    assert Ratio(1.5).decide(s) == 5
    # 1.0 * 2 working = 2, 5 lines in use -> -3 -> 0, never negative
    assert Ratio(1.0).decide(snap(0, ready=1, reserved=1, dialing=5)) == 0


def test_parse_pacing_ratio() -> None:
    r = parse_pacing("ratio:2.5")
    assert isinstance(r, Ratio)
    assert r.level == 2.5
    assert r.name == "ratio:2.5"
    assert parse_pacing("ratio").level == 1.0  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "spec", ["ratio:abc", "ratio:0", "ratio:-1", "ratio:11", "predictive:2", "", "vicidial-bogus"]
)
def test_bad_pacing_specs_raise(spec: str) -> None:
    with pytest.raises(ValueError):
        parse_pacing(spec)


def test_parse_pacing_vicidial_with_options() -> None:
    p = parse_pacing(
        "vicidial-tapered", max_level=2.5, intensity=20, diff_target=-1, drop_target_pct=2
    )
    assert isinstance(p, VicidialAdaptive)
    assert p.method is AdaptiveMethod.TAPERED
    assert p.name == "vicidial-tapered"
    assert (p.max_level, p.intensity, p.diff_target, p.drop_target_pct) == (2.5, 20, -1, 2)
    assert parse_pacing("vicidial-hard-limit").name == "vicidial-hard-limit"
    assert parse_pacing("vicidial-average").name == "vicidial-average"
    with pytest.raises(ValueError, match="intensity"):
        parse_pacing("vicidial-average", intensity=50)


# -- VICIdial adaptive: construction --------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"intensity": 40.5}, "intensity"),
        ({"intensity": -41}, "intensity"),
        ({"max_level": 0.9}, "max_level"),
        ({"drop_target_pct": 0}, "drop_target_pct"),
        ({"drop_target_pct": 100.1}, "drop_target_pct"),
        ({"initial_level": 0.5}, "initial_level"),
        ({"initial_level": 3.5}, "initial_level"),
        ({"day_end_s": 0.0}, "day_end_s"),
        ({"day_end_s": 90000.0}, "day_end_s"),
        ({"day_start_hhmm": 960}, "day_start_hhmm"),
        ({"day_start_hhmm": 2400}, "day_start_hhmm"),
        ({"diff_target": float("nan")}, "diff_target"),
    ],
)
def test_vicidial_validation(kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        VicidialAdaptive(AdaptiveMethod.AVERAGE, **kwargs)  # type: ignore[arg-type]


def test_vicidial_bounds_are_accepted() -> None:
    VicidialAdaptive(AdaptiveMethod.AVERAGE, intensity=40, max_level=1.0, drop_target_pct=100)
    VicidialAdaptive(AdaptiveMethod.AVERAGE, intensity=-40, day_start_hhmm=2359)
    with pytest.raises(ValueError, match="unknown adaptive method"):
        VicidialAdaptive("fast")  # type: ignore[arg-type]


def test_vicidial_basics() -> None:
    p = VicidialAdaptive(AdaptiveMethod.HARD_LIMIT, initial_level=1.5)
    assert p.name == "vicidial-hard-limit"
    assert p.level == 1.5
    assert p.next_decision_at(100.0) == 101.0
    # first decide, no update yet: 1.5 * 3 working = 4.5 -> 5 (half up), minus 0 lines
    assert p.decide(snap(0, ready=1, on_call=2)) == 5
    # 1.5 * 3 = 4.5 -> 5, minus 2 dialing + 1 waiting + 1 connected = 1
    assert p.decide(snap(1, ready=1, on_call=2, dialing=2, waiting=1, connected=1)) == 1
    # never negative: 5 - 9 lines -> 0
    assert p.decide(snap(2, ready=1, on_call=2, dialing=9)) == 0


# -- VICIdial adaptive: the 15-s level update -----------------------------------------------


def test_level_rises_from_15_sample_average_intensity_0() -> None:
    p = VicidialAdaptive(AdaptiveMethod.AVERAGE)
    # 4 ready, 6 on call -> 10 working, 0 waiting. t=0..14: first sample anchors the grid;
    # no update before t=15.
    drive(p, 0, 14, ready=4, on_call=6)
    assert p.level == 1.0
    # t=15: differential = 4 - 0 = 4, mul = 4/10 = 0.4, pct = 40, pct' = 40 * (0 + 1) = 40
    # level = 1.0 * (1 + 0.40) = 1.4; goal = round(1.4 * 10) = 14, minus 0 lines = 14
    assert p.decide(snap(15, ready=4, on_call=6)) == 14
    assert p.level == pytest.approx(1.4, abs=1e-12)
    # no further update until t=30: level 1.4 * (1 + 0.4) = 1.96
    drive(p, 16, 29, ready=4, on_call=6)
    assert p.level == pytest.approx(1.4, abs=1e-12)
    # t=30: goal = round(1.96 * 10) = round(19.6) = 20, minus 3 dialing + 2 connected = 15
    assert p.decide(snap(30, ready=4, on_call=6, dialing=3, connected=2)) == 15
    assert p.level == pytest.approx(1.96, abs=1e-12)


def test_level_rise_with_intensity_20() -> None:
    p = VicidialAdaptive(AdaptiveMethod.AVERAGE, intensity=20)
    drive(p, 0, 15, ready=4, on_call=6)
    # pct = 40 >= 0 -> pct' = 40 * (0.2 + 1) = 48 -> level = 1.0 * 1.48
    assert p.level == pytest.approx(1.48, abs=1e-12)


def test_level_rise_with_intensity_minus_20() -> None:
    p = VicidialAdaptive(AdaptiveMethod.AVERAGE, intensity=-20)
    drive(p, 0, 15, ready=4, on_call=6)
    # pct' = 40 * (-0.2 + 1) = 32 -> 1.32
    assert p.level == pytest.approx(1.32, abs=1e-12)


def test_negative_differential_uses_abs_im_minus_1() -> None:
    # 0 ready, 4 waiting, 10 agents on call: differential = 0 - 4 = -4, mul = -0.4, pct = -40
    p = VicidialAdaptive(AdaptiveMethod.AVERAGE, intensity=20, initial_level=2.0)
    drive(p, 0, 15, on_call=10, waiting=4)
    # pct' = -40 * |0.2 - 1| = -32 -> level = 2.0 * 0.68 = 1.36
    assert p.level == pytest.approx(1.36, abs=1e-12)

    q = VicidialAdaptive(AdaptiveMethod.AVERAGE, intensity=-20, initial_level=2.0)
    drive(q, 0, 15, on_call=10, waiting=4)
    # pct' = -40 * |-0.2 - 1| = -48 -> level = 2.0 * 0.52 = 1.04
    assert q.level == pytest.approx(1.04, abs=1e-12)

    r = VicidialAdaptive(AdaptiveMethod.AVERAGE, initial_level=2.0)
    drive(r, 0, 15, on_call=10, waiting=4)
    # intensity 0: pct' = -40 * 1 -> 2.0 * 0.6 = 1.2
    assert r.level == pytest.approx(1.2, abs=1e-12)


def test_moving_average_holds_the_last_15_samples() -> None:
    p = VicidialAdaptive(AdaptiveMethod.AVERAGE)
    # t=0..9: 0 ready, 10 on call; t=10..15: 6 ready, 4 on call (10 working throughout)
    drive(p, 0, 9, on_call=10)
    drive(p, 10, 15, ready=6, on_call=4)
    # at t=15 the window is t=1..15: 9 samples of 0 ready + 6 samples of 6 ready
    # avg_ready = 36 / 15 = 2.4, avg_agents = 10 -> mul = 0.24 -> level 1.24
    assert p.averages == pytest.approx((2.4, 0.0, 10.0))
    assert p.level == pytest.approx(1.24, abs=1e-12)
    # goal uses the *current* agents: round(1.24 * 10) = round(12.4) = 12
    assert p.decide(snap(16, ready=6, on_call=4)) == 12


def test_averages_before_15_samples_use_what_is_held() -> None:
    # a late first decide: 1 sample at t=100 anchors; next update at t=115 after 16 samples.
    p = VicidialAdaptive(AdaptiveMethod.AVERAGE)
    assert p.averages == (0.0, 0.0, 0.0)
    p.decide(snap(100, ready=2, on_call=2))
    p.decide(snap(101, ready=0, on_call=4))
    # (2 + 0) / 2 = 1 ready, 4 agents
    assert p.averages == pytest.approx((1.0, 0.0, 4.0))


def test_level_capped_at_max_level() -> None:
    p = VicidialAdaptive(AdaptiveMethod.AVERAGE, initial_level=2.8, max_level=3.0)
    drive(p, 0, 15, ready=4, on_call=6)
    # 2.8 * 1.4 = 3.92 -> capped at 3.0; goal = round(3.0 * 10) = 30
    assert p.level == 3.0
    assert p.decide(snap(16, ready=4, on_call=6)) == 30


def test_level_floor_is_1() -> None:
    p = VicidialAdaptive(AdaptiveMethod.AVERAGE, initial_level=1.2)
    # 0 ready, 10 waiting, 10 on call: mul = -10/10 = -1 -> level = 1.2 * 0 = 0 -> floor 1.0
    drive(p, 0, 15, on_call=10, waiting=10)
    assert p.level == 1.0


def test_diff_target_shifts_the_target() -> None:
    # differential = 4 ready - 0 waiting = 4, 10 agents
    cases = {
        -1.0: 1.3,  # target 3 -> mul 0.3 -> 1.3 (aim at one agent waiting)
        1.0: 1.5,  # target 5 -> mul 0.5 -> 1.5 (aim at one customer waiting)
        -4.0: 1.0,  # target 0 -> mul 0 -> unchanged
        -6.0: 1.0,  # target -2 -> mul -0.2 -> 1.0 * 0.8 = 0.8 -> floor 1.0
    }
    for diff_target, expected in cases.items():
        p = VicidialAdaptive(AdaptiveMethod.AVERAGE, diff_target=diff_target)
        drive(p, 0, 15, ready=4, on_call=6)
        assert p.level == pytest.approx(expected, abs=1e-12), diff_target
    # with level 2.0: target -2 -> 2.0 * 0.8 = 1.6
    p = VicidialAdaptive(AdaptiveMethod.AVERAGE, diff_target=-6.0, initial_level=2.0)
    drive(p, 0, 15, ready=4, on_call=6)
    assert p.level == pytest.approx(1.6, abs=1e-12)


def test_no_agents_leaves_level_unchanged() -> None:
    p = VicidialAdaptive(AdaptiveMethod.AVERAGE, initial_level=2.0)
    # avg_agents = 0 -> mul = 0 (even though waiting calls give a differential of -3)
    assert drive(p, 0, 15, waiting=3) == 0
    assert p.level == 2.0


def test_available_only_tally_uses_ready_agents() -> None:
    p = VicidialAdaptive(AdaptiveMethod.AVERAGE, available_only_tally=True)
    drive(p, 0, 15, ready=4, on_call=6)
    # agents = ready = 4: mul = 4/4 = 1 -> level 2.0; goal = round(2.0 * 4 ready) = 8
    assert p.level == 2.0
    assert p.decide(snap(16, ready=4, on_call=6)) == 8


# -- VICIdial adaptive: drop rules ------------------------------------------------------------
# Neutral snapshot: 0 ready, 0 waiting, 10 on call -> differential 0 -> the 15-s update leaves
# the level alone, so only the drop rules move it.

NEUTRAL = {"on_call": 10}


def test_one_minute_rule_halves_when_over_half_dropped() -> None:
    p = VicidialAdaptive(AdaptiveMethod.HARD_LIMIT, initial_level=3.0)
    # t=30..50: 21 lines dialed, 11 answered and dropped -> 11/21 = 52.4% > 50%, 21 > 20
    record_many(p, LineOutcome.DIALED, range(30, 51))
    record_many(p, LineOutcome.HUMAN, range(40, 51))
    record_many(p, LineOutcome.DROPPED, range(40, 51))
    drive(p, 0, 59, **NEUTRAL)
    assert p.level == 3.0  # the drop figures are first refreshed at t=60
    drive(p, 60, 60, **NEUTRAL)
    # level 3.0 / 2 = 1.5; the day rule needs > 50 calls today (21): not applied
    assert p.level == 1.5
    # AST_VDadapt applies the rules at every 15-s update, on the figures of t=60: t=75 halves
    # again (0.75, floored to 1.0); at t=120 the figures no longer hold the t=30..50 calls
    drive(p, 61, 74, **NEUTRAL)
    assert p.level == 1.5
    drive(p, 75, 75, **NEUTRAL)
    assert p.level == 1.0


def test_one_minute_rule_needs_more_than_20_calls_and_more_than_half() -> None:
    # 20 calls, all dropped: 20 is not > 20
    p = VicidialAdaptive(AdaptiveMethod.HARD_LIMIT, initial_level=3.0)
    record_many(p, LineOutcome.DIALED, range(30, 50))
    record_many(p, LineOutcome.DROPPED, range(30, 50))
    drive(p, 0, 60, **NEUTRAL)
    assert p.level == 3.0
    # 22 calls, 11 dropped: 11/22 = 50%, not > 50%
    p = VicidialAdaptive(AdaptiveMethod.HARD_LIMIT, initial_level=3.0)
    record_many(p, LineOutcome.DIALED, range(30, 52))
    record_many(p, LineOutcome.DROPPED, range(30, 41))
    drive(p, 0, 60, **NEUTRAL)
    assert p.level == 3.0


def test_one_minute_rule_counts_only_the_last_60_seconds() -> None:
    p = VicidialAdaptive(AdaptiveMethod.HARD_LIMIT, initial_level=3.0)
    # 21 dialed at t=0..20, 21 dropped at t=0..20. At the t=60 check the window is (0, 60]:
    # the t=0 call and drop have left -> 20 calls, not > 20 -> no halving
    record_many(p, LineOutcome.DIALED, range(0, 21))
    record_many(p, LineOutcome.DROPPED, range(0, 21))
    drive(p, 0, 60, **NEUTRAL)
    assert p.level == 3.0


def _bad_day(p: VicidialAdaptive, start: float = 1000.0) -> None:
    """60 calls today, 40 answered, 2 dropped: 2/40 = 5% > 3%; all before the last minute of
    the checks below, so the one-minute rule stays out (and 2/60 < 50% anyway)."""
    record_many(p, LineOutcome.DIALED, [start + i for i in range(60)])
    record_many(p, LineOutcome.HUMAN, [start + i for i in range(40)])
    record_many(p, LineOutcome.CONNECTED, [start + i for i in range(38)])
    record_many(p, LineOutcome.DROPPED, [start + 38, start + 39])
    record_many(p, LineOutcome.NO_ANSWER, [start + i for i in range(40, 55)])
    record_many(p, LineOutcome.MACHINE, [start + i for i in range(55, 60)])
    assert (p.dialed_today, p.answered_today, p.dropped_today) == (60, 40, 2)


def _check_at(p: VicidialAdaptive, when: float) -> None:
    """First decide at when-60 (anchors the grid), the drop rules run at `when`."""
    drive(p, when - 60, when, **NEUTRAL)


def test_day_rule_hard_limit_resets_to_1() -> None:
    p = VicidialAdaptive(AdaptiveMethod.HARD_LIMIT, initial_level=2.6)
    _bad_day(p)
    _check_at(p, 2 * HOUR)
    assert p.level == 1.0


def test_day_rule_average_halves() -> None:
    p = VicidialAdaptive(AdaptiveMethod.AVERAGE, initial_level=2.6)
    _bad_day(p)
    _check_at(p, 2 * HOUR)
    assert p.level == pytest.approx(1.3, abs=1e-12)  # 2.6 / 2
    # the day is still over target at the next 15-s update: halves again, 1.3 / 2 = 0.65
    # -> floor 1.0 (the rules run at every 15-s update, not once a minute)
    drive(p, 2 * HOUR + 1, 2 * HOUR + 14, **NEUTRAL)
    assert p.level == pytest.approx(1.3, abs=1e-12)
    drive(p, 2 * HOUR + 15, 2 * HOUR + 15, **NEUTRAL)
    assert p.level == 1.0


def test_tapered_clock_is_hhmm() -> None:
    # day 09:00-17:00: day_start_s = 0 is 09:00, day_end_s = 28800 is 17:00
    p = VicidialAdaptive(AdaptiveMethod.TAPERED)
    assert p.clock_hhmm(0) == 900
    assert p.clock_hhmm(28800) == 1700
    assert p.clock_hhmm(4.5 * HOUR) == 1330  # 09:00 + 4 h 30 min
    assert p.clock_hhmm(4.5 * HOUR + 59.9) == 1330  # whole minutes
    assert p.clock_hhmm(8 * HOUR - 60) == 1659
    assert p.clock_hhmm(15 * HOUR) == 0  # 24:00 wraps
    # left in HHMM arithmetic: 1700 - 1330 = 370; 1700 - 1659 = 41 (not 1 minute)
    assert p.tapered_left(4.5 * HOUR) == 370
    assert p.tapered_left(8 * HOUR - 60) == 41
    assert p.tapered_left(8 * HOUR + 5 * 60) == -5  # 17:05
    q = VicidialAdaptive(AdaptiveMethod.TAPERED, day_start_s=100.0, day_start_hhmm=745,
                         day_end_s=100.0 + 10 * HOUR)
    assert q.clock_hhmm(100.0 + 20 * 60) == 805  # 07:45 + 20 min
    assert q.tapered_left(100.0 + 20 * 60) == 1745 - 805  # = 940


@pytest.mark.parametrize(
    ("clock_s", "expected"),
    [
        (4.5 * HOUR, 3.0 * 0.37),  # 13:30: left = 1700 - 1330 = 370 -> 3.0 * 0.370 = 1.11
        (3.75 * HOUR, 3.0 * 0.455),  # 12:45: left = 1700 - 1245 = 455 -> 1.365
        (8 * HOUR - 60, 1.0),  # 16:59: left = 41 -> 3.0 * 0.041 = 0.123 -> floor 1.0
        (8 * HOUR + 300, 1.0),  # 17:05: left = -5 < 0 -> 1.0
        (8 * HOUR, 1.0),  # 17:00: left = 0 -> 3.0 * 0 -> floor 1.0
    ],
)
def test_day_rule_tapered_9_to_17(clock_s: float, expected: float) -> None:
    p = VicidialAdaptive(AdaptiveMethod.TAPERED, initial_level=3.0)
    _bad_day(p)
    _check_at(p, clock_s)
    assert p.level == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize(
    ("clock_s", "expected"),
    [
        (2 * HOUR, 3.0),  # 09:00: left = 2200 - 900 = 1300 > 1000 -> unchanged
        (5 * HOUR, 3.0),  # 12:00: left = 2200 - 1200 = 1000 -> 3.0 * 1.000
        (5.5 * HOUR, 3.0 * 0.97),  # 12:30: left = 2200 - 1230 = 970 -> 2.91
    ],
)
def test_day_rule_tapered_long_day(clock_s: float, expected: float) -> None:
    # day 07:00-22:00 (15 h)
    p = VicidialAdaptive(
        AdaptiveMethod.TAPERED, initial_level=3.0, day_start_hhmm=700, day_end_s=15 * HOUR
    )
    _bad_day(p)
    _check_at(p, clock_s)
    assert p.level == pytest.approx(expected, abs=1e-12)


def test_day_rule_needs_more_than_50_calls() -> None:
    p = VicidialAdaptive(AdaptiveMethod.HARD_LIMIT, initial_level=3.0)
    # 50 calls, 50 answered, 25 dropped: 50% > 3% but 50 calls is not > 50
    record_many(p, LineOutcome.DIALED, range(1000, 1050))
    record_many(p, LineOutcome.HUMAN, range(1000, 1050))
    record_many(p, LineOutcome.DROPPED, range(1000, 1025))
    _check_at(p, 2 * HOUR)
    assert p.level == 3.0
    # the 51st call tips it: 25/50 = 50% > 3% -> hard limit 1.0 at the next check
    p.record(LineOutcome.DIALED, 2 * HOUR + 1)
    drive(p, 2 * HOUR + 1, 2 * HOUR + 60, **NEUTRAL)
    assert p.level == 1.0


def test_day_rule_needs_drop_rate_strictly_over_target() -> None:
    # 120 calls, 100 answered, 3 dropped: 3% is not > 3%
    p = VicidialAdaptive(AdaptiveMethod.HARD_LIMIT, initial_level=3.0)
    record_many(p, LineOutcome.DIALED, range(1000, 1120))
    record_many(p, LineOutcome.HUMAN, range(1000, 1100))
    record_many(p, LineOutcome.DROPPED, range(1000, 1003))
    _check_at(p, 2 * HOUR)
    assert p.level == 3.0
    # a 2.5% target: 3% > 2.5% -> fires
    q = VicidialAdaptive(AdaptiveMethod.HARD_LIMIT, initial_level=3.0, drop_target_pct=2.5)
    record_many(q, LineOutcome.DIALED, range(1000, 1120))
    record_many(q, LineOutcome.HUMAN, range(1000, 1100))
    record_many(q, LineOutcome.DROPPED, range(1000, 1003))
    _check_at(q, 2 * HOUR)
    assert q.level == 1.0


def test_day_counters_reset_at_the_next_day_start() -> None:
    p = VicidialAdaptive(AdaptiveMethod.HARD_LIMIT, initial_level=3.0)
    _bad_day(p)
    # the next day starts at 86400: yesterday's calls no longer count
    _check_at(p, 86400 + 2 * HOUR)
    assert p.level == 3.0
    assert (p.dialed_today, p.answered_today, p.dropped_today) == (0, 0, 0)


def test_level_update_runs_before_the_drop_rules() -> None:
    # at t=60 both the 15-s update and the drop rules run: update first, then drop rules.
    p = VicidialAdaptive(AdaptiveMethod.AVERAGE, initial_level=2.0, max_level=3.0)
    _bad_day(p, start=0.0)  # 60 calls at t=0..59, 2/40 answers dropped = 5% > 3%
    drive(p, 0, 59, ready=4, on_call=6)
    # t=15: 2.0 * 1.4 = 2.8; t=30: 2.8 * 1.4 = 3.92 -> cap 3.0; t=45: 3.0 * 1.4 -> 3.0
    assert p.level == 3.0
    drive(p, 60, 60, ready=4, on_call=6)
    # t=60: update 3.0 * 1.4 -> cap 3.0, then the day rule: 3.0 / 2 = 1.5
    # (the other order would give 3.0 / 2 * 1.4 = 2.1). The minute rule: window (0, 60] holds
    # 59 calls and 2 drops -> 3%, not > 50%.
    assert p.level == pytest.approx(1.5, abs=1e-12)


def test_memory_is_bounded_and_decide_is_cheap_over_a_day() -> None:
    p = VicidialAdaptive(AdaptiveMethod.TAPERED, intensity=20)
    for t in range(28_800):
        p.decide(snap(float(t), ready=t % 3, on_call=20, waiting=t % 2, dialing=5))
        for _ in range(3):  # 3 lines a second, a third of them answered, a few dropped
            p.record(LineOutcome.DIALED, float(t))
        p.record(LineOutcome.HUMAN, float(t))
        if t % 50 == 0:
            p.record(LineOutcome.DROPPED, float(t))
    assert len(p._samples) == 15
    assert len(p._minute_dials) == 3 * 60
    assert len(p._minute_drops) <= 2
    assert p.dialed_today == 3 * 28_800
    assert 1.0 <= p.level <= 3.0


def test_drop_figures_are_refreshed_once_a_minute_and_read_at_every_update() -> None:
    """AST_VDadapt 2.4: calculate_drops once a minute, the rules in every 15-s
    calculate_dial_level: drops heard after a refresh act only from the next refresh on."""
    p = VicidialAdaptive(AdaptiveMethod.HARD_LIMIT, initial_level=2.6)
    start = 1000.0
    record_many(p, LineOutcome.DIALED, [start + i for i in range(60)])
    record_many(p, LineOutcome.HUMAN, [start + i for i in range(40)])
    drive(p, 2 * HOUR - 60, 2 * HOUR, **NEUTRAL)  # refresh at 2 h: 0 drops, under target
    assert p.level == 2.6
    record_many(p, LineOutcome.DROPPED, [2 * HOUR + 1, 2 * HOUR + 2])  # now 2/40 = 5 %
    drive(p, 2 * HOUR + 1, 2 * HOUR + 59, **NEUTRAL)  # updates at +15, +30, +45: old figures
    assert p.level == 2.6
    drive(p, 2 * HOUR + 60, 2 * HOUR + 60, **NEUTRAL)  # refreshed, then the update cuts
    assert p.level == 1.0
