"""`wallwm eval` and `wallwm calibrate`: failure-recovery studies and verifier calibration.

Usage:
    wallwm calibrate --tasks bowl_red_blue,drawer_red --seeds 0-9 --alpha 0.05
    wallwm calibrate --measure latent --out runs/calibration-latent
    wallwm calibrate --executor tiny --save worldmodel/checkpoints/tiny/calibration.json
    wallwm eval --tasks bowl_red_blue,stack_three --faults none,grasp_slip,missed_grasp \\
        --seeds 0-4 --calibration runs/calibration/wallwm-tiny.json --out runs/eval-slip
    wallwm eval ... --out runs/eval-slip      # again: finished cases are kept, the rest resume
    wallwm eval --tasks bowl_red_blue --scene scenes/red_in_bowl.yaml --out runs/eval-red-in-bowl

Both run the shipped learned checkpoint grounded unless --executor says otherwise: detection is
measured where predictions are imperfect. calibrate runs nominal episodes (no faults, recovery
off), collects every event's per-camera
divergence and fits conformal thresholds per skill and camera for the false-alarm rate alpha.
With a learned executor it also fits the action-consistency detector (the spread of
--action-draws sampled action sequences per event) and the combined one, into
<thresholds>.detectors.json beside the thresholds file; eval then scores all of them.
eval runs tasks x faults x seeds with recovery on and off and writes results.jsonl, report.md,
summary.json, PNG plots, and one episode folder per case (replay any with `wallwm replay`).
Detection is judged by the simulator: its fault log, and its state after every event, replayed
from the recorded actions, so an executor's own failure (a grasp that closes beside the block)
is a failure to find, not a false alarm. Rerunning eval on a study from before this scores its
finished cases again from their episodes.
A --faults item is none, a fault, KIND@last (armed only in the episode's last event), or faults
of one episode joined by '+': --faults none,grasp_slip+external_push,external_push@last.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from agent.envs.tabletop import FAULT_KINDS, TASKS
from agent.envs.tabletop.faults import parse_faults as parse_fault_specs
from agent.envs.tabletop.tasks import get_task
from agent.execution.registry import STUDY_DEFAULT
from agent.studies import summary  # light: its docstring is eval's epilog
from agent.verify.registry import measure_names

if TYPE_CHECKING:
    from agent.studies.evaluation import EvalCase

# The study's modules (torch, LangGraph, matplotlib) load inside the commands, so `wallwm --help`
# starts fast.

# Action draws per event in a study: the spread of 8 sequences costs the tiny model about 60 ms
# per event on 2 cores (worldmodel/executor.py); plain runs draw none.
STUDY_ACTION_DRAWS = 8


def parse_seeds(text: str) -> list[int]:
    """'0-4' -> [0, 1, 2, 3, 4]; '1,5,9' -> [1, 5, 9]."""
    seeds: list[int] = []
    for part in text.split(","):
        if "-" in part:
            low, high = part.split("-")
            seeds.extend(range(int(low), int(high) + 1))
        else:
            seeds.append(int(part))
    return seeds


def parse_tasks(text: str) -> list[str]:
    names = list(TASKS) if text == "all" else [t.strip() for t in text.split(",")]
    for name in names:
        get_task(name)  # a typo raises with the closest names
    return names


def parse_faults(text: str) -> list[str | None]:
    """'none,grasp_slip+external_push,external_push@last' -> one entry per case set: None (no
    fault) or the faults of one episode joined by '+'. A misspelling raises naming it."""
    faults: list[str | None] = []
    for item in (f.strip() for f in text.split(",")):
        if item == "none":
            faults.append(None)
            continue
        parse_fault_specs(item)
        faults.append("+".join(part.strip() for part in item.split("+")))
    return faults


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=Console(stderr=True),
    )


def _run(study: list[EvalCase], out: Path, base: dict[str, Any], label: str) -> list[dict]:
    from agent.studies.evaluation import run_study

    rows = []
    with _progress() as progress:
        bar = progress.add_task(label, total=len(study))
        for row in run_study(study, out, base):
            rows.append(row)
            progress.update(bar, advance=1, description=f"{label} {row['case']}")
    return rows


def calibrate(args: argparse.Namespace) -> int:
    from agent.studies.evaluation import calibration_samples, cases, spread_samples
    from agent.verify.calibration import fit_thresholds
    from agent.verify.detectors import detectors_file, fit_detectors

    base = {
        "executor": args.executor,
        "planner": "embedded",
        "resolution": args.resolution,
        "measure": args.measure,
        "action_draws": args.action_draws,
    }
    out = Path(args.out)
    study = cases(parse_tasks(args.tasks), [None], parse_seeds(args.seeds), [False])
    rows = _run(study, out, base, "calibrating")
    samples, model = calibration_samples(out, rows)
    thresholds = fit_thresholds(
        samples, model=model or args.executor, measure=args.measure, alpha=args.alpha, window=3
    )
    path = Path(args.save or out / f"{thresholds.model}.json")
    thresholds.save(path)
    Console(stderr=True).print(json.dumps(thresholds.values, indent=1))
    print(f"{len(samples)} camera-event scores from {len(rows)} nominal episodes -> {path}")
    spreads = spread_samples(out, rows)
    if spreads:  # a learned executor with action draws: the action and combined detectors too
        detectors = fit_detectors(
            samples, spreads, thresholds.model, args.measure, args.alpha, thresholds.window
        )
        extra = detectors_file(path)
        detectors.save(extra)
        print(f"{len(spreads)} action-spread scores -> {extra}")
    return 0


def evaluate(args: argparse.Namespace) -> int:
    from agent.envs.tabletop.scene_file import load_scene
    from agent.studies.evaluation import cases
    from agent.studies.report import write_report
    from agent.studies.summary import study_header, write_summary

    base = {
        "executor": args.executor,
        "planner": "embedded",
        "calibration": args.calibration,
        "max_events": args.max_events,
        "resolution": args.resolution,
        "scene": load_scene(args.scene) if args.scene else None,
        "action_draws": args.action_draws,
    }
    out = Path(args.out)
    recovery = {"on": [True], "off": [False], "both": [False, True]}[args.recovery]
    tasks, seeds = parse_tasks(args.tasks), parse_seeds(args.seeds)
    study = cases(tasks, parse_faults(args.faults), seeds, recovery)
    rows = _run(study, out, base, "evaluating")
    header = study_header(args.executor, args.calibration, seeds, tasks, args.command_line)
    report = write_report(out, rows, f"Failure-recovery study ({len(rows)} episodes)", header)
    print(f"report: {report}")
    print(f"summary: {write_summary(out, header, rows)}")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--tasks", default="bowl_red_blue", help="comma-separated, or all")
    common.add_argument("--seeds", default="0-4", help="e.g. 0-9 or 1,5,9")
    common.add_argument(
        "--executor",
        default=STUDY_DEFAULT,
        help=f"a learned checkpoint (name or folder; default {STUDY_DEFAULT}), or oracle (the "
        "upper bound, whose exact predictions never diverge)",
    )
    common.add_argument("--resolution", type=int, default=128, help="camera size in pixels")
    common.add_argument(
        "--action-draws",
        type=int,
        default=STUDY_ACTION_DRAWS,
        help="action sequences a learned executor samples per event for the action-consistency "
        "detector (0: off; the oracle ignores it)",
    )
    calibrate_parser = subparsers.add_parser(
        "calibrate",
        parents=[common],
        help="fit verifier thresholds on nominal episodes",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    calibrate_parser.add_argument(
        "--alpha", type=float, default=0.05, help="target false-alarm rate per event"
    )
    calibrate_parser.add_argument(
        "--out", default="runs/calibration", help="where the nominal episodes go"
    )
    calibrate_parser.add_argument(
        "--save",
        help="thresholds file (default OUT/<model>.json); CHECKPOINT/calibration.json ships "
        "them with a learned checkpoint, whose runs then use them when given no --calibration",
    )
    calibrate_parser.add_argument(
        "--measure",
        choices=measure_names(),
        default="ssim",
        help="divergence measure: ssim (predicted vs observed frames) or latent (observed frames "
        "encoded by the model's VAE vs predicted latents; needs a learned executor)",
    )
    calibrate_parser.set_defaults(func=calibrate)
    eval_parser = subparsers.add_parser(
        "eval",
        parents=[common],
        help="tasks x faults x seeds, recovery on vs off, with a report",
        description=__doc__,
        epilog=summary.__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    eval_parser.add_argument(
        "--faults",
        default="none,grasp_slip",
        help=f"comma-separated: none, {', '.join(FAULT_KINDS)}; KIND@last (in the last event); "
        "KIND+KIND (both in one episode)",
    )
    eval_parser.add_argument("--recovery", choices=["on", "off", "both"], default="both")
    eval_parser.add_argument("--calibration", help="thresholds from `wallwm calibrate`")
    eval_parser.add_argument("--max-events", type=int, default=40)
    eval_parser.add_argument("--out", default="runs/eval", help="the study's folder (resumable)")
    eval_parser.add_argument(
        "--scene",
        metavar="FILE",
        help="every case starts from this scene file (objects present, starting relations; see "
        "`wallwm run --help`)",
    )
    eval_parser.set_defaults(func=evaluate)
