"""Scenes: a scene file's objects and relations set up on every reset, absent objects out of
sight and out of the relations, impossible scenes refused, and random layouts in which no goal
holds before anything moves."""

import json
from pathlib import Path

import numpy as np
import pytest

from agent.envs.tabletop import SimulatorOracleExecutor
from agent.envs.tabletop.errors import SceneSetupError
from agent.envs.tabletop.placement import check_relations
from agent.envs.tabletop.scene import BLOCKS, OBJECTS
from agent.envs.tabletop.scene_file import SceneFileError, SceneSetup, load_scene
from agent.envs.tabletop.sim import SimConfig, TabletopSim
from agent.envs.tabletop.tasks import TASKS, drawer_closed
from agent.envs.tabletop.truth import MIN_VISIBLE_PIXELS, SegmentationRenderer, true_relations
from agent.run_spec import RunSpec, RunSpecError

SCENES = Path(__file__).resolve().parents[3] / "scenes"


def test_absent_objects_are_invisible_and_in_no_relation():
    scene = load_scene(SCENES / "red_in_bowl.yaml")
    assert set(scene.absent) == {"green_block", "yellow_block"}
    with TabletopSim(SimConfig(scene=scene)) as sim:
        segmentation = SegmentationRenderer(sim)
        try:
            for seed in (0, 1):
                sim.reset(seed)
                masks = segmentation.visible()
                relations = true_relations(sim)
                assert "in(red_block, bowl)" in relations
                for name in OBJECTS:
                    pixels = max(int(masks[camera][name].sum()) for camera in masks)
                    if name in scene.absent:
                        assert pixels == 0, (seed, name)
                        assert not any(name in relation for relation in relations)
                    else:
                        assert pixels >= MIN_VISIBLE_PIXELS, (seed, name)
        finally:
            segmentation.close()


def test_absent_objects_stay_parked_and_touch_nothing():
    scene = SceneSetup(("red_block", "bowl"))
    with TabletopSim(SimConfig(render=False, scene=scene)) as sim:
        sim.reset(3)
        parked = {name: sim.object_pose(name)[0] for name in scene.absent}
        for _ in range(20):
            sim.step(sim.hold_action())
        for name, position in parked.items():
            np.testing.assert_allclose(sim.object_pose(name)[0], position, atol=1e-9)
            assert position[2] < -1.0  # below the floor, far from every camera
        assert true_relations(sim) == set()  # no drawer: neither open nor closed


@pytest.mark.parametrize(
    "relations",
    [
        ("in(red_block, bowl)", "on(green_block, plate)", "on(yellow_block, blue_block)"),
        ("in(red_block, drawer)", "in(blue_block, drawer)", "in(green_block, bowl)"),
        ("near(red_block, bowl)", "near(green_block, yellow_block)"),
        ("in(red_block, bowl)", "near(green_block, bowl)", "near(blue_block, bowl)"),
        ("on(red_block, blue_block)", "on(blue_block, green_block)", "open(drawer)"),
    ],
)
def test_the_relations_asked_for_hold_after_every_reset(relations):
    with TabletopSim(SimConfig(render=False, scene=SceneSetup(relations=relations))) as sim:
        for seed in range(4):
            sim.reset(seed)  # raises SceneSetupError when a relation did not hold
            assert set(relations) <= true_relations(sim)


def test_a_relation_the_physics_did_not_keep_is_an_error():
    scene = load_scene(SCENES / "red_in_bowl.yaml")
    with TabletopSim(SimConfig(render=False, scene=scene)) as sim:
        sim.reset(0)
        sim.set_object_position("red_block", np.array([-0.2, -0.25, 0.02]))  # out of the bowl
        with pytest.raises(SceneSetupError, match=r"asks for in\(red_block, bowl\), but once"):
            check_relations(sim, 0)


def test_same_seed_same_layout_other_seed_other_layout():
    scene = load_scene(SCENES / "tower_open_drawer.yaml")
    with TabletopSim(SimConfig(render=False, scene=scene)) as sim:
        sim.reset(7)
        first = sim.get_state().physics
        sim.reset(7)
        np.testing.assert_array_equal(sim.get_state().physics, first)
        sim.reset(8)
        assert not np.array_equal(sim.get_state().physics, first)


def test_the_oracles_copy_of_the_world_has_the_scene():
    scene = load_scene(SCENES / "red_in_bowl.yaml")
    with TabletopSim(SimConfig(render=False, scene=scene)) as sim:
        oracle = SimulatorOracleExecutor(sim)
        try:
            sim.reset(0)
            oracle.shadow.set_state(sim.get_state())
            assert oracle.shadow.config.scene == scene
            assert true_relations(oracle.shadow) == true_relations(sim)
        finally:
            oracle.close()


def test_the_run_spec_keeps_the_scene_content_and_never_changes_it():
    scene = load_scene(SCENES / "red_in_bowl.yaml")
    spec = RunSpec("put the block in the bowl on the plate", scene=scene)
    again = RunSpec.from_dict(json.loads(json.dumps(spec.to_dict())))  # as episode.json keeps it
    assert again == spec and again.scene == scene
    with pytest.raises(RunSpecError, match="scene cannot change when a run resumes"):
        spec.resumed_with({"scene": "other.yaml"})
    with pytest.raises(RunSpecError, match="needs blue_block, which the scene leaves out"):
        RunSpec("x", task="bowl_red_blue", scene=SceneSetup(("red_block", "bowl")))


def test_the_shipped_scene_files_load():
    names = sorted(path.name for path in SCENES.glob("*.yaml"))
    assert len(names) >= 2
    for name in names:
        load_scene(SCENES / name)


BAD = {
    "unknown object": ({"objects": ["red_blok"]}, "unknown object 'red_blok'"),
    "object twice": ({"objects": ["bowl", "bowl"]}, "lists bowl more than once"),
    "unknown key": ({"relation": []}, "unknown key(s) ['relation']"),
    "not a list": ({"objects": "bowl"}, "objects must be a list of names"),
    "spelling": ({"relations": ["in(red_block,bowl)"]}, "is not spelt name(a, b)"),
    "unknown relation": ({"relations": ["under(red_block, bowl)"]}, "not a relation a scene"),
    "holding": ({"relations": ["holding(red_block)"]}, "the gripper empty"),
    "absent object": (
        {"objects": ["red_block", "bowl"], "relations": ["on(red_block, plate)"]},
        "names plate, which is not in the scene's objects",
    ),
    "wrong kind": ({"relations": ["on(red_block, bowl)"]}, "a block is in the bowl"),
    "two places": (
        {"relations": ["in(red_block, bowl)", "on(red_block, plate)"]},
        "red_block is placed twice",
    ),
    "too many": (
        {"relations": [f"in({block}, bowl)" for block in BLOCKS[:3]]},
        "3 blocks (blue_block, green_block, red_block) in the bowl; it holds 2",
    ),
    "closed drawer": (
        {"relations": ["in(red_block, drawer)", "closed(drawer)"]},
        "in(red_block, drawer) with closed(drawer)",
    ),
    "open and closed": ({"relations": ["open(drawer)", "closed(drawer)"]}, "keep one"),
    "two on one": (
        {"relations": ["on(red_block, blue_block)", "on(green_block, blue_block)"]},
        "are both on blue_block",
    ),
    "tower in the bowl": (
        {"relations": ["in(blue_block, bowl)", "on(red_block, blue_block)"]},
        "towers start on the table",
    ),
    "loop": (
        {"relations": ["on(red_block, blue_block)", "on(blue_block, red_block)"]},
        "go round in a loop",
    ),
    "near a tower": (
        {"relations": ["on(red_block, blue_block)", "near(green_block, blue_block)"]},
        "blue_block must stand alone on the table",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_an_impossible_scene_is_refused_with_what_is_wrong(case):
    values, message = BAD[case]
    with pytest.raises(SceneFileError) as error:
        SceneSetup.from_dict(values, "scene.yaml")
    assert message in str(error.value)
    assert str(error.value).startswith("scene.yaml")


def test_an_unreadable_scene_file_is_refused(tmp_path):
    with pytest.raises(SceneFileError, match="cannot read scene file"):
        load_scene(tmp_path / "missing.yaml")
    (tmp_path / "bad.yaml").write_text("objects: [red_block\n")
    with pytest.raises(SceneFileError, match="is not valid YAML"):
        load_scene(tmp_path / "bad.yaml")


def test_no_goal_of_the_suite_holds_at_reset(fast_sim):
    """Random layouts keep every two objects farther apart than near (issue 27: a push goal held
    at reset for 31 of 200 seeds of push_then_bowl); benchmarks/goals_at_reset.py runs 200."""
    for seed in range(40):
        fast_sim.reset(seed)
        relations = true_relations(fast_sim)
        assert not any(r.startswith(("in(", "on(", "near(")) for r in relations), (seed, relations)
        for task in TASKS.values():
            placements = [s for s in task.subtasks if s.final and s.goal is not drawer_closed]
            assert not task.success(fast_sim), (seed, task.name)
            assert not any(subtask.goal(fast_sim) for subtask in placements), (seed, task.name)
            assert not task.subtasks[0].goal(fast_sim), (seed, task.name)
