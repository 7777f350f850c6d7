"""Flow matching (Wan style): schedules, noising, the training loss and an EMA of the weights.

x_t = (1 - t) x0 + t eps, the network predicts v = eps - x0, and the network is told
t * num_train_timesteps. Video and action get independent noise levels; the action loss averages
K noise draws per sample while the video tower runs once (video never reads actions, so its
features are the same for every draw); joint training with a fixed level for the action tower's
video context runs it twice (see training_loss).

A packed batch (several events per row, worldmodel/data/packing.py) draws one noise level per
event rather than per row; each event's keyframe stays clean and padding is left out of the loss.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
from torch import nn

from worldmodel.config import FlowConfig
from worldmodel.data.packing import PackedLayout
from worldmodel.errors import ContractError
from worldmodel.masks import apply_tube_noise, tube_mask
from worldmodel.model import WallWM
from worldmodel.video_tower import VideoOutput


def shift_sigma(sigma: torch.Tensor, shift: float) -> torch.Tensor:
    """Wan's timestep shift: sigma' = shift * s / (1 + (shift - 1) * s)."""
    return shift * sigma / (1 + (shift - 1) * sigma)


def sigma_schedule(steps: int, shift: float) -> torch.Tensor:
    """steps + 1 shifted noise levels from 1 (pure noise) down to 0 (clean)."""
    return shift_sigma(torch.linspace(1.0, 0.0, steps + 1, dtype=torch.float64), shift).float()


def anchor_sigma(config: FlowConfig) -> float:
    """The asymmetric sampler's video noise level: step `anchor_step` of `video_steps`."""
    return float(sigma_schedule(config.video_steps, config.shift)[config.anchor_step])


def add_noise(x0: torch.Tensor, noise: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """x_t = (1 - sigma) x0 + sigma eps, sigma (B,) or (B, T) broadcast from the leading dims."""
    sigma = sigma.reshape(*sigma.shape, *([1] * (x0.ndim - sigma.ndim))).to(x0.dtype)
    return (1 - sigma) * x0 + sigma * noise


def masked_mse(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean squared error over the elements where `mask` (broadcastable) is true."""
    mask = mask.to(pred.dtype).expand_as(pred)
    return ((pred.float() - target.float()) ** 2 * mask).sum() / mask.sum().clamp_min(1)


@dataclass
class TrainingBatch:
    """One batch of events, already encoded and normalised.

    Packed (`packing` set): each row holds E events one after the other; text is (B, E, L, D),
    state (B, E, P), and every event's first latent frame is its keyframe.
    """

    latents: torch.Tensor  # (B, V, C, F, H, W) clean; frame 0 is the keyframe
    text: torch.Tensor  # (B, L, text_dim)
    state: torch.Tensor  # (B, P)
    actions: torch.Tensor  # (B, T, A)
    valid: torch.Tensor  # (B, T) bool
    cross_view_mask: torch.Tensor | None = None  # (B, V*S, V*S) sight-cone mask
    packing: PackedLayout | None = None
    # (B, V, M, H, W) target heatmaps of each event's keyframe, packed (B, E, V, M, H, W), for a
    # model with mark channels (worldmodel/marks.py); None: the model has none.
    marks: torch.Tensor | None = None


@dataclass
class Losses:
    total: torch.Tensor
    video: torch.Tensor
    action: torch.Tensor


def training_loss(
    model: WallWM,
    batch: TrainingBatch,
    generator: torch.Generator | None = None,
    train_video: bool = True,
    train_action: bool = True,
) -> Losses:
    """Flow-matching loss of one batch: video loss + action loss averaged over K draws.

    With `train_video=False` (action pretraining with the video tower frozen) the video forward
    runs at `flow.action_video_sigma` when that is set, and only the action loss is returned in
    `total`; the action tower's keys/values of the video features still get gradients. The
    video forward itself runs without gradients, unless the batch has marks and the marks'
    embedding trains (requires_grad): the action loss then reaches it through the tower, whose
    own weights the caller freezes (the action stage does). With `train_action=False` (video
    pretraining) only the video loss is computed. With both (joint training) and
    `flow.action_video_sigma` set, the action tower reads a second video forward at that level,
    with gradients, so the action loss also trains the video tower on the context the sampler
    gives it; without it, the action tower reads the video loss's forward.
    """
    flow = model.config.flow
    scale = flow.num_train_timesteps
    x0 = batch.latents
    batch_size, frames = x0.shape[0], x0.shape[3]
    device = x0.device

    def uniform(*shape: int) -> torch.Tensor:
        return torch.rand(*shape, generator=generator, device=device)

    def normal(like: torch.Tensor) -> torch.Tensor:
        return torch.randn(like.shape, generator=generator, device=device, dtype=like.dtype)

    packing = batch.packing
    events = batch.text.shape[1] if packing is not None else 1

    def per_event(sigma: torch.Tensor, event_of: torch.Tensor) -> torch.Tensor:
        """(B, E) noise levels -> one per frame or step (B, F or T); padding gets 0."""
        return torch.where(event_of >= 0, sigma.gather(1, event_of.clamp_min(0)), 0.0)

    if packing is None:
        scored = torch.ones(batch_size, frames, dtype=torch.bool, device=device)
        scored[:, 0] = False
    else:
        scored = (packing.frame_event >= 0) & (packing.frame_local > 0)

    def video_forward(sigma_v: torch.Tensor, grad: bool) -> tuple[VideoOutput, torch.Tensor]:
        """The video tower on x0 noised at sigma_v (B, E) on every frame but the keyframes
        (they stay clean, timestep 0); returns its output and its flow loss."""
        if packing is None:
            frame_sigma = sigma_v.expand(batch_size, frames)  # (B, F)
        else:
            frame_sigma = per_event(sigma_v, packing.frame_event)
        frame_sigma = torch.where(scored, frame_sigma, 0.0)  # keyframes and padding stay clean
        eps = normal(x0)
        x_t = add_noise(x0.transpose(1, 3), eps.transpose(1, 3), frame_sigma).transpose(1, 3)
        loss_mask = scored[:, None, None, :, None, None].expand_as(x0[:, :, :1]).clone()
        if flow.tube_mask_prob > 0:
            tube = tube_mask(x0.shape, flow.tube_mask_size, flow.tube_mask_prob, generator)
            x_t = apply_tube_noise(x_t, eps, tube)
            loss_mask = loss_mask | tube
        with torch.set_grad_enabled(grad and torch.is_grad_enabled()):
            video = model.video(
                x_t,
                frame_sigma * scale,
                batch.text,
                cross_view_mask=batch.cross_view_mask,
                packing=packing,
                marks=batch.marks,
            )
            return video, masked_mse(video.sample, eps - x0, loss_mask)

    def sampler_level() -> torch.Tensor:
        """The level the asymmetric sampler reads (FlowConfig.action_video_sigma), per event."""
        return torch.full((batch_size, events), flow.action_video_sigma, device=device)

    # 1. Video
    if train_video or flow.action_video_sigma is None:
        sigma_v = shift_sigma(uniform(batch_size, events), flow.shift)  # (B, E)
    else:  # the action stage at the level the sampler reads
        sigma_v = sampler_level()
    marking = model.video.mark_embedding
    marks_train = marking is not None and marking.proj.weight.requires_grad
    video_grad = train_video or (marks_train and batch.marks is not None)
    video, video_loss = video_forward(sigma_v, grad=video_grad)
    if not train_action:
        return Losses(total=video_loss, video=video_loss.detach(), action=torch.zeros(()))
    if train_video and flow.action_video_sigma is not None:  # joint: see the docstring
        video, _ = video_forward(sampler_level(), grad=True)
    # The action tower's projections of the video features train even when the tower is frozen.
    context = model.action.video_context(video.features, video.grid, packing=packing)

    # 2. Actions: K independent noise draws read the same video keys/values
    step_mask = batch.valid[..., None]  # (B, T, 1)
    action_losses = []
    for _ in range(flow.action_loss_draws):
        sigma_a = shift_sigma(uniform(batch_size, events), flow.shift)  # (B, E)
        # one level per row (B,), or per action step from its event's level (B, T)
        sigma_a = sigma_a[:, 0] if packing is None else per_event(sigma_a, packing.step_event)
        noise = normal(batch.actions)
        noisy = add_noise(batch.actions, noise, sigma_a)
        pred = model.action(noisy, sigma_a * scale, batch.state, context, batch.valid, packing)
        action_losses.append(masked_mse(pred, noise - batch.actions, step_mask))
    action_loss = torch.stack(action_losses).mean()
    total = action_loss + video_loss if train_video else action_loss
    return Losses(total=total, video=video_loss.detach(), action=action_loss.detach())


class EMA:
    """Exponential moving average of a model's parameters (decay 0.9999 in WALL-WM)."""

    def __init__(self, model: nn.Module, decay: float) -> None:
        if not 0.0 < decay < 1.0:
            raise ContractError(f"EMA decay is {decay}; expected a value in (0, 1)")
        self.decay = decay
        self.shadow = copy.deepcopy(model).eval().requires_grad_(False)

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        """shadow = decay * shadow + (1 - decay) * current."""
        for ema_param, param in zip(self.shadow.parameters(), model.parameters(), strict=True):
            ema_param.lerp_(param.detach(), 1.0 - self.decay)
