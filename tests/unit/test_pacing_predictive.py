"""The predictive pacer's pure parts (callcenter/dialer/predictive.py, docs/PACING.md).

Models are fitted on synthetic samples drawn here (fixed seeds), snapshots are built by hand.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from callcenter.dialer.pacing import DetailedPacer, DialerSnapshot, LineOutcome, parse_pacing
from callcenter.dialer.predictive import (
    PacingModel,
    Predictive,
    PredictiveSettings,
    expected_excess,
    normal_cdf,
)

pytestmark = pytest.mark.unit

NOW = 10_000.0


def samples(seed: int = 7) -> dict[str, list[float]]:
    """W1-like campaign: verdict 4-27 s after the dial, other outcomes 3-20 s, talk lognormal
    mean 180 s, wrap-up 15 s."""
    rng = random.Random(seed)
    sigma = 0.83  # cv 1
    return {
        "person_ages": [rng.uniform(4.0, 27.5) for _ in range(600)],
        "other_ages": [rng.choice((3.0, 20.0, rng.uniform(4.0, 27.5))) for _ in range(2000)],
        "talk_s": [rng.lognormvariate(np.log(180.0) - sigma**2 / 2, sigma) for _ in range(800)],
        "wrap_s": [15.0] * 800,
    }


def model(person_rate: float, seed: int = 7) -> PacingModel:
    return PacingModel.fit(person_rate=person_rate, rate_samples=800, talk_censored=[],
                           connect_limit_s=2.0, **samples(seed))


def campaign(agents: int, now: float = NOW, seed: int = 3, lines: int = 0,
             ready: int = 0) -> DialerSnapshot:
    """``ready`` agents free and ``agents - ready`` busy at random points of their call or
    wrap-up; ``lines`` ringing for ``0..25`` s."""
    rng = random.Random(seed)
    agents -= ready
    talking, wrap = [], []
    for _ in range(agents):
        if rng.random() < 0.08:
            wrap.append(now - rng.uniform(0, 15))
        else:
            talking.append(now - rng.uniform(0, 300))
    dialing = tuple(now - rng.uniform(0, 25) for _ in range(lines))
    return DialerSnapshot(now=now, ready=ready, on_call=len(talking), wrap_up=len(wrap),
                          dialing=len(dialing), dialing_since=dialing,
                          talking_since=tuple(talking), wrap_up_since=tuple(wrap))


def test_normal_helpers_match_closed_forms() -> None:
    z = np.array([-2.0, -0.5, 0.0, 1.0, 3.0])
    assert np.allclose(normal_cdf(z), [0.0227501, 0.3085375, 0.5, 0.8413447, 0.9986501],
                       atol=1e-6)
    # E[Y+] for N(0, 1) is 1/sqrt(2 pi); far below zero it vanishes, far above it is the mean
    assert expected_excess(np.array([0.0, -8.0, 8.0]), np.ones(3)) == pytest.approx(
        [0.3989423, 0.0, 8.0], abs=1e-6)


def test_fitted_tables_are_probabilities_that_grow_with_the_horizon() -> None:
    m = model(0.2)
    for table in (m.line_table, m.talk_table, m.wrap_table):
        assert table.min() >= 0.0 and table.max() <= 1.0
        assert np.all(np.diff(table, axis=1) >= -1e-12)  # more time, more chance
    # a fresh line: no verdict before 4 s, a fifth of lines are people within 28 s
    assert m.new_line[3] == 0.0
    assert m.new_line[-1] == pytest.approx(0.2)
    # wrap-up is 15 s: 10 s into it the agent is free within 5 s, not within 4 s
    assert m.wrap_table[10, 4] == 0.0 and m.wrap_table[10, 5] == 1.0
    # a line still ringing at 20 s is more likely a person soon than a fresh one is
    assert m.line_table[20, 5] > m.new_line[5]


def test_thin_data_paces_progressively() -> None:
    p = Predictive()
    assert not p.trusted
    # nothing known: one line per ready agent not already covered, like progressive
    snap = DialerSnapshot(now=0.0, ready=10, on_call=10, dialing=3,
                          talking_since=(0.0,) * 10, dialing_since=(0.0,) * 3)
    assert p.decide(snap) == 7
    # a few outcomes at a fifth of people: the pessimistic (upper-bound) rate allows a few
    # more lines, far fewer than the 1 / 0.2 = 5 per ready agent the point estimate says
    for i in range(40):
        p.record_line(LineOutcome.HUMAN if i % 5 == 0 else LineOutcome.NO_ANSWER, 0.0, 15.0)
    assert not p.trusted
    thin = p.decide(DialerSnapshot(now=1.0, ready=10, on_call=10,
                                   talking_since=(0.0,) * 10))
    assert 10 < thin < 30


def test_trusted_model_dials_ahead_of_agents_who_are_about_to_be_free() -> None:
    """With evidence, lines are placed for agents not ready yet: here every agent is busy, yet
    some are a few seconds from the end of their wrap-up."""
    m = model(0.2)
    busy = campaign(50, lines=0)
    n = m.plan(busy, theta=0.01, cap=200)
    assert n > 0
    # and a ringing pipeline that already covers them means fewer new lines
    assert m.plan(campaign(50, lines=60), theta=0.01, cap=200) < n


def test_staffing_drop_means_fewer_lines() -> None:
    m = model(0.2)
    # the same campaign (an eighth of the agents ready, the same lines ringing), half the team
    full = m.plan(campaign(50, lines=5, ready=6), theta=0.01, cap=400)
    cut = m.plan(campaign(25, lines=5, ready=3), theta=0.01, cap=400)
    assert 0 <= cut < full / 2
    # and nobody logged in: nothing at all
    assert m.plan(campaign(0, lines=0), theta=0.01, cap=400) == 0


def test_answer_rate_fall_means_more_lines_within_the_drop_budget() -> None:
    snap = campaign(50, lines=5, ready=6)
    theta = 0.01
    rich, worn = model(0.25), model(0.10)
    n_rich = rich.plan(snap, theta, cap=400)
    n_worn = worn.plan(snap, theta, cap=400)
    assert n_worn > 2 * n_rich > 0
    for m, n in ((rich, n_rich), (worn, n_worn)):
        drops, _ = m.expected_drops(snap, np.arange(n + 2))
        # the last line placed added at most theta drops per person it brings; one more would
        # have added more
        assert drops[n] - drops[n - 1] <= theta * m.person_rate + 1e-12
        assert drops[n + 1] - drops[n] > theta * m.person_rate
    # with the expected people the pipeline holds, the dropped share stays within the budget
    drops, people = worn.expected_drops(snap, np.arange(n_worn + 1))
    assert drops[n_worn] / people[n_worn] <= 2 * theta


def test_learner_follows_a_list_that_wears_out() -> None:
    """The person rate is a moving estimate: when the list wears out the pacer places more
    lines for the same agents."""
    settings = PredictiveSettings(rate_window=200)
    p = Predictive(settings)
    rng = random.Random(1)
    now = 0.0

    def feed(rate: float, count: int) -> None:
        nonlocal now
        for _ in range(count):
            now += 0.5
            outcome = LineOutcome.HUMAN if rng.random() < rate else LineOutcome.NO_ANSWER
            p.record_line(outcome, now - rng.uniform(4.0, 27.0), now)

    # talks and wrap-ups seen through the snapshots: agents who start and finish calls
    for k in range(40):
        t = 100.0 + 30 * k
        talk = 60.0 + 10.0 * k  # 60..450 s
        p.decide(DialerSnapshot(now=t, on_call=1, talking_since=(t - talk + 0.5,)))
        p.decide(DialerSnapshot(now=t + 1, wrap_up=1, wrap_up_since=(t + 0.5,)))
        p.decide(DialerSnapshot(now=t + 16, wrap_up=1, wrap_up_since=(t + 0.5,)))
        p.decide(DialerSnapshot(now=t + 17, ready=1))
    assert sorted(p._learn.talks) == pytest.approx([60.0 + 10.0 * k for k in range(40)])
    assert set(p._learn.wraps) == {16.0}
    feed(0.25, 600)
    assert p.trusted
    snap = campaign(30, now=now + 1, lines=5, ready=4)
    before = p.decide(snap)
    rate_before = p.model.person_rate if p.model else 0.0
    feed(0.08, 600)
    snap = campaign(30, now=now + 100, lines=5, ready=4)
    p._next_fit = -1.0  # refit now rather than on the clock
    after = p.decide(snap)
    assert p.model is not None and p.model.person_rate < rate_before / 2
    assert after > before > 0


def test_feedback_tightens_after_drops_and_is_bounded() -> None:
    p = Predictive(PredictiveSettings(drop_target=0.01, feedback_range=3.0))
    assert p.theta == pytest.approx(0.01)
    for _ in range(1000):
        p.record(LineOutcome.HUMAN, 0.0)
    for _ in range(30):  # 3% dropped today
        p.record(LineOutcome.DROPPED, 0.0)
    assert p.theta < 0.01
    for _ in range(500):
        p.record(LineOutcome.DROPPED, 0.0)
    assert p.theta == pytest.approx(0.01 / 3.0)


def test_parse_and_settings_errors() -> None:
    p = parse_pacing("predictive")
    assert isinstance(p, Predictive) and isinstance(p, DetailedPacer)
    assert parse_pacing("predictive", drop_target=0.02).settings.drop_target == 0.02
    with pytest.raises(ValueError, match="unknown setting"):
        parse_pacing("predictive", max_level=2)
    with pytest.raises(ValueError, match="drop_target"):
        PredictiveSettings(drop_target=0.0)
    with pytest.raises(ValueError, match="rate_window"):
        parse_pacing("predictive", rate_window=0)
    with pytest.raises(ValueError, match="refit_s"):
        PredictiveSettings(refit_s=0)
    with pytest.raises(ValueError, match="no argument"):
        parse_pacing("predictive:2")


SMALL_DAY = {
    "kind": "outbound", "name": "small", "duration_s": 3600, "seeds": 2,
    "agents": [{"from_s": 0, "to_s": 1800, "count": 8}, {"from_s": 1800, "to_s": 3600,
                                                         "count": 4}],
    "outcome": {"human": 0.25, "machine": 0.15, "busy": 0.05},
    "hit_rate_profile": [{"from_s": 0, "multiplier": 1.0}, {"from_s": 2400, "multiplier": 0.5}],
    "answer_delay_s": {"dist": "uniform", "low": 3, "high": 25}, "ring_timeout_s": 20,
    "amd": {"decision_s": {"dist": "uniform", "low": 1.0, "high": 2.5},
            "human_as_machine": 0.01, "machine_as_human": 0.2},
    "talk_s": {"dist": "lognormal", "mean": 120, "cv": 1.0},
    "wrapup_s": {"dist": "constant", "value": 10},
    "connect_limit_s": 2.0, "abandon_limit": 0.03,
}


def test_simulate_pacing_predictive_runs(tmp_path: Path) -> None:
    from callcenter.cli import cli

    path = tmp_path / "small.json"
    path.write_text(json.dumps(SMALL_DAY))
    result = CliRunner().invoke(cli, ["simulate", "--workload", str(path), "--pacing",
                                       "predictive", "--jobs", "1", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["pacing"] == "predictive"
    progressive = CliRunner().invoke(cli, ["simulate", "--workload", str(path), "--jobs", "1",
                                            "--json"])
    base = json.loads(progressive.output)
    # it dials ahead of the agents: more lines and more talk than one line per ready agent
    assert report["dials"] > base["dials"]
    assert report["talk_min_per_agent_hour"] > base["talk_min_per_agent_hour"]
    # --drop-target is its budget in percent; VICIdial's other settings are not its own
    budget = CliRunner().invoke(cli, ["simulate", "--workload", str(path), "--pacing",
                                      "predictive", "--drop-target", "0.5", "--seeds", "1",
                                      "--jobs", "1", "--json"])
    assert budget.exit_code == 0, budget.output
    assert json.loads(budget.output)["pacing_options"] == {"drop_target": 0.005}
    wrong = CliRunner().invoke(cli, ["simulate", "--workload", str(path), "--pacing",
                                     "predictive", "--max-level", "2"])
    assert wrong.exit_code != 0 and "vicidial-* pacing only" in wrong.output
    untunable = CliRunner().invoke(cli, ["simulate", "--workload", str(path), "--pacing",
                                         "predictive", "--tune", "--seeds", "1"])
    assert untunable.exit_code != 0 and "nothing to tune" in untunable.output


def test_the_dialer_loop_feeds_the_detail() -> None:
    """In a simulated day the pacer learns from the loop: lines' ages, calls, wrap-ups."""
    from callcenter.sim.outbound import OutboundSimulation
    from callcenter.sim.workload import OutboundWorkload, parse_workload

    workload = parse_workload(SMALL_DAY)
    assert isinstance(workload, OutboundWorkload)
    pacer = Predictive()
    OutboundSimulation(workload, pacer, 0).run()
    learned = pacer._learn
    assert learned.resolved > 150 and learned.humans > 25
    assert learned.talks_seen > 15
    assert all(w == pytest.approx(10.0, abs=0.6) for w in learned.wraps)
    assert pacer.trusted and pacer.model is not None
    assert 3.0 <= min(learned.person_ages) and max(learned.person_ages) <= 28.0


def test_a_campaigns_compliant_pacer_passes_the_line_detail_to_its_predictive_pacer() -> None:
    """Campaigns wrap their pacer in CompliantPacer: the loop must still see a DetailedPacer
    and the predictive pacer hear every line's placing time."""
    from callcenter.dialer.compliance import AbandonmentLedger, CompliantPacer
    from callcenter.dialer.pacing import DetailedPacer, LineOutcome, parse_pacing

    inner = parse_pacing("predictive")
    heard: list[tuple[LineOutcome, float, float]] = []
    inner.record_line = lambda o, placed, now: heard.append((o, placed, now))  # type: ignore[attr-defined,method-assign]
    wrapped = CompliantPacer(inner, AbandonmentLedger())
    assert isinstance(wrapped, DetailedPacer) and wrapped.wants_detail
    wrapped.record_line(LineOutcome.HUMAN, 10.0, 14.0)
    assert heard == [(LineOutcome.HUMAN, 10.0, 14.0)]


# --- hanging up late ringing lines ----------------------------------------------------------


def test_hung_up_lines_censor_the_age_distributions_without_bias() -> None:
    """Lines hung up at 15 s would have given some late verdicts: counting only the verdicts
    seen (the plain empirical CDF) makes people look early; the censored estimate does not."""
    from callcenter.dialer.predictive import _incidence

    rng = random.Random(5)
    person, other, cut = [], [], []
    for _ in range(20_000):
        age = rng.uniform(4.0, 27.0)
        if age > 15.0 and rng.random() < 0.5:  # half the lines still ringing at 15 s hung up
            cut.append(15.0 + rng.random() * 0.9)
        elif rng.random() < 0.25:
            person.append(age)
        else:
            other.append(age)
    grid = np.arange(40, dtype=np.float64)
    c_person, c_other = _incidence(person, other, cut, grid)
    truth = np.clip((grid - 4.0) / 23.0, 0.0, 1.0)  # uniform 4..27
    assert np.max(np.abs(c_person - truth)) < 0.03
    assert np.max(np.abs(c_other - truth)) < 0.03
    naive, _ = _incidence(person, other, [], grid)
    assert naive[15] - truth[15] > 0.1  # what ignoring the hung-up lines would believe
    # without any hang-up it is the plain empirical CDF
    plain, _ = _incidence(person, other, [], grid)
    ranks = np.searchsorted(np.sort(person), grid, side="right") / len(person)
    assert np.allclose(plain, ranks)


def hang_up_snapshot(ready: int, late_lines: int) -> DialerSnapshot:
    """Ten agents deep in long calls (none free for minutes), ``ready`` free now, and
    ``late_lines`` that have rung 16 s besides five young ones."""
    dialing = tuple([NOW - 16.2] * late_lines + [NOW - 2.0] * 5)
    return DialerSnapshot(now=NOW, ready=ready, on_call=10, dialing=len(dialing),
                          dialing_since=dialing, talking_since=tuple([NOW - 5.0] * 10))


def test_hang_ups_only_where_people_would_find_no_agent() -> None:
    m = model(0.2)
    # plenty of agents free: nothing to hang up
    assert m.hang_ups(hang_up_snapshot(ready=12, late_lines=8), 15.0, 0.5) == []
    # nobody free and eight late lines ringing: the late ones go, the young ones stay
    chosen = m.hang_ups(hang_up_snapshot(ready=0, late_lines=8), 15.0, 0.5)
    assert chosen and set(chosen) <= set(range(8))
    # the minimum ring is the pacer's limit too (the loop enforces it besides)
    assert m.hang_ups(hang_up_snapshot(ready=0, late_lines=8), 17.0, 0.5) == []
    # a stricter ratio never hangs up more
    assert len(m.hang_ups(hang_up_snapshot(ready=0, late_lines=8), 15.0, 0.9)) <= len(chosen)


def test_a_hung_up_line_counts_at_its_remaining_chance_and_as_censored() -> None:
    pacer = Predictive()
    pacer.model = model(0.2)
    before = pacer._learn.rate
    pacer.record_line(LineOutcome.CANCELLED, NOW - 16.0, NOW)
    assert pacer._learn.resolved == 0 and pacer._learn.humans == 0
    assert [kind for _, kind in pacer._learn.outcomes] == [2]
    chance = float(pacer.model.line_table[16, -1])
    assert 0.0 < chance < 0.2 and pacer._learn.rate == pytest.approx(before + chance)
    # no hang-up while the model is not trusted, nor with the setting off
    assert pacer.cancel_lines(hang_up_snapshot(ready=0, late_lines=8), 15.0) == []
    off = Predictive(PredictiveSettings(hang_up_ratio=0.0))
    off.model = model(0.2)
    assert off.cancel_lines(hang_up_snapshot(ready=0, late_lines=8), 15.0) == []
