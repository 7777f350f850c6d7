"""Time to first action of the bundled `tiny` checkpoint at two commits, side by side.

On a shared 2-core machine the same code's time to first action drifts by a third within an hour,
so two commits are compared in alternating fresh processes: each round runs every commit once, in
its own git worktree (its own code and its own bundled checkpoint), and the table gives the
median over rounds of each process's median, and their ratio.

Usage:
    PYTHONPATH=. python benchmarks/compare_commits.py BASE [OTHER] [--rounds 6]

OTHER defaults to the work tree as it is (uncommitted changes included). Each process predicts
one 32-step event of 3 cameras observed at 128x128, latents only (no frame decode), after a
warm-up; it also prints a checksum of the actions, so an exact speed-up shows the same actions.
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


def measure(predictions: int) -> None:
    """Run inside one commit's tree: print one JSON line of medians (ms) and an action checksum."""
    import torch

    from benchmarks.bench_model import make_request
    from worldmodel.executor import EventModeExecutor
    from worldmodel.locate import checkpoint_folder

    torch.set_num_threads(2)
    loaded = EventModeExecutor.from_checkpoint(checkpoint_folder("tiny"), "cpu")
    executor = EventModeExecutor(
        loaded.model, loaded.stats, loaded.vae, loaded.text_encoder, decode=False
    )
    request = make_request(executor.model.config, 32, seed=0, size=128)
    for _ in range(3):
        executor.predict(request)
    results = [executor.predict(request) for _ in range(predictions)]
    first = statistics.median(r.time_to_first_action_s for r in results) * 1e3
    print(json.dumps({"first_ms": first, "checksum": float(results[0].actions.sum())}))


def run_in(tree: Path, predictions: int) -> dict[str, float]:
    """One fresh process running `measure` (from this file) on `tree`'s code and checkpoint."""
    out = subprocess.run(
        [sys.executable, __file__, "--measure", str(predictions)],
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
        measure(int(sys.argv[2]))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("base", help="a commit (e.g. HEAD~3)")
    parser.add_argument("other", nargs="?", default=None, help="a commit; default: the work tree")
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--predictions", type=int, default=15, help="per process")
    parser.add_argument("--no-record", action="store_true", help="print only")
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
                    runs[name].append(run_in(tree, args.predictions))
                print(f"round {round_index + 1}/{args.rounds} done", file=sys.stderr)
        finally:
            for tree in trees.values():
                if tree != REPO:
                    subprocess.run(["git", "worktree", "remove", "--force", str(tree)], cwd=REPO)

    medians = {name: statistics.median(r["first_ms"] for r in rs) for name, rs in runs.items()}
    base = next(iter(medians.values()))
    rows = [
        [
            name,
            f"{medians[name]:.0f} ms",
            f"{min(r['first_ms'] for r in rs):.0f}-{max(r['first_ms'] for r in rs):.0f} ms",
            f"{base / medians[name]:.2f}x",
            f"{rs[0]['checksum']:.6f}",
        ]
        for name, rs in runs.items()
    ]
    header = ["code", "time to first action", "range of the rounds", "speed-up", "action checksum"]
    table = markdown_table(header, rows)
    notes = (
        f"Bundled `tiny` checkpoint of each tree, 3 cameras at 128x128, a 32-step event, latents "
        f"only; {args.rounds} rounds of alternating fresh processes, each the median of "
        f"{args.predictions} predictions after 3 warm-ups; the table gives the median over rounds."
    )
    if args.no_record:
        print(table, notes, sep="\n\n")
        return
    record("Time to first action, two commits side by side", table, notes)


if __name__ == "__main__":
    main()
