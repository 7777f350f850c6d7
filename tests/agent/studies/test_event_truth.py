"""The study's truth of an event: the simulator's state after it, judged against what its skill
must leave behind (agent/studies/event_truth.py)."""

from __future__ import annotations

import numpy as np

from agent.envs.tabletop.sim import SimConfig, TabletopSim
from agent.envs.tabletop.truth import true_scene
from agent.studies.event_truth import event_failure
from tests.agent.scenes import scene

RED, BLUE = "red_block", "blue_block"
GRASP = {"object": RED}


def test_the_true_scene_is_the_simulators_state():
    sim = TabletopSim(SimConfig(width=32, height=32, render=False))
    try:
        sim.reset(3)
        truth = true_scene(sim)
        assert truth.holding is None
        for name in sim.config.scene.objects:
            assert truth.objects[name].seen
            assert np.allclose(truth.objects[name].position, sim.object_pose(name)[0])
        assert not any(r.startswith("holding") for r in truth.relation_list)
    finally:
        sim.close()


def test_a_holding_skill_that_ends_holding_nothing_failed():
    before = scene({RED: (0.0, 0.0, 0.02), BLUE: (0.2, 0.0, 0.02)})
    held = scene({RED: (0.0, 0.0, 0.1), BLUE: (0.2, 0.0, 0.02)}, holding=RED)
    empty = scene({RED: (0.0, 0.0, 0.02), BLUE: (0.2, 0.0, 0.02)})
    assert event_failure("grasp", GRASP, True, before, held) is None
    assert event_failure("grasp", GRASP, True, before, empty) == "missed_grasp"
    assert event_failure("move", {"object": RED, "target": BLUE}, True, held, empty) == (
        "grasp_slip"
    )
    # A skill that does not hold on (a reach) is not judged by what it holds.
    assert event_failure("reach", GRASP, False, before, empty) is None


def test_a_release_that_keeps_its_block_or_lets_it_slide_off_failed():
    placed = scene({RED: (0.2, 0.0, 0.06), BLUE: (0.2, 0.0, 0.02)}, holding=RED)
    let_go = scene({RED: (0.2, 0.0, 0.06), BLUE: (0.2, 0.0, 0.02)})
    slid_off = scene({RED: (0.26, 0.0, 0.02), BLUE: (0.2, 0.0, 0.02)})
    assert event_failure("release", GRASP, False, placed, let_go) is None
    assert event_failure("release", GRASP, False, placed, placed) == "other"
    assert event_failure("release", GRASP, False, placed, slid_off) == "object_displaced"


def test_a_block_the_event_left_alone_that_moved_is_a_failure():
    before = scene({RED: (0.0, 0.0, 0.02), BLUE: (0.2, 0.0, 0.02)})
    knocked = scene({RED: (0.0, 0.0, 0.02), BLUE: (0.26, 0.0, 0.02)})
    nudged = scene({RED: (0.0, 0.0, 0.02), BLUE: (0.22, 0.0, 0.02)})
    assert event_failure("reach", GRASP, False, before, knocked) == "object_displaced"
    assert event_failure("reach", GRASP, False, before, nudged) is None  # 2 cm: not a move
