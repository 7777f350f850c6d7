"""Video tower: diffusers' Wan DiT, a cross-view branch after every block (VI-SA) and Camera RoPE.

The Wan model is held unchanged as `self.wan` (a `WanTransformer3DModel`), so real Wan weights and
any `save_pretrained` directory load into it as they are. This module runs its own loop over
`wan.blocks` so that it can (a) add the cross-view branch after each block and (b) hand every
block's output features to the action tower. Views are separate batch items inside Wan's blocks
(Wan's own attention and 3D RoPE see one view at a time).

Cross-view branch ("VI-SA"): self-attention over the tokens of all views that share a latent
frame. Its q/k/v projections and q/k norms start as copies of the block's within-view attention,
its output projection starts at zero, and its residual is scaled by an AdaLN gate computed from
the timestep embedding; at initialisation the tower therefore computes exactly what Wan computes.

Camera RoPE: the rotary bank of the cross-view branch is split over (frame, height, width, view).
The view part's phases are a learnable per-camera embedding (initialised like integer positions),
so no calibration is needed at run time. We apply Camera RoPE only in the cross-view branch,
where views meet; Wan's pretrained within-view RoPE stays untouched, which keeps the pretrained
video prior intact (the paper does not say where the split bank is applied).

Target marks (our addition, worldmodel/marks.py): when the config has mark channels, heatmaps of
where the event's object and destination lie in each view enter beside the keyframe latents:
a patch embedding of their own, zero-initialised and without bias, adds to the keyframe's tokens
only. A checkpoint made without marks therefore loads and computes exactly what it did, and
all-zero marks (a request without targets) change nothing.

Packed rows (several events one after the other along latent frames, worldmodel/data/packing.py)
mask Wan's self-attention and text cross-attention block-diagonally, so each event sees only its
own frames and its own caption. Wan's RoPE is relative, so an event's frame offset inside the row
changes nothing; the cross-view branch attends within one latent frame and needs no mask.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
import torch.nn.functional as F
from diffusers import WanTransformer3DModel
from diffusers.models.attention_dispatch import dispatch_attention_fn
from diffusers.models.embeddings import get_1d_rotary_pos_embed
from diffusers.models.normalization import FP32LayerNorm
from diffusers.models.transformers.transformer_wan import WanTransformerBlock
from torch import nn

from worldmodel.config import VideoTowerConfig
from worldmodel.data.packing import PackedLayout, segment_mask
from worldmodel.errors import ModelInputError


def build_wan(config: VideoTowerConfig) -> WanTransformer3DModel:
    """A randomly initialised diffusers Wan transformer of the configured shape."""
    wan = WanTransformer3DModel(
        patch_size=tuple(config.patch_size),
        num_attention_heads=config.num_heads,
        attention_head_dim=config.head_dim,
        in_channels=config.in_channels,
        out_channels=config.in_channels,
        text_dim=config.text_dim,
        freq_dim=config.freq_dim,
        ffn_dim=config.ffn_dim,
        num_layers=config.num_layers,
        cross_attn_norm=config.cross_attn_norm,
        qk_norm="rms_norm_across_heads",
        eps=config.eps,
        rope_max_seq_len=config.rope_max_seq_len,
    )
    for block in wan.blocks:
        block.__class__ = PackableWanBlock  # same weights and forward, plus masked_forward
        block.attn1.set_processor(SelfAttentionProcessor())
    return wan


class SelfAttentionProcessor:
    """diffusers' WanAttnProcessor (0.42) for a block's self-attention, which has no image
    context: the same projections, norms and attention, with the rotary as `apply_rotary`'s one
    complex product per channel pair instead of Wan's nine elementwise kernels (the same numbers;
    about 4 ms of a 40 ms video forward of the tiny preset on 2 cores)."""

    def __call__(
        self,
        attn: nn.Module,  # diffusers' WanAttention
        hidden_states: torch.Tensor,  # (B, N, D)
        encoder_hidden_states: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        # `rotation` of Wan's rotary tables (our blocks' masked_forward), or the (cos, sin)
        # tables themselves (diffusers' own WanTransformer3DModel.forward)
        rotary_emb: torch.Tensor | tuple[torch.Tensor, torch.Tensor] | None = None,
    ) -> torch.Tensor:
        if encoder_hidden_states is not None:
            raise ModelInputError("the self-attention processor was given a context to attend to")
        query = attn.norm_q(attn.to_q(hidden_states)).unflatten(2, (attn.heads, -1))
        key = attn.norm_k(attn.to_k(hidden_states)).unflatten(2, (attn.heads, -1))
        value = attn.to_v(hidden_states).unflatten(2, (attn.heads, -1))
        if isinstance(rotary_emb, tuple):
            rotary_emb = rotation(*rotary_emb)
        if rotary_emb is not None:
            query, key = apply_rotary(query, rotary_emb), apply_rotary(key, rotary_emb)
        out = dispatch_attention_fn(query, key, value, attn_mask=attention_mask)
        out = out.flatten(2, 3).type_as(query)
        return attn.to_out[1](attn.to_out[0](out))


class PackableWanBlock(WanTransformerBlock):
    """diffusers' WanTransformerBlock with a second entry point that takes attention masks (the
    block's own forward passes none) and skips the text attention's arithmetic for a one-token
    caption. A method rather than a function because FSDP2 gathers a sharded block's weights only
    around its registered methods (worldmodel/training/sharding.py).
    """

    fsdp_forward_methods: ClassVar[tuple[str, ...]] = ("masked_forward",)

    def masked_forward(
        self,
        hidden: torch.Tensor,  # (B*V, N, D)
        text: torch.Tensor,  # (B*V, L, D)
        temb: torch.Tensor,  # (B*V, G, 6, D): one modulation per group of N/G tokens
        rotary: torch.Tensor,  # `rotation` of Wan's rotary tables
        self_mask: torch.Tensor | None = None,  # (B*V, 1, N, N); None: attend to every token
        text_mask: torch.Tensor | None = None,  # (B*V, 1, N, L); None: to every caption token
    ) -> torch.Tensor:
        """WanTransformerBlock.forward (diffusers 0.42, Wan2.2 per-token branch) with attention
        masks; checked against Wan's own forward in the packing and video-tower tests.

        Wan2.2 TI2V modulates every token with its own timestep's embedding; ours are one per
        latent frame (G frames of N/G tokens; G = 1: one timestep for the sample), so each
        frame's modulation is broadcast over its tokens instead of being copied to every one."""
        groups = temb.shape[1]
        modulation = (self.scale_shift_table.unsqueeze(0) + temb.float()).chunk(6, dim=2)
        shift, scale, gate, c_shift, c_scale, c_gate = modulation  # each (B*V, G, 1, D)
        x = hidden.unflatten(1, (groups, -1))  # (B*V, G, N/G, D)
        h = (self.norm1(x.float()) * (1 + scale) + shift).type_as(x).flatten(1, 2)
        attn = self.attn1(h, None, self_mask, rotary).unflatten(1, (groups, -1))
        x = (x.float() + attn * gate).type_as(x)
        if text.shape[1] == 1 and text_mask is None:
            # A one-token caption (MiniLM's sentence embedding): softmax over a single key weighs
            # it 1 for every query, so the attention returns that token's value at every token.
            # Exact, and the query side (norm2, to_q, norm_q, to_k) never runs.
            value = self.attn2.to_out[1](self.attn2.to_out[0](self.attn2.to_v(text)))
            x = x + value.unsqueeze(1).type_as(x)  # (B*V, 1, 1, D)
        else:
            h = self.norm2(x.float()).type_as(x).flatten(1, 2)
            x = x + self.attn2(h, text, text_mask, None).unflatten(1, (groups, -1))
        h = (self.norm3(x.float()) * (1 + c_scale) + c_shift).type_as(x)
        return (x.float() + self.ffn(h).float() * c_gate).type_as(x).flatten(1, 2)


def rotation(cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """(..., D/2) complex64 cos + i sin from rotary tables whose cos/sin (..., D) repeat each
    angle for its channel pair (diffusers' repeat_interleave_real layout). Built once per
    forward (or per event), then every `apply_rotary` reuses it."""
    return torch.complex(cos[..., 0::2].float(), sin[..., 1::2].float())


def apply_rotary(x: torch.Tensor, angle: torch.Tensor) -> torch.Tensor:
    """Rotate interleaved channel pairs of x (..., D) by `rotation`'s angles (..., D/2).

    As one complex multiplication of each pair (x1 + i x2) by (cos + i sin): the same products
    and sums as writing both halves out (Wan's way), bit for bit here, in one kernel instead of
    nine (2.5x faster on the action tower's 40 steps, 5x on the cross-view branch's tokens, on
    2 cores)."""
    pairs = torch.view_as_complex(x.float().contiguous().unflatten(-1, (-1, 2)))
    return torch.view_as_real(pairs * angle).flatten(-2).type_as(x)


class CameraRope(nn.Module):
    """Rotary bank split over (frame, height, width, view); the view phases are learnable."""

    def __init__(self, config: VideoTowerConfig, theta: float = 10000.0) -> None:
        super().__init__()
        head_dim, view_dim = config.head_dim, config.view_rope_dim
        if view_dim % 2 or view_dim >= head_dim:
            raise ModelInputError(
                f"view_rope_dim {view_dim} must be even and smaller than head_dim {head_dim}"
            )
        rest = head_dim - view_dim
        self.h_dim = self.w_dim = 2 * (rest // 6)  # the same split rule as Wan's bank
        self.t_dim = rest - self.h_dim - self.w_dim
        banks = [
            get_1d_rotary_pos_embed(
                d, config.rope_max_seq_len, theta, use_real=True, repeat_interleave_real=True
            )
            for d in (self.t_dim, self.h_dim, self.w_dim)
        ]
        self.register_buffer("bank_cos", torch.cat([c for c, _ in banks], 1), persistent=False)
        self.register_buffer("bank_sin", torch.cat([s for _, s in banks], 1), persistent=False)
        freqs = 1.0 / theta ** (torch.arange(0, view_dim, 2, dtype=torch.float64) / view_dim)
        positions = torch.arange(config.max_views, dtype=torch.float64)[:, None]
        self.camera_phase = nn.Parameter((positions * freqs).float())  # (max_views, view_dim/2)

    def forward(
        self, view_ids: torch.Tensor, grid: tuple[int, int, int]
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """cos, sin of shape (F, V*H*W, 1, head_dim) for tokens grouped per frame, views outer."""
        frames, height, width = grid
        views = view_ids.shape[0]
        sizes = [self.t_dim, self.h_dim, self.w_dim]
        out = []
        for bank in (self.bank_cos, self.bank_sin):
            t, h, w = bank.float().split(sizes, dim=1)
            t = t[:frames].view(frames, 1, 1, 1, -1).expand(frames, views, height, width, -1)
            h = h[:height].view(1, 1, height, 1, -1).expand(frames, views, height, width, -1)
            w = w[:width].view(1, 1, 1, width, -1).expand(frames, views, height, width, -1)
            out.append([t, h, w])
        phase = self.camera_phase[view_ids].repeat_interleave(2, dim=-1)  # (V, view_dim)
        phase = phase.view(1, views, 1, 1, -1).expand(frames, views, height, width, -1)
        cos = torch.cat([*out[0], phase.cos()], -1).reshape(frames, views * height * width, 1, -1)
        sin = torch.cat([*out[1], phase.sin()], -1).reshape(frames, views * height * width, 1, -1)
        return cos, sin


class CrossViewBranch(nn.Module):
    """Attention over all views' tokens of one latent frame, added under an AdaLN gate."""

    def __init__(self, dim: int, heads: int, eps: float) -> None:
        super().__init__()
        self.heads = heads
        self.norm = FP32LayerNorm(dim, eps, elementwise_affine=False)
        self.to_q = nn.Linear(dim, dim)
        self.to_k = nn.Linear(dim, dim)
        self.to_v = nn.Linear(dim, dim)
        self.norm_q = nn.RMSNorm(dim, eps=eps)
        self.norm_k = nn.RMSNorm(dim, eps=eps)
        self.to_out = nn.Linear(dim, dim)
        self.scale_shift_table = nn.Parameter(torch.randn(1, 3, dim) / dim**0.5)

    @torch.no_grad()
    def init_from(self, attn: nn.Module) -> None:
        """Copy q/k/v and q/k norms from a Wan within-view attention; zero the output."""
        for name in ("to_q", "to_k", "to_v", "norm_q", "norm_k"):
            getattr(self, name).load_state_dict(getattr(attn, name).state_dict())
        nn.init.zeros_(self.to_out.weight)
        nn.init.zeros_(self.to_out.bias)

    def forward(
        self,
        hidden: torch.Tensor,  # (B*V, F*S, D)
        time_modulation: torch.Tensor,  # (B*V, G, 3, D) per group of tokens, as Wan's blocks
        views: int,
        grid: tuple[int, int, int],
        rope: torch.Tensor,  # (B*F, V*S, 1, head_dim / 2) `rotation` of the Camera RoPE
        mask: torch.Tensor | None,  # (B, V*S, V*S) bool, True = may attend
    ) -> torch.Tensor:
        frames, tokens = grid[0], grid[1] * grid[2]
        batch = hidden.shape[0] // views
        dim = hidden.shape[-1]
        modulation = self.scale_shift_table.unsqueeze(0) + time_modulation.float()
        shift, scale, gate = modulation.chunk(3, dim=2)  # each (B*V, G, 1, D)
        grouped = hidden.unflatten(1, (time_modulation.shape[1], -1))  # (B*V, G, N/G, D)
        x = (self.norm(grouped.float()) * (1 + scale) + shift).type_as(hidden)
        x = x.view(batch, views, frames, tokens, dim).transpose(1, 2)
        x = x.reshape(batch * frames, views * tokens, dim)  # (B*F, V*S, D)
        q = self.norm_q(self.to_q(x)).unflatten(2, (self.heads, -1))
        k = self.norm_k(self.to_k(x)).unflatten(2, (self.heads, -1))
        v = self.to_v(x).unflatten(2, (self.heads, -1))  # (B*F, V*S, heads, hd)
        q, k = apply_rotary(q, rope), apply_rotary(k, rope)
        attn_mask = None
        if mask is not None:
            attn_mask = mask.repeat_interleave(frames, dim=0).unsqueeze(1)  # (B*F, 1, VS, VS)
        out = dispatch_attention_fn(q, k, v, attn_mask=attn_mask).flatten(2, 3).type_as(x)
        out = self.to_out(out)  # (B*F, V*S, D)
        out = out.view(batch, frames, views, tokens, dim).transpose(1, 2)
        out = out.reshape(grouped.shape)
        return (grouped.float() + out.float() * gate).type_as(hidden).flatten(1, 2)


class MarkEmbedding(nn.Module):
    """Mark heatmaps -> one addition per keyframe token: a patch embedding like Wan's (kernel =
    stride = the spatial patch) whose weights start at zero and which has no bias, so that a
    fresh one, or all-zero marks, add exactly nothing."""

    def __init__(self, channels: int, dim: int, patch: tuple[int, int]) -> None:
        super().__init__()
        self.proj = nn.Conv2d(channels, dim, kernel_size=patch, stride=patch, bias=False)
        nn.init.zeros_(self.proj.weight)

    def forward(self, marks: torch.Tensor) -> torch.Tensor:
        """(N, M, h, w) heatmaps -> (N, h/p * w/p, D) token additions."""
        return self.proj(marks).flatten(2).transpose(1, 2)


@dataclass
class VideoOutput:
    """The video velocity prediction and every block's output tokens."""

    sample: torch.Tensor  # (B, V, C, F, H, W)
    features: list[torch.Tensor]  # per block (B, V, N, D), N = F' * H' * W' tokens per view
    grid: tuple[int, int, int]  # (F', H', W') token grid of one view


class VideoTower(nn.Module):
    """Wan + cross-view branches + Camera RoPE over (B, V, C, F, H, W) multi-view latents."""

    def __init__(self, config: VideoTowerConfig) -> None:
        super().__init__()
        self.config = config
        self.wan = build_wan(config)
        self.camera_rope = CameraRope(config)
        self.cross_view = nn.ModuleList(
            CrossViewBranch(config.dim, config.num_heads, config.eps)
            for _ in range(config.num_layers)
        )
        # One timestep projection for every branch, each adds its own table (as Wan's blocks do)
        self.cross_view_time_proj = nn.Linear(config.dim, 3 * config.dim)
        self.reset_cross_view()
        self.mark_embedding = (
            MarkEmbedding(config.mark_channels, config.dim, tuple(config.patch_size[1:]))
            if config.mark_channels
            else None
        )

    def reset_cross_view(self) -> None:
        """(Re)initialise every cross-view branch from its block's within-view attention."""
        for block, branch in zip(self.wan.blocks, self.cross_view, strict=True):
            branch.init_from(block.attn1)

    def _check(
        self,
        latents: torch.Tensor,
        timestep: torch.Tensor,
        text: torch.Tensor,
        packing: PackedLayout | None,
    ) -> None:
        config = self.config
        if latents.ndim != 6 or latents.shape[2] != config.in_channels:
            raise ModelInputError(
                f"video latents have shape {tuple(latents.shape)}; expected "
                f"(B, V, {config.in_channels}, F, H, W)"
            )
        batch, views, _, frames, height, width = latents.shape
        if views > config.max_views:
            raise ModelInputError(f"{views} views given; the tower has {config.max_views} at most")
        for size, patch, label in zip(
            (frames, height, width), config.patch_size, ("frames", "height", "width"), strict=True
        ):
            if size % patch:
                raise ModelInputError(f"latent {label} {size} is not a multiple of patch {patch}")
        if timestep.shape not in ((batch,), (batch, frames // config.patch_size[0])):
            raise ModelInputError(
                f"video timestep has shape {tuple(timestep.shape)}; expected ({batch},) or "
                f"({batch}, {frames // config.patch_size[0]}) (one per latent frame)"
            )
        if packing is not None:
            if config.patch_size[0] != 1 or packing.frame_event.shape != (batch, frames):
                raise ModelInputError(
                    f"packed layout has {tuple(packing.frame_event.shape)} frame ids for "
                    f"latents {tuple(latents.shape)} with temporal patch {config.patch_size[0]}; "
                    f"expected ({batch}, {frames}) and temporal patch 1"
                )
            expected = f"({batch}, E, L, {config.text_dim}) for a packed batch"
            text_ok = text.ndim == 4 and text.shape[0] == batch and text.shape[3] == config.text_dim
        else:
            expected = f"({batch}, L, {config.text_dim})"
            text_ok = text.ndim == 3 and text.shape[0] == batch and text.shape[2] == config.text_dim
        if not text_ok:
            raise ModelInputError(
                f"text embedding has shape {tuple(text.shape)}; expected {expected}"
            )

    def forward(
        self,
        latents: torch.Tensor,  # (B, V, C, F, H, W)
        timestep: torch.Tensor,  # (B,) or (B, F'): sigma * num_train_timesteps
        text: torch.Tensor,  # (B, L, text_dim)
        view_ids: torch.Tensor | None = None,  # (V,) camera-embedding index per view
        cross_view_mask: torch.Tensor | None = None,  # (B, V*S, V*S) bool; training only
        packing: PackedLayout | None = None,  # several events per row (then text is (B, E, L, D))
        marks: torch.Tensor | None = None,  # (B, V, M, H, W), packed (B, E, V, M, H, W); or None
    ) -> VideoOutput:
        """Predict the flow velocity of every view and return each block's tokens. `marks`:
        the event's target heatmaps (worldmodel/marks.py), for a config with mark channels;
        None is the same as all zeros."""
        self._check(latents, timestep, text, packing)
        wan = self.wan
        batch, views, _, frames, height, width = latents.shape
        p_t, p_h, p_w = self.config.patch_size
        grid = (frames // p_t, height // p_h, width // p_w)
        pairs = views * grid[1] * grid[2]
        if cross_view_mask is not None and cross_view_mask.shape != (batch, pairs, pairs):
            raise ModelInputError(
                f"cross-view mask has shape {tuple(cross_view_mask.shape)}; expected "
                f"({batch}, {pairs}, {pairs}) = (B, V*H'*W', V*H'*W')"
            )
        if view_ids is None:
            view_ids = torch.arange(views, device=latents.device)

        # 1. Patchify each view as its own batch item, exactly as Wan does
        x = latents.flatten(0, 1)  # (B*V, C, F, H, W)
        rotary = rotation(*wan.rope(x))
        hidden = wan.patch_embedding(x).flatten(2).transpose(1, 2).contiguous()  # (B*V, N, D)
        tokens = hidden.shape[1]
        if marks is not None:
            hidden = hidden + self._mark_tokens(marks, latents.shape, grid, packing)

        # 2. Timestep embeddings, one per latent frame (Wan2.2 TI2V's per-token timesteps are
        # per frame here: embedded once per frame, not once per token) or one per sample; text
        flat_t = timestep.repeat_interleave(views, dim=0)  # (B*V, F') or (B*V,)
        seq_len = flat_t.shape[1] if timestep.ndim == 2 else None
        masks = None
        if packing is not None:
            masks = self._packing_masks(packing, text.shape[1], text.shape[2], views, grid)
            text = text.flatten(1, 2)  # (B, E*L, text_dim): every event's caption in turn
        text = text.repeat_interleave(views, dim=0)  # (B*V, L, text_dim)
        temb, timestep_proj, text_hidden, _ = wan.condition_embedder(
            flat_t.flatten(), text, None, timestep_seq_len=seq_len
        )
        if temb.ndim == 2:  # one timestep per sample: a single group of every token
            temb, timestep_proj = temb.unsqueeze(1), timestep_proj.unsqueeze(1)
        timestep_proj = timestep_proj.unflatten(-1, (6, -1))  # (B*V, G, 6, D)
        # (B*F, V*S, 1, hd / 2): built once for every block's branch
        camera_rope = rotation(*self.camera_rope(view_ids, grid)).repeat(batch, 1, 1, 1)
        time_modulation = self.cross_view_time_proj(F.silu(temb)).unflatten(-1, (3, -1))

        # 3. Wan block (within-view), then the cross-view branch; keep every block's tokens
        features = []
        for block, branch in zip(wan.blocks, self.cross_view, strict=True):
            hidden = block.masked_forward(hidden, text_hidden, timestep_proj, rotary, *masks or ())
            hidden = branch(hidden, time_modulation, views, grid, camera_rope, cross_view_mask)
            features.append(hidden.view(batch, views, tokens, -1))

        # 4. Output norm, projection and unpatchify (Wan's head)
        modulation = wan.scale_shift_table.unsqueeze(0) + temb.unsqueeze(2)  # (B*V, G, 2, D)
        shift, scale = modulation.chunk(2, dim=2)  # each (B*V, G, 1, D)
        grouped = hidden.unflatten(1, (temb.shape[1], -1))  # (B*V, G, N/G, D)
        hidden = (wan.norm_out(grouped.float()) * (1 + scale) + shift).type_as(hidden)
        hidden = wan.proj_out(hidden.flatten(1, 2))
        hidden = hidden.reshape(batch * views, *grid, p_t, p_h, p_w, -1)
        hidden = hidden.permute(0, 7, 1, 4, 2, 5, 3, 6)
        sample = hidden.flatten(6, 7).flatten(4, 5).flatten(2, 3)  # (B*V, C, F, H, W)
        return VideoOutput(sample.unflatten(0, (batch, views)), features, grid)

    def _mark_tokens(
        self,
        marks: torch.Tensor,
        shape: torch.Size,
        grid: tuple[int, int, int],
        packing: PackedLayout | None,
    ) -> torch.Tensor:
        """(B*V, N, D): the marks' embedding on every keyframe's tokens, zero on the rest."""
        batch, views, _, _, height, width = shape
        channels = self.config.mark_channels
        events = () if packing is None else (marks.shape[1],)
        expected = (batch, *events, views, channels, height, width)
        if self.mark_embedding is None:
            raise ModelInputError(
                "marks given, but the video tower has no mark channels (video.mark_channels 0)"
            )
        if tuple(marks.shape) != expected:
            raise ModelInputError(f"marks have shape {tuple(marks.shape)}; expected {expected}")
        per_frame = grid[1] * grid[2]
        embedded = self.mark_embedding(marks.flatten(0, -4).to(self.mark_embedding.proj.weight))
        embedded = embedded.unflatten(0, marks.shape[:-3])  # (B, [E,] V, S, D)
        if packing is None:  # one keyframe, the first frame of tokens
            zeros = embedded.new_zeros(batch, views, (grid[0] - 1) * per_frame, embedded.shape[-1])
            return torch.cat([embedded, zeros], dim=2).flatten(0, 1)
        # each event's keyframe: the frame where its local index is 0
        first = (packing.frame_local == 0) & (packing.frame_event >= 0)  # (B, F')
        rows = torch.arange(batch, device=marks.device)[:, None]
        per_event = embedded[rows, packing.frame_event.clamp_min(0)]  # (B, F', V, S, D)
        per_event = per_event * first[:, :, None, None, None].to(per_event.dtype)
        return per_event.transpose(1, 2).flatten(2, 3).flatten(0, 1)  # (B*V, F'*S, D)

    @staticmethod
    def _packing_masks(
        packing: PackedLayout,
        events: int,
        text_tokens: int,
        views: int,
        grid: tuple[int, int, int],
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Block-diagonal (B*V, 1, N, N) self-attention and (B*V, 1, N, E*L) text masks."""
        token_event = packing.frame_event.repeat_interleave(grid[1] * grid[2], dim=1)  # (B, N)
        text_event = torch.arange(events, device=token_event.device).repeat_interleave(text_tokens)
        text_event = text_event.expand(token_event.shape[0], -1)  # (B, E*L)
        self_mask = segment_mask(token_event, token_event).repeat_interleave(views, dim=0)
        text_mask = segment_mask(token_event, text_event).repeat_interleave(views, dim=0)
        return self_mask, text_mask
