"""Frozen model configurations and the registry of named presets (debug, tiny, wan22-5b).

A `ModelConfig` says everything needed to build the model with random weights; it is saved as
`config.json` inside every checkpoint. Values the paper states are cited; values it leaves unknown
are marked "unknown in the paper" and chosen here.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
from dataclasses import dataclass, field
from typing import Any

from worldmodel.errors import UnknownPresetError
from worldmodel.skill_input import SKILL_NAMES
from worldmodel.types import ACTION_DIM_PER_ARM, TARGET_ROLES


@dataclass(frozen=True)
class VideoTowerConfig:
    """The Wan DiT (diffusers `WanTransformer3DModel` arguments) plus the cross-view branch."""

    patch_size: tuple[int, int, int] = (1, 2, 2)  # Wan2.2-TI2V-5B
    num_heads: int = 24  # Wan2.2-TI2V-5B
    head_dim: int = 128  # 3072 / 24
    in_channels: int = 48  # Wan2.2 VAE latent channels
    text_dim: int = 4096  # umT5-XXL hidden size
    freq_dim: int = 256  # Wan sinusoidal timestep width
    ffn_dim: int = 14336  # Wan2.2-TI2V-5B
    num_layers: int = 30  # Wan2.2-TI2V-5B
    cross_attn_norm: bool = True
    eps: float = 1e-6
    rope_max_seq_len: int = 1024
    # Camera RoPE: head channels given to the view axis in the cross-view branch (unknown in the
    # paper; the rest is split over frame/height/width like Wan's own bank).
    view_rope_dim: int = 16
    max_views: int = 4  # learnable per-camera embeddings (ego + two wrists + one spare)
    # Target marks (our addition; WALL-WM conditions on the caption alone): heatmap channels, one
    # per role of worldmodel.types.TARGET_ROLES (object, destination), drawn at the keyframe
    # latent's resolution where the event's targets lie, and added to the keyframe's tokens
    # through a zero-initialised patch embedding (video_tower.MarkEmbedding). 0: no mark input
    # (every checkpoint made before it); 2: both roles.
    mark_channels: int = 0
    # Standard deviation of each mark's Gaussian, in latent pixels: about one latent pixel, as in
    # the feasibility run (docs: ../shared/research/reach-diagnosis.md), where a 4 cm block is
    # less than one latent pixel of the tiny preset.
    mark_sigma: float = 1.0

    @property
    def dim(self) -> int:
        return self.num_heads * self.head_dim


@dataclass(frozen=True)
class ActionTowerConfig:
    """The action DiT; its depth always equals the video tower's (WALL-WM)."""

    dim: int = 1024  # unknown in the paper
    num_heads: int = 16  # unknown in the paper
    ffn_dim: int = 4096  # unknown in the paper
    freq_dim: int = 256  # sinusoidal action-timestep width, as Wan's
    max_steps: int = 256  # longest event in control steps (learned step-position table)
    max_chunks: int = 64  # absolute-chunk embedding table (Unified Mode chunk index)
    # Rows (= columns) of a learned row and column embedding added to the video keys, so the
    # action tower knows where in the image a video token lies. Unknown in the paper, which names
    # only frame-index and chunk embeddings; 0 leaves it out. Without it the video cross-attention
    # sees each frame's tokens as an unordered set (Wan's RoPE is relative, and the keys carry
    # only time, view and chunk), so it cannot tell where in the image anything is.
    spatial_grid: int = 0
    # The state token also carries the event's target points (worldmodel/marks.py
    # target_points: where the object and destination are relative to the gripper), through a
    # zero-initialised projection, so a checkpoint without them loads and predicts as before.
    target_points: bool = False
    # A learned embedding of the steps left to the event's end (zero-initialised, so a
    # checkpoint without it loads and predicts as before). Why: anchored actions end at zero, so
    # the natural clock of a motion is the time to its end; with only the position from the start
    # the grounded model's moves ran at 2 cm a step against the expert's 2.8 and stopped 1-3 cm
    # short of the slot, yet reached it when given 3 more steps (held-out probe, session 20).
    countdown: bool = False
    # The event's skill name, one-hot over these names (SKILL_NAMES; empty: no skill input),
    # beside the state through a zero-initialised projection, so a checkpoint without it loads
    # and predicts as before. Why: the caption reaches the action tower only through the frozen
    # video tower's features, and the grounded model ignored it: asked "grasp" or "lift" from
    # the same state it made the same motion (held-out probe, session 21), so a grasp after an
    # off-centre reach lifted, or a lift after an off-centre grasp stayed low. Through the
    # state token alone it stayed weak (its weights small after 4,100 steps; "grasp" still
    # lifted), so it also joins the timestep embedding (AdaLN, ActionTower.skill_time); the
    # gripper opening had been telling the skill instead (hidden_proprio).
    skills: tuple[str, ...] = ()
    # Proprio components the action tower is not shown (set to their training mean, 0 after
    # normalisation); empty in checkpoints made before it. Why: the tabletop's gripper opening
    # told the model which skill it was in (6.3 cm before every grasp of the data, 3.9 cm before
    # every lift), so an off-centre grasp that left the fingers at 5.1 cm made the next lift stop
    # at 7.5 cm instead of 20 (the same state with the opening at 0: 19.1; session 22 probe);
    # hidden, the skill input and the images have to say it.
    hidden_proprio: tuple[int, ...] = ()
    eps: float = 1e-6


@dataclass(frozen=True)
class VAEConfig:
    """Arguments of diffusers `AutoencoderKLWan`."""

    base_dim: int = 160  # Wan2.2 VAE
    decoder_base_dim: int = 256  # Wan2.2 VAE
    z_dim: int = 48  # Wan2.2 VAE: 48 latent channels
    dim_mult: tuple[int, ...] = (1, 2, 4, 4)
    num_res_blocks: int = 2
    temperal_downsample: tuple[bool, ...] = (False, True, True)
    is_residual: bool = True  # Wan2.2 VAE
    in_channels: int = 12  # Wan2.2 VAE patchifies RGB 2x2 -> 12 channels
    out_channels: int = 12
    patch_size: int | None = 2
    scale_factor_spatial: int = 16  # Wan2.2 VAE: 16x16 spatial compression
    scale_factor_temporal: int = 4  # Wan2.2 VAE: 4x temporal compression


@dataclass(frozen=True)
class TextConfig:
    """Caption encoder: 'umt5' (real scale), or MiniLM (bundled offline, small presets): one
    sentence embedding ('minilm') or one embedding per word piece ('minilm-tokens')."""

    kind: str = "umt5"
    max_length: int = 512  # Wan pads umT5 tokens to 512; 'minilm-tokens' pads to this too
    umt5_path: str | None = None  # a local transformers directory with the umT5 encoder


PAPER_EMA_DECAY = 0.9999  # WALL-WM's EMA of the weights (the training loop's default too)


@dataclass(frozen=True)
class FlowConfig:
    """Flow matching and sampling (Wan-style shifted schedule)."""

    num_train_timesteps: int = 1000  # Wan: timestep = sigma * 1000
    shift: float = 5.0  # Wan2.2-TI2V-5B sample_shift
    video_steps: int = 50  # the 50-step schedule the anchor step refers to (WALL-WM)
    anchor_step: int = 45  # asymmetric 1-to-N: video at step 45 of 50 (sigma ~0.36, WALL-WM)
    # The noise level of every future frame in the action stage's video forward (the video tower
    # is frozen there). None: drawn per event like the video stage's (WALL-WM). A number trains
    # the action tower on the context the asymmetric sampler gives it: at 1.0 (anchor_step 0)
    # the future frames are pure noise in training and at inference alike.
    action_video_sigma: float | None = None
    action_steps: int = 10  # few-step action schedule (unknown in the paper)
    # The action sampler's schedule shift; None: `shift`. Why: at shift 5 four Euler steps
    # spend three on sigma >= 0.83 and jump from 0.625 to 0, which returns an average over what
    # the noisy actions still allow; the grounded model's lifts ended a median 4.7 cm short of
    # the expert's, 2.4 cm with 8 steps at shift 1 (held-out probe, session 22).
    action_shift: float | None = None
    symmetric_steps: int = 10  # joint denoising steps in symmetric mode (unknown in the paper)
    action_loss_draws: int = 6  # K action-noise draws per sample (WALL-WM)
    ema_decay: float = PAPER_EMA_DECAY
    tube_mask_prob: float = 0.0  # main recipe keeps the tube mask off (WALL-WM)
    tube_mask_size: int = 2  # k x k latent window (unknown in the paper)
    sight_cone_near: float = 0.1  # depth band in metres (unknown in the paper)
    sight_cone_far: float = 1.5
    sight_cone_scale: float = 1.5  # cone radius in patch footprints (unknown in the paper)


@dataclass(frozen=True)
class ModelConfig:
    """Everything that defines one WALL-WM model."""

    name: str
    video: VideoTowerConfig = field(default_factory=VideoTowerConfig)
    action: ActionTowerConfig = field(default_factory=ActionTowerConfig)
    vae: VAEConfig = field(default_factory=VAEConfig)
    text: TextConfig = field(default_factory=TextConfig)
    flow: FlowConfig = field(default_factory=FlowConfig)
    cameras: int = 3  # ego + left wrist + right wrist (WALL-WM)
    image_height: int = 192  # WALL-WM trains at about 192x224
    image_width: int = 224
    arms: int = 2  # bimanual (WALL-WM)
    proprio_dim: int = 14
    control_fps: float = 10.0  # action rate (WALL-WM trains at 10 fps)
    video_fps: float = 10.0  # frame rate of the clips the VAE encodes (WALL-WM: 10 fps)
    # Action components predicted relative to the proprio at the event's start (WALL-WM predicts
    # delta actions; which components is unknown in the paper). Empty: all absolute.
    relative_action_dims: tuple[int, ...] = ()
    # Relative x, y, z taken from the event's target instead of its start when it has one
    # (worldmodel/action_frame.py, anchored actions); our addition, with the target inputs.
    anchor_actions: bool = False
    # Skills whose z stays relative to the start when anchored (a move carries at its start
    # height); empty in checkpoints made before it, which anchored z for every skill.
    anchor_keep_height: tuple[str, ...] = ()
    # Skills that keep the start as their origin although they have targets: they act where the
    # gripper is (close, rise, open), so their actions are the same from any start; anchored,
    # they had to repeat the start's offset from the block, which a chained reach's 1-3 cm error
    # made unlike anything trained. Empty in checkpoints made before it.
    anchor_in_place: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.cameras > self.video.max_views:
            raise UnknownPresetError(
                f"config {self.name!r} has {self.cameras} cameras but only "
                f"{self.video.max_views} camera embeddings (video.max_views)"
            )
        bad = [d for d in self.relative_action_dims if not 0 <= d < self.proprio_dim]
        if bad or len(set(self.relative_action_dims)) != len(self.relative_action_dims):
            raise UnknownPresetError(
                f"config {self.name!r}: relative_action_dims {self.relative_action_dims} must be "
                f"distinct proprio components in [0, {self.proprio_dim})"
            )
        hidden = [d for d in self.action.hidden_proprio if not 0 <= d < self.proprio_dim]
        if hidden:
            raise UnknownPresetError(
                f"config {self.name!r}: action.hidden_proprio {list(hidden)} are not components "
                f"of the {self.proprio_dim}-d proprio"
            )
        if self.video.mark_channels not in (0, len(TARGET_ROLES)):
            raise UnknownPresetError(
                f"config {self.name!r}: video.mark_channels {self.video.mark_channels}; expected 0 "
                f"(no marks) or {len(TARGET_ROLES)} (one per role: {', '.join(TARGET_ROLES)})"
            )
        if not self.video.mark_sigma > 0:
            raise UnknownPresetError(
                f"config {self.name!r}: video.mark_sigma {self.video.mark_sigma}; expected > 0"
            )
        if self.video.in_channels != self.vae.z_dim:
            raise UnknownPresetError(
                f"config {self.name!r}: video.in_channels {self.video.in_channels} != "
                f"vae.z_dim {self.vae.z_dim}; the tower denoises VAE latents"
            )

    @property
    def action_dim(self) -> int:
        return ACTION_DIM_PER_ARM * self.arms

    @property
    def steps_per_latent_frame(self) -> int:
        """K_p: control steps that share one latent frame (VAE temporal stride x fps ratio)."""
        value = self.vae.scale_factor_temporal * self.control_fps / self.video_fps
        if value < 1 or abs(value - round(value)) > 1e-6:
            raise UnknownPresetError(
                f"config {self.name!r}: K_p = temporal stride {self.vae.scale_factor_temporal} x "
                f"control_fps {self.control_fps} / video_fps {self.video_fps} = {value}; "
                "expected a whole number >= 1"
            )
        return round(value)

    @property
    def latent_size(self) -> tuple[int, int]:
        """(h, w) of one latent frame."""
        stride = self.vae.scale_factor_spatial
        return self.image_height // stride, self.image_width // stride

    def latent_frames(self, steps: int) -> int:
        """Latent frames for an event of `steps` control steps: the keyframe + ceil(T / K_p)."""
        return 1 + math.ceil(steps / self.steps_per_latent_frame)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelConfig:
        """Rebuild from `to_dict` output (as read back from config.json)."""
        sections = {
            "video": VideoTowerConfig,
            "action": ActionTowerConfig,
            "vae": VAEConfig,
            "text": TextConfig,
            "flow": FlowConfig,
        }
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise UnknownPresetError(f"config has unknown field(s) {unknown}; expected {known}")
        values: dict[str, Any] = {}
        for key, value in data.items():
            if key in sections:
                section = sections[key]
                names = {f.name for f in dataclasses.fields(section)}
                bad = sorted(set(value) - names)
                if bad:
                    raise UnknownPresetError(f"config section {key!r} has unknown field(s) {bad}")
                value = {k: tuple(v) if isinstance(v, list) else v for k, v in value.items()}
                values[key] = section(**value)
            else:
                values[key] = tuple(value) if isinstance(value, list) else value
        return cls(**values)


_SMALL_VAE = VAEConfig(
    base_dim=8,
    decoder_base_dim=8,
    z_dim=16,
    dim_mult=(1, 2, 2, 2),
    num_res_blocks=1,
    temperal_downsample=(False, True, True),
    is_residual=False,
    in_channels=3,
    out_channels=3,
    patch_size=None,
    scale_factor_spatial=8,
    scale_factor_temporal=4,
)

# What the small presets share: the simulated tabletop's three cameras and one arm, its proprio
# (xyz, rpy, gripper opening) and its relative actions (position and yaw relative; roll and
# pitch are always commanded level and the gripper command is absolute, so those stay absolute).
TABLETOP_ARM: dict[str, Any] = {
    "cameras": 3,
    "arms": 1,
    "proprio_dim": 7,
    "relative_action_dims": (0, 1, 2, 5),
}

PRESETS: dict[str, ModelConfig] = {
    "debug": ModelConfig(
        name="debug",
        video=VideoTowerConfig(
            num_heads=2,
            head_dim=16,
            in_channels=4,
            text_dim=384,  # MiniLM embeddings
            freq_dim=16,
            ffn_dim=64,
            num_layers=2,
            rope_max_seq_len=64,
            view_rope_dim=4,
        ),
        action=ActionTowerConfig(
            dim=32, num_heads=2, ffn_dim=64, freq_dim=16, max_steps=64, spatial_grid=4
        ),
        vae=dataclasses.replace(
            _SMALL_VAE,
            base_dim=4,
            decoder_base_dim=4,
            z_dim=4,
            dim_mult=(1, 1, 1),
            temperal_downsample=(True, True),  # diffusers' Wan VAE needs a 4x temporal stride
            scale_factor_spatial=4,
        ),
        text=TextConfig(kind="minilm", max_length=32),
        flow=FlowConfig(action_steps=3, symmetric_steps=3, action_loss_draws=2),
        image_height=16,
        image_width=16,
        **TABLETOP_ARM,
    ),
    "tiny": ModelConfig(
        name="tiny",
        video=VideoTowerConfig(
            # (1, 4, 4) over the 16 x 16 latents of the 4x VAE below: still 4 x 4 tokens per view
            patch_size=(1, 4, 4),
            num_heads=4,
            head_dim=32,
            in_channels=16,
            text_dim=384,  # MiniLM embeddings
            ffn_dim=512,
            num_layers=6,
            rope_max_seq_len=256,
            view_rope_dim=8,
        ),
        action=ActionTowerConfig(dim=128, num_heads=4, ffn_dim=512, max_steps=128, spatial_grid=4),
        # 4x spatial compression, not Wan's 8x/16x. At 8x this small VAE blurred every block away:
        # the shipped tiny's latents hold no block position (research/probe_latents.py: RMSE
        # 19-20 cm, no better than guessing the mean). At 4x, after 1000 steps: the blocks are
        # visible, 23.7 dB PSNR on held-out scenes (shipped: 17.5), probe 12-17 cm. (An 8x run of
        # 600 steps still gave blobs, but with longer clips and a slower EMA: not a controlled
        # comparison.)
        vae=dataclasses.replace(
            _SMALL_VAE, dim_mult=(1, 2, 2), temperal_downsample=(True, True), scale_factor_spatial=4
        ),
        # One sentence embedding. Word pieces ('minilm-tokens', max_length 40) were tried in
        # session 9: fine-tuned 400 video + 600 action steps, reach still ignored the colour
        # named (research/caption_following.py) and every skill scored lower, so not kept.
        text=TextConfig(kind="minilm", max_length=64),
        # 4 action steps: on held-out events the same successes as 5 and xyz errors within
        # 0.1 cm; 3 lost a lift (research/README.md, action denoising steps). 5 against 10 on
        # training events: 6.40 / 5.41 cm against 6.35 / 5.34 (two episodes, temperature 0).
        # Anchor sigma 1, and the action stage trained there. At the paper's sigma 0.36 the
        # future frames are our static guess, which an action tower trained on noised real
        # futures reads as "the arm stays": reach open-loop error 19.8 cm against 13.6 with pure
        # noise, same weights (research/context_probe.py). The action steps at shift 1, evenly
        # spaced: a grounded fine-tune chained 206 of 258 pick-and-place events of 20 held-out
        # tasks at shift 5, 223 at shift 1 (225 with 8 steps), 7 -> 9 whole tasks (session 22).
        # Checkpoints made before keep shift 5 (action_shift absent from their config.json).
        flow=FlowConfig(action_steps=4, action_shift=1.0, anchor_step=0, action_video_sigma=1.0),
        image_height=64,
        image_width=64,
        **TABLETOP_ARM,
    ),
    "wan22-5b": ModelConfig(name="wan22-5b"),
}
# `tiny` with a decoder twice as wide (decoder_base_dim 16, 0.46 M VAE parameters instead of
# 0.18 M; the encoder, the latents and the towers are tiny's, so encoding a keyframe costs the
# same). Fitted from scratch to the same 48 frames (16 rendered scenes x 3 cameras, T=1, batch 16,
# rarity-weighted loss), the wider decoder gave 93% of block colours classifiable after 500 steps
# where tiny's gave 41%, at about 1.4x the time per step (benchmarks/bench_vae_colours.py scoring).
PRESETS["tiny-colour"] = dataclasses.replace(
    PRESETS["tiny"],
    name="tiny-colour",
    vae=dataclasses.replace(PRESETS["tiny"].vae, decoder_base_dim=16),
)
# `tiny-colour` with the encoder as wide as the decoder (base_dim 16): on 200 held-out scenes the
# decoder-only widening kept 79% of block colours after 3500 steps (yellow read as the bowl's
# orange most often, RESULTS.md "VAE colour fidelity"); this asks whether the encoder is the limit.
PRESETS["tiny-colour-wide"] = dataclasses.replace(
    PRESETS["tiny-colour"],
    name="tiny-colour-wide",
    vae=dataclasses.replace(PRESETS["tiny-colour"].vae, base_dim=16),
)


def get_config(name: str) -> ModelConfig:
    """The preset called `name`; a typo gets the closest preset name suggested."""
    if name in PRESETS:
        return PRESETS[name]
    close = difflib.get_close_matches(name, PRESETS, n=1, cutoff=0.3)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    raise UnknownPresetError(f"unknown model preset {name!r}{hint} (known: {sorted(PRESETS)})")


def with_marks(config: ModelConfig) -> ModelConfig:
    """`config` with the target inputs switched on: the video tower's mark channels (one per
    target role), the action tower's target points and countdown, and actions anchored at the
    target."""
    video = dataclasses.replace(config.video, mark_channels=len(TARGET_ROLES))
    action = dataclasses.replace(config.action, target_points=True, countdown=True)
    return dataclasses.replace(
        config,
        video=video,
        action=action,
        anchor_actions=True,
        anchor_keep_height=("move",),
        anchor_in_place=("grasp", "lift", "release"),
    )


def with_hidden_proprio(config: ModelConfig, components: tuple[int, ...]) -> ModelConfig:
    """`config` with the action tower blind to these proprio components
    (ActionTowerConfig.hidden_proprio says why)."""
    return dataclasses.replace(
        config, action=dataclasses.replace(config.action, hidden_proprio=tuple(components))
    )


def with_skills(config: ModelConfig) -> ModelConfig:
    """`config` with the action tower's skill input: the event's skill name, one-hot over
    SKILL_NAMES (ActionTowerConfig.skills says why)."""
    return dataclasses.replace(
        config, action=dataclasses.replace(config.action, skills=SKILL_NAMES)
    )
