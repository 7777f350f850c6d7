"""The embedded planner plans the goal read from the instruction in the scene the cameras show,
and a run is judged by that goal in the final perceived scene."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from agent.goals import ClarificationError, MissingObjectError, Scene
from agent.planning.embedded import GoalPlanner
from agent.planning.memory import SceneMemory
from agent.run_spec import RunSpec
from agent.session import open_session
from agent.skills import SkillCatalogue
from agent.state import EventRecord
from tests.agent.graph.conftest import RESOLUTION, run_to_end
from worldmodel.types import Observation

REPO = Path(__file__).resolve().parents[3]


def spec(instruction: str, **overrides: object) -> RunSpec:
    values = {"executor": "oracle", "planner": "embedded", "resolution": RESOLUTION, **overrides}
    return RunSpec(instruction=instruction, **values)  # type: ignore[arg-type]


def test_a_sequence_is_planned_stage_by_stage_and_judged_by_the_cameras(tmp_path):
    instruction = "put the red block in the bowl, then move it to the plate"
    session = open_session(spec(instruction), tmp_path)
    try:
        assert session.goal is not None
        assert session.goal.strings() == [["in(red_block, bowl)"], ["on(red_block, plate)"]]
        _, final = run_to_end(session)
    finally:
        session.close()
    metrics = json.loads((session.runner.context.store.root / "metrics.json").read_text())
    assert final["status"] == "success" and metrics["goal_met"] and metrics["goal_met_in_world"]
    assert "on(red_block, plate)" in metrics["final_relations"]
    assert "in(red_block, bowl)" not in metrics["final_relations"]
    skills = [record["skill"] for record in final["history"]]
    assert skills == ["reach", "grasp", "lift", "move", "place", "release"] * 2


def test_a_goal_that_holds_already_succeeds_with_no_event(tmp_path):
    session = open_session(spec("do not put the red block in the bowl"), tmp_path)
    try:
        _, final = run_to_end(session)
    finally:
        session.close()
    metrics = json.loads((session.runner.context.store.root / "metrics.json").read_text())
    assert final["status"] == "success" and metrics["events"] == 0
    assert metrics["goal"] == [] and metrics["avoid"] == ["in(red_block, bowl)"]


@pytest.mark.parametrize(
    ("instruction", "error", "message"),
    [
        ("put the purple block in the bowl", MissingObjectError, "not in the scene: the purple"),
        ("put the red block in the", ClarificationError, "stops after 'the'"),
    ],
)
def test_what_cannot_be_done_is_refused_before_anything_is_made(
    tmp_path, instruction, error, message
):
    with pytest.raises(error, match=message):
        open_session(spec(instruction), tmp_path)
    assert list(tmp_path.iterdir()) == []  # no episode folder, no checkpoint file


def test_plans_are_the_same_in_every_process():
    """pyperplan grounds through sets; the plan must not change with Python's string hashing."""
    script = (
        "from agent.goals import Scene\n"
        "from agent.goals.planner import Planner\n"
        "from agent.skills import SkillCatalogue\n"
        "planner = Planner([s for s in SkillCatalogue.load().values() if s.planning])\n"
        "scene = Scene.of(['red_block', 'blue_block', 'green_block', 'bowl', 'plate'], [])\n"
        "stage = ['in(red_block, bowl)', 'in(blue_block, bowl)', 'on(green_block, plate)']\n"
        "print(planner.plan(scene, stage))\n"
    )
    plans = {
        subprocess.run(
            [sys.executable, "-c", script],
            env={**os.environ, "PYTHONHASHSEED": str(seed), "PYTHONPATH": str(REPO)},
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        for seed in (1, 3, 4)  # seeds 1 and 3 gave different plans before the operators were sorted
    }
    assert len(plans) == 1 and "SkillCall" in plans.pop()


class ScriptedMemory(SceneMemory):
    """The scenes the cameras show, one per call: the world changing under the planner."""

    def __init__(self, scenes: list[Scene]) -> None:
        super().__init__()
        self.scenes = scenes

    def scene(self, observation: Observation) -> Scene:
        return self.scenes.pop(0)


def test_an_object_lost_mid_run_hands_over_to_a_person_instead_of_crashing():
    start = Scene.of(["red_block", "blue_block", "bowl"])
    lost = Scene.of(["red_block", "bowl"])  # the blue block was knocked out of sight
    planner = GoalPlanner(SkillCatalogue.load(), ScriptedMemory([start, start, lost]))
    instruction = "put the red block and the blue block in the bowl"
    planner.understand(instruction, None, start)
    first = planner.plan(instruction, None, [], None)
    assert first.decision == "continue" and first.skill == "reach"
    failed = EventRecord(
        caption=first.next_event,
        skill=first.skill,
        arguments=first.arguments,
        frames=40,
        ok=False,
        failure="missed_grasp",
    )
    again = planner.plan(instruction, None, [failed], None)
    assert again.decision in ("continue", "replan")
    handed = planner.plan(instruction, None, [failed, failed], None)
    assert handed.decision == "takeover" and "the blue block" in handed.reason
    # Before anything ran, the same is the instruction's fault: refused, as at the start.
    with pytest.raises(MissingObjectError):
        GoalPlanner(SkillCatalogue.load(), ScriptedMemory([lost])).plan(instruction, None, [], None)
