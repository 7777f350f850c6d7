"""The README's task as a user runs it: `wallwm run INSTRUCTION` in fresh processes, timed.

Each round starts one process of the command line (default executor and planner, the README's
instruction, seed 0) and reads back what the run recorded: its loop's wall time (metrics.json)
and, per event, the time to first action and the whole prediction (events.jsonl: predicted
frames decoded, what the verifier and the episode record need). Start-up is the process's wall
time less the loop's: imports, loading the checkpoint and the text encoder, the first
perception, reading the instruction, and writing the episode out. The table gives the median
over rounds (per event: the median over every event of every round).

With --baseline DIR (a checkout of other code, e.g. a `git worktree` of an older commit) the
rounds alternate between it and this tree, both are printed and nothing is recorded: a
comparison is the figure of the change it measured.

    PYTHONPATH=. MUJOCO_GL=egl python benchmarks/bench_run.py [--rounds 5] [--baseline DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from benchmarks.record import markdown_table, record

REPO = Path(__file__).resolve().parents[1]
README_TASK = "put the red block in the bowl, then stack the green block on the blue block"


@dataclass
class RunTimes:
    """What one `wallwm run` process took, and whether the world shows the task done."""

    process_s: float
    loop_s: float  # the agent loop's wall time (metrics.json)
    events: int
    succeeded: bool
    first_action_s: list[float]  # per event
    prediction_s: list[float]  # per event, predicted frames decoded


def one_run(code: Path, instruction: str) -> RunTimes:
    """One fresh `wallwm run` process on `code`'s checkout."""
    with tempfile.TemporaryDirectory(prefix="wallwm-bench-run-") as runs:
        command = [sys.executable, "-m", "agent.cli.main", "run", instruction]
        command += ["--runs-dir", runs, "--json"]
        env = {**os.environ, "PYTHONPATH": str(code), "MUJOCO_GL": "egl"}
        start = time.perf_counter()
        done = subprocess.run(command, cwd=code, env=env, capture_output=True, text=True)
        process = time.perf_counter() - start
        [metrics_file] = Path(runs).glob("*/metrics.json")
        metrics = json.loads(metrics_file.read_text())
        events = [json.loads(line) for line in metrics_file.with_name("events.jsonl").open()]
    pending = [event["pending"] for event in events if event.get("pending")]
    return RunTimes(
        process_s=process,
        loop_s=float(metrics["wall_time_s"]),
        events=int(metrics["events"]),
        succeeded=done.returncode == 0 and bool(metrics["goal_met_in_world"]),
        first_action_s=[float(p["time_to_first_action_s"]) for p in pending],
        prediction_s=[float(p["predict_s"]) for p in pending],
    )


def summary(runs: list[RunTimes]) -> list[str]:
    """The table's cells for one checkout's rounds."""
    median = statistics.median
    first_action = median(t for run in runs for t in run.first_action_s)
    prediction = median(t for run in runs for t in run.prediction_s)
    return [
        f"{median(run.process_s for run in runs):.1f} s",
        f"{median(run.process_s - run.loop_s for run in runs):.1f} s",
        f"{median(run.loop_s for run in runs):.2f} s",
        f"{median(run.events for run in runs):.0f}",
        f"{1000 * median(run.loop_s / max(run.events, 1) for run in runs):.0f} ms",
        f"{1000 * first_action:.0f} ms",
        f"{1000 * prediction:.0f} ms",
        f"{sum(run.succeeded for run in runs)}/{len(runs)}",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--instruction", default=README_TASK)
    parser.add_argument("--baseline", type=Path, help="another checkout, run in turn with this")
    parser.add_argument("--no-record", action="store_true", help="print, leave RESULTS.md")
    args = parser.parse_args()
    codes = {"this tree": REPO}
    if args.baseline is not None:
        codes = {f"baseline {args.baseline.name}": args.baseline.resolve(), **codes}
    runs: dict[str, list[RunTimes]] = {name: [] for name in codes}
    for round_index in range(args.rounds):
        for name, code in codes.items():
            runs[name].append(one_run(code, args.instruction))
        print(f"round {round_index + 1}/{args.rounds} done", file=sys.stderr)
    header = [
        "code",
        "process",
        "start-up",
        "loop",
        "events",
        "loop per event",
        "time to first action",
        "whole prediction",
        "succeeded",
    ]
    table = markdown_table(header, [[name, *summary(rs)] for name, rs in runs.items()])
    in_turn = " per code, in turn" if args.baseline else ""
    notes = (
        f"`wallwm run {args.instruction!r}` (default executor and planner, seed 0, cameras at "
        f"128x128), {args.rounds} rounds of a fresh process{in_turn}; "
        "medians over rounds, per-event times over every event of every round. Start-up = the "
        "process's wall time less the loop's; the whole prediction includes decoding the "
        "predicted frames."
    )
    print_only = args.no_record or args.baseline is not None
    record("A run as the README starts it (wallwm run)", table, notes, print_only=print_only)


if __name__ == "__main__":
    main()
