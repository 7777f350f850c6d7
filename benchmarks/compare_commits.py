"""Speed of two commits side by side: time to first action, a whole prediction, or a video-tower
training step.

What runs: the `tiny` executor's time to first action or whole prediction (frames decoded), or
one training step of the `tiny` video tower (details below).

On a shared 2-core machine the same code's timings drift by a third within an hour, so two
commits are compared in alternating fresh processes: each round runs every commit once, in its
own git worktree (its own code and its own bundled checkpoint), and the table gives the median
over rounds of each process's median, and their ratio.

Usage:
    PYTHONPATH=. python benchmarks/compare_commits.py BASE [OTHER] [--rounds 6]
    PYTHONPATH=. python benchmarks/compare_commits.py BASE --what video-training-step

OTHER defaults to the work tree as it is (uncommitted changes included).
- first-action: one 32-step event of 3 cameras observed at 128x128 with the bundled checkpoint,
  latents only (no frame decode), after 3 warm-ups; the checksum is the actions' sum.
- whole-prediction: the same event with its frames decoded (the VAE decode and the resize to the
  cameras' 128x128 that the verifier and the episode record need); the checksum is the frames'
  mean.
- video-training-step: forward and backward of a seeded, untrained `tiny` video tower on 8 rows
  of 3 views x 11 latent frames (a training batch's shape) with per-frame timesteps, after 2
  warm-ups; the checksum is the loss.
An exact speed-up shows the same checksum in both rows.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from benchmarks.record import markdown_table, record

REPO = Path(__file__).resolve().parents[1]
# --what: what each measure's table column is called
MEASURES = {
    "first-action": "time to first action",
    "whole-prediction": "whole prediction",
    "video-training-step": "training step",
}


def prediction(repeats: int, decode: bool) -> tuple[float, float]:
    """The bundled tiny checkpoint's event predicted `repeats` times: the median time to first
    action, or of the whole prediction when decoding frames (ms), and a checksum of the actions
    (of the frames)."""
    import numpy as np
    import torch

    from benchmarks.bench_model import make_request
    from worldmodel.executor import EventModeExecutor
    from worldmodel.locate import checkpoint_folder

    torch.set_num_threads(2)
    loaded = EventModeExecutor.from_checkpoint(checkpoint_folder("tiny"), "cpu")
    executor = EventModeExecutor(
        loaded.model, loaded.stats, loaded.vae, loaded.text_encoder, decode=decode
    )
    request = make_request(executor.model.config, 32, seed=0, size=128)
    for _ in range(3):
        executor.predict(request)
    results = [executor.predict(request) for _ in range(repeats)]
    if decode:
        median = statistics.median(r.total_s for r in results) * 1e3
        frames = results[0].frames or {}
        return median, float(np.mean([clip.mean() for clip in frames.values()]))
    median = statistics.median(r.time_to_first_action_s for r in results) * 1e3
    return median, float(results[0].actions.sum())


def video_training_step(repeats: int) -> tuple[float, float]:
    """Median forward + backward time (ms) of the tiny video tower on a training-sized batch."""
    import time

    import torch

    from worldmodel.config import get_config
    from worldmodel.model import WallWM

    torch.set_num_threads(2)
    torch.manual_seed(0)
    tower = WallWM(get_config("tiny")).video
    generator = torch.Generator().manual_seed(1)
    latents = torch.randn(8, 3, 16, 11, 16, 16, generator=generator)
    timestep = torch.rand(8, 11, generator=generator) * 1000
    timestep[:, 0] = 0  # the keyframe
    text = torch.randn(8, 1, 384, generator=generator)
    times, loss = [], 0.0
    for index in range(repeats + 2):
        start = time.perf_counter()
        out = tower(latents, timestep, text)
        total = out.sample.square().mean() + sum(f.square().mean() for f in out.features)
        total.backward()
        tower.zero_grad(set_to_none=True)
        if index >= 2:  # two warm-ups
            times.append(time.perf_counter() - start)
        loss = float(total)
    return statistics.median(times) * 1e3, loss


def measure(what: str, repeats: int) -> None:
    """Run inside one commit's tree: print one JSON line, the median (ms) and a checksum."""
    if what == "video-training-step":
        median, checksum = video_training_step(repeats)
    else:
        median, checksum = prediction(repeats, decode=what == "whole-prediction")
    print(json.dumps({"ms": median, "checksum": checksum}))


def run_in(tree: Path, what: str, repeats: int) -> dict[str, float]:
    """One fresh process running `measure` (from this file) on `tree`'s code and checkpoint."""
    out = subprocess.run(
        [sys.executable, __file__, "--measure", what, str(repeats)],
        cwd=tree,
        env={**os.environ, "PYTHONPATH": str(tree)},  # the tree's packages, not this one's
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def short(rev: str) -> str:
    return subprocess.run(
        ["git", "rev-parse", "--short", rev], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout.strip()


def main() -> None:
    if sys.argv[1:2] == ["--measure"]:  # a child process (run_in)
        measure(sys.argv[2], int(sys.argv[3]))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("base", help="a commit (e.g. HEAD~3)")
    parser.add_argument("other", nargs="?", default=None, help="a commit; default: the work tree")
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--what", choices=list(MEASURES), default="first-action")
    parser.add_argument("--repeats", type=int, default=15, help="timed runs per process")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="wallwm-compare-") as scratch:
        trees: dict[str, Path] = {}
        for rev in filter(None, (args.base, args.other)):
            tree = Path(scratch) / short(rev)
            subprocess.run(
                ["git", "worktree", "add", "--detach", "-q", str(tree), rev], cwd=REPO, check=True
            )
            trees[short(rev)] = tree
        if args.other is None:
            trees["work tree"] = REPO
        runs: dict[str, list[dict[str, float]]] = {name: [] for name in trees}
        try:
            for round_index in range(args.rounds):
                for name, tree in trees.items():
                    runs[name].append(run_in(tree, args.what, args.repeats))
                print(f"round {round_index + 1}/{args.rounds} done", file=sys.stderr)
        finally:
            for tree in trees.values():
                if tree != REPO:
                    subprocess.run(["git", "worktree", "remove", "--force", str(tree)], cwd=REPO)

    medians = {name: statistics.median(r["ms"] for r in rs) for name, rs in runs.items()}
    base = next(iter(medians.values()))
    rows = [
        [
            name,
            f"{medians[name]:.0f} ms",
            f"{min(r['ms'] for r in rs):.0f}-{max(r['ms'] for r in rs):.0f} ms",
            f"{base / medians[name]:.2f}x",
            f"{rs[0]['checksum']:.6f}",
        ]
        for name, rs in runs.items()
    ]
    label = MEASURES[args.what]
    header = ["code", label, "range of the rounds", "speed-up", "checksum"]
    table = markdown_table(header, rows)
    notes = (
        f"`--what {args.what}` (the script's docstring says what runs); {args.rounds} rounds of "
        f"alternating fresh processes, each the median of {args.repeats} timed runs; the table "
        "gives the median over rounds."
    )
    # A comparison of two commits is the figure of the change it measured (its note), not a
    # current figure of the project: printed, never written to RESULTS.md.
    record(f"{label.capitalize()}, two commits side by side", table, notes, print_only=True)


if __name__ == "__main__":
    main()
