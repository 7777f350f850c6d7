"""Fault injection: seeded, logged, and each kind changes the outcome or the frames."""

import numpy as np
import pytest

from agent.envs.tabletop.errors import UnknownNameError
from agent.envs.tabletop.expert import RunConfig, run_episode
from agent.envs.tabletop.faults import FaultConfig, FaultInjector
from agent.envs.tabletop.sim import SimConfig, TabletopSim
from agent.envs.tabletop.tasks import get_task

NO_FRAMES = RunConfig(record_frames=False)


@pytest.mark.parametrize("kind", ["grasp_slip", "missed_grasp", "external_push"])
def test_world_faults_make_the_expert_fail_and_recovery_fixes_it(kind):
    task = get_task("bowl_red_blue")
    with TabletopSim(SimConfig(render=False), faults=FaultInjector(FaultConfig(kind))) as sim:
        failed = run_episode(sim, task, seed=0, config=NO_FRAMES)
        assert not failed.success
        assert failed.faults and failed.faults[0]["kind"] == kind
        recovered = run_episode(
            sim, task, seed=0, config=RunConfig(recover=True, record_frames=False)
        )
        assert recovered.success
        assert any(event.recovery for event in recovered.events)


def test_action_noise_is_seeded_and_logged():
    task = get_task("stack_three")
    faults = FaultInjector(FaultConfig("action_noise", noise_std=0.02))
    with TabletopSim(SimConfig(render=False), faults=faults) as sim:
        first = run_episode(sim, task, seed=1, config=NO_FRAMES)
        again = run_episode(sim, task, seed=1, config=NO_FRAMES)
    assert first.faults == again.faults and first.faults[0]["kind"] == "action_noise"
    np.testing.assert_array_equal(first.proprio, again.proprio)


def test_camera_faults_change_frames_not_physics():
    task = get_task("sort_red_green")
    with TabletopSim(SimConfig()) as clean_sim:
        clean = run_episode(clean_sim, task, seed=2)
    freeze = FaultConfig("camera_freeze", camera="side", freeze_steps=10)
    black = FaultConfig("black_frames", camera="wrist", frame_rate=0.2)
    with TabletopSim(SimConfig(), faults=FaultInjector([freeze, black])) as sim:
        faulty = run_episode(sim, task, seed=2)
    np.testing.assert_array_equal(clean.proprio, faulty.proprio)
    (frozen,) = [f for f in faulty.faults if f["kind"] == "camera_freeze"]
    start = frozen["step"]
    side = faulty.frames["side"][start : start + 10]
    assert all(np.array_equal(side[0], frame) for frame in side)
    assert not np.array_equal(clean.frames["side"][start], clean.frames["side"][start + 9])
    black_steps = [f["step"] for f in faulty.faults if f["kind"] == "black_frames"]
    assert len(black_steps) > 5
    assert all(faulty.frames["wrist"][t].max() == 0 for t in black_steps)
    np.testing.assert_array_equal(clean.frames["front"], faulty.frames["front"])


def test_unknown_fault_is_refused():
    with pytest.raises(UnknownNameError, match="unknown fault"):
        FaultConfig("earthquake")
