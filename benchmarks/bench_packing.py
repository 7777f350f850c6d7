"""Multi-event packing against one padded event per row: useful work per training step.

Usage:
    PYTHONPATH=. python benchmarks/bench_packing.py --data /work/data/tabletop150 --episodes 20

Both batch sources draw the same kind of events from the first N episodes of a dataset and feed
the shipped checkpoint's action stage (video tower frozen, as `wallwm train --stage action`).
Padded: `--batch` events per step, each row padded to the batch's longest event (latents repeat
their last frame, actions are masked). Packed: `--rows` rows of up to `--capacity` latent frames,
each holding whole events one after the other. Steps of the two alternate, so both see the same
machine load; the latent cache is warmed first, so the figures are the model's, not the VAE's.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from benchmarks.bench_loader import keep_first_episodes
from benchmarks.record import markdown_table, record
from worldmodel.checkpoint import load_checkpoint, load_vae
from worldmodel.flow import TrainingBatch, training_loss
from worldmodel.locate import checkpoint_folder
from worldmodel.text import build_text_encoder
from worldmodel.training.batches import CaptionBank, EventBatches, PackedEventBatches
from worldmodel.training.stages import StageSettings, open_dataset
from worldmodel.vae import VideoVAE


def slots(batch: TrainingBatch) -> tuple[int, int, int, int, int]:
    """(events, real latent frames, frame slots, real action steps, step slots) of a batch."""
    rows, frames = batch.latents.shape[0], batch.latents.shape[3]
    if batch.packing is None:
        real_frames = sum(1 + -(-int(n) // 4) for n in batch.valid.sum(1))
        events = rows
    else:
        real_frames = int((batch.packing.frame_event >= 0).sum())
        events = int((batch.packing.frame_event.max(1).values + 1).sum())
    return events, real_frames, rows * frames, int(batch.valid.sum()), batch.valid.numel()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="dataset folder (wallwm data generate)")
    parser.add_argument("--checkpoint", default="tiny", help="a shipped name or a folder")
    parser.add_argument("--episodes", type=int, default=20, help="episodes to draw events from")
    parser.add_argument("--batch", type=int, default=8, help="padded: events per step")
    parser.add_argument("--rows", type=int, default=4, help="packed: rows per step")
    parser.add_argument("--capacity", type=int, default=24, help="packed: latent frames per row")
    parser.add_argument("--steps", type=int, default=10, help="measured steps of each")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--no-record", action="store_true", help="print only")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    folder = checkpoint_folder(args.checkpoint)
    model, _ = load_checkpoint(folder, torch.device("cpu"))
    config = model.config
    model.train()
    model.video.requires_grad_(False)  # the action stage
    dataset = open_dataset(Path(args.data), config, StageSettings(steps=1))
    keep_first_episodes(dataset, min(args.episodes, len(dataset.reader)))
    vae = VideoVAE(load_vae(folder))
    captions = CaptionBank(
        [event.caption for _, event in dataset.events], build_text_encoder(config.text, "cpu")
    )
    stride = config.vae.scale_factor_temporal
    sources = {
        "padded": EventBatches(dataset, vae, captions, args.batch, stride),
        "packed": PackedEventBatches(
            dataset, vae, captions, args.rows, stride, capacity=args.capacity
        ),
    }
    for source in sources.values():  # warm the latent cache on exactly the events drawn below
        warm = np.random.default_rng(0)
        for step in range(args.steps):
            source(step, warm)
        if isinstance(source, PackedEventBatches):
            source.carried = None
    rngs = {name: np.random.default_rng(0) for name in sources}
    totals = {name: np.zeros(6) for name in sources}
    generator = torch.Generator().manual_seed(0)
    for step in range(args.steps):
        for name, source in sources.items():
            batch = source(step, rngs[name])
            began = time.perf_counter()
            loss = training_loss(model, batch, generator, train_video=False).total
            loss.backward()
            model.zero_grad(set_to_none=True)
            totals[name] += [time.perf_counter() - began, *slots(batch)]
    rows = []
    for name, (seconds, events, frames, frame_slots, steps, step_slots) in totals.items():
        rows.append(
            [
                name,
                f"{events / args.steps:.1f}",
                f"{frames / frame_slots:.0%}",
                f"{steps / step_slots:.0%}",
                f"{seconds / args.steps:.2f}",
                f"{events / seconds:.2f}",
                f"{steps / seconds:.0f}",
            ]
        )
    speedup = (totals["packed"][4] / totals["packed"][0]) / (
        totals["padded"][4] / totals["padded"][0]
    )
    table = markdown_table(
        [
            "batches",
            "events/step",
            "real latent frames",
            "real action steps",
            "s/step",
            "events/s",
            "action steps/s",
        ],
        rows,
    )
    notes = (
        f"Action stage (forward + backward, video tower frozen) of checkpoint {args.checkpoint}, "
        f"{args.steps} alternating steps each, {args.threads} torch thread(s); padded = "
        f"{args.batch} events per step, packed = {args.rows} rows of {args.capacity} latent "
        f"frames. Packed trains {speedup:.2f}x the action steps per second of padded. Events "
        f"from the first {args.episodes} episodes of {args.data}."
    )
    record("Multi-event packing vs padded batches", table, notes, print_only=args.no_record)


if __name__ == "__main__":
    main()
