"""Task suite and scripted expert: plans, success per family, four caption levels, recovery."""

import itertools

import numpy as np
import pytest

from agent.envs.tabletop.episode import LEVELS, Episode
from agent.envs.tabletop.errors import SkillArgumentError, UnknownNameError
from agent.envs.tabletop.expert import RunConfig, recovery_episode, run_episode
from agent.envs.tabletop.skills import SKILLS, ExpertContext, routine
from agent.envs.tabletop.tasks import FAMILIES, TASKS, get_task, tasks_of

SHARED_SKILLS = {"reach", "grasp", "lift", "move", "place", "release", "push", "open", "close",
                 "regrasp"}  # fmt: skip


def test_suite_shape():
    assert len(TASKS) >= 12
    assert set(FAMILIES) == {task.family for task in TASKS.values()}
    assert set(SKILLS) == SHARED_SKILLS
    for task in TASKS.values():
        assert 2 <= len(task.subtasks) <= 8, task.name
        assert len(set(task.paraphrases)) >= 3, task.name
        for _, step in task.plan():
            assert step.skill in SHARED_SKILLS
    plan = get_task("drawer_red").plan()
    assert [step.skill for _, step in plan][:2] == ["open", "reach"]
    assert plan[4][1].caption == "move the red block above the drawer"
    assert plan[5][1].caption == "place the red block in the drawer"
    with pytest.raises(UnknownNameError, match="did you mean"):
        get_task("drawer_rd")


@pytest.mark.parametrize("family", FAMILIES)
def test_expert_succeeds_on_each_family(fast_sim, family):
    task = tasks_of(family)[0]
    episode = run_episode(fast_sim, task, seed=11, config=RunConfig(record_frames=False))
    assert episode.success, (task.name, episode.progress)
    assert episode.progress == 100.0


def test_episode_captions_on_four_levels(sim, tmp_path):
    task = get_task("push_then_bowl")
    episode = run_episode(sim, task, seed=4)
    assert episode.success
    steps = episode.steps
    assert episode.frames["front"].shape == (steps + 1, 128, 128, 3)
    assert episode.proprio.shape == (steps + 1, 7) and episode.actions.shape == (steps, 7)
    assert {span.level for span in episode.captions} == set(LEVELS)
    (task_span,) = episode.spans("task")
    assert (task_span.start, task_span.end) == (0, steps)
    for level in ("subtask", "action", "segment"):
        spans = sorted(episode.spans(level), key=lambda s: s.start)
        assert spans[0].start == 0 and spans[-1].end == steps
        assert all(a.end == b.start for a, b in itertools.pairwise(spans)), level
    actions = [s.text for s in episode.spans("action")]
    assert actions[:2] == ["push the yellow block toward the plate", "reach the red block"]
    assert "lower the gripper to the red block" in [s.text for s in episode.spans("segment")]
    loaded = Episode.load(episode.save(tmp_path / "episode"))
    assert loaded.captions == episode.captions and loaded.events == episode.events
    np.testing.assert_array_equal(loaded.frames["wrist"], episode.frames["wrist"])
    np.testing.assert_allclose(loaded.cameras[0].intrinsics, episode.cameras[0].intrinsics)


def test_recovery_episode_starts_perturbed_and_regrasps(fast_sim):
    episode = recovery_episode(
        fast_sim, get_task("bowl_red_blue"), seed=3, config=RunConfig(record_frames=False)
    )
    assert episode.events[0].skill == "regrasp"
    assert episode.faults[-1]["kind"] == "start_perturbation"
    assert 0.0 < np.linalg.norm(episode.faults[-1]["offset_m"]) <= 0.03
    assert episode.success


def test_skill_arguments_are_checked(fast_sim):
    fast_sim.reset(0)
    ctx = ExpertContext(fast_sim)
    with pytest.raises(SkillArgumentError, match="needs argument 'object'"):
        routine(ctx, "reach", {})
    with pytest.raises(SkillArgumentError, match="cannot use target='table'"):
        routine(ctx, "place", {"object": "red_block", "target": "table"})
    with pytest.raises(UnknownNameError, match="unknown skill"):
        routine(ctx, "juggle", {"object": "red_block"})


def test_progress_counts_subtasks_reached_in_order(fast_sim):
    from agent.envs.tabletop.tasks import ProgressTracker

    task = get_task("sort_warm_cool")
    fast_sim.reset(8)
    tracker = ProgressTracker(task)
    assert tracker.update(fast_sim) == 0.0 and not task.success(fast_sim)
    ctx = ExpertContext(fast_sim)
    for step in task.subtasks[0].steps:
        for action, _ in routine(ctx, step.skill, step.arguments):
            fast_sim.step(action)
    assert tracker.update(fast_sim) == 25.0
    assert not task.success(fast_sim)


def test_drawer_goal_holds_while_the_drawer_is_open(fast_sim):
    task = get_task("drawer_red")
    fast_sim.reset(2)
    ctx = ExpertContext(fast_sim)
    for subtask in task.subtasks[:2]:
        for step in subtask.steps:
            for action, _ in routine(ctx, step.skill, step.arguments):
                fast_sim.step(action)
    assert fast_sim.drawer_opening() > 0.1
    assert task.subtasks[1].goal(fast_sim)  # the red block lies in the open drawer
    assert not task.success(fast_sim)  # the drawer is not closed yet
