"""Event-data loader throughput: what the training stages can be fed per second.

Usage:
    PYTHONPATH=. python benchmarks/bench_loader.py --data /work/data/tabletop150 --episodes 20

Measures, on the first N episodes of a dataset and in one process:
  decode   episodes read and checked (parquet + one mp4 per camera), resized to the preset's size
  sample   event samples (caption level, dropout, crop, static pruning, normalisation) from the
           decoded episodes
  batches  encoded training batches (`EventBatches`: samples + VAE latents + caption embeddings),
           first with the latent cache cold (every window VAE-encoded) and then warm
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from benchmarks.record import markdown_table, record
from worldmodel.checkpoint import load_vae
from worldmodel.config import get_config
from worldmodel.data.events import EventDataset
from worldmodel.locate import find_checkpoints
from worldmodel.text import build_text_encoder
from worldmodel.training.batches import CaptionBank, EventBatches
from worldmodel.training.stages import StageSettings, open_dataset
from worldmodel.vae import VideoVAE


def keep_first_episodes(dataset: EventDataset, episodes: int) -> None:
    """Draw only events of the first `episodes` episodes, so nothing else is decoded while
    timing."""
    dataset.events = [(p, event) for p, event in dataset.events if p < episodes]
    dataset.by_level = {
        level: [i for i, (_, event) in enumerate(dataset.events) if event.level == level]
        for level in dataset.by_level
    }


def rate(count: int, seconds: float) -> str:
    return f"{count / seconds:.1f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="dataset folder (wallwm data generate)")
    parser.add_argument("--episodes", type=int, default=20, help="episodes to load")
    parser.add_argument("--preset", default="tiny")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--batches", type=int, default=20, help="batches per measurement")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--no-record", action="store_true", help="print only")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    config = get_config(args.preset)
    settings = StageSettings(steps=1, batch=args.batch)
    dataset = open_dataset(Path(args.data), config, settings)
    episodes = min(args.episodes, len(dataset.reader))
    began = time.perf_counter()
    for position in range(episodes):
        dataset.episode(position)
    decode = time.perf_counter() - began
    steps = sum(dataset.episode(p).length for p in range(episodes))
    keep_first_episodes(dataset, episodes)

    rng = np.random.default_rng(0)
    samples = args.batches * args.batch
    began = time.perf_counter()
    for _ in range(samples):
        dataset.sample(dataset.draw_index(rng), rng)
    sample = time.perf_counter() - began

    vae_model = load_vae(next(p for p in find_checkpoints() if p.name == args.preset))
    vae = VideoVAE(vae_model) if vae_model else VideoVAE.from_config(config.vae)
    text = build_text_encoder(config.text, "cpu")
    captions = CaptionBank([event.caption for _, event in dataset.events], text)
    batches = EventBatches(dataset, vae, captions, args.batch, config.vae.scale_factor_temporal)
    batches.fit_sampler()  # k-means over the decoded episodes' events
    timings = []
    for _ in range(2):  # cold latent cache, then warm
        rng = np.random.default_rng(1)
        began = time.perf_counter()
        for step in range(args.batches):
            batches(step, rng)
        timings.append(time.perf_counter() - began)
    rows = [
        [
            "decode",
            f"{episodes} episodes",
            f"{rate(episodes, decode)} episodes/s ({rate(steps, decode)} steps/s x 3 cameras)",
        ],
        ["sample", f"{samples} samples", f"{rate(samples, sample)} samples/s"],
        [
            "batches, cold latent cache",
            f"{args.batches} x {args.batch}",
            f"{rate(args.batches, timings[0])} batches/s",
        ],
        [
            "batches, warm latent cache",
            f"{args.batches} x {args.batch}",
            f"{rate(args.batches, timings[1])} batches/s",
        ],
    ]
    table = markdown_table(["stage", "work", "throughput"], rows)
    notes = (
        f"preset {args.preset} ({config.image_height}x{config.image_width} inside the model), "
        f"{args.threads} torch thread(s), one process; source {args.data}."
    )
    record("Event-data loader throughput", table, notes, print_only=args.no_record)


if __name__ == "__main__":
    main()
