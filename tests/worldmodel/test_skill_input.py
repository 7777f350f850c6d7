"""The skill input: the event's skill as a one-hot beside the action tower's state, zero at the
start (an old checkpoint predicts as before), trained by the action loss, given by the executor
from the request, and what tells a grasp from a lift once trained."""

import dataclasses

import numpy as np
import pytest
import torch

from tests.worldmodel.test_target_points import executor_and_reach
from worldmodel.checkpoint import NormStats, load_checkpoint, save_checkpoint
from worldmodel.config import with_marks, with_skills
from worldmodel.flow import TrainingBatch, training_loss
from worldmodel.skill_input import SKILL_NAMES, skill_one_hot


@pytest.fixture
def old_and_skilled(tmp_path, mixed_model):
    """A checkpoint made without the skill input, and the same loaded into a config with it."""
    folder = save_checkpoint(mixed_model, tmp_path / "old", NormStats.identity(7, 7))
    skilled, _ = load_checkpoint(folder, into=with_skills(with_marks(mixed_model.config)))
    return mixed_model, skilled


def test_the_one_hot_marks_the_named_skill_and_is_zero_for_none_or_an_unlisted_name():
    np.testing.assert_array_equal(skill_one_hot("lift", ("reach", "grasp", "lift")), [0, 0, 1])
    assert not skill_one_hot(None, SKILL_NAMES).any()
    assert not skill_one_hot("wave", SKILL_NAMES).any()
    assert skill_one_hot("grasp", SKILL_NAMES).shape == (len(SKILL_NAMES),)


def test_an_old_checkpoint_loads_with_a_zero_skill_input_and_ignores_the_skill(
    old_and_skilled, debug_config
):
    _, skilled = old_and_skilled
    assert skilled.config.action.skills == SKILL_NAMES
    assert not skilled.action.skill_in.weight.any()
    executor, request = executor_and_reach(skilled, debug_config)
    state = executor.state(request)[0].numpy()
    np.testing.assert_array_equal(state[-len(SKILL_NAMES) :], skill_one_hot(None, SKILL_NAMES))
    asked = [dataclasses.replace(request, skill=name) for name in ("grasp", "lift")]
    np.testing.assert_array_equal(
        executor.state(asked[1])[0, -len(SKILL_NAMES) :].numpy(), skill_one_hot("lift", SKILL_NAMES)
    )
    grasp, lift = (executor.predict(r).actions for r in asked)
    np.testing.assert_array_equal(grasp, lift)


def test_the_action_loss_trains_the_skill_input_and_then_the_skill_steers(
    old_and_skilled, debug_config
):
    _, model = old_and_skilled
    model.train()
    generator = torch.Generator().manual_seed(0)
    state = torch.randn(2, model.action.state_width, generator=generator)
    state[:, -len(SKILL_NAMES) :] = torch.from_numpy(skill_one_hot("grasp", SKILL_NAMES))
    batch = TrainingBatch(
        latents=torch.randn(2, 3, 4, 3, 4, 4, generator=generator),
        text=torch.randn(2, 1, 384, generator=generator),
        state=state,
        actions=torch.randn(2, 8, 7, generator=generator),
        valid=torch.ones(2, 8, dtype=torch.bool),
        marks=torch.rand(2, 3, 2, 4, 4, generator=generator),
    )
    training_loss(model, batch, generator, train_video=False).total.backward()
    grad = model.action.skill_in.weight.grad.abs().sum(dim=0)
    assert grad[SKILL_NAMES.index("grasp")] > 0 and grad.sum() == grad[SKILL_NAMES.index("grasp")]
    model.eval()
    with torch.no_grad():
        model.action.skill_in.weight.normal_(0, 0.5)  # as if trained
    executor, request = executor_and_reach(model, debug_config)
    grasp, lift = (
        executor.predict(dataclasses.replace(request, skill=name)).actions
        for name in ("grasp", "lift")
    )
    assert np.abs(grasp - lift).max() > 1e-4
