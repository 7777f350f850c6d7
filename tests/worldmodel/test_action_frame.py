"""Relative actions: pose components taken from the event's start pose, angles wrapped."""

import numpy as np
import pytest

from worldmodel.action_frame import event_anchor, is_angle, to_absolute, to_relative, wrap_angle
from worldmodel.types import EventTarget

DIMS = (0, 1, 2, 5)  # the tiny preset's: position and yaw


def test_round_trip_restores_absolute_actions():
    rng = np.random.default_rng(0)
    start = rng.uniform(-1, 1, 7).astype(np.float32)
    actions = rng.uniform(-1, 1, (5, 7)).astype(np.float32)
    relative = to_relative(actions, start, DIMS)
    np.testing.assert_allclose(relative[:, :3], actions[:, :3] - start[:3], atol=1e-6)
    np.testing.assert_array_equal(relative[:, [3, 4, 6]], actions[:, [3, 4, 6]])  # absolute dims
    np.testing.assert_allclose(to_absolute(relative, start, DIMS), actions, atol=1e-6)


def test_yaw_across_pi_is_a_small_turn_not_a_full_one():
    start = np.zeros(7, np.float32)
    start[5] = 3.1
    actions = np.zeros((1, 7), np.float32)
    actions[0, 5] = -3.1
    relative = to_relative(actions, start, DIMS)
    assert relative[0, 5] == pytest.approx(2 * np.pi - 6.2, abs=1e-6)  # +0.083 rad, the short way
    assert to_absolute(relative, start, DIMS)[0, 5] == pytest.approx(-3.1, abs=1e-6)


def test_angle_components_of_every_arm():
    assert [d for d in range(14) if is_angle(d)] == [3, 4, 5, 10, 11, 12]
    np.testing.assert_allclose(
        wrap_angle(np.array([np.pi, -np.pi, 3 * np.pi / 2])), [np.pi, np.pi, -np.pi / 2]
    )


def test_anchored_positions_are_taken_from_the_target_and_the_rest_from_the_start():
    bowl = EventTarget("destination", "bowl", {}, (0.4, 0.2, 0.03))
    red = EventTarget("object", "red_block", {}, (0.5, -0.1, 0.02))
    np.testing.assert_allclose(event_anchor([red, bowl]), [0.4, 0.2, 0.03])  # where it goes
    np.testing.assert_allclose(event_anchor([red]), [0.5, -0.1, 0.02])
    assert event_anchor([EventTarget("object", "red_block", {"front": (0.5, 0.5)})]) is None
    assert event_anchor([]) is None
    rng = np.random.default_rng(1)
    start = rng.uniform(-1, 1, 7).astype(np.float32)
    actions = rng.uniform(-1, 1, (5, 7)).astype(np.float32)
    anchor = event_anchor([red])
    relative = to_relative(actions, start, DIMS, anchor)
    np.testing.assert_allclose(relative[:, :3], actions[:, :3] - anchor, atol=1e-6)
    np.testing.assert_allclose(relative[:, 5], to_relative(actions, start, DIMS)[:, 5])  # yaw
    np.testing.assert_allclose(to_absolute(relative, start, DIMS, anchor), actions, atol=1e-6)


def test_a_skill_that_keeps_its_height_is_anchored_in_x_y_only():
    bowl = EventTarget("destination", "bowl", {}, (0.4, 0.2, 0.03))
    anchor = event_anchor([bowl], "move", ("move",))
    np.testing.assert_allclose(anchor[:2], [0.4, 0.2])
    assert np.isnan(anchor[2])
    np.testing.assert_allclose(event_anchor([bowl], "place", ("move",)), [0.4, 0.2, 0.03])
    start = np.arange(7, dtype=np.float32) / 10
    actions = np.ones((3, 7), np.float32)
    relative = to_relative(actions, start, DIMS, anchor)
    np.testing.assert_allclose(relative[:, :3], [[0.6, 0.8, 1.0 - start[2]]] * 3, atol=1e-6)
    np.testing.assert_allclose(to_absolute(relative, start, DIMS, anchor), actions, atol=1e-6)


def test_a_skill_that_acts_in_place_keeps_the_start_as_origin_despite_its_targets():
    red = EventTarget("object", "red_block", {}, (0.5, -0.1, 0.02))
    in_place = ("grasp", "lift", "release")
    assert event_anchor([red], "grasp", ("move",), in_place) is None
    np.testing.assert_allclose(event_anchor([red], "reach", ("move",), in_place), red.position)
    # the same grasp from two starts 2 cm apart: identical in the model's frame
    start = np.zeros(7, np.float32)
    shifted = start.copy()
    shifted[:3] += (0.02, -0.01, 0.015)
    close = np.zeros((4, 7), np.float32)
    close[:, 6] = np.linspace(0.3, 1.0, 4)
    anchor = event_anchor([red], "grasp", (), in_place)
    np.testing.assert_allclose(
        to_relative(close, start, DIMS, anchor),
        to_relative(close + (shifted - start), shifted, DIMS, anchor),
        atol=1e-6,
    )
