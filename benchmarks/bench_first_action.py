"""Time to first action of two checkpoints side by side: the grounded model (target marks and
points) against today's tiny (issue 26: ratio at most 1.2, at most 60 ms on a quiet machine).

Each round predicts the same event with every checkpoint in turn, so both see the same machine
load: bench_model's request (random images of 3 cameras at the camera size, a real caption)
with targets for both roles, so a grounded model draws its marks and points. The table gives
each one's median over the rounds and the ratio to the first checkpoint.

    PYTHONPATH=. python benchmarks/bench_first_action.py --checkpoint tiny --checkpoint FOLDER
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics

import torch

from benchmarks.bench_model import make_request
from benchmarks.record import markdown_table, record
from worldmodel.executor import EventModeExecutor
from worldmodel.locate import checkpoint_folder
from worldmodel.types import EventRequest, EventTarget

TARGET_MS = 60.0
MAX_RATIO = 1.2


def grounded_request(config, size: int, steps: int) -> EventRequest:
    """bench_model's request (random images at `size` pixels) with both targets, so a grounded
    model draws its marks and points."""
    request = make_request(config, steps, seed=0, size=size)
    points = {name: (0.4, 0.6) for name in request.observation.camera_names}
    targets = (
        EventTarget("object", "red_block", points, (0.5, -0.1, 0.02)),
        EventTarget("destination", "bowl", points, (0.4, 0.15, 0.03)),
    )
    return dataclasses.replace(request, targets=targets)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", action="append", required=True, help="name or folder")
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--steps", type=int, default=40, help="event length in control steps")
    parser.add_argument("--camera-size", type=int, default=128)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--no-record", action="store_true", help="print, leave RESULTS.md")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    executors = []
    for name in args.checkpoint:
        executor = EventModeExecutor.from_checkpoint(checkpoint_folder(name))
        executor.decode = False  # time to first action does not wait for frames
        executors.append((name, executor))
    event = grounded_request(executors[0][1].model.config, args.camera_size, args.steps)
    for _, executor in executors:  # warm-up: caption cache, allocator, kernels
        executor.predict(event)
    times: dict[str, list[float]] = {name: [] for name, _ in executors}
    for _ in range(args.rounds):
        for name, executor in executors:
            times[name].append(executor.predict(event).time_to_first_action_s)
    base = statistics.median(times[executors[0][0]])
    rows = []
    for name, executor in executors:
        median = statistics.median(times[name])
        config = executor.model.config
        inputs = " + ".join(
            name
            for name, present in (
                ("marks", config.video.mark_channels),
                ("points", config.action.target_points),
            )
            if present
        )
        ratio = median / base
        rows.append([name, inputs or "none", f"{1000 * median:.1f}", f"{ratio:.2f}"])
    table = markdown_table(
        ["checkpoint", "target inputs", "time to first action (ms, median)", "ratio"], rows
    )
    notes = (
        f"{len(event.observation.cameras)} cameras at {args.camera_size}x{args.camera_size}, "
        f"{args.steps}-step event, torch {torch.__version__} with {args.threads} threads, "
        f"asymmetric sampler, no frame decode; {args.rounds} rounds, the checkpoints in turn "
        f"within each round. Targets: ratio <= {MAX_RATIO} against the first checkpoint, "
        f"<= {TARGET_MS:g} ms on a quiet machine."
    )
    record("Time to first action: grounded against tiny", table, notes, print_only=args.no_record)


if __name__ == "__main__":
    main()
