"""`wallwm eval-model`: closed-loop quality of a world-model checkpoint on held-out seeds.

Usage:
    wallwm eval-model                                  # the bundled tiny checkpoint, 5 seeds
    wallwm eval-model --checkpoint runs/tiny/export --episodes 10 --json
    wallwm eval-model --checkpoint hold-still          # the negative control: 0% everywhere
    wallwm eval-model --data data/tabletop             # a dataset's own episodes instead
    wallwm eval-model --checkpoint RUN/export --targets truth   # targets from simulator state

Prints per-skill single-event success, whole-task success per family (no faults), predicted vs
observed PSNR/SSIM per camera on successful events and on events with an injected fault, and the
open-loop action error against the expert. Seeds are held out from `wallwm data generate`;
half of the episodes use held-out caption paraphrases. With `--data DATASET` the episodes are
instead the ones that dataset recorded (same scenes, same captions), for the train/held-out gap.
Every request carries the event's targets from perception of the live observation, as the agent
gives them (`--targets perceived`), or from simulator state (`truth`), or none (`none`: the
caption alone); checkpoints without mark channels ignore them.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path


def evaluate(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    from agent.studies.eval_model import EvalSettings, evaluate, load_executor, summary, tables

    settings = EvalSettings.from_args(args)
    console = Console(stderr=args.json)  # with --json, stdout holds the JSON object alone
    began = time.perf_counter()
    name, build = load_executor(args.checkpoint, args.guidance)
    report = evaluate(build, settings, say=console.print)
    seconds = time.perf_counter() - began
    if args.json:
        print(json.dumps({**summary(report, name, settings), "seconds": round(seconds, 1)}))
        return 0
    for title, (header, rows) in tables(report).items():
        table = Table(title=title)
        for column in header:
            table.add_column(column)
        for row in rows:
            table.add_row(*map(str, row))
        console.print(table)
    console.print(f"{len(report.events)} events in {seconds:.0f} s ({name})")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("eval-model", help="closed-loop quality of a checkpoint")
    parser.add_argument(
        "--checkpoint",
        default="tiny",
        help="checkpoint name or folder, or an executor: 'oracle' (the upper bound) or "
        "'hold-still' (the negative control)",
    )
    parser.add_argument(
        "--episodes",
        type=int,
        default=5,
        help="how many episodes (held-out seeds, or --data's first)",
    )
    parser.add_argument(
        "--data",
        type=Path,
        default=None,
        metavar="DATASET",
        help="evaluate on the first nominal episodes this dataset recorded (its seeds and "
        "captions) instead of held-out ones: the gap tells memorising from not learning",
    )
    parser.add_argument("--fault-episodes", type=int, default=3, help="episodes with a fault")
    parser.add_argument(
        "--chunk",
        type=int,
        default=None,
        metavar="STEPS",
        help="run the checkpoint as a fixed-chunk policy (a `wallwm train --chunk` baseline): the "
        "task instruction as caption, STEPS actions per prediction",
    )
    parser.add_argument(
        "--guidance",
        type=float,
        default=None,
        metavar="W",
        help="classifier-free guidance scale on the caption (1: none; default: the executor's)",
    )
    parser.add_argument(
        "--targets",
        choices=("perceived", "truth", "none"),
        default="perceived",
        help="where each request's targets come from: perception of the live observation (as "
        "the agent does; default), simulator state, or none (the caption alone)",
    )
    parser.add_argument(
        "--families",
        default=None,
        metavar="NAMES",
        help="held-out episodes of these task families only, comma-separated (containers, "
        "stacking, sorting, drawer, mixed; default all); each keeps its seed from a full run",
    )
    parser.add_argument(
        "--horizon",
        choices=("expert", "skill"),
        default="expert",
        help="control steps per event: the expert's own duration in that scene (default), or "
        "what the agent loop asks for (the skill file's horizon from the hand to the targets, "
        "else its typical_frames)",
    )
    parser.add_argument(
        "--json",
        action="store_true",
        help="print one JSON object (executor, targets, per skill events and success, per task "
        "family episodes and success) instead of tables",
    )
    parser.set_defaults(func=evaluate)
