"""Which video context lets the action tower act best? Open-loop action error per skill.

Usage:
    PYTHONPATH=. python research/context_probe.py --checkpoint RUN/export --data DATASET

The asymmetric sampler runs the video tower once and every action step reads its features. What
the future frames hold in that one forward is our choice (the paper does not say), and the action
tower was trained on features of noised *real* futures. This takes `--events` action-level events
per skill from a dataset, and predicts each event's actions (action temperature 0, the
executor's default) from the same keyframes, caption and state with different future frames:

- `static@S`: the sampler's static-world guess (the keyframe held still for one VAE chunk)
  noised to level S. S may be a number, `anchor` (the checkpoint's anchor level) or `paper`
  (WALL-WM's anchor, step 45 of 50: sigma ~0.357).
- `noise@1`: pure noise, the input at anchor sigma 1 (the guess has no weight there).
- `true@S`: the event's real future noised to level S: an oracle no sampler has, which shows
  how much the tower leans on seeing the future.

The figure is the mean over steps of the xyz distance between predicted and recorded actions,
in cm; "hold still" is the same for predicting no motion. Events come from the dataset, so with
a training dataset these are training events.
"""

from __future__ import annotations

import argparse
import collections
from pathlib import Path

import numpy as np
import torch

from benchmarks.record import markdown_table, record
from worldmodel.checkpoint import load_checkpoint, load_vae
from worldmodel.config import FlowConfig
from worldmodel.data.events import EventDataset, EventSample
from worldmodel.flow import anchor_sigma
from worldmodel.locate import checkpoint_folder
from worldmodel.model import WallWM
from worldmodel.sampling import EventInputs, denoise_actions, frame_timesteps
from worldmodel.text import build_text_encoder
from worldmodel.training.stages import StageSettings, open_dataset
from worldmodel.vae import VideoVAE, pad_clip, still_clip

SKILLS = ("reach", "grasp", "lift", "move", "place", "release")
DEFAULT_CONTEXTS = "static@paper,noise@1,true@paper"


def parse_context(name: str, anchor: float) -> tuple[str, float]:
    """'static@anchor' -> ('static', the checkpoint's anchor sigma); 'true@paper' -> ('true',
    WALL-WM's anchor sigma); 'true@0.5' -> ('true', 0.5)."""
    kind, _, level = name.partition("@")
    named = {"anchor": anchor, "paper": anchor_sigma(FlowConfig())}
    try:
        sigma = named[level] if level in named else float(level)
    except ValueError:
        sigma = -1.0
    if kind not in ("static", "noise", "true") or not 0.0 <= sigma <= 1.0:
        raise SystemExit(
            f"unknown context {name!r}; expected static@S, noise@1 or true@S with S a level in "
            "[0, 1], 'anchor' or 'paper'"
        )
    return kind, sigma


@torch.no_grad()
def event_errors(
    model: WallWM,
    vae: VideoVAE,
    text: torch.Tensor,
    sample: EventSample,
    dataset: EventDataset,
    contexts: list[str],
) -> dict[str, float]:
    """xyz error (cm) of one event's predicted actions under every context."""
    config = model.config
    stride = config.vae.scale_factor_temporal
    names = list(sample.clip)
    frames = config.latent_frames(sample.length)
    clips = np.stack([pad_clip(sample.clip[n], stride) for n in names])[None]
    real = vae.encode(clips)[:, :, :, :frames]  # (1, V, C, F, h, w)
    encoded = vae.encode(still_clip(np.stack([sample.keyframes[n] for n in names]), 1 + stride))
    keyframes, static = encoded[:, :, :, :1], encoded[:, :, :, 1:2]
    state = torch.from_numpy(sample.proprio)[None].float()
    inputs = EventInputs(keyframes, text, state, sample.length, static, action_temperature=0.0)
    recorded = dataset.action_norm.unnormalize(sample.actions)[:, :3]
    errors = {"hold still": 100 * float(np.linalg.norm(recorded, axis=1).mean())}
    for name in contexts:
        kind, sigma = parse_context(name, anchor_sigma(config.flow))
        generator = torch.Generator().manual_seed(0)
        noise = torch.randn(real.shape, generator=generator)
        future = static.expand_as(real) if kind == "static" else real
        sigma = 1.0 if kind == "noise" else sigma
        latents = (1 - sigma) * future + sigma * noise
        latents[:, :, :, :1] = keyframes
        timestep = frame_timesteps(1, frames, sigma, config.flow.num_train_timesteps, real.device)
        _, context = model.encode_video(latents, timestep, text)
        actions = denoise_actions(model, inputs, context, generator, config.flow.action_steps)
        predicted = dataset.action_norm.unnormalize(actions[0].numpy())[:, :3]
        errors[name] = 100 * float(np.linalg.norm(predicted - recorded, axis=1).mean())
    return errors


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", required=True, help="checkpoint name or folder")
    parser.add_argument("--data", type=Path, required=True, help="dataset folder")
    parser.add_argument("--events", type=int, default=12, help="events per skill")
    parser.add_argument("--contexts", default=DEFAULT_CONTEXTS, help="comma-separated")
    parser.add_argument("--seed", type=int, default=0, help="which events")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    contexts = args.contexts.split(",")
    folder = checkpoint_folder(args.checkpoint)
    model, _ = load_checkpoint(folder)
    model.eval()
    vae_model = load_vae(folder)
    if vae_model is None:
        raise SystemExit(f"checkpoint {folder} has no VAE: the probe needs the trained one")
    vae = VideoVAE(vae_model)
    config = model.config
    for name in contexts:
        parse_context(name, 0.0)  # refuse a typo before any work
    # the event windows and action representation the action stage trains on
    dataset = open_dataset(args.data, config, StageSettings(steps=0))
    encoder = build_text_encoder(config.text, torch.device("cpu"))
    by_skill = collections.defaultdict(list)
    for index, (_, event) in enumerate(dataset.events):
        if event.level == "action":
            by_skill[event.caption.split()[0]].append(index)
    rng = np.random.default_rng(args.seed)
    rows = []
    for skill in SKILLS:
        chosen = rng.permutation(by_skill[skill])[: args.events]
        if not len(chosen):
            continue  # a dataset without this skill's events
        per_event = []
        for index in chosen:
            sample = dataset.sample(int(index), rng)
            text = encoder.encode([dataset.event_caption(int(index))])  # never dropped here
            per_event.append(event_errors(model, vae, text, sample, dataset, contexts))
        means = {key: np.mean([e[key] for e in per_event]) for key in per_event[0]}
        rows.append([skill, len(per_event), *(f"{means[c]:.1f}" for c in contexts)])
        rows[-1].append(f"{means['hold still']:.1f}")
        print(*rows[-1], flush=True)
    table = markdown_table(["skill", "events", *contexts, "hold still"], rows)
    notes = (
        f"Open-loop xyz error (cm, mean over steps) of {args.checkpoint}'s actions on action-level "
        f"events of {args.data} (seed {args.seed}), action temperature 0, "
        f"{config.flow.action_steps} action steps; anchor sigma "
        f"{anchor_sigma(config.flow):.3f}. Same weights, keyframes, caption and state in every "
        "column; only the future frames of the one video forward differ."
    )
    record(f"Action error by video context: {args.checkpoint}", table, notes, print_only=True)


if __name__ == "__main__":
    main()
