"""Planning goal stages with the skill files' preconditions and effects (pyperplan, in-process)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from pyperplan.heuristics.relaxation import hFFHeuristic
from pyperplan.search import weighted_astar_search

from agent.goals import InstructionParser, MissingObjectError, Scene, UnsolvableGoalError, read_goal
from agent.goals import planner as planner_module
from agent.goals.planner import Planner, SkillCall, plan
from agent.skills import SkillCatalogue, SkillFileError, load_skill

OBJECTS = ["red_block", "green_block", "blue_block", "yellow_block", "bowl", "plate", "drawer"]
FULL = Scene.of(OBJECTS, ["closed(drawer)"])
PICK_PLACE = ["reach", "grasp", "lift", "move", "place", "release"]


@pytest.fixture(scope="module")
def planner() -> Planner:
    return Planner(list(SkillCatalogue.load().values()))


def placements(calls: list[SkillCall]) -> list[tuple[str, str]]:
    return [(c.arguments["object"], c.arguments["target"]) for c in calls if c.skill == "place"]


def test_a_placement_is_the_six_skill_events_in_order(planner: Planner) -> None:
    calls = planner.plan(FULL, ["in(red_block, bowl)"])
    assert [c.skill for c in calls] == PICK_PLACE
    assert calls[3] == SkillCall("move", {"object": "red_block", "target": "bowl"})
    assert all(c.arguments["object"] == "red_block" for c in calls)
    skill, arguments = calls[0]  # a call unpacks as (skill, arguments)
    assert (skill, arguments) == ("reach", {"object": "red_block"})


def test_towers_are_built_bottom_up_whichever_way_they_are_said(
    planner: Planner, parser: InstructionParser
) -> None:
    for said in ("build a tower of yellow, blue, green and red from the bottom",
                 "build a tower of red, green, blue and yellow from the top"):  # fmt: skip
        goal = read_goal(said, FULL, parser)
        calls = planner.plan(FULL, goal.stages[-1])
        assert placements(calls) == [
            ("blue_block", "yellow_block"),
            ("green_block", "blue_block"),
            ("red_block", "green_block"),
        ]
        assert len(calls) == 18


def test_a_tower_in_the_way_is_taken_down_first(planner: Planner) -> None:
    tower = Scene.of(OBJECTS, ["closed(drawer)", "on(green_block, blue_block)",
                               "on(red_block, green_block)"])  # fmt: skip
    calls = planner.plan(tower, ["on(blue_block, yellow_block)"])
    moved = [c.arguments["object"] for c in calls if c.skill == "reach"]
    assert moved[:2] == ["red_block", "green_block"] and moved[-1] == "blue_block"
    assert placements(calls)[-1] == ("blue_block", "yellow_block")


def test_the_drawer_is_opened_before_anything_goes_in_and_closed_after(
    planner: Planner, parser: InstructionParser
) -> None:
    goal = read_goal("hide the green block in the drawer", FULL, parser)
    calls = planner.plan(FULL, goal.stages[-1])
    skills = [c.skill for c in calls]
    assert skills == ["open", *PICK_PLACE, "close"]
    assert calls[4] == SkillCall("move", {"object": "green_block", "target": "drawer"})


def test_stages_are_planned_from_the_scene_the_previous_stage_leaves(
    planner: Planner, parser: InstructionParser
) -> None:
    goal = read_goal("put the red block in the bowl, then move it to the plate", FULL, parser)
    first, second = planner.plan_goal(FULL, goal)
    assert placements(first) == [("red_block", "bowl")]
    assert placements(second) == [("red_block", "plate")] and len(second) == 6


def test_picking_up_ends_with_the_block_held_up(planner: Planner) -> None:
    calls, after = planner.plan_and_predict(FULL, ["holding(yellow_block)"])
    assert [c.skill for c in calls] == ["reach", "grasp", "lift"]
    assert "holding(yellow_block)" in {str(r) for r in after.relations}
    assert planner.plan(after, ["holding(yellow_block)"]) == []


def test_a_goal_that_already_holds_needs_no_event(planner: Planner) -> None:
    done = Scene.of(OBJECTS, ["closed(drawer)", "in(red_block, bowl)"])
    assert planner.plan(done, ["in(red_block, bowl)", "closed(drawer)"]) == []


def test_replanning_starts_from_the_perceived_scene(planner: Planner) -> None:
    held = Scene.of(OBJECTS, ["closed(drawer)", "holding(red_block)"])
    assert [c.skill for c in planner.plan(held, ["on(red_block, plate)"])] == PICK_PLACE[2:]
    dropped_in_bowl = Scene.of(OBJECTS, ["closed(drawer)", "in(red_block, bowl)"])
    calls = planner.plan(dropped_in_bowl, ["on(red_block, plate)"])
    assert [c.skill for c in calls] == PICK_PLACE and placements(calls) == [("red_block", "plate")]


def test_an_impossible_goal_is_a_clear_error_at_once(
    planner: Planner, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(UnsolvableGoalError, match=r"cannot hold together"):
        planner.plan(FULL, ["on(red_block, green_block)", "on(blue_block, green_block)"])
    with pytest.raises(MissingObjectError, match="not in the scene: the cup"):
        planner.plan(FULL, ["in(red_block, cup)"])
    without_open = Planner([s for s in SkillCatalogue.load().values() if s.name != "open"])
    began = time.perf_counter()
    with pytest.raises(UnsolvableGoalError, match=r"no sequence of the skills makes in\(red"):
        without_open.plan(FULL, ["in(red_block, drawer)"])  # the drawer stays closed
    assert time.perf_counter() - began < 1.0
    monkeypatch.setattr(planner_module, "MAX_EVALUATIONS", 50)
    tower = Scene.of(OBJECTS, ["on(green_block, blue_block)", "on(red_block, green_block)",
                               "on(yellow_block, red_block)"])  # fmt: skip
    with pytest.raises(UnsolvableGoalError, match="within 50 searched states"):  # needs ~1,700
        planner.plan(tower, ["on(blue_block, yellow_block)", "on(green_block, blue_block)"])


def test_a_relation_no_skill_makes_is_named(tmp_path: Path) -> None:
    skills = [s for s in SkillCatalogue.load().values() if s.name != "push"]
    with pytest.raises(UnsolvableGoalError, match=r"no skill can make near\(red_block, bowl\)"):
        Planner(skills).plan(FULL, ["near(red_block, bowl)"])


SLIDE_INTO = """---
name: slide_into
description: Sweep a block on the table into a low container.
arguments:
  object:
    description: the block to sweep
  target:
    description: the container
captions:
  - slide the {object} into the {target}
typical_frames: 40
success_signals:
  - the block ends inside the container
recovery: [back_off_and_retry, replan]
retry_limit: 1
planning:
  - parameters: {object: block, target: bowl}
    preconditions:
      - empty(gripper)
      - clear(object)
      - on(object, table)
    effects:
      - in(object, target)
      - not on(object, table)
---
Sweep with the closed gripper.
"""


def test_a_new_skill_file_plans_with_no_code(tmp_path: Path) -> None:
    (tmp_path / "slide_into.md").write_text(SLIDE_INTO)
    skills = list(SkillCatalogue.load([tmp_path]).values())
    calls = plan(FULL, ["in(red_block, bowl)"], skills)
    assert calls == [SkillCall("slide_into", {"object": "red_block", "target": "bowl"})]
    assert plan(FULL, ["on(red_block, plate)"], skills)[0].skill == "reach"


def test_planning_cases_are_validated_with_advice(tmp_path: Path) -> None:
    negative = SLIDE_INTO.replace("      - empty(gripper)", "      - not holding(object)")
    (tmp_path / "slide_into.md").write_text(negative)
    with pytest.raises(SkillFileError, match="write the opposite relation"):
        load_skill(tmp_path / "slide_into.md")
    flow = SLIDE_INTO.replace(
        "    effects:\n      - in(object, target)\n      - not on(object, table)\n",
        "    effects: [in(object, target), not on(object, table)]\n",
    )
    (tmp_path / "slide_into.md").write_text(flow)
    with pytest.raises(SkillFileError, match="comma splits a relation: write a block list"):
        load_skill(tmp_path / "slide_into.md")
    lacking = SLIDE_INTO.replace("{object: block, target: bowl}", "{object: block}")
    (tmp_path / "slide_into.md").write_text(lacking)
    with pytest.raises(SkillFileError, match=r"lack the argument\(s\) \['target'\]"):
        load_skill(tmp_path / "slide_into.md")


def test_the_pddl_is_readable_and_complete(planner: Planner) -> None:
    domain = planner.domain.text
    assert (
        "(:action place__0" in domain and "(:constants gripper - gripper table - table)" in domain
    )
    assert "regrasp" not in domain  # a recovery, never planned
    problem = planner.problem(FULL, ["in(red_block, bowl)"])
    assert "(on red_block table)" in problem and "(clear red_block)" in problem
    assert "(:goal (and (empty gripper) (in red_block bowl))" in problem


def test_planning_overhead_per_event_is_under_20_ms(planner: Planner) -> None:
    stages = [["in(red_block, bowl)", "on(blue_block, plate)"],
              ["on(green_block, blue_block)", "on(red_block, green_block)"],
              ["in(yellow_block, drawer)", "closed(drawer)"]]  # fmt: skip
    best = float("inf")
    for _ in range(3):  # best of three: the machine is shared
        began = time.perf_counter()
        events = sum(len(planner.plan(FULL, stage)) for stage in stages)
        best = min(best, (time.perf_counter() - began) / events)
    assert events == 6 * 2 + 6 * 2 + 8
    assert best < 0.020, f"{best * 1000:.1f} ms per event"


def test_the_plan_is_the_same_whatever_the_hash_seed() -> None:
    # pyperplan walks sets of facts; while facts were strings, hash seeds 14, 28 and 31
    # planned a 19-event tower with a needless "open the drawer" in it.
    script = (
        "from agent.goals import InstructionParser, Scene, read_goal\n"
        "from agent.goals.planner import Planner\n"
        "from agent.skills import SkillCatalogue\n"
        f"scene = Scene.of({OBJECTS!r}, ['closed(drawer)'])\n"
        "said = 'build a tower of red, green, blue and yellow from the top'\n"
        "goal = read_goal(said, scene, InstructionParser())\n"
        "planner = Planner(list(SkillCatalogue.load().values()))\n"
        "print([tuple(c) for c in planner.plan(scene, goal.stages[-1])])\n"
    )
    root = Path(__file__).resolve().parents[3]
    plans = set()
    for seed in ("14", "28", "31", "0"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        done = subprocess.run([sys.executable, "-c", script], cwd=root, env=env,
                              capture_output=True, text=True, check=True)  # fmt: skip
        plans.add(done.stdout)
    assert len(plans) == 1 and plans.pop().count("'place'") == 3


def test_an_event_the_goal_does_not_need_is_taken_out(planner: Planner) -> None:
    task = planner.task(FULL, ["on(blue_block, yellow_block)"])
    needed = weighted_astar_search(task, hFFHeuristic(task), 2)
    open_drawer = next(
        o for o in task.operators if o.name.startswith("(open") and "drawer" in o.name
    )
    wasteful = [*needed[:3], open_drawer, *needed[3:]]
    assert planner_module._without_wasted_events(task, wasteful) == needed
