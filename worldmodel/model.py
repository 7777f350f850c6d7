"""WallWM: the video tower and the action tower, coupled one way (action reads video).

The model owns no sampling and no loss; `flow.py` and `sampling.py` hold those, beside it.
"""

from __future__ import annotations

import torch
from torch import nn

from worldmodel.action_tower import ActionTower, VideoContext
from worldmodel.config import ModelConfig
from worldmodel.video_tower import VideoOutput, VideoTower


class WallWM(nn.Module):
    """The WALL-WM world action model built from a `ModelConfig` (random initial weights)."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        self.video = VideoTower(config.video)
        self.action = ActionTower(
            config.action,
            depth=config.video.num_layers,  # same depth as the video tower (WALL-WM)
            video_dim=config.video.dim,
            action_dim=config.action_dim,
            proprio_dim=config.proprio_dim,
            steps_per_latent_frame=config.steps_per_latent_frame,
            max_views=config.video.max_views,
        )

    def encode_video(
        self,
        latents: torch.Tensor,  # (B, V, C, F, H, W)
        timestep: torch.Tensor,  # (B,) or (B, F)
        text: torch.Tensor,  # (B, L, text_dim)
        cross_view_mask: torch.Tensor | None = None,
        chunk_index: torch.Tensor | None = None,
        marks: torch.Tensor | None = None,  # (B, V, M, H, W) target heatmaps, or None
    ) -> tuple[VideoOutput, VideoContext]:
        """One video-tower forward and the action tower's keys/values of its block features."""
        video = self.video(latents, timestep, text, cross_view_mask=cross_view_mask, marks=marks)
        context = self.action.video_context(video.features, video.grid, chunk_index=chunk_index)
        return video, context

    def forward(
        self,
        latents: torch.Tensor,  # (B, V, C, F, H, W) noisy video latents
        video_timestep: torch.Tensor,  # (B,) or (B, F)
        actions: torch.Tensor,  # (B, T, A) noisy normalised actions
        action_timestep: torch.Tensor,  # (B,)
        text: torch.Tensor,  # (B, L, text_dim)
        state: torch.Tensor,  # (B, P)
        valid: torch.Tensor | None = None,  # (B, T)
        cross_view_mask: torch.Tensor | None = None,
        chunk_index: torch.Tensor | None = None,
        marks: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Joint forward: (video velocity (B, V, C, F, H, W), action velocity (B, T, A))."""
        video, context = self.encode_video(
            latents, video_timestep, text, cross_view_mask, chunk_index, marks
        )
        action = self.action(actions, action_timestep, state, context, valid)
        return video.sample, action

    @property
    def dtype(self) -> torch.dtype:
        """What the towers compute in, and so what their inputs must be. Not the first
        parameter's: `cast` keeps a few small modules in float32, one of them first."""
        return self.video.wan.patch_embedding.weight.dtype

    def cast(self, dtype: torch.dtype) -> WallWM:
        """Cast for inference, keeping in float32 what Wan keeps there (rotary banks, timestep
        embedders, modulation tables, norms), as diffusers' `from_pretrained(torch_dtype=...)`."""
        self.to(dtype)
        if dtype == torch.float32:
            return self
        keep = {*self.video.wan._keep_in_fp32_modules, "camera_rope"}
        for name, module in self.named_modules():
            if keep.intersection(name.split(".")):
                module.float()
        for name, param in self.named_parameters():
            if name.endswith("scale_shift_table"):
                param.data = param.data.float()
        return self

    def parameter_counts(self) -> dict[str, int]:
        """Parameters of the Wan transformer, the cross-view branches, the action tower."""
        wan = sum(p.numel() for p in self.video.wan.parameters())
        video = sum(p.numel() for p in self.video.parameters())
        action = sum(p.numel() for p in self.action.parameters())
        return {"wan": wan, "cross_view": video - wan, "action": action, "total": video + action}
