"""Action tower: a DiT over action tokens, coupled block by block to the video tower.

Each block, in order (WALL-WM): self-attention over the action tokens (padding mask for variable
segment length); cross-attention to one state token (the proprio, and where the event's targets
are when the config has target points); cross-attention to the matching
video block's tokens of all views; gated FFN; AdaLN on the action timestep. The coupling is one
way: this tower reads video features, the video tower never reads actions.

Time alignment: video tokens carry their latent frame index f, the state token index 0 and action
step k the index floor(k / K_p) + 1. The index enters as a learned embedding (a shared table for
actions and state, a video-width table for video tokens) and as a 1-D rotary phase on queries and
keys of the video cross-attention, so that an action step attends relative to its own latent frame.
Video tokens also get an absolute-chunk embedding (the chunk index of Unified Mode, 0 in Event
Mode) and a per-view embedding.

The video cross-attention keys/values depend only on the video features, so `video_context`
computes them once; the asymmetric sampler reuses them for every action denoising step. Likewise
everything that depends only on the event's length, state and layout (state keys/values, masks,
rotary tables, position embeddings) is computed once by `prepare`, and each denoising step runs
only `velocity`.

Packed rows (several events one after the other, worldmodel/data/packing.py) give every action
step its own timestep (AdaLN per token), restart positions and time indices at 0 in each event,
and mask all three attentions block-diagonally: an action step sees only its own event's steps,
state token and video tokens.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from diffusers.models.attention import FeedForward
from diffusers.models.embeddings import TimestepEmbedding, Timesteps, get_1d_rotary_pos_embed
from diffusers.models.normalization import FP32LayerNorm
from torch import nn

from worldmodel.config import ActionTowerConfig
from worldmodel.data.packing import PackedLayout, segment_mask, steps_to_end
from worldmodel.errors import ModelInputError
from worldmodel.marks import POINT_FEATURES
from worldmodel.skill_input import skill_one_hot
from worldmodel.types import TARGET_ROLES
from worldmodel.video_tower import apply_rotary, rotation


def state_input(
    proprio: np.ndarray, points: np.ndarray, skill: str | None, config: ActionTowerConfig
) -> np.ndarray:
    """(state_width,) float32: the state input in the order `ActionTower.prepare` slices it:
    the normalised proprio (its hidden components at 0, their training mean), then the target
    points (marks.target_points) and the skill one-hot for a config that takes them."""
    shown = np.array(proprio, np.float32)
    shown[..., list(config.hidden_proprio)] = 0.0
    parts = [shown]
    if config.target_points:
        parts.append(np.asarray(points, np.float32))
    if config.skills:
        parts.append(skill_one_hot(skill, config.skills))
    return np.concatenate(parts)


def time_rotary(positions: torch.Tensor, head_dim: int) -> torch.Tensor:
    """(*positions.shape, 1, head_dim / 2) complex: the `rotation` of float time indices."""
    cos, sin = get_1d_rotary_pos_embed(
        head_dim, positions.flatten().double(), use_real=True, repeat_interleave_real=True
    )
    shape = (*positions.shape, 1, head_dim)
    return rotation(cos.float().view(shape), sin.float().view(shape))


class Attention(nn.Module):
    """Multi-head attention with q/k RMS norms; keys/values can be computed once and reused."""

    def __init__(self, dim: int, heads: int, eps: float, context_dim: int | None = None) -> None:
        super().__init__()
        self.heads = heads
        context_dim = context_dim or dim
        self.to_q = nn.Linear(dim, dim)
        self.to_k = nn.Linear(context_dim, dim)
        self.to_v = nn.Linear(context_dim, dim)
        self.norm_q = nn.RMSNorm(dim, eps=eps)
        self.norm_k = nn.RMSNorm(dim, eps=eps)
        self.to_out = nn.Linear(dim, dim)

    def keys_values(
        self, context: torch.Tensor, rope: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(k, v) each (B, heads, L, hd) for a context (B, L, context_dim)."""
        k = self.norm_k(self.to_k(context)).unflatten(2, (self.heads, -1))
        v = self.to_v(context).unflatten(2, (self.heads, -1))
        if rope is not None:
            k = apply_rotary(k, rope)
        return k.transpose(1, 2), v.transpose(1, 2)

    def forward(
        self,
        x: torch.Tensor,  # (B, T, D)
        kv: tuple[torch.Tensor, torch.Tensor],
        mask: torch.Tensor | None = None,  # (B, 1, T or 1, L) bool, True = may attend
        rope: torch.Tensor | None = None,  # time_rotary's
    ) -> torch.Tensor:
        q = self.norm_q(self.to_q(x)).unflatten(2, (self.heads, -1))  # (B, T, heads, hd)
        if rope is not None:
            q = apply_rotary(q, rope)
        out = F.scaled_dot_product_attention(q.transpose(1, 2), *kv, attn_mask=mask)
        return self.to_out(out.transpose(1, 2).flatten(2))  # (B, T, D)


class ActionBlock(nn.Module):
    """Self-attn -> state cross-attn -> video cross-attn -> gated FFN, AdaLN on the timestep."""

    # Methods besides forward that read this block's weights: FSDP must gather them for these too
    # (see worldmodel/training/sharding.py).
    fsdp_forward_methods: ClassVar[tuple[str, ...]] = (
        "video_keys_values",
        "state_keys_values",
        "state_output",
    )

    def __init__(self, config: ActionTowerConfig, video_dim: int) -> None:
        super().__init__()
        dim, heads, eps = config.dim, config.num_heads, config.eps
        self.norm1 = FP32LayerNorm(dim, eps, elementwise_affine=False)
        self.self_attn = Attention(dim, heads, eps)
        self.norm_state = FP32LayerNorm(dim, eps, elementwise_affine=True)
        self.state_attn = Attention(dim, heads, eps)
        self.norm_video = FP32LayerNorm(dim, eps, elementwise_affine=True)
        self.video_norm = FP32LayerNorm(video_dim, eps, elementwise_affine=False)
        self.video_attn = Attention(dim, heads, eps, context_dim=video_dim)
        self.norm3 = FP32LayerNorm(dim, eps, elementwise_affine=False)
        self.ffn = FeedForward(dim, inner_dim=config.ffn_dim, activation_fn="gelu-approximate")
        self.scale_shift_table = nn.Parameter(torch.randn(1, 6, dim) / dim**0.5)

    def video_keys_values(
        self,
        feature: torch.Tensor,  # (B, V, N, Dv) the matching video block's tokens
        position: torch.Tensor,  # (B or 1, V*N, Dv) time, view and chunk embeddings
        rope: torch.Tensor,  # (B or 1, V*N, 1, hd / 2) time_rotary's
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Keys/values of the video cross-attention, each (B, heads, V*N, hd)."""
        tokens = self.video_norm(feature.flatten(1, 2).float()).type_as(feature)
        k, v = self.video_attn.keys_values(tokens + position.to(feature.dtype), rope)
        # Fresh tensors, not transposed views: FSDP2 warns about (and cannot guard) views that a
        # sharded block's method returns. Once per event, so the copy costs nothing measurable.
        return k.contiguous(), v.contiguous()

    def state_keys_values(self, state_tokens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Keys/values of the state cross-attention for (B, E, D) state tokens."""
        k, v = self.state_attn.keys_values(state_tokens)
        return k.contiguous(), v.contiguous()  # fresh tensors, as in video_keys_values

    def state_output(
        self, state_kv: tuple[torch.Tensor, torch.Tensor], mask: torch.Tensor | None
    ) -> torch.Tensor | None:
        """(B, 1, D): the state cross-attention's output when it is the same for every action
        token, else None. With one state token and no mask, softmax over a single key weighs it
        1 for every query, so the attention returns its value everywhere: exact, without the
        query side, and the same at every denoising step (so `prepare` computes it once)."""
        state_v = state_kv[1]  # (B, heads, E, hd)
        if state_v.shape[2] != 1 or mask is not None:
            return None
        return self.state_attn.to_out(state_v.transpose(1, 2).flatten(2))

    def forward(
        self,
        x: torch.Tensor,  # (B, T, D)
        temb: torch.Tensor,  # (B, 1 or T, 6, D): AdaLN per row or per action token
        state_kv: tuple[torch.Tensor, torch.Tensor],  # of the (B, E, D) state tokens
        state_out: torch.Tensor | None,  # (B, 1, D) state_output's, or None: attend
        video_kv: tuple[torch.Tensor, torch.Tensor],
        masks: ActionMasks,
        self_rope: torch.Tensor,
        time_rope: torch.Tensor,
    ) -> torch.Tensor:
        modulation = (self.scale_shift_table.unsqueeze(0) + temb.float()).chunk(6, dim=2)
        shift, scale, gate, c_shift, c_scale, c_gate = (m.squeeze(2) for m in modulation)
        # 1. self-attention over action tokens
        h = (self.norm1(x.float()) * (1 + scale) + shift).type_as(x)
        attn = self.self_attn(h, self.self_attn.keys_values(h, self_rope), masks.steps, self_rope)
        x = (x.float() + attn * gate).type_as(x)
        # 2. cross-attention to the state token (its own event's, in a packed row)
        if state_out is not None:
            x = x + state_out.type_as(x)
        else:
            x = x + self.state_attn(self.norm_state(x.float()).type_as(x), state_kv, masks.state)
        # 3. cross-attention to the matching video block's tokens (all views)
        x = x + self.video_attn(
            self.norm_video(x.float()).type_as(x), video_kv, masks.video, rope=time_rope
        )
        # 4. gated feed-forward
        h = (self.norm3(x.float()) * (1 + c_scale) + c_shift).type_as(x)
        return (x.float() + self.ffn(h).float() * c_gate).type_as(x)


@dataclass
class ActionMasks:
    """Attention masks of one action forward (None: attend to everything)."""

    steps: torch.Tensor | None  # (B, 1, T, T) action self-attention
    state: torch.Tensor | None  # (B, 1, T, E) state cross-attention
    video: torch.Tensor | None  # (B, 1, T, V*N) video cross-attention


@dataclass
class PreparedEvent:
    """What every denoising step of one event shares: all but the noisy actions and timestep."""

    embedding: torch.Tensor  # (B, T, D) time-index + step-position embedding of each step
    state_kv: list[tuple[torch.Tensor, torch.Tensor]]  # per block, of the state tokens
    state_out: list[torch.Tensor | None]  # per block, ActionBlock.state_output
    video_kv: list[tuple[torch.Tensor, torch.Tensor]]  # per block, of the video tokens
    masks: ActionMasks
    self_rope: torch.Tensor  # (B, T, 1, hd / 2) time_rotary by position in the event
    time_rope: torch.Tensor  # (B, T, 1, hd / 2) time_rotary by latent frame
    event: torch.Tensor | None  # (B, T) event id of each step, -1 = padding; None: all valid
    # (B, 1 or T, D) the skill's share of the timestep embedding; None: no skill input
    skill_time: torch.Tensor | None = None


@dataclass
class VideoContext:
    """Per-block keys/values of the video tokens, computed once per video forward."""

    kv: list[tuple[torch.Tensor, torch.Tensor]]  # per block, each (B, heads, V*N, hd)
    event: torch.Tensor | None = None  # (B, V*N) event id of each video token (packed rows)


class ActionTower(nn.Module):
    """Predicts the flow velocity of a (B, T, A) action segment from video features and state."""

    def __init__(
        self,
        config: ActionTowerConfig,
        depth: int,
        video_dim: int,
        action_dim: int,
        proprio_dim: int,
        steps_per_latent_frame: int,
        max_views: int,
    ) -> None:
        super().__init__()
        self.config = config
        self.action_dim = action_dim
        self.proprio_dim = proprio_dim
        # The state input: the proprio, then the target points when the config has them
        # (marks.target_points), then the skill one-hot (skill_input.skill_one_hot), all
        # projected into the one state token.
        self.point_width = len(TARGET_ROLES) * POINT_FEATURES if config.target_points else 0
        self.skill_width = len(config.skills)
        self.state_width = proprio_dim + self.point_width + self.skill_width
        self.steps_per_latent_frame = steps_per_latent_frame
        dim = config.dim
        if dim % config.num_heads:
            raise ModelInputError(f"action dim {dim} is not a multiple of {config.num_heads} heads")
        self.head_dim = dim // config.num_heads
        max_index = config.max_steps // steps_per_latent_frame + 2  # state 0 .. last frame
        self.action_in = nn.Linear(action_dim, dim)
        self.state_in = nn.Linear(proprio_dim, dim)
        if self.point_width:  # zero: a checkpoint without target points predicts as before
            self.target_in = nn.Linear(self.point_width, dim)
            nn.init.zeros_(self.target_in.weight)
            nn.init.zeros_(self.target_in.bias)
        if self.skill_width:  # zero: a checkpoint without the skill input predicts as before
            self.skill_in = nn.Linear(self.skill_width, dim, bias=False)
            nn.init.zeros_(self.skill_in.weight)
            # The skill also joins the timestep embedding, so it modulates every block (AdaLN),
            # as DiT adds its class: through the state token alone it stayed weak (see
            # ActionTowerConfig.skills). Zero: a checkpoint without it predicts as before.
            self.skill_time = nn.Linear(self.skill_width, dim, bias=False)
            nn.init.zeros_(self.skill_time.weight)
        self.time_index = nn.Embedding(max_index, dim)  # action and state time index
        self.step_position = nn.Embedding(config.max_steps, dim)  # position inside the segment
        if config.countdown:  # steps left to the segment's end; zero: a no-op until trained
            self.step_countdown = nn.Embedding(config.max_steps, dim)
            nn.init.zeros_(self.step_countdown.weight)
        self.video_time_index = nn.Embedding(max_index, video_dim)  # video latent frame index
        self.chunk_embedding = nn.Embedding(config.max_chunks, video_dim)  # absolute chunk
        self.view_embedding = nn.Embedding(max_views, video_dim)
        if config.spatial_grid:  # where a video token lies in its image (see ActionTowerConfig)
            self.row_embedding = nn.Embedding(config.spatial_grid, video_dim)
            self.column_embedding = nn.Embedding(config.spatial_grid, video_dim)
        self.time_proj_in = Timesteps(config.freq_dim, flip_sin_to_cos=True, downscale_freq_shift=0)
        self.time_embedder = TimestepEmbedding(config.freq_dim, dim)
        self.time_proj = nn.Linear(dim, 6 * dim)
        self.blocks = nn.ModuleList(ActionBlock(config, video_dim) for _ in range(depth))
        self.norm_out = FP32LayerNorm(dim, config.eps, elementwise_affine=False)
        self.scale_shift_table = nn.Parameter(torch.randn(1, 2, dim) / dim**0.5)
        self.proj_out = nn.Linear(dim, action_dim)

    def step_time_index(self, steps: int, device: torch.device) -> torch.Tensor:
        """floor(k / K_p) + 1 for k in 0..steps-1: the latent frame each control step falls in."""
        return torch.arange(steps, device=device) // self.steps_per_latent_frame + 1

    def video_context(
        self,
        features: list[torch.Tensor],  # per block (B, V, N, Dv)
        grid: tuple[int, int, int],  # (F', H', W') per view
        view_ids: torch.Tensor | None = None,  # (V,)
        chunk_index: torch.Tensor | None = None,  # (B,) long
        packing: PackedLayout | None = None,  # several events per row
    ) -> VideoContext:
        """Keys/values of every block's video tokens (the cache of the asymmetric sampler)."""
        if len(features) != len(self.blocks):
            raise ModelInputError(
                f"{len(features)} video feature blocks given; the action tower has "
                f"{len(self.blocks)} blocks (same depth as the video tower)"
            )
        batch, views = features[0].shape[:2]
        # the longest event's frames (in a packed row, time indices restart in every event)
        frames = grid[0] if packing is None else int(packing.frame_local.max()) + 1
        if frames > self.video_time_index.num_embeddings:
            raise ModelInputError(
                f"video has {frames} latent frames; the action tower indexes at most "
                f"{self.video_time_index.num_embeddings} (raise action.max_steps)"
            )
        device = features[0].device
        per_frame = grid[1] * grid[2]
        if packing is None:
            frame = torch.arange(grid[0], device=device)[None]  # (1, F')
            event = None
        else:  # time indices restart in every event; ids mask the action tower's attention
            frame = packing.frame_local  # (B, F')
            event = packing.frame_event.repeat_interleave(per_frame, dim=1).repeat(1, views)
        frame = frame.repeat_interleave(per_frame, dim=1)  # (B or 1, N)
        if view_ids is None:
            view_ids = torch.arange(views, device=device)
        if chunk_index is None:
            chunk_index = torch.zeros(batch, dtype=torch.long, device=device)
        position = (
            self.video_time_index(frame)[:, None]  # (B or 1, 1, N, Dv)
            + self.view_embedding(view_ids)[None, :, None]  # (1, V, 1, Dv)
            + self.chunk_embedding(chunk_index)[:, None, None]  # (B, 1, 1, Dv)
        )
        if self.config.spatial_grid:
            position = position + self.spatial_position(grid, device)[None, None]
        position = position.flatten(1, 2)  # (B, V*N, Dv)
        rope = time_rotary(frame.repeat(1, views).float(), self.head_dim)  # (B|1, V*N, 1, hd/2)
        kv = [
            block.video_keys_values(feature, position, rope)
            for block, feature in zip(self.blocks, features, strict=True)
        ]
        return VideoContext(kv, event)

    def spatial_position(self, grid: tuple[int, int, int], device: torch.device) -> torch.Tensor:
        """(F'*H'*W', Dv): row + column embedding of every token, the same in every frame."""
        frames, height, width = grid
        side = self.config.spatial_grid
        if height > side or width > side:
            raise ModelInputError(
                f"video token grid {height}x{width} is larger than the action tower's spatial "
                f"embedding ({side}x{side}): the images are larger than the model was built "
                "for (raise action.spatial_grid and retrain)"
            )
        rows = self.row_embedding(torch.arange(height, device=device))  # (H', Dv)
        columns = self.column_embedding(torch.arange(width, device=device))  # (W', Dv)
        return (rows[:, None] + columns[None]).flatten(0, 1).repeat(frames, 1)

    def forward(
        self,
        actions: torch.Tensor,  # (B, T, A) noisy, normalised
        timestep: torch.Tensor,  # (B,) or (B, T): sigma * num_train_timesteps
        state: torch.Tensor,  # (B, P) normalised proprio; (B, E, P) for a packed batch
        context: VideoContext,
        valid: torch.Tensor | None = None,  # (B, T) bool, False = padding
        packing: PackedLayout | None = None,  # several events per row
    ) -> torch.Tensor:
        """The velocity (B, T, A); padded steps are returned as zeros."""
        if packing is not None:
            self._check_packed(actions, state, packing)
        elif (
            actions.ndim != 3
            or actions.shape[2] != self.action_dim
            or actions.shape[1] > self.config.max_steps
        ):
            raise ModelInputError(
                f"actions have shape {tuple(actions.shape)}; expected (B, T <= "
                f"{self.config.max_steps}, {self.action_dim})"
            )
        prepared = self.prepare(actions.shape[1], state, context, valid, packing)
        return self.velocity(actions, timestep, prepared)

    def prepare(
        self,
        steps: int,  # T, the event's (or packed row's) length in control steps
        state: torch.Tensor,  # (B, P) normalised proprio; (B, E, P) for a packed batch
        context: VideoContext,
        valid: torch.Tensor | None = None,  # (B, T) bool, False = padding
        packing: PackedLayout | None = None,  # several events per row
    ) -> PreparedEvent:
        """Everything of one forward that does not depend on the noisy actions or timestep."""
        batch, device = state.shape[0], state.device
        if packing is None:
            if steps > self.config.max_steps:
                raise ModelInputError(
                    f"event of {steps} steps; the action tower predicts at most "
                    f"{self.config.max_steps} (action.max_steps)"
                )
            if state.shape != (batch, self.state_width):
                raise ModelInputError(
                    f"state has shape {tuple(state.shape)}; expected ({batch}, {self.state_width})"
                )
            if valid is not None and valid.shape != (batch, steps):
                raise ModelInputError(
                    f"valid mask has shape {tuple(valid.shape)}; expected ({batch}, {steps})"
                )
            local = torch.arange(steps, device=device).expand(batch, -1)  # (B, T)
            event = None if valid is None else torch.where(valid, 0, -1)
            state = state[:, None]  # (B, 1, P): one event per row
        else:
            local, event = packing.step_local, packing.step_event
        index = local // self.steps_per_latent_frame + 1  # (B, T) the latent frame of each step
        state_tokens = self.state_in(state[..., : self.proprio_dim]) + self.time_index.weight[0]
        points_end = self.proprio_dim + self.point_width
        if self.point_width:
            state_tokens = state_tokens + self.target_in(state[..., self.proprio_dim : points_end])
        skill_time = None
        if self.skill_width:
            skills = state[..., points_end:]  # (B, E, S)
            state_tokens = state_tokens + self.skill_in(skills)
            skill_time = self.skill_time(skills)  # (B, E, D): one per event
            if event is not None:  # packed: each step its own event's, padding none
                owner = event.clamp(min=0)[..., None].expand(-1, -1, skill_time.shape[-1])
                skill_time = torch.gather(skill_time, 1, owner) * (event >= 0)[..., None]
        masks = ActionMasks(None, None, None)
        if event is not None:
            state_event = torch.arange(state.shape[1], device=device).expand(batch, -1)
            masks = ActionMasks(
                steps=segment_mask(event, event),
                state=segment_mask(event, state_event),
                video=None if context.event is None else segment_mask(event, context.event),
            )
        embedding = self.time_index(index) + self.step_position(local)
        if self.config.countdown:
            embedding = embedding + self.step_countdown(steps_to_end(local, event))
        state_kv = [block.state_keys_values(state_tokens) for block in self.blocks]
        return PreparedEvent(
            embedding=embedding,
            state_kv=state_kv,
            state_out=[
                block.state_output(kv, masks.state)
                for block, kv in zip(self.blocks, state_kv, strict=True)
            ],
            video_kv=context.kv,
            masks=masks,
            self_rope=time_rotary(local.float(), self.head_dim),
            time_rope=time_rotary(index.float(), self.head_dim),
            event=event,
            skill_time=skill_time,
        )

    def velocity(
        self,
        actions: torch.Tensor,  # (B, T, A) noisy, normalised
        timestep: torch.Tensor,  # (B,) or (B, T): sigma * num_train_timesteps
        prepared: PreparedEvent,
    ) -> torch.Tensor:
        """One denoising step's velocity (B, T, A); padded steps are returned as zeros."""
        batch, steps, width = actions.shape
        if width != self.action_dim or prepared.embedding.shape[:2] != (batch, steps):
            raise ModelInputError(
                f"actions have shape {tuple(actions.shape)}; expected "
                f"{(*prepared.embedding.shape[:2], self.action_dim)} (the prepared event's)"
            )
        if timestep.shape not in ((batch,), (batch, steps)):
            raise ModelInputError(
                f"action timestep has shape {tuple(timestep.shape)}; expected ({batch},) or "
                f"({batch}, {steps})"
            )
        x = self.action_in(actions) + prepared.embedding

        # AdaLN per action token: a packed row's events have their own noise levels
        t_freq = self.time_proj_in(timestep.flatten()).to(self.time_embedder.linear_1.weight.dtype)
        temb = self.time_embedder(t_freq).type_as(x).view(batch, -1, x.shape[-1])  # (B, 1|T, D)
        if prepared.skill_time is not None:
            temb = temb + prepared.skill_time.type_as(x)
        # (B, 1|T, 6, D): one timestep per row (sampling) is projected once and broadcast over
        # the tokens, never copied to each
        block_temb = self.time_proj(F.silu(temb)).unflatten(-1, (6, -1))

        layers = zip(
            self.blocks, prepared.state_kv, prepared.state_out, prepared.video_kv, strict=True
        )
        for block, state_kv, state_out, video_kv in layers:
            x = block(
                x,
                block_temb,
                state_kv,
                state_out,
                video_kv,
                prepared.masks,
                prepared.self_rope,
                prepared.time_rope,
            )

        modulation = self.scale_shift_table.unsqueeze(0) + temb.unsqueeze(2)  # (B, 1|T, 2, D)
        shift, scale = (m.squeeze(2) for m in modulation.chunk(2, dim=2))
        x = (self.norm_out(x.float()) * (1 + scale) + shift).type_as(x)
        out = self.proj_out(x)  # (B, T, A)
        if prepared.event is not None:
            out = out * (prepared.event >= 0)[..., None]
        return out

    def _check_packed(
        self, actions: torch.Tensor, state: torch.Tensor, packing: PackedLayout
    ) -> None:
        batch, steps, width = actions.shape
        if width != self.action_dim or packing.step_event.shape != (batch, steps):
            raise ModelInputError(
                f"packed actions have shape {tuple(actions.shape)} and step ids "
                f"{tuple(packing.step_event.shape)}; expected (B, T, {self.action_dim}) and (B, T)"
            )
        if int(packing.step_local.max()) >= self.config.max_steps:
            raise ModelInputError(
                f"a packed event has more than {self.config.max_steps} steps (action.max_steps)"
            )
        if state.ndim != 3 or state.shape[0] != batch or state.shape[2] != self.state_width:
            raise ModelInputError(
                f"packed state has shape {tuple(state.shape)}; expected ({batch}, E, "
                f"{self.state_width})"
            )
