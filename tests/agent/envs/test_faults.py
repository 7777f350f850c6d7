"""Fault injection: seeded, logged, and each kind changes the outcome or the frames."""

import re

import numpy as np
import pytest

from agent.envs.tabletop.environment import build
from agent.envs.tabletop.errors import UnknownNameError
from agent.envs.tabletop.expert import RunConfig, run_episode
from agent.envs.tabletop.faults import FaultConfig, FaultInjector, parse_faults
from agent.envs.tabletop.sim import SimConfig, TabletopSim
from agent.envs.tabletop.tasks import get_task
from agent.run_spec import RunSpec, RunSpecError

NO_FRAMES = RunConfig(record_frames=False)
TASK = "put the red block in the bowl and the blue block in the bowl"


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


@pytest.mark.parametrize("kind", ["missed_grasp", "grasp_slip"])
def test_a_grasp_fault_is_logged_under_the_first_observation_it_shows_in(kind):
    # Both act through the next action (the block shifts as the fingers start to close; the
    # fingers are forced open), so the cameras show the logged step, not the one before, differ
    # from the same episode without the fault.
    task = get_task("bowl_red_blue")
    config = SimConfig(width=64, height=64)
    with TabletopSim(config) as sim:
        clean = run_episode(sim, task, seed=0).frames["front"]
    with TabletopSim(config, faults=FaultInjector(FaultConfig(kind))) as sim:
        faulty = run_episode(sim, task, seed=0)
    step = faulty.faults[0]["step"]
    np.testing.assert_array_equal(faulty.frames["front"][:step], clean[:step])
    assert not np.array_equal(faulty.frames["front"][step], clean[step])


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


@pytest.mark.parametrize(("camera", "seed"), [("side", 2), (None, 3)])
def test_camera_dropout_blacks_one_camera_for_the_whole_episode(camera, seed):
    task = get_task("bowl_red_blue")
    with TabletopSim(SimConfig(width=64, height=64)) as clean_sim:
        clean = run_episode(clean_sim, task, seed=seed)
    dropout = FaultInjector(FaultConfig("camera_dropout", camera=camera))
    with TabletopSim(SimConfig(width=64, height=64), faults=dropout) as sim:
        faulty = run_episode(sim, task, seed=seed)
    np.testing.assert_array_equal(clean.proprio, faulty.proprio)  # the physics is untouched
    (entry,) = faulty.faults  # logged once, from the reset's frame to the end
    assert entry == {"kind": "camera_dropout", "step": 0, "camera": entry["camera"], "steps": None}
    assert camera is None or entry["camera"] == camera
    dark = entry["camera"]
    assert faulty.frames[dark].max() == 0 and clean.frames[dark].max() > 0
    for other in set(clean.frames) - {dark}:
        np.testing.assert_array_equal(clean.frames[other], faulty.frames[other])


def test_camera_dropout_picks_its_camera_by_seed():
    def dropped(seed: int) -> str:
        faults = FaultInjector(FaultConfig("camera_dropout"))
        with TabletopSim(SimConfig(render=False), faults=faults) as sim:
            sim.reset(seed)
            return faults.log[0]["camera"]

    picks = [dropped(seed) for seed in range(6)]
    assert picks == [dropped(seed) for seed in range(6)]  # the same seed, the same camera
    assert len(set(picks)) > 1


def test_last_event_push_waits_for_the_goal_then_knocks_the_block():
    task = get_task("bowl_red_blue")
    goal_steps: list[int] = []

    def goal(sim: TabletopSim) -> bool:
        holds = task.success(sim)
        if holds:
            goal_steps.append(sim.step_index)
        return holds

    faults = FaultInjector(FaultConfig("external_push", last_event=True), goal=goal)
    with TabletopSim(SimConfig(render=False), faults=faults) as sim:
        episode = run_episode(sim, task, seed=0, config=NO_FRAMES)
    (push,) = episode.faults
    steps = len(episode.proprio) - 1  # the episode's control steps
    # Armed when the goal first held (the last release), fired in the steps that remained.
    assert goal_steps and goal_steps[0] <= push["step"] <= steps
    assert steps - push["step"] < 15  # inside the last event, not at some earlier placement
    assert not episode.success  # the block just placed was knocked out
    plain = FaultInjector(FaultConfig("external_push"), goal=task.success)
    with TabletopSim(SimConfig(render=False), faults=plain) as sim:
        early = run_episode(sim, task, seed=0, config=NO_FRAMES)
    assert early.faults[0]["step"] < goal_steps[0] - 30  # without @last: after the first block


def test_two_faults_in_one_episode_are_both_injected_and_logged():
    task = get_task("bowl_red_blue")
    configs = parse_faults("grasp_slip+external_push")
    with TabletopSim(SimConfig(render=False), faults=FaultInjector(configs)) as sim:
        episode = run_episode(sim, task, seed=0, config=NO_FRAMES)
    assert [entry["kind"] for entry in episode.faults] == ["grasp_slip", "external_push"]
    assert episode.faults[0]["step"] < episode.faults[1]["step"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("grasp_slp", "unknown fault 'grasp_slp' (did you mean grasp_slip?)"),
        ("external_push@first", "the only trigger is @last"),
        ("grasp_slip@last", "nothing is grasped once the goal holds"),
        ("camera_dropout@last", "it lasts the whole episode"),
        ("grasp_slip+grasp_slip", "names the same fault twice"),
        ("grasp_slip+", "unknown fault ''"),
    ],
)
def test_misspelt_fault_specs_are_refused(text, message):
    with pytest.raises(UnknownNameError, match=re.escape(message)):
        parse_faults(text)


def test_a_last_event_fault_needs_a_goal():
    assert parse_faults("external_push@last") == (FaultConfig("external_push", last_event=True),)
    with pytest.raises(UnknownNameError, match="needs a task"):
        FaultInjector(parse_faults("external_push@last"))


def test_a_run_spec_carries_fault_specs_to_the_simulator():
    spec = RunSpec(TASK, task="bowl_red_blue", faults=("grasp_slip", "external_push@last"))
    with build(spec) as sim:
        assert sim.faults.configs == (
            FaultConfig("grasp_slip"),
            FaultConfig("external_push", last_event=True),
        )
        assert sim.faults.goal is not None  # the task's goal arms the last-event push
    with pytest.raises(RunSpecError, match="a fault @last needs a task"):
        RunSpec(TASK, faults=("external_push@last",))
    with pytest.raises(UnknownNameError, match="unknown fault 'quake'"):
        RunSpec(TASK, task="bowl_red_blue", faults=("quake",))
