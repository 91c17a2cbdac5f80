"""Routing strategies in the inbound simulator (issue 10): agent groups with skills, levels and
handle-time multipliers make strategies differ; identical agents are said to be identical."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from callcenter.acd.agents import Agent, AgentState, AgentTransition
from callcenter.acd.dispatcher import RoutingDecision, WaitingCall
from callcenter.acd.routing import ROUTING_STRATEGIES
from callcenter.cli import cli
from callcenter.sim.inbound import InboundSimulation, deal_groups
from callcenter.sim.runner import RunSpec, simulate
from callcenter.sim.workload import InboundWorkload, WorkloadError, load_workload, parse_workload

WORKLOADS = Path(__file__).parents[2] / "bench" / "workloads"
#: this project's own workload (the shared folder holds exactly the shared files)
GROUPS = Path(__file__).parents[2] / "bench" / "routing" / "inbound-day-groups.json"


def _small(**extra: Any) -> dict[str, Any]:
    return {"kind": "inbound", "duration_s": 3600, "seeds": 2, "interval_s": 3600,
            "arrivals_per_interval": [40], "agents": [{"from_s": 0, "to_s": 3600, "count": 3}],
            "service_s": {"dist": "constant", "value": 100}, **extra}


def _inbound(data: dict[str, Any]) -> InboundWorkload:
    workload = parse_workload(data)
    assert isinstance(workload, InboundWorkload)
    return workload


def test_groups_are_dealt_by_share_interleaved() -> None:
    workload = _inbound(_small(agent_groups=[
        {"name": "senior", "share": 0.25}, {"name": "standard", "share": 0.5},
        {"name": "junior", "share": 0.25}]))
    assert workload.agent_groups is not None
    # n=1: deficits .25 .5 .25 -> standard; n=2: .5 0 .5 -> senior (first of the tie);
    # n=3: -.25 .5 .75 -> junior; n=4: 0 1 0 -> standard
    assert deal_groups(workload.agent_groups, 4) == [1, 0, 2, 1]
    assert deal_groups(workload.agent_groups, 8).count(1) == 4


@pytest.mark.parametrize(("extra", "message"), [
    ({"agent_groups": [{"share": 0.5}, {"share": 0.4}]}, "agent group shares must add up to 1"),
    ({"agent_groups": [{"share": 1, "skills": {"fr": 11}}]}, "level 11 is not within 1..10"),
    ({"classes": [{"name": "fr", "share": 1, "skills": ["fr"]}],
      "agent_groups": [{"share": 1, "skills": {"de": 5}}]},
     "class 'fr' needs skills ['fr'] that no agent group has"),
    ({"classes": [{"name": "fr", "share": 1, "skills": ["fr"]}]},
     "class 'fr' needs skills ['fr'] that no agent group has"),
    ({"agent_groups": [{"share": 1, "handle_time_multiplier": 0}]}, "greater than 0"),
])
def test_broken_groups_are_refused_by_name(extra: dict[str, Any], message: str) -> None:
    with pytest.raises(WorkloadError, match=message.replace("[", r"\[").replace("]", r"\]")):
        parse_workload(_small(**extra))


def test_shared_workloads_are_accepted_unchanged_and_their_agents_are_identical() -> None:
    for name in ("inbound-day-classes.json", "inbound-erlang-c-check.json"):
        workload = load_workload(WORKLOADS / name)
        assert isinstance(workload, InboundWorkload) and workload.agents_identical
    groups = load_workload(GROUPS)
    assert isinstance(groups, InboundWorkload) and not groups.agents_identical
    same = _inbound(_small(agent_groups=[{"share": 0.5, "skills": {"a": 3}},
                                         {"share": 0.5, "skills": {"a": 3}}]))
    assert same.agents_identical


def test_the_handle_time_multiplier_scales_every_call_of_the_group() -> None:
    workload = _inbound(_small(agent_groups=[
        {"name": "slow", "share": 0.5, "handle_time_multiplier": 2.0},
        {"name": "fast", "share": 0.5, "handle_time_multiplier": 0.5}]))
    sim = InboundSimulation(workload, seed=0)
    talks: dict[str, list[float]] = {}
    started: dict[str, float] = {}

    def on_move(move: AgentTransition) -> None:
        if move.state is AgentState.ON_CALL:
            started[move.agent_id] = move.at
        elif move.previous is AgentState.ON_CALL:
            talks.setdefault(move.agent_id, []).append(move.at - started[move.agent_id])

    sim.board.listeners.append(on_move)
    sim.run()
    # dealt fast?: n=1 -> slow (tie, first), n=2 -> fast, n=3 -> slow
    assert {agent.agent_id: agent.skill_levels for agent in sim.board} == {
        "agent-1": {}, "agent-2": {}, "agent-3": {}}
    for agent_id, talk in (("agent-1", 200.0), ("agent-2", 50.0), ("agent-3", 200.0)):
        assert len(talks[agent_id]) >= 3
        assert talks[agent_id] == pytest.approx([talk] * len(talks[agent_id]), abs=1e-6)


class _Recording(InboundSimulation):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.served: list[tuple[str, frozenset[str], RoutingDecision]] = []

    def _on_assign(self, call: WaitingCall, agent: Agent, now: float,
                   decision: RoutingDecision) -> None:
        self.served.append((call.klass, agent.skills, decision))
        super()._on_assign(call, agent, now, decision)


def test_class_skills_are_required_and_decisions_name_the_level() -> None:
    workload = load_workload(GROUPS)
    assert isinstance(workload, InboundWorkload)
    sim = _Recording(workload, seed=0, routing="skills-level")
    sim.run()
    vip = [skills for klass, skills, _ in sim.served if klass == "vip"]
    assert vip and all("billing" in skills for skills in vip)
    reasons = [d.reason for _, _, d in sim.served if d.trigger == "call"]
    assert any(r.startswith("skill general level 9 (best of ") for r in reasons)
    assert all(d.strategy == "skills-level" for _, _, d in sim.served)


def test_with_groups_the_strategies_differ_and_without_they_say_so() -> None:
    groups = load_workload(GROUPS)
    figures = {name: simulate(RunSpec(groups, routing=name), 3, jobs=1)
               for name in ("fifo-longest-idle", "skills-level")}
    assert figures["fifo-longest-idle"]["service_level"] != \
        figures["skills-level"]["service_level"]
    assert figures["skills-level"]["agents_identical"] is False
    assert "note" not in figures["skills-level"]
    classes = load_workload(WORKLOADS / "inbound-day-classes.json")
    report = simulate(RunSpec(classes, routing="skills-level"), 1, jobs=1)
    assert report["agents_identical"] is True
    assert report["note"].startswith("all agents identical")


def test_vip_priority_keeps_vips_ahead_without_costing_service_level() -> None:
    """The issue's bar on a few seeds (the table in docs/BENCHMARKS.md has 30)."""
    workload = load_workload(WORKLOADS / "inbound-day-classes.json")
    fifo = simulate(RunSpec(workload, routing="fifo-longest-idle"), 4, jobs=1)
    vip = simulate(RunSpec(workload, routing="vip-priority"), 4, jobs=1)
    assert vip["by_class"]["vip"]["asa_s"] <= 0.5 * vip["by_class"]["regular"]["asa_s"]
    assert abs(vip["service_level"] - fifo["service_level"]) <= 0.02
    # aging gives regular callers something back: VIPs wait longer than under strict priority
    assert vip["by_class"]["vip"]["asa_s"] > fifo["by_class"]["vip"]["asa_s"]
    assert vip["by_class"]["regular"]["asa_s"] < fifo["by_class"]["regular"]["asa_s"]


def test_cli_offers_every_strategy_and_prints_the_note() -> None:
    runner = CliRunner()
    for name in sorted(ROUTING_STRATEGIES):
        result = runner.invoke(cli, ["simulate", "--workload",
                                     str(WORKLOADS / "inbound-day-classes.json"),
                                     "--seeds", "1", "--jobs", "1", "--routing", name])
        assert result.exit_code == 0, result.output
        assert f"routing {name}" in result.output
        assert "class vip: service level" in result.output
        assert "note: all agents identical" in result.output
    result = runner.invoke(cli, ["simulate", "--workload",
                                 str(GROUPS), "--seeds", "1",
                                 "--jobs", "1", "--routing", "skills-level", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["agents_identical"] is False and "note" not in report
    assert set(report["by_class"]) == {"vip", "regular"}
