"""Event samplers: symmetric joint denoising and the asymmetric 1-to-N mapping (WALL-WM default).

Both start from the keyframe latent of every view (frame 0, kept clean with timestep 0, as
Wan2.2 TI2V conditions on its first frame) and pure noise for the actions.

- Symmetric: video and actions are denoised together over the same shifted schedule; the video
  tower runs at every step and the action tower reads that step's block features.
- Asymmetric 1-to-N: the video tower runs once, at the anchor noise level (step 45 of a 50-step
  schedule with shift 5, sigma ~0.36). The clean future is unknown at inference, so the future
  frames are a static-world guess noised to the anchor level: the input then has exactly the
  anchor noise level the tower was trained on (our reading; the paper does not say what the
  future frames hold). The guess is the latent of the keyframe held still for one VAE chunk
  (`EventInputs.static`), not the keyframe latent itself: the Wan VAE encodes the first frame of a
  clip differently from later chunks, and a first-frame latent in a later frame's place is far
  outside what the tower was trained on (mean squared distance ~1.9 in normalised latents).
  At anchor_step 0 (sigma 1, the tiny preset) the future frames are pure noise and the guess
  has no weight: the tower's features then carry only what it makes of the keyframes and the
  caption, which is also what the action stage trained on (FlowConfig.action_video_sigma).
  The action keys/values of the video tokens are computed once from that forward and reused by
  every action step, as is everything else of the action tower that the noise level does not
  change (`ActionTower.prepare`). The predicted latents are the tower's one-step clean estimate
  x0 = x_t - sigma v.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, replace

import torch

from worldmodel.action_tower import VideoContext
from worldmodel.config import FlowConfig
from worldmodel.cuda_graphs import GraphCache
from worldmodel.errors import ModelInputError
from worldmodel.flow import anchor_sigma, sigma_schedule
from worldmodel.model import WallWM

MODES = ("asymmetric", "symmetric")


@dataclass
class EventInputs:
    """Everything one event prediction needs, already encoded and normalised."""

    keyframes: torch.Tensor  # (B, V, C, 1, h, w) clean keyframe latents
    text: torch.Tensor  # (B, L, text_dim)
    state: torch.Tensor  # (B, P)
    steps: int  # segment length T in control steps
    # (B, V, C, 1, h, w): the latent of a chunk in which the keyframe is held still, the
    # asymmetric sampler's static-world guess; None: the keyframe latent stands in.
    static: torch.Tensor | None = None
    # Scale of the initial action noise. 1 samples the learned distribution; 0 follows the flow
    # from the noise's mode, a deterministic, mean-like trajectory (lower error for a small,
    # undertrained model: 8.9 against 13.3 cm on the tiny model's training events).
    action_temperature: float = 1.0
    # Classifier-free guidance on the caption, as Wan samples its videos (scale 5): 1 conditions
    # plainly; w > 1 follows v_blank + w (v_caption - v_blank) for the video and the actions,
    # the blank caption being the all-zero embedding that caption dropout trains on. Costs a
    # second caption in every video forward and doubles the action tower's batch.
    guidance: float = 1.0
    # (B, V, M, h, w) target heatmaps (worldmodel/marks.py) for a model with mark channels;
    # None: none (the same as all zeros). Guidance keeps them in both passes: it is the
    # caption's, not the marks'.
    marks: torch.Tensor | None = None

    @property
    def guided(self) -> bool:
        return self.guidance != 1.0

    def paired(self, value: torch.Tensor) -> torch.Tensor:
        """value for the captioned and the blank pass, one after the other when guided."""
        return torch.cat([value, value]) if self.guided else value

    def paired_marks(self) -> torch.Tensor | None:
        return None if self.marks is None else self.paired(self.marks)

    def captions(self) -> torch.Tensor:
        """(B, L, D) text, or (2B, L, D): the caption, then the blank one, when guided."""
        return torch.cat([self.text, torch.zeros_like(self.text)]) if self.guided else self.text

    def guide(self, velocity: torch.Tensor) -> torch.Tensor:
        """A paired forward's velocity -> (B, ...) guided; unchanged when not guided."""
        if not self.guided:
            return velocity
        captioned, blank = velocity.chunk(2)
        return blank + self.guidance * (captioned - blank)


@dataclass
class EventSample:
    actions: torch.Tensor  # (B, T, A) normalised
    latents: torch.Tensor  # (B, V, C, F, h, w) predicted; frame 0 is the keyframe
    video_calls: int  # video-tower forwards used
    # The asymmetric sampler's video keys/values, kept so more action draws can read the same
    # video forward (sample_draws); None for the symmetric sampler.
    context: VideoContext | None = None


def frame_timesteps(
    batch: int, frames: int, sigma: float, scale: int, device: torch.device
) -> torch.Tensor:
    """(B, F) timesteps: 0 for the keyframe, sigma * scale for every future frame."""
    timestep = torch.full((batch, frames), sigma * scale, device=device)
    timestep[:, 0] = 0
    return timestep


def _check(model: WallWM, inputs: EventInputs) -> None:
    config = model.config
    keyframes = inputs.keyframes
    if keyframes.ndim != 6 or keyframes.shape[3] != 1 or keyframes.shape[2] != config.vae.z_dim:
        raise ModelInputError(
            f"keyframe latents have shape {tuple(keyframes.shape)}; expected "
            f"(B, V, {config.vae.z_dim}, 1, h, w)"
        )
    if not 1 <= inputs.steps <= config.action.max_steps:
        raise ModelInputError(
            f"event length {inputs.steps} control steps; expected 1..{config.action.max_steps}"
        )


def _prepare(model: WallWM, inputs: EventInputs) -> tuple[FlowConfig, torch.Tensor, int]:
    """What both samplers start from, once the inputs are checked: the flow settings, the
    keyframe latents and the number of latent frames of the event."""
    _check(model, inputs)
    return model.config.flow, inputs.keyframes, model.config.latent_frames(inputs.steps)


@torch.no_grad()
def sample_asymmetric(
    model: WallWM,
    inputs: EventInputs,
    generator: torch.Generator | None = None,
    action_steps: int | None = None,
    graphs: GraphCache | None = None,
) -> EventSample:
    """One video forward at the anchor level, then `action_steps` action steps reading its cache
    (replayed from CUDA graphs with `graphs`)."""
    flow, keyframes, frames = _prepare(model, inputs)
    batch, device, dtype = keyframes.shape[0], keyframes.device, keyframes.dtype
    sigma = anchor_sigma(flow)

    # 1. The single video forward at the anchor noise level
    guess = keyframes if inputs.static is None else inputs.static
    static = guess.expand(-1, -1, -1, frames, -1, -1).clone()  # (B, V, C, F, h, w)
    noise = torch.randn(static.shape, generator=generator, device=device, dtype=dtype)
    latents = (1 - sigma) * static + sigma * noise
    latents[:, :, :, :1] = keyframes
    timestep = frame_timesteps(batch, frames, sigma, flow.num_train_timesteps, device)
    video, context = model.encode_video(
        inputs.paired(latents),
        inputs.paired(timestep),
        inputs.captions(),
        marks=inputs.paired_marks(),
    )
    predicted = latents - sigma * inputs.guide(video.sample)
    predicted[:, :, :, :1] = keyframes

    # 2. Action denoising: every step reuses the cached video keys/values
    steps = action_steps or flow.action_steps
    actions = denoise_actions(model, inputs, context, generator, steps, graphs)
    return EventSample(actions=actions, latents=predicted, video_calls=1, context=context)


def _repeat_context(context: VideoContext, draws: int, guided: bool) -> VideoContext:
    """A (B or 2B)-row context -> (B K or 2B K) rows, in the order `EventInputs.paired` lays a
    batch of B K out: every captioned row first, then every blank one when guided."""

    def repeat(value: torch.Tensor) -> torch.Tensor:
        halves = value.chunk(2) if guided else (value,)
        return torch.cat([half.repeat_interleave(draws, dim=0) for half in halves])

    kv = [(repeat(keys), repeat(values)) for keys, values in context.kv]
    event = None if context.event is None else repeat(context.event)
    return VideoContext(kv=kv, event=event)


@torch.no_grad()
def sample_draws(
    model: WallWM,
    inputs: EventInputs,
    context: VideoContext,
    draws: int,
    temperature: float,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """(B, K, T, A) normalised: K more action sequences of one event, batched through the action
    tower, all reading the video forward the event was sampled with (no second video pass).

    At temperature > 0 the draws spread as far as the model is unsure (FAIL-Detect, FIPER score
    that spread); the event's executed actions are not touched."""
    if draws < 1:
        raise ModelInputError(f"{draws} action draws; expected at least 1")
    batch = inputs.state.shape[0]
    tiled = replace(
        inputs,
        state=inputs.state.repeat_interleave(draws, dim=0),
        action_temperature=temperature,
    )
    repeated = _repeat_context(context, draws, inputs.guided)
    steps = model.config.flow.action_steps
    actions = denoise_actions(model, tiled, repeated, generator, steps)  # (B K, T, A)
    return actions.view(batch, draws, *actions.shape[1:])


def denoise_actions(
    model: WallWM,
    inputs: EventInputs,
    context: VideoContext,
    generator: torch.Generator | None,
    steps: int,
    graphs: GraphCache | None = None,
) -> torch.Tensor:
    """Euler steps of the action flow from pure noise, all reading one prepared event (the
    context of a paired forward when guided). With `graphs` (CUDA), the preparation and the
    steps replay as one recorded CUDA graph per event layout (worldmodel/cuda_graphs.py)."""
    flow = model.config.flow
    batch, device = inputs.state.shape[0], inputs.state.device
    shape = (batch, inputs.steps, model.config.action_dim)
    actions = torch.randn(shape, generator=generator, device=device, dtype=inputs.state.dtype)
    actions = actions * inputs.action_temperature
    shift = flow.shift if flow.action_shift is None else flow.action_shift
    sigmas = sigma_schedule(steps, shift).to(device)

    def denoise(
        actions: torch.Tensor, state: torch.Tensor, sigmas: torch.Tensor, *kv: torch.Tensor
    ) -> torch.Tensor:
        pairs = list(zip(kv[0::2], kv[1::2], strict=True))
        prepared = model.action.prepare(inputs.steps, state, VideoContext(pairs, context.event))
        for sigma, sigma_next in itertools.pairwise(sigmas):
            paired = inputs.paired(actions)
            timestep = (sigma * flow.num_train_timesteps).expand(len(paired))
            velocity = inputs.guide(model.action.velocity(paired, timestep, prepared))
            actions = actions + (sigma_next - sigma) * velocity
        return actions

    arguments = (actions, inputs.paired(inputs.state), sigmas, *itertools.chain(*context.kv))
    if graphs is None or context.event is not None:
        return denoise(*arguments)
    # What the graph freezes besides the tensors' layout: guidance's weight (inputs.guide).
    return graphs.run(denoise, inputs.guidance, arguments)


@torch.no_grad()
def sample_symmetric(
    model: WallWM,
    inputs: EventInputs,
    generator: torch.Generator | None = None,
    steps: int | None = None,
) -> EventSample:
    """Denoise video and actions together; the video tower runs at every step."""
    flow, keyframes, frames = _prepare(model, inputs)
    batch, device, dtype = keyframes.shape[0], keyframes.device, keyframes.dtype
    shape = (*keyframes.shape[:3], frames, *keyframes.shape[4:])
    latents = torch.randn(shape, generator=generator, device=device, dtype=dtype)
    latents[:, :, :, :1] = keyframes
    action_shape = (batch, inputs.steps, model.config.action_dim)
    actions = torch.randn(action_shape, generator=generator, device=device, dtype=dtype)
    actions = actions * inputs.action_temperature
    sigmas = sigma_schedule(steps or flow.symmetric_steps, flow.shift).to(device)
    calls = 0
    for sigma, sigma_next in itertools.pairwise(sigmas):
        scale = flow.num_train_timesteps
        timestep = frame_timesteps(batch, frames, float(sigma), scale, device)
        video, context = model.encode_video(
            inputs.paired(latents),
            inputs.paired(timestep),
            inputs.captions(),
            marks=inputs.paired_marks(),
        )
        calls += 1
        action_timestep = inputs.paired((sigma * scale).expand(batch))
        velocity = model.action(
            inputs.paired(actions), action_timestep, inputs.paired(inputs.state), context
        )
        velocity = inputs.guide(velocity)
        latents = latents + (sigma_next - sigma) * inputs.guide(video.sample)
        latents[:, :, :, :1] = keyframes
        actions = actions + (sigma_next - sigma) * velocity
    return EventSample(actions=actions, latents=latents, video_calls=calls)


def sample_event(
    model: WallWM,
    inputs: EventInputs,
    mode: str = "asymmetric",
    generator: torch.Generator | None = None,
    graphs: GraphCache | None = None,
) -> EventSample:
    """Dispatch to the sampler named by `mode` ('asymmetric' default, or 'symmetric'); `graphs`
    replays the asymmetric sampler's action steps from CUDA graphs."""
    if mode == "asymmetric":
        return sample_asymmetric(model, inputs, generator, graphs=graphs)
    if mode == "symmetric":
        return sample_symmetric(model, inputs, generator)
    raise ModelInputError(f"unknown sampling mode {mode!r}; expected one of {MODES}")
