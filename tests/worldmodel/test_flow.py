"""Flow matching: the shifted schedule, the loss with K action draws, EMA, and that it learns."""

import dataclasses

import pytest
import torch

from worldmodel.errors import ContractError
from worldmodel.flow import (
    EMA,
    TrainingBatch,
    add_noise,
    anchor_sigma,
    shift_sigma,
    sigma_schedule,
    training_loss,
)
from worldmodel.model import WallWM


def _batch(config, batch: int = 2, steps: int = 8, views: int = 3, seed: int = 0) -> TrainingBatch:
    generator = torch.Generator().manual_seed(seed)
    frames = config.latent_frames(steps)
    valid = torch.ones(batch, steps, dtype=torch.bool)
    valid[0, 5:] = False
    return TrainingBatch(
        latents=torch.randn(batch, views, 4, frames, 4, 4, generator=generator),
        text=torch.randn(batch, 1, 384, generator=generator),
        state=torch.randn(batch, config.proprio_dim, generator=generator),
        actions=torch.randn(batch, steps, config.action_dim, generator=generator),
        valid=valid,
    )


def test_schedule_and_anchor_match_wan_shift_5(debug_config):
    sigmas = sigma_schedule(50, 5.0)
    assert sigmas.shape == (51,) and sigmas[0] == 1.0 and sigmas[-1] == 0.0
    assert torch.all(sigmas[1:] < sigmas[:-1])
    assert anchor_sigma(debug_config.flow) == pytest.approx(0.5 / 1.4, abs=1e-6)  # ~0.357
    assert shift_sigma(torch.tensor(0.5), 1.0) == 0.5


def test_noising_interpolates_data_and_noise():
    x0, eps = torch.zeros(2, 3), torch.ones(2, 3)
    x_t = add_noise(x0, eps, torch.tensor([0.25, 1.0]))
    assert torch.equal(x_t, torch.tensor([[0.25] * 3, [1.0] * 3]))


def test_loss_runs_video_once_and_actions_k_times(debug_model, debug_config):
    calls = {"video": 0, "action": 0}
    debug_model.video.register_forward_hook(
        lambda *_: calls.__setitem__("video", calls["video"] + 1)
    )
    debug_model.action.register_forward_hook(
        lambda *_: calls.__setitem__("action", calls["action"] + 1)
    )
    losses = training_loss(debug_model.train(), _batch(debug_config), torch.Generator())
    assert calls == {"video": 1, "action": debug_config.flow.action_loss_draws}
    assert torch.isfinite(losses.total) and losses.video > 0 and losses.action > 0
    losses.total.backward()
    assert debug_model.video.wan.proj_out.weight.grad is not None
    assert debug_model.action.proj_out.weight.grad is not None


def test_frozen_video_gets_no_gradient(debug_model, debug_config):
    losses = training_loss(debug_model.train(), _batch(debug_config), train_video=False)
    losses.total.backward()
    assert debug_model.video.wan.proj_out.weight.grad is None
    assert debug_model.action.proj_out.weight.grad is not None


def _sampler_level_model(debug_config) -> WallWM:
    flow = dataclasses.replace(debug_config.flow, action_video_sigma=1.0)
    torch.manual_seed(0)
    return WallWM(dataclasses.replace(debug_config, flow=flow))


@pytest.mark.parametrize("train_video", [False, True])
def test_the_action_tower_reads_the_video_at_the_sampler_level(debug_config, train_video):
    """With action_video_sigma set, the action tower sees every future frame at that level (the
    sampler's context); the video loss, when trained (joint), still draws its levels, in a forward
    of its own."""
    model = _sampler_level_model(debug_config)
    timesteps = []
    model.video.register_forward_hook(
        lambda _module, args, _output: timesteps.append(args[1]), with_kwargs=False
    )
    training_loss(model, _batch(debug_config), torch.Generator().manual_seed(0), train_video)
    *drawn, read = timesteps  # (B, F) each; the action tower reads the last forward
    assert all(torch.all(timestep[:, 0] == 0) for timestep in timesteps)  # keyframes stay clean
    assert torch.all(read[:, 1:] == 1000)
    if train_video:
        (video_loss_levels,) = drawn
        assert video_loss_levels[0, 1] != video_loss_levels[1, 1]
        assert torch.all(video_loss_levels[:, 1:] < 1000)
    else:
        assert not drawn


def test_joint_training_lets_the_action_loss_reach_the_video_tower(debug_config):
    """Frozen video (the action stage): the video tower gets no gradient. Joint: its gradient is
    the video loss's (the same draws as the video stage's) plus the action loss's, through the
    forward at the sampler's level."""

    def video_gradient(train_video: bool, train_action: bool) -> torch.Tensor | None:
        model = _sampler_level_model(debug_config).train()
        generator = torch.Generator().manual_seed(0)
        training_loss(
            model, _batch(debug_config), generator, train_video, train_action
        ).total.backward()
        return model.video.wan.blocks[0].attn1.to_q.weight.grad

    assert video_gradient(train_video=False, train_action=True) is None
    video_loss_only = video_gradient(train_video=True, train_action=False)
    joint = video_gradient(train_video=True, train_action=True)
    assert float((joint - video_loss_only).abs().sum()) > 1e-3 * float(video_loss_only.abs().sum())


def test_tube_mask_enters_the_loss(debug_config):
    flow = dataclasses.replace(debug_config.flow, tube_mask_prob=1.0)
    torch.manual_seed(0)
    model = WallWM(dataclasses.replace(debug_config, flow=flow))
    losses = training_loss(model, _batch(debug_config), torch.Generator().manual_seed(0))
    assert torch.isfinite(losses.total)


def test_a_few_steps_reduce_the_loss(debug_config):
    torch.manual_seed(0)
    model = WallWM(debug_config).train()
    batch = _batch(debug_config, batch=1, steps=4, views=1)
    optimiser = torch.optim.AdamW(model.parameters(), lr=1e-2)

    def loss_at(seed: int) -> torch.Tensor:
        return training_loss(model, batch, torch.Generator().manual_seed(seed)).total

    with torch.no_grad():
        first = sum(float(loss_at(s)) for s in range(3)) / 3
    for step in range(15):
        optimiser.zero_grad()
        loss_at(100 + step).backward()
        optimiser.step()
    with torch.no_grad():
        last = sum(float(loss_at(s)) for s in range(3)) / 3
    assert last < 0.8 * first


def test_ema_moves_toward_the_model():
    model = torch.nn.Linear(2, 2)
    ema = EMA(model, 0.75)
    start = ema.shadow.weight.clone()
    with torch.no_grad():
        model.weight.add_(4.0)
    ema.update(model)
    torch.testing.assert_close(ema.shadow.weight, start + 1.0)
    with pytest.raises(ContractError, match="decay"):
        EMA(model, 1.0)
