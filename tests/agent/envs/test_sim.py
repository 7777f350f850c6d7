"""TabletopSim: observation contract, action checks, determinism, geometry, stability, state."""

import numpy as np
import pytest

from agent.envs.robot import Robot
from agent.envs.tabletop.scene import BLOCKS
from agent.envs.tabletop.sim import PROPRIO_COMPONENTS, SimConfig, TabletopSim
from worldmodel.errors import ActionOutOfBoundsError, ActionShapeError, NonFiniteError
from worldmodel.types import Observation


def test_observation_contract(sim):
    assert isinstance(sim, Robot)
    obs = sim.reset(0)
    assert isinstance(obs, Observation)
    assert obs.camera_names == ("front", "side", "wrist")
    for camera in sim.cameras:
        assert obs.images[camera.name].shape == (128, 128, 3)
        assert obs.images[camera.name].dtype == np.uint8
        assert obs.images[camera.name].std() > 10  # a real scene, not a blank frame
        assert camera.intrinsics.shape == (3, 3) and camera.extrinsics.shape == (4, 4)
    assert sim.cameras[2].mounted_on == "arm0"
    assert obs.proprio.shape == (len(PROPRIO_COMPONENTS),)
    np.testing.assert_allclose(obs.proprio[:3], sim.geometry.home, atol=2e-3)
    assert obs.proprio[6] == pytest.approx(2 * sim.geometry.finger_travel, abs=2e-3)
    assert obs.step == 0 and obs.timestamp == 0.0
    after = sim.step(sim.hold_action())
    assert after.step == 1 and after.timestamp == pytest.approx(0.1)
    assert after.camera_poses["wrist"].shape == (4, 4)


@pytest.mark.parametrize(
    ("bad", "error"),
    [
        (np.array([0.0, 0.0, np.nan, 0, 0, 0, 0]), NonFiniteError),
        (np.array([0.0, 0.0, 0.9, 0, 0, 0, 0]), ActionOutOfBoundsError),
        (np.array([0.0, 0.0, 0.2, 0, 0, 0, 1.5]), ActionOutOfBoundsError),
        (np.zeros(6), ActionShapeError),
    ],
)
def test_bad_actions_never_reach_physics(fast_sim, bad, error):
    fast_sim.reset(1)
    before = fast_sim.get_state()
    with pytest.raises(error):
        fast_sim.step(bad)
    after = fast_sim.get_state()
    np.testing.assert_array_equal(before.physics, after.physics)
    assert after.step == before.step


def test_clip_mode_clips_and_logs():
    with TabletopSim(SimConfig(render=False, clip_actions=True)) as sim:
        sim.reset(0)
        obs = sim.step(np.array([0.0, 0.0, 0.9, 0, 0, 0, 0], np.float32))
        assert sim.clip_log and "arm0.z" in sim.clip_log[0]
        assert sim.command_pos[0][2] <= sim.action_space.high[2] + 1e-6
        assert obs.step == 1
        with pytest.raises(NonFiniteError):
            sim.step(np.full(7, np.nan, np.float32))


def test_same_seed_same_world_other_seed_other_world(sim):
    first = sim.reset(5)
    positions = {b: sim.object_pose(b)[0] for b in BLOCKS}
    again = sim.reset(5)
    for camera in first.camera_names:
        np.testing.assert_array_equal(first.images[camera], again.images[camera])
    other = sim.reset(6)
    assert any(np.linalg.norm(sim.object_pose(b)[0] - positions[b]) > 0.02 for b in BLOCKS)
    assert not np.array_equal(first.images["front"], other.images["front"])


def _project(camera_pose, intrinsics, point):
    camera_from_base = np.linalg.inv(camera_pose)
    p = camera_from_base[:3, :3] @ point + camera_from_base[:3, 3]
    assert p[2] > 0, "point behind the camera"
    u, v, _ = intrinsics @ (p / p[2])
    return round(float(u)), round(float(v))


def test_camera_geometry_projects_blocks_onto_their_pixels(sim):
    obs = sim.reset(2)
    red = np.array([0.85, 0.12, 0.10])
    for camera in sim.cameras[:2]:
        pos, _ = sim.object_pose("red_block")
        u, v = _project(camera.extrinsics, camera.intrinsics, pos)
        patch = obs.images[camera.name][v - 1 : v + 2, u - 1 : u + 2].reshape(-1, 3) / 255.0
        colour = patch.mean(0)
        assert colour[0] > 0.4 and colour[0] > 2 * colour[1], (camera.name, colour)
        assert np.linalg.norm(colour / colour.sum() - red / red.sum()) < 0.15
    # the wrist camera moves: its pose comes with each observation
    pos, _ = sim.object_pose("blue_block")
    for _ in range(12):
        obs = sim.step(np.array([*pos[:2], pos[2] + 0.12, 0, 0, 0, 0], np.float32))
    wrist = sim.cameras[2]
    u, v = _project(obs.camera_poses["wrist"], wrist.intrinsics, sim.object_pose("blue_block")[0])
    colour = obs.images["wrist"][v - 1 : v + 2, u - 1 : u + 2].reshape(-1, 3).mean(0)
    assert colour[2] > 1.5 * colour[0] and colour[2] > 1.5 * colour[1], colour


def test_physics_stays_stable_over_a_long_random_episode(fast_sim):
    fast_sim.reset(0)
    rng = np.random.default_rng(0)
    target = np.array([0.0, 0.0, 0.2])
    for _ in range(600):
        target = np.clip(target + rng.normal(0, 0.03, 3), [-0.3, -0.3, 0.01], [0.3, 0.3, 0.35])
        yaw, grip = rng.uniform(-1, 1), rng.uniform(0, 1)
        fast_sim.step(np.array([*target, 0, 0, yaw, grip], np.float32))
    assert np.all(np.isfinite(fast_sim.data.qpos))
    for block in BLOCKS:
        pos, _ = fast_sim.object_pose(block)
        assert np.all(np.abs(pos[:2]) < 0.45) and pos[2] > -0.01
    ee, _ = fast_sim.ee_pose(0)
    np.testing.assert_allclose(ee, fast_sim.command_pos[0], atol=0.02)


def test_state_save_restore_continues_exactly(fast_sim):
    fast_sim.reset(3)
    action = np.array([0.1, 0.0, 0.1, 0, 0, 0.3, 0.5], np.float32)
    fast_sim.step(action)
    state = fast_sim.get_state()
    for _ in range(5):
        fast_sim.step(action)
    expected = fast_sim.get_state().physics
    fast_sim.set_state(state)
    for _ in range(5):
        fast_sim.step(action)
    np.testing.assert_array_equal(fast_sim.get_state().physics, expected)


def test_two_arms_take_fourteen_dimensional_actions():
    with TabletopSim(SimConfig(arms=2, render=False)) as sim:
        obs = sim.reset(0)
        assert sim.action_space.dim == 14 and obs.proprio.shape == (14,)
        action = sim.hold_action()
        action[7:10] = (0.0, -0.2, 0.15)
        for _ in range(10):
            obs = sim.step(action)
        np.testing.assert_allclose(obs.proprio[7:10], (0.0, -0.2, 0.15), atol=0.01)
        with pytest.raises(ActionShapeError):
            sim.step(np.zeros(7, np.float32))


def test_realtime_paces_steps_to_the_control_rate():
    import time

    with TabletopSim(SimConfig(render=False, realtime=True)) as sim:
        sim.reset(0)
        began = time.monotonic()
        for _ in range(5):
            sim.step(sim.hold_action())
        assert time.monotonic() - began >= 0.45
