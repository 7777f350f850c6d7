"""Verification cost per camera-frame: the ssim and latent measures on one event (target for the
latent measure: at most 1 ms per camera-frame on 2 cores).

One recorded-like event: three cameras, a keyframe and T observed frames at the camera
resolution, scored against a prediction of the same shape. `ssim` compares frames (the oracle's
or decoded predictions); `latent` encodes the observed clip with the checkpoint's VAE and compares
latents (nothing decoded). Times are medians over repeats after a warm-up, one process, the
thread count torch picks.

    PYTHONPATH=. python benchmarks/bench_verify.py [--checkpoint tiny] [--steps 40] [--size 128]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch

from agent.verify.latent_measure import LatentMeasure
from agent.verify.ssim_measure import SsimMeasure
from benchmarks.record import markdown_table, record
from worldmodel.executor import EventModeExecutor
from worldmodel.locate import checkpoint_folder
from worldmodel.types import EventPrediction

CAMERAS = ("front", "side", "wrist")
TARGET_MS = 1.0


def clip(rng: np.random.Generator, steps: int, size: int) -> np.ndarray:
    return rng.integers(0, 256, (steps, size, size, 3), dtype=np.uint8)


def timed(call, repeats: int) -> float:
    call()  # warm-up
    samples = []
    for _ in range(repeats):
        began = time.perf_counter()
        call()
        samples.append(time.perf_counter() - began)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", default="tiny")
    parser.add_argument("--steps", type=int, default=40, help="control steps of the event")
    parser.add_argument("--size", type=int, default=128, help="camera images are size x size")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--no-record", action="store_true", help="print, leave RESULTS.md")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    observed = {name: clip(rng, args.steps, args.size) for name in CAMERAS}
    keyframes = {name: clip(rng, 1, args.size)[0] for name in CAMERAS}
    executor = EventModeExecutor.from_checkpoint(checkpoint_folder(args.checkpoint))
    latents = executor.encode_observed(keyframes, observed)  # a prediction of the right shape
    frames_per_latent = -(-args.steps // (len(next(iter(latents.values()))) - 1 or 1))
    prediction = EventPrediction(
        actions=np.zeros((args.steps, 7), np.float32),
        model=executor.name,
        time_to_first_action_s=0.0,
        total_s=0.0,
        frames={name: clip(rng, args.steps, args.size) for name in CAMERAS},
        latents=latents,
        latent_index=np.minimum(np.arange(args.steps) // frames_per_latent + 1, 10**6),
    )
    camera_frames = len(CAMERAS) * args.steps
    rows = []
    for measure in (SsimMeasure(), LatentMeasure()):
        seconds = timed(
            lambda m=measure: m.divergence(prediction, observed, keyframes, executor),
            args.repeats,
        )
        per_frame_ms = 1000 * seconds / camera_frames
        verdict = "" if measure.name == "ssim" else ("yes" if per_frame_ms <= TARGET_MS else "no")
        rows.append([measure.name, f"{1000 * seconds:.1f}", f"{per_frame_ms:.2f}", verdict])
    table = markdown_table(
        ["measure", "one event (ms)", "per camera-frame (ms)", f"<= {TARGET_MS:g} ms"], rows
    )
    notes = (
        f"{len(CAMERAS)} cameras x {args.steps} steps at {args.size}x{args.size} "
        f"(the model sees {executor.model.config.image_height} px), checkpoint "
        f"{args.checkpoint}, torch {torch.__version__} with {torch.get_num_threads()} threads; "
        f"median of {args.repeats} after a warm-up."
    )
    record("Verification cost per camera-frame", table, notes, print_only=args.no_record)


if __name__ == "__main__":
    main()
