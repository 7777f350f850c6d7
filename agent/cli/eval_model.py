"""`wallwm eval-model`: closed-loop quality of a world-model checkpoint on held-out seeds.

Usage:
    wallwm eval-model                                  # the bundled tiny checkpoint, 5 seeds
    wallwm eval-model --checkpoint runs/tiny/export --episodes 10 --record
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
import time
from collections import defaultdict
from pathlib import Path


def _mean(values: list[float]) -> str:
    return f"{sum(values) / len(values):.2f}" if values else "-"


def _tables(report, families: dict[str, list[bool]]) -> dict[str, tuple[list[str], list[list]]]:
    from agent.eval_model import PREFIX_STEPS

    single = [event for event in report.events if not event.chained]
    by_skill = defaultdict(list)
    for event in single:
        if not event.fault:
            by_skill[event.skill].append(event)
    skills = [
        [
            skill,
            len(events),
            f"{100 * sum(e.success for e in events) / len(events):.0f}%",
            f"{100 * sum(e.action_error_m for e in events) / len(events):.1f}",
            f"{100 * sum(e.prefix_error_m for e in events) / len(events):.1f}",
        ]
        for skill, events in sorted(by_skill.items())
    ]
    tasks = [
        [family, len(results), f"{100 * sum(results) / len(results):.0f}%"]
        for family, results in sorted(families.items())
    ]
    cameras = sorted({name for event in report.events for name in event.psnr})
    groups = {
        "successful events": [e for e in single if e.success and not e.fault],
        "failed events (no fault)": [e for e in single if not e.success and not e.fault],
        "events with an injected fault": [e for e in single if e.fault],
    }
    frames = [
        [
            group,
            camera,
            len(events),
            _mean([e.psnr[camera] for e in events]),
            _mean([e.ssim[camera] for e in events]),
        ]
        for group, events in groups.items()
        if events  # no fault episodes asked for: no empty fault rows
        for camera in cameras
    ]
    return {
        "single-event success per skill": (
            [
                "skill",
                "events",
                "success",
                "open-loop xyz error (cm)",
                f"same, first {PREFIX_STEPS} steps (cm)",
            ],
            skills,
        ),
        "whole-task success per family (expert event sequence, no faults)": (
            ["family", "episodes", "success"],
            tasks,
        ),
        "predicted vs observed frames": (["events", "camera", "n", "PSNR (dB)", "SSIM"], frames),
    }


def evaluate(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    from agent.eval_model import FAULTS, EventRunner, Report, held_out_jobs, training_episodes
    from worldmodel.executor import EventModeExecutor
    from worldmodel.locate import checkpoint_folder

    folder = checkpoint_folder(args.checkpoint)
    # "oracle": the simulator oracle in every runner's own world, the upper bound
    executor = None if args.checkpoint == "oracle" else EventModeExecutor.from_checkpoint(folder)
    if executor is not None and args.guidance is not None:
        executor.guidance = args.guidance
    console = Console()
    began = time.perf_counter()
    report = Report()
    if args.data is not None:  # the training data's own scenes and captions
        jobs = [(task, seed, False) for task, seed in training_episodes(args.data, args.episodes)]
    else:  # held-out seeds, one family after another, every other one paraphrased
        jobs = held_out_jobs(args.episodes)
    for task, seed, paraphrase in jobs:
        console.print(f"{task.name} seed {seed}{' (paraphrased)' if paraphrase else ''}")
        runner = EventRunner(
            executor, paraphrase=paraphrase, chunk=args.chunk, targets=args.targets
        )
        try:
            runner.task(task, seed, single_events=True, report=report)
            runner.task(task, seed, single_events=False, report=report)
        finally:
            runner.close()
    for index, (task, seed, _) in enumerate(jobs[: args.fault_episodes]):
        fault = FAULTS[index % len(FAULTS)]
        console.print(f"{task.name} seed {seed} with fault {fault}")
        runner = EventRunner(executor, fault=fault, chunk=args.chunk, targets=args.targets)
        try:
            runner.task(task, seed, single_events=True, report=report)
        finally:
            runner.close()
    tables = _tables(report, report.tasks)
    for title, (header, rows) in tables.items():
        table = Table(title=title)
        for column in header:
            table.add_column(column)
        for row in rows:
            table.add_row(*map(str, row))
        console.print(table)
    seconds = time.perf_counter() - began
    console.print(f"{len(report.events)} events in {seconds:.0f} s ({folder})")
    name = executor.name if executor is not None else "oracle"
    if args.record:
        from benchmarks.record import markdown_table, record

        body = "\n\n".join(
            f"**{title}**\n\n{markdown_table(header, rows)}"
            for title, (header, rows) in tables.items()
        )
        record(
            f"eval-model {name}{f' as {args.chunk}-step chunks' if args.chunk else ''}"
            f"{f' with guidance {args.guidance:g}' if args.guidance is not None else ''}"
            f", targets {args.targets}: "
            f"{args.episodes} {'training' if args.data is not None else 'held-out'} episodes",
            body,
            notes=f"{len(report.events)} events, {seconds:.0f} s",
        )
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("eval-model", help="closed-loop quality of a checkpoint")
    parser.add_argument(
        "--checkpoint", default="tiny", help="checkpoint name or folder; 'oracle': upper bound"
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
    parser.add_argument("--record", action="store_true", help="append to benchmarks/RESULTS.md")
    parser.set_defaults(func=evaluate)
