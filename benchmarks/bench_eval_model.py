"""Closed-loop quality of an executor on held-out episodes: `wallwm eval-model`'s tables,
recorded in RESULTS.md (the product command prints them, or JSON with --json; it never writes
here).

    PYTHONPATH=. MUJOCO_GL=egl python benchmarks/bench_eval_model.py --checkpoint tiny
    PYTHONPATH=. MUJOCO_GL=egl python benchmarks/bench_eval_model.py --checkpoint hold-still
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from agent.studies.eval_model import EvalSettings, evaluate, load_executor, tables
from benchmarks.record import markdown_table, record


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", default="tiny", help="a checkpoint, oracle or hold-still")
    parser.add_argument("--episodes", type=int, default=5)
    parser.add_argument("--fault-episodes", type=int, default=3)
    parser.add_argument("--data", type=Path, help="the dataset's own episodes instead")
    parser.add_argument("--chunk", type=int, help="as a fixed-chunk policy of this many steps")
    parser.add_argument("--guidance", type=float)
    parser.add_argument("--targets", choices=("perceived", "truth", "none"), default="perceived")
    parser.add_argument("--horizon", choices=("expert", "skill"), default="expert")
    parser.add_argument("--families", help="comma-separated task families (default all)")
    parser.add_argument("--no-record", action="store_true", help="print, leave RESULTS.md")
    args = parser.parse_args()
    settings = EvalSettings.from_args(args)
    began = time.perf_counter()
    name, build = load_executor(args.checkpoint, args.guidance)
    report = evaluate(build, settings)
    seconds = time.perf_counter() - began
    body = "\n\n".join(
        f"**{title}**\n\n{markdown_table(header, rows)}"
        for title, (header, rows) in tables(report).items()
    )
    how = f" as {args.chunk}-step chunks" if args.chunk else ""
    how += f" with guidance {args.guidance:g}" if args.guidance is not None else ""
    how += ", skill-file horizon" if args.horizon == "skill" else ""
    how += f", {args.families} only" if args.families else ""
    episodes = "training" if args.data is not None else "held-out"
    record(
        f"eval-model {name}{how}, targets {args.targets}: {args.episodes} {episodes} episodes",
        body,
        notes=f"{len(report.events)} events, {seconds:.0f} s",
        print_only=args.no_record,
    )


if __name__ == "__main__":
    main()
