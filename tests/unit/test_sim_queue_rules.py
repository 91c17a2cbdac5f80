"""The inbound simulator runs the server's queue rules where a workload gives them (issue 10
item 6): a max wait sends the callers still in line away (timed out, not abandoned), a class's
overflow offers its callers to every agent after its time, keeping their place — both decided by
the server's own queue policy, so the figures move the way the rules say."""

from __future__ import annotations

from typing import Any

import pytest

from callcenter.sim.inbound import InboundSimulation
from callcenter.sim.workload import InboundWorkload, WorkloadError, parse_workload

pytestmark = pytest.mark.unit


def _day(arrivals: int = 40, **extra: Any) -> InboundWorkload:
    """An hour of ``arrivals`` callers (40: overloaded), 2 agents, 5 minutes each, nobody
    gives up."""
    workload = parse_workload({
        "kind": "inbound", "duration_s": 3600, "seeds": 1, "interval_s": 3600,
        "arrivals_per_interval": [arrivals], "agents": [{"from_s": 0, "to_s": 3600, "count": 2}],
        "service_s": {"dist": "constant", "value": 300}, **extra})
    assert isinstance(workload, InboundWorkload)
    return workload


def _run(workload: InboundWorkload) -> dict[str, Any]:
    return InboundSimulation(workload, seed=0).run()


def test_a_max_wait_sends_the_callers_still_in_line_away() -> None:
    unlimited = _run(_day())
    limited = _run(_day(max_wait_s=120))
    assert unlimited["timed_out"] == 0 and unlimited["asa_s"] > 600  # the line grows all hour
    assert limited["timed_out"] > 0 and limited["abandoned"] == 0
    assert limited["answered"] + limited["timed_out"] == limited["offered"]
    assert limited["asa_s"] <= 120  # nobody answered after the limit: gone by then


def test_a_class_overflows_to_every_agent_at_its_time_keeping_its_place() -> None:
    """20 callers, 4 in 5 French: the one French agent cannot keep up while the English one
    mostly idles; with an overflow after a minute the English agent takes French callers too."""
    groups = [{"name": "french", "share": 0.5, "skills": {"fr": 5}},
              {"name": "english", "share": 0.5, "skills": {"en": 5}}]
    classes = [{"name": "fr", "share": 0.8, "skills": ["fr"]},
               {"name": "en", "share": 0.2, "skills": ["en"]}]
    strict = _run(_day(20, agent_groups=groups, classes=classes))
    helped = _run(_day(20, agent_groups=groups, classes=[
        {**classes[0], "overflow_after_s": 60}, classes[1]]))
    assert strict["overflowed"] == 0 and helped["by_class"]["fr"]["overflowed"] > 0
    assert helped["by_class"]["en"]["overflowed"] == 0  # its class has no overflow
    assert helped["answered"] == helped["offered"] == strict["offered"]  # the same callers
    # the French line is shared after a minute: its callers wait far less
    assert helped["by_class"]["fr"]["asa_s"] < 0.5 * strict["by_class"]["fr"]["asa_s"]


def test_the_rules_are_checked_like_a_queue_definition() -> None:
    with pytest.raises(WorkloadError, match="max_wait_s"):
        parse_workload({"kind": "inbound", "duration_s": 60, "seeds": 1, "interval_s": 60,
                        "arrivals_per_interval": [1], "agents": [{"from_s": 0, "to_s": 60,
                                                                   "count": 1}],
                        "service_s": {"dist": "constant", "value": 1}, "max_wait_s": 0})


def test_callcenter_simulate_reports_the_queue_rules(tmp_path: Any) -> None:
    import json

    from click.testing import CliRunner

    from callcenter.cli import cli

    workload = tmp_path / "rules.json"
    workload.write_text(json.dumps({
        "kind": "inbound", "name": "rules", "duration_s": 3600, "seeds": 2, "interval_s": 3600,
        "arrivals_per_interval": [40], "agents": [{"from_s": 0, "to_s": 3600, "count": 2}],
        "service_s": {"dist": "constant", "value": 300}, "max_wait_s": 120}))
    result = CliRunner().invoke(cli, ["simulate", "--workload", str(workload), "--seeds", "2",
                                      "--jobs", "1"])
    assert result.exit_code == 0, result.output
    assert "callers a day sent away by the max wait" in result.output
