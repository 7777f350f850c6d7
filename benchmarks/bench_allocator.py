"""Time to first action with glibc's malloc defaults against freed memory kept in the process
(worldmodel/allocator.py), side by side: fresh processes take turns, one of each per round,
because the allocator's settings are per process and glibc's defaults cannot be restored once
changed. Each process loads the checkpoint, predicts bench_first_action's event (3 cameras,
both targets) 3 times to warm up, then times `--predictions` more and counts the page faults
they cause (getrusage's minor faults).

    PYTHONPATH=. python benchmarks/bench_allocator.py --checkpoint grounded
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys

import torch

MODES = ("glibc defaults", "freed memory kept")


def measure(checkpoint: str, kept: bool, predictions: int, threads: int) -> dict[str, float]:
    """In this process: median time to first action (ms) and page faults per prediction."""
    import worldmodel.executor as executor_module
    from benchmarks.bench_first_action import grounded_request
    from worldmodel.allocator import keep_freed_memory
    from worldmodel.locate import checkpoint_folder

    torch.set_num_threads(threads)
    # The executor keeps freed memory when it is built; the defaults' side must not.
    executor_module.keep_freed_memory = keep_freed_memory if kept else lambda: False
    executor = executor_module.EventModeExecutor.from_checkpoint(checkpoint_folder(checkpoint))
    executor.decode = False  # time to first action does not wait for frames
    event = grounded_request(executor.model.config, size=128, steps=40)
    for _ in range(3):  # warm-up: caption cache, kernels, the heap's first growth
        executor.predict(event)
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    times = [executor.predict(event).time_to_first_action_s for _ in range(predictions)]
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults
    return {"ms": 1000 * statistics.median(times), "faults": faults / predictions}


def in_fresh_process(checkpoint: str, kept: bool, predictions: int, threads: int) -> dict:
    command = [sys.executable, __file__, "--checkpoint", checkpoint, "--child"]
    command += ["--predictions", str(predictions), "--threads", str(threads)]
    command += ["--kept"] if kept else []
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([root, os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run(command, capture_output=True, text=True, check=True, env=env)
    return json.loads(done.stdout.splitlines()[-1])


def main() -> None:
    from benchmarks.record import markdown_table, record

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", default="grounded", help="name or folder")
    parser.add_argument("--rounds", type=int, default=5, help="processes of each kind")
    parser.add_argument("--predictions", type=int, default=20, help="timed per process")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--kept", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--no-record", action="store_true", help="print, leave RESULTS.md")
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(args.checkpoint, args.kept, args.predictions, args.threads)))
        return
    runs: dict[str, list[dict]] = {mode: [] for mode in MODES}
    for _ in range(args.rounds):
        for mode in MODES:
            kept = mode == MODES[1]
            runs[mode].append(
                in_fresh_process(args.checkpoint, kept, args.predictions, args.threads)
            )
    base = statistics.median(run["ms"] for run in runs[MODES[0]])
    rows = []
    for mode in MODES:
        ms = statistics.median(run["ms"] for run in runs[mode])
        faults = statistics.median(run["faults"] for run in runs[mode])
        rows.append([mode, f"{ms:.1f}", f"{faults:.0f}", f"{ms / base:.2f}"])
    header = ["malloc", "time to first action (ms, median)", "page faults per prediction", "ratio"]
    notes = (
        f"checkpoint `{args.checkpoint}`, bench_first_action's event (3 cameras at 128x128, "
        f"40 steps, both targets), torch {torch.__version__} with {args.threads} threads, no "
        f"frame decode; {args.rounds} fresh processes of each kind in turn, each timing "
        f"{args.predictions} predictions after 3 warm-up ones (the median of the processes' "
        "medians)."
    )
    record(
        "Time to first action: malloc defaults against freed memory kept",
        markdown_table(header, rows),
        notes,
        print_only=args.no_record,
    )


if __name__ == "__main__":
    main()
