"""The simulator against closed forms (Erlang C and A), determinism, and the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from callcenter.cli import cli
from callcenter.sim.erlang import erlang_a, erlang_c
from callcenter.sim.runner import RunSpec, percentile, run_one, simulate
from callcenter.sim.workload import load_workload, parse_workload

WORKLOADS = Path(__file__).parents[2] / "bench" / "workloads"


def test_erlang_c_closed_form_matches_the_workload_readme() -> None:
    figures = erlang_c(200 / 3600, 180, 14, 20)
    assert figures.p_wait == pytest.approx(0.174, abs=0.0005)
    assert figures.service_level == pytest.approx(0.888, abs=0.0005)
    assert figures.occupancy == pytest.approx(0.714, abs=0.0005)


def test_erlang_a_without_abandonment_is_erlang_c() -> None:
    c = erlang_c(200 / 3600, 180, 14, 20)
    a = erlang_a(200 / 3600, 180, 14, 1e12)
    assert a.p_wait == pytest.approx(c.p_wait, rel=1e-6)
    assert a.asa_s == pytest.approx(c.asa_s, rel=1e-5)


def test_simulated_erlang_c_check_reproduces_erlang_c() -> None:
    workload = load_workload(WORKLOADS / "inbound-erlang-c-check.json")
    report = simulate(RunSpec(workload), jobs=1)
    assert report["seeds"] == 10
    assert report["p_wait"] == pytest.approx(0.174, abs=0.02)
    assert report["service_level"] == pytest.approx(0.888, abs=0.015)
    assert report["occupancy"] == pytest.approx(0.714, abs=0.01)
    assert report["abandon_rate"] == 0.0


def test_with_patience_the_simulator_agrees_with_erlang_a() -> None:
    workload = parse_workload({
        "kind": "inbound", "name": "Erlang A", "duration_s": 86400, "seeds": 12,
        "interval_s": 86400, "arrivals_per_interval": [4800],
        "agents": [{"from_s": 0, "to_s": 86400, "count": 12}],
        "service_s": {"dist": "exponential", "mean": 180},
        "patience_s": {"dist": "exponential", "mean": 120}, "sl_threshold_s": 20})
    expected = erlang_a(200 / 3600, 180, 12, 120)
    report = simulate(RunSpec(workload), jobs=1)
    assert report["p_wait"] == pytest.approx(expected.p_wait, abs=0.02)
    assert report["abandon_rate"] == pytest.approx(expected.abandon_rate, abs=0.008)
    assert report["occupancy"] == pytest.approx(expected.occupancy, abs=0.01)


def test_a_seed_gives_the_same_day_and_another_seed_another() -> None:
    workload = load_workload(WORKLOADS / "outbound-w1-10.json")
    spec = RunSpec(workload, pacing="ratio:1.3")
    first, again, other = run_one(spec, 3), run_one(spec, 3), run_one(spec, 4)
    assert first == again
    assert first["dials"] != other["dials"]
    base = RunSpec(workload, pacing="ratio:1.3", base_seed=2)
    assert run_one(base, 3)["dials"] != first["dials"]


def test_parallel_and_serial_runs_agree() -> None:
    workload = load_workload(WORKLOADS / "inbound-day-classes.json")
    serial = simulate(RunSpec(workload), 4, jobs=1)
    parallel = simulate(RunSpec(workload), 4, jobs=2)
    assert serial["per_seed"] == parallel["per_seed"]


def test_outbound_figures_and_the_clairvoyant_bound() -> None:
    workload = load_workload(WORKLOADS / "outbound-w1-10.json")
    progressive = simulate(RunSpec(workload, pacing="progressive"), 3, jobs=1)
    bound = simulate(RunSpec(workload, pacing="clairvoyant"), 3, jobs=1)
    # progressive waits for a ready agent before dialling: nobody is dropped for lack of one,
    # only AMD's 1% false "machine" verdicts count as abandoned
    assert progressive["abandon_rate"] < 0.02
    assert progressive["dropped"] < 1
    # the bound keeps agents busy: more talk, still only AMD errors abandoned
    assert bound["talk_min_per_agent_hour"] > progressive["talk_min_per_agent_hour"] + 5
    assert bound["occupancy"] > 0.95
    assert bound["abandon_rate"] < 0.02
    # talk can never exceed 60 min per hour; wrap-up of 15 s after ~180 s calls caps it lower
    assert bound["talk_min_per_agent_hour"] < 60 * 180 / 195 + 1


def test_vip_class_is_served_first() -> None:
    workload = load_workload(WORKLOADS / "inbound-day-classes.json")
    report = simulate(RunSpec(workload), 4, jobs=1)
    vip, regular = report["by_class"]["vip"], report["by_class"]["regular"]
    assert vip["asa_s"] < regular["asa_s"] / 2
    assert vip["service_level"] > regular["service_level"]


def test_percentile_interpolates_like_numpy() -> None:
    assert percentile([1, 2, 3, 4], 0.95) == pytest.approx(3.85)
    assert percentile([5], 0.95) == 5


def test_cli_json_has_the_documented_keys(tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(cli, ["simulate", "--workload", str(WORKLOADS / "outbound-w1-10.json"),
                                 "--seeds", "2", "--jobs", "1", "--json",
                                 "--plot", str(tmp_path / "day.png")])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    for key in ("talk_min_per_agent_hour", "occupancy", "abandon_rate", "abandon_rate_p95",
                "dials_per_agent_hour"):
        assert isinstance(report[key], float)
    assert (tmp_path / "day.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    result = runner.invoke(cli, ["simulate", "--workload",
                                 str(WORKLOADS / "inbound-day-classes.json"),
                                 "--seeds", "2", "--jobs", "1", "--json"])
    report = json.loads(result.output)
    for key in ("service_level", "asa_s", "abandon_rate", "occupancy", "p_wait"):
        assert isinstance(report[key], float)
    assert set(report["by_class"]) == {"vip", "regular"}


def test_cli_text_report() -> None:
    result = CliRunner().invoke(cli, ["simulate", "--workload",
                                      str(WORKLOADS / "outbound-w1-10.json"), "--seeds", "2",
                                      "--jobs", "1", "--pacing", "vicidial-average",
                                      "--max-level", "2"])
    assert result.exit_code == 0, result.output
    assert "talk minutes per staffed agent-hour" in result.output
    assert "the limit of 3%" in result.output


@pytest.mark.parametrize(("args", "message"), [
    (["--pacing", "warp-drive"], "unknown pacing"),
    (["--pacing", "ratio:abc"], "bad ratio"),
    (["--pacing", "progressive", "--intensity", "10"], "vicidial-* pacing only"),
    (["--routing", "psychic"], "Invalid value for '--routing'"),
])
def test_cli_refuses_bad_options(args: list[str], message: str) -> None:
    result = CliRunner().invoke(cli, ["simulate", "--workload",
                                      str(WORKLOADS / "outbound-w1-10.json"), "--seeds", "1",
                                      *args])
    assert result.exit_code != 0
    assert message in result.output


def test_cli_refuses_a_broken_workload(tmp_path: Path) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text('{"kind": "outbound", "duration_s": 100,')
    result = CliRunner().invoke(cli, ["simulate", "--workload", str(broken)])
    assert result.exit_code == 1
    assert "is not JSON" in result.output and "line 1" in result.output
    wrong = tmp_path / "wrong.json"
    wrong.write_text(json.dumps({"kind": "inbound", "duration_s": 100, "interval_s": 10,
                                 "arrivals_per_interval": [1], "service_s": {"dist": "pareto"},
                                 "agents": [{"from_s": 0, "to_s": 100, "count": 1}]}))
    result = CliRunner().invoke(cli, ["simulate", "--workload", str(wrong)])
    assert result.exit_code == 1
    assert "service_s" in result.output
    result = CliRunner().invoke(cli, ["simulate", "--workload", str(tmp_path / "none.json")])
    assert "cannot read workload" in result.output
    inbound = WORKLOADS / "inbound-erlang-c-check.json"
    result = CliRunner().invoke(cli, ["simulate", "--workload", str(inbound), "--pacing",
                                      "ratio:2"])
    assert "outbound workloads" in result.output


def test_tune_ratio_keeps_the_most_productive_ratio_within_the_limit() -> None:
    from callcenter.sim.tune import tune

    workload = load_workload(WORKLOADS / "outbound-w1-10.json")
    lines: list[str] = []
    best = tune(RunSpec(workload, pacing="ratio:1"), 3, jobs=1, log=lines.append)
    tried = best["tuning"]["tried"]
    assert best["tuning"]["within_limit"] is True
    assert best["abandon_rate_p95"] <= workload.abandon_limit
    # nothing tried within the limit did better, and the walk went past the limit
    for entry in tried:
        if entry["abandon_p95"] <= workload.abandon_limit:
            assert entry["talk"] <= best["talk_min_per_agent_hour"] + 1e-9
    assert any(entry["abandon_p95"] > workload.abandon_limit for entry in tried)
    assert best["pacing"].startswith("ratio:") and len(lines) == len(tried)


def test_tune_grid_screens_then_picks_within_the_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    from callcenter.sim import tune as tuning

    monkeypatch.setattr(tuning, "VICIDIAL_GRID", {"max_level": (1.5, 3.0),
                                                  "intensity": (-20.0, 20.0),
                                                  "diff_target": (-1.0,),
                                                  "drop_target_pct": (1.0,)})
    monkeypatch.setattr(tuning, "SCREEN_SEEDS", 2)
    monkeypatch.setattr(tuning, "FINALISTS", 2)
    workload = load_workload(WORKLOADS / "outbound-w1-10.json")
    best = tuning.tune(RunSpec(workload, pacing="vicidial-average"), 3, jobs=1,
                       log=lambda _: None)
    assert len(best["tuning"]["tried"]) == 4
    assert best["pacing_options"]["diff_target"] == -1.0
    if best["tuning"]["within_limit"]:
        assert best["abandon_rate_p95"] <= workload.abandon_limit


def test_tune_refuses_what_it_cannot_tune() -> None:
    from callcenter.sim.tune import tune

    outbound = load_workload(WORKLOADS / "outbound-w1-10.json")
    with pytest.raises(ValueError, match="nothing to tune"):
        tune(RunSpec(outbound, pacing="progressive"), 1, jobs=1)
    inbound = load_workload(WORKLOADS / "inbound-erlang-c-check.json")
    with pytest.raises(ValueError, match="outbound"):
        tune(RunSpec(inbound), 1, jobs=1)


def test_clairvoyant_is_refused_outside_the_simulator() -> None:
    from callcenter.dialer.pacing import parse_pacing

    with pytest.raises(ValueError, match="only in callcenter simulate"):
        parse_pacing("clairvoyant")


def test_hit_rate_profile_scales_people_answering_by_time_of_dial() -> None:
    data = json.loads((WORKLOADS / "outbound-w1-10.json").read_text())
    data["duration_s"] = 7200
    data["agents"] = [{"from_s": 0, "to_s": 7200, "count": 10}]
    data["hit_rate_profile"] = [{"from_s": 0, "multiplier": 1.0},
                                {"from_s": 3600, "multiplier": 0.0}]
    from callcenter.dialer.pacing import Progressive
    from callcenter.sim.outbound import OutboundSimulation

    bins_per_hour = 4  # 900-second bins
    sim = OutboundSimulation(parse_workload(data), Progressive(), 0)
    sim.run()
    first_hour = sum(sim.day.humans_by_bin[:bins_per_hour])
    second_hour = sum(sim.day.humans_by_bin[bins_per_hour:])
    assert first_hour > 100 and second_hour == 0
