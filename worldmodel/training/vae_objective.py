"""The VAE stage's objective: reconstruction (optionally weighted toward what the tasks name)
plus KL, as one forward."""

from __future__ import annotations

from typing import ClassVar

import torch
import torch.nn.functional as F
from diffusers import AutoencoderKLWan
from torch import nn


class VAEObjective(nn.Module):
    """Reconstruction + KL of the Wan VAE, as one forward (what DDP and FSDP need to sync
    gradients)."""

    # FSDP shards the VAE as one unit (every weight gathered at once; gradients and optimizer
    # state stay sharded): its blocks carry a causal cache in list arguments, which per-block
    # FSDP hooks would copy and lose (see training/sharding.py).
    fsdp_one_unit: ClassVar[bool] = True

    def __init__(
        self,
        vae: AutoencoderKLWan,
        kl_weight: float,
        detail_weight: float = 0.0,
        rarity_weight: float = 0.0,
    ) -> None:
        super().__init__()
        self.vae = vae
        self.kl_weight = kl_weight
        self.detail_weight = detail_weight
        self.rarity_weight = rarity_weight

    def forward(self, x: torch.Tensor, generator: torch.Generator) -> dict[str, torch.Tensor]:
        posterior = self.vae.encode(x).latent_dist
        z = posterior.mean + posterior.std * torch.randn(
            posterior.mean.shape, generator=generator, dtype=x.dtype
        )
        recon = self.vae.decode(z).sample  # (B, 3, T, H, W)
        error = (recon - x) ** 2
        mse = torch.mean(error)
        reconstruction = mse
        if self.detail_weight or self.rarity_weight:
            weights = pixel_weights(x, self.detail_weight, self.rarity_weight)
            reconstruction = torch.mean(error * weights)
        kl = 0.5 * torch.mean(posterior.mean**2 + posterior.var - 1.0 - posterior.logvar)
        total = reconstruction + self.kl_weight * kl
        return {"total": total, "mse": mse.detach(), "kl": kl.detach()}


def detail_weights(clips: torch.Tensor, strength: float, window: int = 7) -> torch.Tensor:
    """(B, 1, T, H, W) per-pixel weights of the VAE's reconstruction loss, mean 1 per frame.

    Why: at 64x64 a block covers a few pixels of a plain table, so plain MSE barely charges a VAE
    for losing it, and a small VAE does lose it (research/probe_latents.py reads no block from
    the 8x VAE's latents). A pixel's detail is how far it lies from the mean of the `window`-wide
    square around it (blocks, edges, the gripper stand out; the table does not), divided by the
    frame's mean detail; its weight is (1 + strength * detail) / (1 + strength)."""
    batch, frames = clips.shape[0], clips.shape[2]
    images = clips.transpose(1, 2).flatten(0, 1)  # (B*T, 3, H, W)
    local = F.avg_pool2d(images, window, stride=1, padding=window // 2, count_include_pad=False)
    detail = (images - local).abs().mean(1, keepdim=True)  # (B*T, 1, H, W)
    typical = detail.mean((2, 3), keepdim=True)
    weights = (1 + strength * detail / (typical + 1e-6)) / (1 + strength)
    # a plain frame (only float rounding, far below a uint8 level) has no detail: weight 1
    weights = torch.where(typical > 1e-4, weights, torch.ones_like(weights))
    return weights.unflatten(0, (batch, frames)).transpose(1, 2)


def rarity_weights(clips: torch.Tensor, power: float, levels: int = 16) -> torch.Tensor:
    """(B, 1, T, H, W) per-pixel weights, mean 1 per frame: rare colours of a frame cost more.

    Why: what the tasks name are small patches of colour that the frame has little of (a block
    of a few pixels, the white plate on the off-white table), while the table and the floor fill
    most of it. Each pixel's colour falls in one of levels**3 RGB bins; its weight is the count
    of its frame's pixels in that bin to the power -`power` (1: every colour of the frame counts
    as much in total as every other, like class-balanced losses; 0: plain MSE)."""
    batch, frames = clips.shape[0], clips.shape[2]
    images = clips.transpose(1, 2).flatten(0, 1)  # (B*T, 3, H, W)
    q = ((images + 1) * (levels / 2)).long().clamp(0, levels - 1)
    bins = (q[:, 0] * levels + q[:, 1]) * levels + q[:, 2]  # (B*T, H, W)
    offset = torch.arange(len(bins), device=bins.device)[:, None, None] * levels**3
    counts = torch.bincount((bins + offset).flatten(), minlength=len(bins) * levels**3)
    weights = counts[bins + offset].float().pow(-power)[:, None]  # (B*T, 1, H, W)
    weights = weights / weights.mean((2, 3), keepdim=True)
    return weights.unflatten(0, (batch, frames)).transpose(1, 2)


def pixel_weights(clips: torch.Tensor, detail: float, rarity: float) -> torch.Tensor:
    """(B, 1, T, H, W) weights of the VAE's reconstruction loss: detail_weights times
    rarity_weights (each off at 0), renormalised to mean 1 per frame."""
    weights = torch.ones_like(clips[:, :1])
    if detail:
        weights = weights * detail_weights(clips, detail)
    if rarity:
        weights = weights * rarity_weights(clips, rarity)
    return weights / weights.mean((3, 4), keepdim=True)


def vae_loss(trained: nn.Module, batch: torch.Tensor, generator: torch.Generator):
    out = trained(batch, generator)
    return out["total"], {"loss_mse": float(out["mse"]), "kl": float(out["kl"])}
