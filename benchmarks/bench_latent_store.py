"""Encoding an event window against reading it from the latent cache (`train --latent-cache`).

Usage:
    PYTHONPATH=. python benchmarks/bench_latent_store.py --data DATA [--checkpoint tiny]

Draws event windows of a dataset as the tower stages do and, for each in turn, encodes it with
the checkpoint's VAE (what a training command does the first time it draws a window), writes it
to a fresh store, and reads it back (what a later command with `--latent-cache` does instead of
encoding). Reports the median time per window of each, their ratio from the same run, and the
store's size per window. Decoding the episodes' video happens before either and is the same for
both, so it is not timed.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from benchmarks.record import markdown_table, record
from worldmodel.checkpoint import load_checkpoint, load_vae
from worldmodel.locate import checkpoint_folder
from worldmodel.training.batches import encode_window
from worldmodel.training.latent_store import LatentStore, window_key
from worldmodel.training.stages import StageSettings, open_dataset
from worldmodel.vae import VideoVAE


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="dataset (wallwm data generate)")
    parser.add_argument("--checkpoint", default="tiny", help="a shipped name or a folder")
    parser.add_argument("--windows", type=int, default=100, help="event windows to time")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--no-record", action="store_true", help="print only")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    folder = checkpoint_folder(args.checkpoint)
    config = load_checkpoint(folder)[0].config
    vae_model = load_vae(folder)
    if vae_model is None:
        raise SystemExit(f"{folder} has no VAE")
    vae = VideoVAE(vae_model)
    dataset = open_dataset(args.data, config, StageSettings(steps=1))
    stride = config.vae.scale_factor_temporal
    rng = np.random.default_rng(0)
    encode_s, load_s, sizes, frames = [], [], [], []
    with tempfile.TemporaryDirectory() as root:
        store = LatentStore(Path(root), vae.vae, dataset, stride)
        seen: set[tuple] = set()
        while len(seen) < min(args.windows, len(dataset)):
            sample = dataset.sample(int(rng.integers(len(dataset))), rng)
            key = window_key(sample)
            if key in seen:
                continue
            seen.add(key)
            began = time.perf_counter()
            latents = encode_window(vae, sample, stride)
            encode_s.append(time.perf_counter() - began)
            store.save(key, latents)
            began = time.perf_counter()
            loaded = store.load(key)
            load_s.append(time.perf_counter() - began)
            if loaded is None or not torch.equal(loaded, latents):
                raise SystemExit(f"window {key} did not come back as written")
            sizes.append(store.path(key).stat().st_size)
            frames.append(latents.shape[2])
    encode_ms, load_ms = 1e3 * statistics.median(encode_s), 1e3 * statistics.median(load_s)
    rows = [
        ["encode with the VAE (no cache, or a cold one)", f"{encode_ms:.1f} ms"],
        ["read from the latent cache", f"{load_ms:.2f} ms"],
        ["encode / read", f"{encode_ms / load_ms:.0f}x"],
        ["cache size per window (median)", f"{statistics.median(sizes) / 1024:.0f} KiB"],
    ]
    notes = (
        f"{len(encode_s)} distinct windows of {args.data} "
        f"({len(dataset.reader.camera_names)} cameras at "
        f"{config.image_height}x{config.image_width}, median {statistics.median(frames):.0f} "
        f"latent frames), the `{args.checkpoint}` VAE, {torch.get_num_threads()} threads; "
        "each window encoded, written and read back in turn; medians."
    )
    record(
        "Event windows: encoding against the latent cache",
        markdown_table(["per window", "median"], rows),
        notes,
        args.no_record,
    )


if __name__ == "__main__":
    main()
