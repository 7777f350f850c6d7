"""Planners come from the registry: a new one is a file and a line, and the run judges it by the
goal like any other."""

from __future__ import annotations

import json

from agent.planning import registry
from agent.planning.base import Planner
from agent.run_spec import RunSpec
from agent.session import open_session
from tests.agent.graph.conftest import RESOLUTION, run_to_end
from tests.agent.graph.test_human import Person


def spec(instruction: str, planner: str, **overrides: object) -> RunSpec:
    values = {"executor": "oracle", "resolution": RESOLUTION, **overrides}
    return RunSpec(instruction, planner=planner, **values)  # type: ignore[arg-type]


def test_a_registered_planner_runs_and_its_end_is_judged_by_the_goal(tmp_path, monkeypatch):
    entry = registry.PlannerEntry("tests.agent.planning.ends_at_once", "ends at once")
    monkeypatch.setitem(registry.PLANNERS, "ends-at-once", entry)
    session = open_session(spec("put the red block in the bowl", "ends-at-once"), tmp_path)
    try:
        assert isinstance(session.runner.context.planner, Planner)
        _, final = run_to_end(session)
    finally:
        session.close()
    metrics = json.loads((session.runner.context.store.root / "metrics.json").read_text())
    assert final["status"] == "failed" and metrics["events"] == 0 and not metrics["goal_met"]


def test_the_human_planner_hands_every_event_to_a_person(tmp_path):
    session = open_session(spec("put the red block in the bowl", "human"), tmp_path)
    person = Person(["reach the red block", "end"])
    try:
        runner = session.runner
        runner.restore_robot(session.spec.seed)
        final = runner.run(session.spec.instruction, session.spec.human_mode, person)
    finally:
        session.close()
    assert [h["caption"] for h in final["history"]] == ["reach the red block"]
    assert len(person.shown) == 2  # one event, then "end"
    assert final["status"] == "failed"  # the red block is not in the bowl: the goal judges


def test_every_registry_name_is_a_run_planner():
    assert registry.planner_names() == ("auto", "embedded", "vlm", "human")
    assert registry.resolve("auto", vlm_configured=False) == "embedded"
    assert registry.resolve("auto", vlm_configured=True) == "vlm"
