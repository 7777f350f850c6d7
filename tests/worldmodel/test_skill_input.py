"""The skill input: the event's skill as a one-hot beside the action tower's state, zero at the
start (an old checkpoint predicts as before), trained by the action loss, given by the executor
from the request, and what tells a grasp from a lift once trained."""

import dataclasses

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from tests.worldmodel.test_packed_forward import STEPS, _events, packed_and_alone
from tests.worldmodel.test_target_points import executor_and_reach
from worldmodel.checkpoint import ACTION_FILE, NormStats, load_checkpoint, save_checkpoint
from worldmodel.config import with_marks, with_skills
from worldmodel.flow import TrainingBatch, training_loss
from worldmodel.model import WallWM
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


def test_each_packed_event_hears_its_own_skill_as_it_does_alone(debug_config):
    """The skill joins the timestep embedding of every step of its event (AdaLN): in a packed
    row each event is computed with its own skill, exactly as alone."""
    config = with_skills(debug_config)
    torch.manual_seed(0)
    model = WallWM(config).eval()
    generator = torch.Generator().manual_seed(3)
    with torch.no_grad():
        model.action.skill_in.weight.copy_(torch.randn(model.action.skill_in.weight.shape) * 0.5)
        model.action.skill_time.weight.copy_(torch.randn(model.action.skill_time.weight.shape))
    events = _events(config, generator)
    for event, skill in zip(events, ("grasp", "lift"), strict=True):
        one_hot = torch.from_numpy(skill_one_hot(skill, SKILL_NAMES))[None]
        event["state"] = torch.cat([event["state"], one_hot], 1)
    (_, packed), alone = packed_and_alone(model, events)
    alone = [velocity for _, velocity in alone]
    swapped = events[0]["state"].clone()
    swapped[:, -len(SKILL_NAMES) :] = torch.from_numpy(skill_one_hot("lift", SKILL_NAMES))
    with torch.no_grad():
        _, own = model.encode_video(events[0]["latents"], events[0]["video_t"], events[0]["text"])
        as_lift = model.action(events[0]["actions"], events[0]["action_t"], swapped, own)
    first = STEPS[0]
    torch.testing.assert_close(packed[:1, :first], alone[0], atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(packed[:1, first:], alone[1], atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(packed[1:, : STEPS[1]], alone[1], atol=1e-5, rtol=1e-4)
    assert (as_lift - alone[0]).abs().max() > 1e-2  # the skill steers


def test_a_skill_checkpoint_made_before_the_adaln_path_loads_with_it_at_zero(
    tmp_path, debug_config
):
    torch.manual_seed(0)
    model = WallWM(with_skills(debug_config))
    folder = save_checkpoint(model, tmp_path / "skills", NormStats.identity(7, 7))
    weights = load_file(folder / ACTION_FILE)
    del weights["skill_time.weight"]
    save_file(weights, folder / ACTION_FILE)
    loaded, _ = load_checkpoint(folder)
    assert not loaded.action.skill_time.weight.any()
    torch.testing.assert_close(loaded.action.skill_in.weight, model.action.skill_in.weight)
