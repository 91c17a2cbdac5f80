"""Workload files: the shipped ones load, broken ones are refused naming the field, samplers
draw the documented distributions, staffing steps are worked out by hand."""

from __future__ import annotations

import copy
import json
import math
import random
import statistics
from pathlib import Path
from typing import Any

import pytest

from callcenter.sim.workload import (
    Constant,
    Exponential,
    InboundWorkload,
    Lognormal,
    OutboundWorkload,
    Uniform,
    WorkloadError,
    load_workload,
    parse_workload,
)

WORKLOADS = Path(__file__).resolve().parents[2] / "bench" / "workloads"

OUTBOUND: dict[str, Any] = {
    "kind": "outbound", "name": "test", "duration_s": 3600,
    "agents": [{"from_s": 0, "to_s": 3600, "count": 5}],
    "outcome": {"human": 0.25, "machine": 0.15, "busy": 0.05},
    "answer_delay_s": {"dist": "uniform", "low": 3, "high": 25},
    "ring_timeout_s": 20,
    "amd": {"decision_s": {"dist": "constant", "value": 2},
            "human_as_machine": 0.01, "machine_as_human": 0.2},
    "talk_s": {"dist": "lognormal", "mean": 180, "cv": 1.0},
    "wrapup_s": {"dist": "constant", "value": 15},
    "connect_limit_s": 2.0, "abandon_limit": 0.03,
}

INBOUND: dict[str, Any] = {
    "kind": "inbound", "name": "test", "duration_s": 7200,
    "interval_s": 3600, "arrivals_per_interval": [360, 720],
    "agents_per_interval": [4, 6],
    "service_s": {"dist": "exponential", "mean": 180},
    "patience_s": None,
    "classes": [{"name": "vip", "share": 0.2, "priority": 10},
                {"name": "regular", "share": 0.8}],
}


_DROP = object()


def _with(base: dict[str, Any], **changes: Any) -> dict[str, Any]:
    data = copy.deepcopy(base)
    for key, value in changes.items():
        if value is _DROP:
            del data[key]
        else:
            data[key] = value
    return data


def _error(data: object, source: str = "w.json") -> str:
    with pytest.raises(WorkloadError) as info:
        parse_workload(data, source)
    message = str(info.value)
    assert message.startswith(f"{source} is not a valid workload:\n")
    return message


# --- the shipped workloads ------------------------------------------------------------------------


def test_the_five_shipped_workloads_load() -> None:
    names = sorted(p.name for p in WORKLOADS.glob("*.json"))
    assert names == ["inbound-day-classes.json", "inbound-erlang-c-check.json",
                     "outbound-w1-10.json", "outbound-w1-50.json", "outbound-w2-lowcontact.json"]
    loaded = {name: load_workload(WORKLOADS / name) for name in names}

    w1 = loaded["outbound-w1-10.json"]
    assert isinstance(w1, OutboundWorkload)
    assert (w1.duration_s, w1.seeds, w1.ring_timeout_s, w1.connect_limit_s) == (
        28800, 30, 20, 2.0)
    assert w1.staffing() == [(0.0, 10), (28800, 0)]
    assert w1.staffed_seconds() == 10 * 28800
    assert w1.talk_s == Lognormal(dist="lognormal", mean=180, cv=1.0)
    assert w1.busy_delay_s == Constant(dist="constant", value=3.0)  # optional, defaulted
    assert w1.machine_talk_s == Constant(dist="constant", value=8.0)
    assert w1.human_multiplier(1000.0) == 1.0

    assert loaded["outbound-w1-50.json"].staffing() == [(0.0, 50), (28800, 0)]
    w2 = loaded["outbound-w2-lowcontact.json"]
    assert isinstance(w2, OutboundWorkload)
    assert (w2.outcome.human, w2.ring_timeout_s) == (0.10, 22)

    erlang = loaded["inbound-erlang-c-check.json"]
    assert isinstance(erlang, InboundWorkload)
    assert erlang.patience_s is None
    assert erlang.staffing() == [(0.0, 14), (86400, 0)]
    assert erlang.rate_at(0.0) == pytest.approx(200 / 3600)

    day = loaded["inbound-day-classes.json"]
    assert isinstance(day, InboundWorkload)
    assert [(c.name, c.share, c.priority) for c in day.classes] == [
        ("vip", 0.12, 10), ("regular", 0.88, 0)]
    steps = day.staffing()
    assert steps[:3] == [(0.0, 8), (3600.0, 15), (7200.0, 19)]
    assert steps[-2:] == [(39600.0, 7), (43200, 0)]
    assert len(steps) == 13
    assert day.staffed_seconds() == 3600 * (8 + 15 + 19 + 20 + 17 + 14 + 16 + 19 + 18 + 15
                                            + 11 + 7)


def test_the_test_workloads_are_valid() -> None:
    assert isinstance(parse_workload(OUTBOUND), OutboundWorkload)
    assert isinstance(parse_workload(INBOUND), InboundWorkload)


# --- errors ---------------------------------------------------------------------------------------


def test_ring_timeout_below_15_seconds_is_refused() -> None:
    message = _error(_with(OUTBOUND, ring_timeout_s=14.9))
    assert "  outbound.ring_timeout_s: Input should be greater than or equal to 15" in message
    assert isinstance(parse_workload(_with(OUTBOUND, ring_timeout_s=15)), OutboundWorkload)


def test_outcomes_adding_up_to_more_than_one_are_refused() -> None:
    message = _error(_with(OUTBOUND, outcome={"human": 0.5, "machine": 0.4, "busy": 0.2}))
    assert "outbound.outcome:" in message
    assert "human + machine + busy must not exceed 1" in message
    exactly_one = parse_workload(
        _with(OUTBOUND, outcome={"human": 0.5, "machine": 0.3, "busy": 0.2}))
    assert isinstance(exactly_one, OutboundWorkload)


def test_an_outcome_above_one_is_refused() -> None:
    message = _error(_with(OUTBOUND, outcome={"human": 1.5, "machine": 0, "busy": 0}))
    assert "outbound.outcome.human: Input should be less than or equal to 1" in message


def test_unknown_fields_are_refused() -> None:
    message = _error(_with(OUTBOUND, talk_sec={"dist": "constant", "value": 1}))
    assert "outbound.talk_sec: Extra inputs are not permitted" in message
    message = _error(_with(OUTBOUND, amd={**OUTBOUND["amd"], "sensitivity": 3}))
    assert "outbound.amd.sensitivity: Extra inputs are not permitted" in message
    message = _error(_with(INBOUND, service_s={"dist": "exponential", "mean": 3, "cv": 1}))
    assert "inbound.service_s.exponential.cv: Extra inputs are not permitted" in message


def test_a_missing_field_is_named() -> None:
    message = _error(_with(OUTBOUND, amd=_DROP))
    assert "  outbound.amd: Field required" in message
    message = _error(_with(INBOUND, service_s=_DROP))
    assert "  inbound.service_s: Field required" in message


def test_every_error_is_listed() -> None:
    message = _error(_with(OUTBOUND, ring_timeout_s=10, connect_limit_s=0, typo=1))
    lines = message.splitlines()[1:]
    assert sorted(line.split(":")[0].strip() for line in lines) == [
        "outbound.connect_limit_s", "outbound.ring_timeout_s", "outbound.typo"]


def test_class_shares_must_add_up_to_one() -> None:
    message = _error(_with(INBOUND, classes=[{"name": "vip", "share": 0.5},
                                            {"name": "regular", "share": 0.4}]))
    assert "inbound: Value error, class shares must add up to 1" in message


def test_class_names_must_be_unique() -> None:
    message = _error(_with(INBOUND, classes=[{"name": "a", "share": 0.5},
                                            {"name": "a", "share": 0.5}]))
    assert "class names must be unique" in message


@pytest.mark.parametrize("staffing", ["both", "neither"])
def test_exactly_one_of_agents_and_agents_per_interval(staffing: str) -> None:
    if staffing == "both":
        data = _with(INBOUND, agents=[{"from_s": 0, "to_s": 7200, "count": 3}])
    else:
        data = _with(INBOUND, agents_per_interval=_DROP)
    message = _error(data)
    assert "give exactly one of agents or agents_per_interval" in message
    with_agents = _with(INBOUND, agents=[{"from_s": 0, "to_s": 7200, "count": 3}],
                        agents_per_interval=_DROP)
    assert isinstance(parse_workload(with_agents), InboundWorkload)


def test_negative_counts_are_refused() -> None:
    assert "arrivals_per_interval must not be negative" in _error(
        _with(INBOUND, arrivals_per_interval=[10, -1]))
    assert "agents_per_interval must not be negative" in _error(
        _with(INBOUND, agents_per_interval=[3, -2]))
    assert "outbound.agents.0.count: Input should be greater than or equal to 0" in _error(
        _with(OUTBOUND, agents=[{"from_s": 0, "to_s": 10, "count": -1}]))


def test_bad_distributions_are_refused_naming_the_field() -> None:
    message = _error(_with(OUTBOUND, talk_s={"dist": "gamma", "mean": 3}))
    assert "outbound.talk_s: Input tag 'gamma' found using 'dist'" in message
    message = _error(_with(OUTBOUND, talk_s={"dist": "lognormal", "mean": 180, "cv": 0}))
    assert "outbound.talk_s.lognormal.cv: Input should be greater than 0" in message
    message = _error(_with(OUTBOUND, answer_delay_s={"dist": "uniform", "low": 9, "high": 3}))
    assert "outbound.answer_delay_s.uniform: Value error, uniform: high must be >= low" in message
    message = _error(_with(OUTBOUND, wrapup_s={"dist": "constant", "value": -1}))
    assert "outbound.wrapup_s.constant.value" in message


def test_a_shift_must_end_after_it_starts() -> None:
    message = _error(_with(OUTBOUND, agents=[{"from_s": 0, "to_s": 100, "count": 1},
                                            {"from_s": 50, "to_s": 50, "count": 1}]))
    assert "outbound.agents.1: Value error, a shift must end after it starts" in message


def test_an_unknown_kind_or_a_non_object_is_refused() -> None:
    message = _error(_with(OUTBOUND, kind="sideways"))
    assert "(top level): Input tag 'sideways' found using 'kind'" in message
    assert "(top level)" in _error([1, 2, 3])


def test_a_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.json"
    with pytest.raises(WorkloadError) as info:
        load_workload(path)
    assert str(info.value) == f"cannot read workload {path}: No such file or directory"


def test_a_file_that_is_not_json_says_where(tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    path.write_text('{"kind": "inbound",\n  "duration_s": ,\n}\n', encoding="utf-8")
    with pytest.raises(WorkloadError) as info:
        load_workload(path)
    assert str(info.value) == f"{path} is not JSON: Expecting value at line 2 column 17"


def test_a_file_with_a_bad_field_names_the_file_and_the_field(tmp_path: Path) -> None:
    path = tmp_path / "w.json"
    path.write_text(json.dumps(_with(OUTBOUND, ring_timeout_s=5)), encoding="utf-8")
    with pytest.raises(WorkloadError) as info:
        load_workload(str(path))
    assert str(info.value) == (f"{path} is not a valid workload:\n"
                               "  outbound.ring_timeout_s: Input should be greater than or "
                               "equal to 15")


# --- samplers -------------------------------------------------------------------------------------

N = 200_000


def _draws(dist: Constant | Uniform | Exponential | Lognormal, seed: int = 1) -> list[float]:
    draw = dist.sampler(random.Random(seed))
    return [draw() for _ in range(N)]


def _mean_cv(values: list[float]) -> tuple[float, float]:
    mean = statistics.fmean(values)
    return mean, statistics.pstdev(values, mean) / mean


def test_lognormal_has_the_given_mean_and_cv() -> None:
    values = _draws(Lognormal(dist="lognormal", mean=180, cv=1.0))
    mean, cv = _mean_cv(values)
    assert mean == pytest.approx(180, rel=0.02)
    assert cv == pytest.approx(1.0, rel=0.05)
    assert min(values) > 0
    # the median of a lognormal with this mean and cv is mean / sqrt(1 + cv^2)
    assert statistics.median(values) == pytest.approx(180 / math.sqrt(2), rel=0.02)


def test_lognormal_with_another_cv() -> None:
    mean, cv = _mean_cv(_draws(Lognormal(dist="lognormal", mean=75, cv=0.5), seed=2))
    assert mean == pytest.approx(75, rel=0.02)
    assert cv == pytest.approx(0.5, rel=0.05)


def test_uniform_exponential_and_constant_samplers() -> None:
    values = _draws(Uniform(dist="uniform", low=10, high=30))
    mean, cv = _mean_cv(values)
    assert mean == pytest.approx(20, rel=0.01)
    assert cv == pytest.approx((20 / math.sqrt(12)) / 20, rel=0.02)
    assert 10 <= min(values) and max(values) <= 30
    assert Uniform(dist="uniform", low=10, high=30).mean == 20

    mean, cv = _mean_cv(_draws(Exponential(dist="exponential", mean=50), seed=3))
    assert mean == pytest.approx(50, rel=0.02)
    assert cv == pytest.approx(1.0, rel=0.05)

    constant = Constant(dist="constant", value=7.5)
    draw = constant.sampler(random.Random(0))
    assert {draw() for _ in range(100)} == {7.5}
    assert constant.mean == 7.5


def test_samplers_are_deterministic_for_a_seed() -> None:
    dist = Lognormal(dist="lognormal", mean=180, cv=1.0)
    a, b, c = (dist.sampler(random.Random(s)) for s in (9, 9, 10))
    first = [a() for _ in range(50)]
    assert first == [b() for _ in range(50)]
    assert first != [c() for _ in range(50)]


# --- staffing -------------------------------------------------------------------------------------


def _shifts(*shifts: tuple[float, float, int], duration: float) -> OutboundWorkload:
    agents = [{"from_s": a, "to_s": b, "count": n} for a, b, n in shifts]
    workload = parse_workload(_with(OUTBOUND, agents=agents, duration_s=duration))
    assert isinstance(workload, OutboundWorkload)
    return workload


def test_overlapping_shifts() -> None:
    workload = _shifts((0, 100, 2), (50, 150, 3), duration=200)
    steps = workload.staffing()
    assert steps[:4] == [(0.0, 2), (50.0, 5), (100.0, 3), (150.0, 0)]
    assert steps[-1] == (200, 0)
    assert [t for t, _ in steps] == sorted(t for t, _ in steps)
    assert workload.staffed_seconds() == 2 * 50 + 5 * 50 + 3 * 50  # 500 agent-seconds


def test_shifts_are_cut_at_the_end_of_the_day() -> None:
    workload = _shifts((0, 100, 2), (50, 150, 3), duration=120)
    assert workload.staffing() == [(0.0, 2), (50.0, 5), (100.0, 3), (120, 0)]
    assert workload.staffed_seconds() == 2 * 50 + 5 * 50 + 3 * 20


def test_a_late_start_and_back_to_back_shifts() -> None:
    # nobody until 30; two shifts of 4 back to back make no step at 60
    workload = _shifts((30, 60, 4), (60, 90, 4), (70, 80, 1), duration=100)
    assert workload.staffing() == [(0.0, 0), (30.0, 4), (70.0, 5), (80.0, 4), (90.0, 0),
                                   (100, 0)]
    assert workload.staffed_seconds() == 4 * 40 + 5 * 10 + 4 * 10


def test_agents_per_interval_steps() -> None:
    data = _with(INBOUND, duration_s=4 * 3600 + 1800, agents_per_interval=[8, 8, 5, 0, 5, 9])
    workload = parse_workload(data)
    assert isinstance(workload, InboundWorkload)
    assert workload.staffing() == [(0.0, 8), (7200.0, 5), (10800.0, 0), (14400.0, 5),
                                   (16200, 0)]
    assert workload.staffed_seconds() == 8 * 7200 + 5 * 3600 + 0 + 5 * 1800


def test_agents_per_interval_shorter_than_the_day_keeps_the_last_count() -> None:
    workload = parse_workload(_with(INBOUND, duration_s=3 * 3600, agents_per_interval=[2, 3]))
    assert isinstance(workload, InboundWorkload)
    assert workload.staffing() == [(0.0, 2), (3600.0, 3), (10800, 0)]
    assert workload.staffed_seconds() == 2 * 3600 + 3 * 7200


def test_inbound_with_shifts_uses_the_shift_steps() -> None:
    data = _with(INBOUND, agents=[{"from_s": 0, "to_s": 3600, "count": 3},
                                  {"from_s": 1800, "to_s": 7200, "count": 2}],
                 agents_per_interval=_DROP)
    workload = parse_workload(data)
    assert isinstance(workload, InboundWorkload)
    assert workload.staffing() == [(0.0, 3), (1800.0, 5), (3600.0, 2), (7200, 0)]
    assert workload.staffed_seconds() == 3 * 1800 + 5 * 1800 + 2 * 3600


def test_rate_at() -> None:
    workload = parse_workload(INBOUND)
    assert isinstance(workload, InboundWorkload)
    assert workload.rate_at(0.0) == pytest.approx(0.1)
    assert workload.rate_at(3599.9) == pytest.approx(0.1)
    assert workload.rate_at(3600.0) == pytest.approx(0.2)
    assert workload.rate_at(7199.0) == pytest.approx(0.2)
    assert workload.rate_at(50_000.0) == pytest.approx(0.2)  # the last interval repeats


def test_hit_rate_profile() -> None:
    data = _with(OUTBOUND, hit_rate_profile=[{"from_s": 0, "multiplier": 1.0},
                                             {"from_s": 1800, "multiplier": 0.5}])
    workload = parse_workload(data)
    assert isinstance(workload, OutboundWorkload)
    assert workload.human_multiplier(0.0) == 1.0
    assert workload.human_multiplier(1799.0) == 1.0
    assert workload.human_multiplier(1800.0) == 0.5
    assert workload.human_multiplier(3000.0) == 0.5
