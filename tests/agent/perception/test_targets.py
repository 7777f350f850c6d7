"""Targets in EventState, and perception filling the ones a planner leaves out."""

import os

os.environ.setdefault("MUJOCO_GL", "egl")

import numpy as np
import pytest
from pydantic import ValidationError

from agent.envs.tabletop.scene import SLOTS, free_slot
from agent.envs.tabletop.sim import SimConfig, TabletopSim
from agent.envs.tabletop.skills import place_pose, support_height
from agent.graph.human import parse_human_answer
from agent.perception import perceive
from agent.perception.targets import fill_targets, needs_targets
from agent.skills import SkillCatalogue
from agent.state import EventState, Target, TargetPoint

PLACE = {
    "next_event": "place the red block in the bowl",
    "skill": "place",
    "arguments": {"object": "red_block", "target": "bowl"},
    "frames": 20,
    "progress": 50,
    "decision": "continue",
}


@pytest.fixture(scope="module")
def world():
    with TabletopSim(SimConfig()) as sim:
        observation = sim.reset(5)
        truth = {n: sim.object_pose(n)[0] for n in ("red_block", "bowl", "drawer")}
        # where the expert would set the red block in the bowl: its free slot, on the floor
        slot = place_pose(sim, "red_block", "bowl")[0]
        truth["bowl_slot"] = np.array([*slot, support_height(sim, "bowl")])
        handle = truth["drawer"] + np.array([*sim.geometry.handle_offset[:1], 0.0, 0.06])
        yield perceive(observation), truth, handle


@pytest.mark.parametrize(
    ("point", "field"),
    [
        ({"camera": "front", "x": 1.5, "y": 0.2}, "targets.0.points.0.x"),
        ({"camera": "front", "x": 0.5, "y": -0.1}, "targets.0.points.0.y"),
        ({"camera": "front", "x": float("nan"), "y": 0.2}, "targets.0.points.0.x"),
        ({"camera": "Front!", "x": 0.5, "y": 0.2}, "targets.0.points.0.camera"),
    ],
)
def test_event_state_refuses_bad_points_naming_the_field(point, field):
    target = {"role": "object", "name": "red_block", "points": [point]}
    with pytest.raises(ValidationError) as caught:
        EventState(**PLACE, targets=[target])
    assert field in {".".join(str(p) for p in e["loc"]) for e in caught.value.errors()}


def test_event_state_checks_cameras_and_roles():
    target = Target(role="object", name="red_block", points=[TargetPoint(camera="top", x=0, y=1)])
    state = EventState(**PLACE, targets=[target])
    with pytest.raises(ValueError, match=r"targets.0.points.0.camera: camera 'top' is not one"):
        state.check_cameras(["front", "side", "wrist"])
    with pytest.raises(ValidationError, match="one target per role"):
        EventState(**PLACE, targets=[target, target])
    assert EventState(**PLACE).targets == []  # targets are optional


def test_perception_fills_a_persons_event(world):
    scene, truth, _ = world
    skills = SkillCatalogue.load()
    event, error = parse_human_answer("place the red block in the bowl", skills, [])
    assert error is None and event.targets == []
    filled = fill_targets(event, scene)
    red, bowl = filled.target("object"), filled.target("destination")
    assert red.name == "red_block" and bowl.name == "bowl"
    assert np.linalg.norm(np.subtract(red.position, truth["red_block"])) < 0.01
    # the destination is the spot the block goes (the bowl's free slot), not the bowl's centre
    assert np.linalg.norm(np.subtract(bowl.position, truth["bowl_slot"])) < 0.01
    assert np.linalg.norm(np.subtract(truth["bowl_slot"][:2], truth["bowl"][:2])) > 0.02
    # the points are where the front camera sees the objects
    view = scene.views["front"]
    for target, where in ((red, truth["red_block"]), (bowl, truth["bowl_slot"])):
        front = next(p for p in target.points if p.camera == "front")
        u, v = view.project(where)
        assert abs(front.x - u / 128) < 0.03 and abs(front.y - v / 128) < 0.03


def test_a_planners_points_are_kept_and_given_a_position(world):
    scene, truth, _ = world
    pointed = Target(
        role="object", name="red_block", points=[TargetPoint(camera="side", x=0.5, y=0.5)]
    )
    filled = fill_targets(EventState(**PLACE, targets=[pointed]), scene)
    red = filled.target("object")
    assert red.points == pointed.points  # the VLM's own points stay
    assert np.linalg.norm(np.subtract(red.position, truth["red_block"])) < 0.01
    assert filled.target("destination").name == "bowl"


def test_a_target_on_another_object_is_replaced_by_perceptions(world):
    scene, _, _ = world
    blue = Target(role="object", name="blue_block", points=[])
    filled = fill_targets(EventState(**PLACE, targets=[blue]), scene)
    assert filled.target("object").name == "red_block"
    assert needs_targets(EventState(**PLACE)) and not needs_targets(filled)


def test_the_drawer_is_targeted_at_its_handle(world):
    scene, _, handle = world
    opening = {**PLACE, "skill": "open", "arguments": {"object": "drawer"}, "next_event": "open"}
    target = fill_targets(EventState(**opening), scene).target("object")
    assert np.linalg.norm(np.subtract(target.position, handle)) < 0.03
    assert fill_targets(EventState(**opening), scene).target("destination") is None


def test_a_destination_slot_is_the_first_one_no_other_block_takes():
    centre = (0.2, -0.1)
    first, second = (np.add(centre, offset) for offset in SLOTS["bowl"])
    np.testing.assert_allclose(free_slot("bowl", centre, []), first)
    np.testing.assert_allclose(free_slot("bowl", centre, [first + 0.01]), second)
    np.testing.assert_allclose(free_slot("bowl", centre, [first, second]), first)  # full: first
