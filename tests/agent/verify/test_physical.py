"""The grip and scene checks: fingers closed on nothing in a holding skill, a block the event left
alone seen to move; the failure each names; and the union the agent acts on."""

from __future__ import annotations

import numpy as np

from agent.perception.scene import PerceivedObject, Scene, Sighting
from agent.verify.detectors import AGENT, Detectors
from agent.verify.physical import (
    EMPTY_OPENING_M,
    GRIP,
    SCENE,
    SCENE_SHIFT_M,
    SceneShift,
    grip_lost_step,
    physical_checks,
    untouched_shift,
)
from agent.verify.verifier import Verdict
from tests.agent.scenes import scene

HELD_OPENING = 0.04  # a 4 cm block between the fingers


def grip_run(commands: list[float], openings: list[float]) -> tuple[np.ndarray, np.ndarray]:
    """(actions, proprio) of an event: the finger command and the measured opening per step."""
    actions = np.zeros((len(commands), 7), np.float32)
    actions[:, 6] = commands
    proprio = np.zeros((len(openings), 7), np.float32)
    proprio[:, 6] = openings
    return actions, proprio


def test_fingers_that_stop_on_the_block_are_not_flagged():
    actions, proprio = grip_run([1, 1, 1, 1], [0.08, 0.06, HELD_OPENING, HELD_OPENING])
    assert grip_lost_step(True, actions, proprio) is None


def test_fingers_that_close_on_nothing_are_flagged_where_they_pass_the_block():
    actions, proprio = grip_run([1, 1, 1, 1], [0.08, 0.04, 0.012, 0.002])
    assert EMPTY_OPENING_M > 0.012
    assert grip_lost_step(True, actions, proprio) == 2
    # A skill that does not hold an object (a push with closed fingers) is never flagged.
    assert grip_lost_step(False, actions, proprio) is None
    # Nearly closed but commanded open (a release just begun): not a lost grasp.
    actions[:, 6] = 0.0
    assert grip_lost_step(True, actions, proprio) is None


def test_a_pushed_block_the_event_left_alone_is_found():
    start = scene({"red_block": (0.0, 0.0, 0.02), "blue_block": (0.1, 0.1, 0.02)})
    end = scene({"red_block": (0.0, 0.0, 0.02), "blue_block": (0.19, 0.1, 0.02)})
    shift = untouched_shift(start, end, ["red_block"], False)
    assert shift.name == "blue_block" and round(shift.distance, 3) == 0.09 and shift.moved
    # The event's own object may move; so may a block resting on it.
    assert untouched_shift(start, end, ["blue_block"], False).distance == 0.0
    stacked = scene(
        {"red_block": (0.1, 0.1, 0.06), "blue_block": (0.1, 0.1, 0.02)},
        relation_list=("on(red_block, blue_block)",),
    )
    carried = scene({"red_block": (0.2, 0.1, 0.06), "blue_block": (0.2, 0.1, 0.02)})
    assert untouched_shift(stacked, carried, ["blue_block"], False).distance == 0.0
    # An object seen at one end only is not compared.
    hidden = Scene(step=1, objects={"blue_block": PerceivedObject("blue_block", False)}, views={})
    assert untouched_shift(start, hidden, [], False).distance == 0.0


def test_a_block_seen_cut_off_is_compared_across_the_table_only():
    # Under the block held over it, a stacked block is seen cut off and triangulated a block
    # low (measured: 0.02 m instead of 0.06 m at a release's start); its height does not count.
    cut = {"front": Sighting("front", (10, 10), (0.1, 0.1), 50, partial=True)}
    low = Scene(
        step=0,
        objects={"green_block": PerceivedObject("green_block", True, (0.1, 0.1, 0.02), 0.85, cut)},
        views={},
    )
    whole = scene({"green_block": (0.1, 0.1, 0.06)})
    assert not untouched_shift(low, whole, ["red_block"], False).moved
    pushed = scene({"green_block": (0.19, 0.1, 0.06)})
    assert untouched_shift(low, pushed, ["red_block"], False).moved  # 9 cm across: still found
    # Seen whole at both ends, the same 4 cm up is a move.
    assert untouched_shift(scene({"green_block": (0.1, 0.1, 0.015)}), whole, [], False).moved


def test_a_released_block_may_drop_but_not_slide_away():
    held = scene({"red_block": (0.1, 0.0, 0.12)}, holding="red_block")
    dropped = scene({"red_block": (0.11, 0.0, 0.02)})
    assert not untouched_shift(held, dropped, ["red_block"], False).moved  # 10 cm down, 1 across
    knocked = scene({"red_block": (0.2, 0.0, 0.02)})
    assert untouched_shift(held, knocked, ["red_block"], False).moved  # 10 cm across: pushed
    # Through a carry the block moves with the gripper, wherever perception last saw it held.
    assert untouched_shift(held, knocked, ["red_block"], True).distance == 0.0


def test_each_check_names_its_failure():
    actions, proprio = grip_run([1, 1, 1], [0.05, 0.01, 0.0])
    pushed = SceneShift("green_block", SCENE_SHIFT_M + 0.05)
    lift = physical_checks(True, "lift", actions, proprio, pushed)
    assert (lift[GRIP].step, lift[GRIP].failure) == (1, "missed_grasp")
    assert (lift[SCENE].step, lift[SCENE].failure) == (2, "object_displaced")
    assert "green_block moved 9.0 cm" in lift[SCENE].reason
    assert physical_checks(True, "move", actions, proprio, None)[GRIP].failure == "grasp_slip"
    # An execution recorded before the checks existed has neither: nothing is flagged.
    assert physical_checks(True, "lift", actions, None, None) == {GRIP: None, SCENE: None}


def test_the_agent_flags_what_any_of_its_checks_flags():
    quiet = Verdict("lift", True, False, "none", None, (), {"front": [0.1, 0.1]})
    detectors = Detectors(None, window=3)
    flags = detectors.detect(quiet, "latent", None, 2, {GRIP: 1, SCENE: None})["flags"]
    assert flags["latent"] == {"flagged": False, "step": None}
    assert flags[GRIP] == {"flagged": True, "step": 1} and flags[AGENT]["step"] == 1
    flags = detectors.detect(quiet, "latent", None, 2, {GRIP: None, SCENE: None})["flags"]
    assert flags[AGENT] == {"flagged": False, "step": None}
    # Without the physical checks (an older caller) there is no agent flag to report.
    assert AGENT not in detectors.detect(quiet, "latent", None, 2)["flags"]
