"""Target points: where the event's object and destination are relative to the gripper, in the
action tower's state token; a zero start that changes nothing, and a path that steers once
trained."""

import dataclasses

import numpy as np
import torch

from worldmodel.checkpoint import NormStats
from worldmodel.executor import EventModeExecutor
from worldmodel.flow import TrainingBatch, training_loss
from worldmodel.marks import POINT_SCALE_M, target_points
from worldmodel.sampling import EventInputs, sample_event
from worldmodel.types import CameraSpec, EventRequest, EventTarget, Observation
from worldmodel.vae import VideoVAE

NAMES = ("front", "side", "wrist")
RED = EventTarget("object", "red_block", {"front": (0.5, 0.5)}, (0.55, -0.1, 0.02))
BOWL = EventTarget("destination", "bowl", {"side": (0.4, 0.6)}, (0.45, 0.2, 0.03))


def test_points_are_offsets_from_the_gripper_in_scale_units_with_a_presence_flag():
    gripper = np.array([0.5, 0.0, 0.2, 0.1, 0.2, 0.3, 0.04], np.float32)
    points = target_points([RED, BOWL], gripper).reshape(2, 4)
    np.testing.assert_allclose(points[0], [0.05 / POINT_SCALE_M, -0.4, -0.72, 1], atol=1e-6)
    np.testing.assert_allclose(points[1], [-0.2, 0.8, -0.68, 1], atol=1e-6)
    only_bowl = target_points([BOWL], gripper).reshape(2, 4)
    assert not only_bowl[0].any() and only_bowl[1, 3] == 1
    no_position = dataclasses.replace(RED, position=None)
    assert not target_points([no_position], gripper).any()
    assert target_points([], gripper).shape == (8,)


def test_an_old_checkpoint_loads_with_zero_points_and_predicts_exactly_as_before(old_and_pointed):
    old, pointed = old_and_pointed
    assert pointed.config.action.target_points and not old.config.action.target_points
    assert not pointed.action.target_in.weight.any() and not pointed.action.target_in.bias.any()
    generator = torch.Generator().manual_seed(0)
    keyframes = torch.randn(1, 3, 4, 1, 4, 4, generator=generator)
    text = torch.randn(1, 1, 384, generator=generator)
    proprio = torch.randn(1, 7, generator=generator)
    points = torch.randn(1, 8, generator=generator)
    before = EventInputs(keyframes, text, proprio, steps=6)
    skill = torch.zeros(1, len(pointed.config.action.skills))  # no skill named
    after = EventInputs(keyframes, text, torch.cat([proprio, points, skill], 1), steps=6)
    for mode in ("asymmetric", "symmetric"):
        a = sample_event(old, before, mode, torch.Generator().manual_seed(1))
        b = sample_event(pointed, after, mode, torch.Generator().manual_seed(1))
        assert torch.equal(a.actions, b.actions)


def test_the_action_loss_trains_the_point_projection(old_and_pointed):
    _, model = old_and_pointed
    model.train()
    generator = torch.Generator().manual_seed(0)
    batch = TrainingBatch(
        latents=torch.randn(2, 3, 4, 3, 4, 4, generator=generator),
        text=torch.randn(2, 1, 384, generator=generator),
        state=torch.randn(2, model.action.state_width, generator=generator),
        actions=torch.randn(2, 8, 7, generator=generator),
        valid=torch.ones(2, 8, dtype=torch.bool),
        marks=torch.rand(2, 3, 2, 4, 4, generator=generator),
    )
    training_loss(model, batch, generator, train_video=False).total.backward()
    assert model.action.target_in.weight.grad.abs().sum() > 0


class ConstantText:
    """A caption encoder without the MiniLM download's start-up: one fixed token."""

    dim = 384

    def encode(self, captions: list[str]) -> torch.Tensor:
        return torch.ones(len(captions), 1, self.dim)


def executor_and_reach(model, config) -> tuple[EventModeExecutor, EventRequest]:
    """An executor of `model` with identity statistics, and a reach of the red block from a
    gripper at (0.5, 0, 0.2) seen by three grey cameras."""
    torch.manual_seed(0)
    vae = VideoVAE.from_config(config.vae)
    executor = EventModeExecutor(model, NormStats.identity(7, 7), vae, ConstantText(), decode=False)
    cameras = tuple(CameraSpec(name, 32, 24) for name in NAMES)
    images = {c.name: np.full(c.image_shape, 90, np.uint8) for c in cameras}
    proprio = np.array([0.5, 0.0, 0.2, 0, 0, 0, 0.04], np.float32)
    observation = Observation(cameras, images, proprio, 0.0, 0)
    return executor, EventRequest("reach the red block", observation, 6, targets=(RED,))


def test_the_executor_gives_the_points_relative_to_the_gripper_and_they_steer(
    old_and_pointed, debug_config
):
    _, pointed = old_and_pointed
    executor, request = executor_and_reach(pointed, debug_config)
    proprio = request.observation.proprio
    state = executor.state(request)[0].numpy()
    np.testing.assert_allclose(state[:7], proprio)  # identity statistics
    np.testing.assert_allclose(state[7:15], target_points([RED], proprio))
    with torch.no_grad():
        pointed.action.target_in.weight.normal_(0, 0.5)
    moved = dataclasses.replace(
        request, targets=(dataclasses.replace(RED, position=(0.3, 0.2, 0.02)),)
    )
    actions = [executor.predict(r).actions for r in (request, moved)]
    assert np.abs(actions[0] - actions[1]).max() > 1e-4


def test_anchored_actions_follow_the_target_where_the_model_output_does_not_change(
    old_and_pointed, debug_config
):
    _, pointed = old_and_pointed  # target points still zero: the model's output ignores them
    assert pointed.config.anchor_actions
    executor, request = executor_and_reach(pointed, debug_config)
    proprio = request.observation.proprio
    shift = np.array([-0.2, 0.3, 0.01], np.float32)
    moved = dataclasses.replace(
        request,
        targets=(dataclasses.replace(RED, position=tuple(np.add(RED.position, shift))),),
    )
    here, there, none = (
        executor.predict(r).actions
        for r in (request, moved, dataclasses.replace(request, targets=()))
    )
    np.testing.assert_allclose(there[:, :3] - here[:, :3], np.tile(shift, (6, 1)), atol=1e-5)
    np.testing.assert_allclose(there[:, 3:], here[:, 3:], atol=1e-6)
    # without a target the start is the origin: the same output lands elsewhere
    np.testing.assert_allclose(
        here[:, :3] - none[:, :3],
        np.tile(np.subtract(RED.position, proprio[:3]), (6, 1)),
        atol=1e-5,
    )
