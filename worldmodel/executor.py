"""EventModeExecutor: the in-process WALL-WM Event Mode predictor behind the EventExecutor protocol.

One `predict(EventRequest)`: caption -> text embedding (cached per caption), keyframe per camera
(resized to the model's resolution) -> VAE latent, proprio -> normalised state token, the
request's targets -> mark heatmaps at the latent resolution for a model with mark channels
(worldmodel/marks.py; no targets: zeros, and a model without mark channels ignores them), then the
sampler (asymmetric 1-to-N by default) gives normalised actions and predicted latents per camera;
actions are un-normalised with the checkpoint's statistics and, for the components the config
predicts relative to the event's start (`relative_action_dims`), added to the observed pose.
The latents are then decoded by the VAE into frames per camera aligned to control steps, at the
camera's resolution, for the verifier. Deterministic for a given seed on a given device.

Timings: `time_to_first_action_s` is taken when the actions are ready, before the frame decode
(a robot can start moving then); `total_s` includes the decode.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from worldmodel.action_frame import anchor_for, to_absolute
from worldmodel.action_tower import state_input
from worldmodel.allocator import keep_freed_memory
from worldmodel.checkpoint import NormStats, load_checkpoint, load_vae
from worldmodel.config import get_config
from worldmodel.cuda_graphs import GraphCache
from worldmodel.data.video import resize_frames
from worldmodel.errors import ContractError, ModelInputError, NonFiniteOutputError
from worldmodel.flow import anchor_sigma
from worldmodel.marks import render_marks, target_points
from worldmodel.model import WallWM
from worldmodel.sampling import MODES, EventInputs, sample_draws, sample_event
from worldmodel.text import TextEncoder, build_text_encoder
from worldmodel.types import ACTION_DIM_PER_ARM, EventPrediction, EventRequest
from worldmodel.vae import VideoVAE, pad_clip, still_clip

CAPTION_CACHE_SIZE = 256  # event captions repeat across episodes; embeddings are small
# Initial action noise scale (sampling.EventInputs.action_temperature). 0: the deterministic
# trajectory from the noise's mode; on training events the tiny model's xyz error is 8.9 cm with
# it against 13.3 cm when sampling at 1 (500 action-stage steps; measured in session 5).
DEFAULT_ACTION_TEMPERATURE = 0.0
# The extra action draws whose spread the action-consistency detector scores (FAIL-Detect,
# FIPER sample the policy several times and score the disagreement): drawn at temperature 1,
# the learned distribution, since at 0 every draw is the same. 0 draws: off (plain runs).
DRAW_TEMPERATURE = 1.0


def action_spread(draws: np.ndarray) -> np.ndarray:
    """(K, T, A) absolute actions -> (T,) metres: the mean over draws of the distance of each
    draw's end-effector xyz from the draws' mean, averaged over the arms."""
    arms = draws.shape[-1] // ACTION_DIM_PER_ARM
    xyz = draws.reshape(*draws.shape[:2], arms, ACTION_DIM_PER_ARM)[..., :3]  # (K, T, arms, 3)
    distance = np.linalg.norm(xyz - xyz.mean(0, keepdims=True), axis=-1)  # (K, T, arms)
    return distance.mean(axis=(0, 2)).astype(np.float32)


def default_dtype(device: torch.device) -> torch.dtype:
    """bf16 where the device runs it natively (CUDA), float32 elsewhere."""
    if device.type == "cuda" and torch.cuda.is_bf16_supported():
        return torch.bfloat16
    return torch.float32


class EventModeExecutor:
    """Turns an EventRequest into an EventPrediction with a WALL-WM model."""

    def __init__(
        self,
        model: WallWM,
        stats: NormStats,
        vae: VideoVAE,
        text_encoder: TextEncoder,
        mode: str = "asymmetric",
        name: str | None = None,
        decode: bool = True,
        action_temperature: float = DEFAULT_ACTION_TEMPERATURE,
        guidance: float = 1.0,
        action_draws: int = 0,
        folder: Path | None = None,
        cuda_graphs: bool = True,
    ) -> None:
        if mode not in MODES:
            raise ContractError(f"unknown sampling mode {mode!r}; expected one of {MODES}")
        if action_draws and mode != "asymmetric":
            raise ContractError(
                "action draws reuse the asymmetric sampler's single video forward; the "
                f"{mode!r} sampler has none to reuse (use mode 'asymmetric' or 0 draws)"
            )
        config = model.config
        if text_encoder.dim != config.video.text_dim:
            raise ContractError(
                f"text encoder gives {text_encoder.dim}-d embeddings; model {config.name!r} "
                f"expects text_dim {config.video.text_dim}"
            )
        device_type = next(model.parameters()).device.type
        if device_type == "cpu":
            keep_freed_memory()  # a prediction's tensors reuse the last one's pages (allocator.py)
        self.model = model.eval()
        self.stats = stats
        self.vae = vae
        self.text_encoder = text_encoder
        self.mode = mode
        self.name = name or f"wallwm-{config.name}"
        self.decode = decode  # decode predicted latents to frames (the verifier compares pixels)
        self.action_temperature = action_temperature
        self.guidance = guidance  # classifier-free guidance on the caption (EventInputs.guidance)
        # K extra action draws per event for the prediction's action_spread (0: none).
        self.action_draws = action_draws
        self._captions: OrderedDict[str, torch.Tensor] = OrderedDict()
        # On CUDA the action steps replay from recorded graphs (worldmodel/cuda_graphs.py).
        self.graphs = GraphCache() if device_type == "cuda" and cuda_graphs else None
        # The checkpoint folder it was loaded from (from_checkpoint), where what ships with the
        # weights lies (the verifier's thresholds); None for a model built in memory.
        self.folder = folder

    @classmethod
    def from_checkpoint(
        cls,
        folder: str | Path,
        device: str = "cpu",
        mode: str = "asymmetric",
        dtype: torch.dtype | None = None,
    ) -> EventModeExecutor:
        """Load any checkpoint folder; a checkpoint without a VAE gets a seeded random one."""
        target = torch.device(device)
        dtype = dtype or default_dtype(target)
        model, stats = load_checkpoint(folder, target, dtype)
        vae_model = load_vae(folder)
        if vae_model is None:
            torch.manual_seed(0)
            vae = VideoVAE.from_config(model.config.vae)
        else:
            vae = VideoVAE(vae_model)
        vae.vae.to(target)  # the VAE stays float32: it runs once per event
        text = build_text_encoder(model.config.text, target)
        folder = Path(folder).resolve()
        # A training run's checkpoint is RUN/export: the run's name says which model it is.
        name = folder.parent.name if folder.name == "export" else folder.name
        return cls(model, stats, vae, text, mode, name=f"wallwm-{name}", folder=folder)

    @classmethod
    def from_preset(
        cls,
        preset: str,
        seed: int = 0,
        device: str = "cpu",
        mode: str = "asymmetric",
        text_encoder: TextEncoder | None = None,
    ) -> EventModeExecutor:
        """Random weights of a preset (for speed tests and plumbing before training)."""
        config = get_config(preset)
        target = torch.device(device)
        dtype = default_dtype(target)
        torch.manual_seed(seed)
        with target:  # built where it runs: the 5B preset never passes through host memory
            model = WallWM(config).cast(dtype)
            vae = VideoVAE.from_config(config.vae)
        stats = NormStats.identity(config.action_dim, config.proprio_dim)
        text = text_encoder or build_text_encoder(config.text, target)
        return cls(model, stats, vae, text, mode)

    @property
    def max_steps(self) -> int:
        """The longest event one request may ask for, in control steps (action.max_steps)."""
        return self.model.config.action.max_steps

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    @property
    def dtype(self) -> torch.dtype:
        return self.model.dtype  # (not the first parameter's: see WallWM.dtype)

    def caption_embedding(self, caption: str) -> torch.Tensor:
        """The caption's embedding, encoded once and kept for the most recent captions."""
        self.embed_captions([caption])
        self._captions.move_to_end(caption)
        return self._captions[caption].to(self.device, self.dtype)  # (1, L, D)

    def embed_captions(self, captions: Sequence[str]) -> None:
        """Encode the captions not kept yet, all in one batch, and keep them for the predictions
        that will ask for them (a planner's plan in hand: agent/graph/nodes.py). MiniLM's forward
        on a few words is bound by reading its weights, so a batch costs little more than one
        caption: 6 captions in 29 ms against 6 x 12 ms one by one on 2 cores; the embeddings
        agree with one-by-one encoding to ~1e-7."""
        new = [caption for caption in dict.fromkeys(captions) if caption not in self._captions]
        if not new:
            return
        for caption, embedding in zip(new, self.text_encoder.encode(new), strict=True):
            self._captions[caption] = embedding[None]  # (1, L, D)
        while len(self._captions) > CAPTION_CACHE_SIZE:
            self._captions.popitem(last=False)

    def _check(self, request: EventRequest) -> None:
        config = self.model.config
        observation = request.observation
        if len(observation.cameras) != config.cameras:
            raise ModelInputError(
                f"observation has {len(observation.cameras)} cameras; model {config.name!r} "
                f"expects {config.cameras}"
            )
        if observation.proprio.shape != (config.proprio_dim,):
            raise ModelInputError(
                f"proprio has shape {observation.proprio.shape}; model {config.name!r} expects "
                f"({config.proprio_dim},)"
            )
        if request.frames > config.action.max_steps:
            raise ModelInputError(
                f"event of {request.frames} control steps; model {config.name!r} predicts at "
                f"most {config.action.max_steps}"
            )

    # inference_mode, not just no_grad: no autograd bookkeeping at all, ~4% of a prediction on
    # 2 cores (side by side, 20 rounds, twice).
    @torch.inference_mode()
    def predict(self, request: EventRequest) -> EventPrediction:
        """Predict the actions and per-camera latents of one event."""
        self._check(request)
        start = time.perf_counter()
        observation = request.observation
        config = self.model.config
        names = observation.camera_names
        size = (config.image_height, config.image_width)
        images = np.stack([resize_frames(observation.images[n], *size) for n in names])
        keyframes, static = self.encode_keyframes(images)
        state = self.state(request)  # (1, P)
        inputs = EventInputs(
            keyframes,
            self.caption_embedding(request.caption),
            state,
            request.frames,
            static,
            self.action_temperature,
            self.guidance,
            self.marks(request, tuple(keyframes.shape[-2:])),
        )
        generator = torch.Generator(self.device).manual_seed(request.seed)
        sample = sample_event(self.model, inputs, self.mode, generator, self.graphs)

        actions = sample.actions[0].float().cpu().numpy()  # (T, A) normalised
        actions = self.stats.denormalize_actions(actions)
        anchor = anchor_for(config, request.targets, request.skill)
        actions = to_absolute(actions, observation.proprio, config.relative_action_dims, anchor)
        if not np.all(np.isfinite(actions)):
            raise NonFiniteOutputError(
                f"model {self.name!r} produced non-finite actions for {request.caption!r}; "
                "the checkpoint may be corrupt or the dtype too narrow (try float32)"
            )
        first_action = time.perf_counter() - start
        spread = None
        if self.action_draws and sample.context is not None:
            # After the executed actions: the generator's stream for them is untouched.
            draws = sample_draws(
                self.model, inputs, sample.context, self.action_draws, DRAW_TEMPERATURE, generator
            )
            draws = self.stats.denormalize_actions(draws[0].float().cpu().numpy())  # (K, T, A)
            draws = to_absolute(draws, observation.proprio, config.relative_action_dims, anchor)
            spread = action_spread(draws)
        latents = sample.latents[0].float().cpu().numpy()  # (V, C, F, h, w)
        if not np.all(np.isfinite(latents)):
            raise NonFiniteOutputError(f"model {self.name!r} produced non-finite latents")
        per_camera = {
            name: np.ascontiguousarray(latents[v].transpose(1, 0, 2, 3))  # (F, C, h, w)
            for v, name in enumerate(names)
        }
        index = self.model.action.step_time_index(request.frames, torch.device("cpu")).numpy()
        frames = self.decode_frames(sample.latents, request) if self.decode else None
        total = time.perf_counter() - start
        return EventPrediction(
            actions=actions,
            model=self.name,
            time_to_first_action_s=first_action,
            total_s=total,
            frames=frames,
            latents=per_camera,
            latent_index=index,
            action_spread=spread,
        )

    def state(self, request: EventRequest) -> torch.Tensor:
        """(1, P) the normalised proprio, then the request's target points (relative to the
        gripper now) and its skill one-hot for a model that takes them."""
        proprio = request.observation.proprio
        state = state_input(
            self.stats.normalize_proprio(proprio),
            target_points(request.targets, proprio[:3]),
            request.skill,
            self.model.config.action,
        )
        return torch.as_tensor(state, device=self.device, dtype=self.dtype)[None]

    def marks(self, request: EventRequest, size: tuple[int, int]) -> torch.Tensor | None:
        """(1, V, M, h, w) heatmaps of the request's targets, cameras in the observation's
        order; None for a model without mark channels."""
        video = self.model.config.video
        if not video.mark_channels:
            return None
        names = request.observation.camera_names
        marks = render_marks(request.targets, names, size, video.mark_sigma)
        return torch.as_tensor(marks, device=self.device, dtype=self.dtype)[None]

    def encode_keyframes(self, images: np.ndarray) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(1, V, C, 1, h, w) keyframe latents of (V, H, W, 3) images, and the asymmetric
        sampler's static guess: the latent of the keyframe held still for one VAE chunk. The
        guess is skipped (None) where the sampler would give it no weight (anchor sigma 1)."""
        stride = self.model.config.vae.scale_factor_temporal
        guess = self.mode == "asymmetric" and anchor_sigma(self.model.config.flow) < 1.0
        encoded = self.vae.encode(still_clip(images, 1 + stride if guess else 1)).to(
            self.dtype
        )  # (1, V, C, 1 or 2, h, w)
        return encoded[:, :, :, :1], encoded[:, :, :, 1:2] if guess else None

    @torch.inference_mode()
    def encode_observed(
        self, keyframes: dict[str, np.ndarray], observed: dict[str, np.ndarray]
    ) -> dict[str, np.ndarray]:
        """The latents of what the cameras recorded, aligned with a prediction's latents.

        `keyframes[c]` is camera c's (H, W, 3) image at the event's start and `observed[c]` its
        (T, H, W, 3) images after each action. Like the prediction, the clip is the keyframe
        followed by the observed steps (the last repeated to fill the VAE's 1 + stride x k
        frames), at the model's resolution; the result is (F, C, h, w) per camera, so the
        verifier compares latents without decoding anything."""
        config = self.model.config
        size = (config.image_height, config.image_width)
        names = list(observed)
        stride = config.vae.scale_factor_temporal
        clips = []
        for name in names:
            clip = np.concatenate([keyframes[name][None], observed[name]])
            clips.append(pad_clip(resize_frames(clip, *size), stride))
        latents = self.vae.encode(np.stack(clips)[None])[0].float().cpu().numpy()  # (V, C, F, ..)
        return {
            n: np.ascontiguousarray(latents[v].transpose(1, 0, 2, 3)) for v, n in enumerate(names)
        }

    def decode_frames(self, latents: torch.Tensor, request: EventRequest) -> dict[str, np.ndarray]:
        """Predicted frames per camera, one per control step, at the cameras' resolution.

        The VAE decodes F latent frames to 1 + K_p (F - 1) frames at the video rate; frame 0 is
        the keyframe and frame k + 1 the world after action k (control rate = video rate x the
        steps per latent frame / temporal stride; both are 10 Hz in the presets). Each control
        step takes the decoded frame nearest its time, resized up to the camera's size.
        """
        config = self.model.config
        video = self.vae.decode(latents.float())[0]  # (V, T', H, W, 3) uint8
        per_frame = config.vae.scale_factor_temporal / config.steps_per_latent_frame
        steps = np.arange(1, request.frames + 1)
        rows = np.minimum(np.round(steps * per_frame).astype(int), video.shape[1] - 1)
        frames = {}
        for view, camera in enumerate(request.observation.cameras):
            frames[camera.name] = resize_frames(video[view, rows], camera.height, camera.width)
        return frames
