"""`wallwm run`: execute a long-horizon task, one event at a time, in the MuJoCo tabletop.

Usage:
    wallwm run "put the red block in the bowl, then stack green on blue"
    wallwm run --task drawer_red --seed 3 --fault grasp_slip
    wallwm run "put the red block in the bowl" --vlm-url http://gpu-host:8000/v1 --vlm-model M
    wallwm run "put the red block in the bowl" --human      # a person types every event
    wallwm run --resume 20261121-052031-put-the-red-block   # continue an interrupted run
    wallwm run --resume 20261121-052031-put-the-red-block --planner embedded  # VLM lost
    wallwm run --task bowl_red_blue --json                  # JSON lines instead of the display
    wallwm run --scene scenes/red_in_bowl.yaml "put the block in the bowl on the plate"

Scene files (--scene, YAML) say which objects are on the table and what holds at the start:
    objects: [red_block, blue_block, bowl, plate, drawer]   # the others are not there at all
    relations: ["in(red_block, bowl)", "on(blue_block, plate)", "open(drawer)"]
Relations are spelt as perception spells them: in(X, bowl), in(X, drawer), on(X, plate),
on(X, Y) (a tower on the table), near(X, Y), open(drawer), closed(drawer). Everything else is
placed at random by --seed, no two objects near each other. Examples: scenes/*.yaml.

Exit status:
    0  the task succeeded
    1  the task failed or spent a budget, or an error stopped it (the run is saved: --resume ID)
    2  bad input: an empty, unreadable or over-long instruction (at most 1000 characters), an
       unknown task, fault, skill folder or checkpoint, an unreadable or impossible scene file, a
       bad option value, a resume ID with no recorded episode or a setting that cannot change on
       resume, an instruction naming an object the scene lacks; nothing is written
    3  the run waits for a person (a takeover under --json): answer with --resume ID in a terminal
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console

from agent.cli.output import refuse
from agent.envs.registry import ENVIRONMENTS, environment_names
from agent.envs.tabletop import FAULT_KINDS, TASKS
from agent.envs.tabletop.tasks import get_task, paraphrase
from agent.execution.registry import EXECUTORS
from agent.planning.registry import PLANNERS, planner_names
from worldmodel.errors import WallwmError

if TYPE_CHECKING:
    from agent.run_spec import RunSpec

# The agent's modules (torch, LangGraph, the model) load inside run(), so `wallwm --help` and
# the other subcommands start fast.


def ask_in_terminal(payload: dict[str, Any]) -> str:
    """Answer a human takeover at the keyboard."""
    from agent.graph.runner import TakeoverPending

    console = Console(stderr=True)
    console.print(f"\n[bold yellow]takeover[/]: {payload.get('instruction')}")
    if payload.get("question"):  # the instruction could not be read: say it another way
        console.print(f"  [bold]{payload['question']}[/]")
        try:
            return console.input("  what should the robot do? ")
        except EOFError:
            raise TakeoverPending("no answer on standard input") from None
    if payload.get("reason"):
        console.print(f"  planner: {payload['reason']}")
    if payload.get("error"):
        console.print(f"  [red]{payload['error']}[/]")
    try:
        return console.input("  next event (a caption, 'skill arg=value', or 'end'): ")
    except EOFError:  # no one at the keyboard (stdin closed): leave the question pending
        raise TakeoverPending("no answer on standard input") from None


def spec_settings(args: argparse.Namespace) -> dict[str, Any]:
    """The RunSpec fields this command line sets (flags not given are left out)."""
    settings = {
        "instruction": args.instruction,
        "task": args.task,
        "seed": args.seed,
        "executor": args.executor,
        "environment": args.environment,
        "planner": args.planner,
        "vlm_url": args.vlm_url,
        "vlm_model": args.vlm_model,
        "vlm_timeout_s": args.vlm_timeout,
        "vlm_retries": args.vlm_retries,
        "human": args.human,
        "recovery": args.recovery,
        "faults": tuple(args.fault) if args.fault else None,
        "resolution": args.resolution,
        "max_events": args.max_events,
        "max_retries": args.max_retries,
        "wall_time_s": args.wall_time,
        "calibration": args.calibration,
        "skills_dirs": tuple(args.skills_dir) if args.skills_dir else None,
        "scene": args.scene,  # the file's path; a new run's spec holds its content
    }
    return {name: value for name, value in settings.items() if value is not None}


def spec_from_args(args: argparse.Namespace, runs_dir: Path) -> RunSpec:
    """A new run's spec, or with --resume the recorded one with the settings that may change."""
    from agent.envs.tabletop.scene_file import load_scene
    from agent.run_spec import RunSpec, load_spec

    settings = spec_settings(args)
    if args.resume:
        return load_spec(runs_dir, args.resume).resumed_with(settings)
    if "scene" in settings:
        settings["scene"] = load_scene(settings["scene"])
    if args.instruction is None:
        seed = settings.get("seed", 0)
        settings["instruction"] = paraphrase(get_task(args.task), seed if seed >= 0 else 0)
    return RunSpec(**settings)


def run(args: argparse.Namespace) -> int:
    runs_dir = Path(args.runs_dir)
    if args.resume is None and args.instruction is None and args.task is None:
        return refuse("give an instruction, --task NAME, or --resume ID")
    try:
        spec = spec_from_args(args, runs_dir)  # checked before the heavy imports below
    except WallwmError as exc:
        return refuse(str(exc))
    from agent.graph.runner import TakeoverPending
    from agent.progress import JsonReporter, RichReporter
    from agent.session import open_session

    reporter = JsonReporter() if args.json else None
    try:
        ask_first = None if args.json else ask_in_terminal
        session = open_session(spec, runs_dir, args.resume, reporter, ask_first)
    except WallwmError as exc:
        return refuse(str(exc))
    spec = session.spec  # with the person's clarification, if one was asked for
    runner = session.runner
    context = runner.context
    header = (
        f"{session.thread_id} · planner {context.planner.name} · executor {context.executor.name}"
    )
    display = None
    if not args.json:
        display = RichReporter(spec.instruction, header, spec.max_events, spec.wall_time_s)
        context.reporter = display
    ask = None if args.json else ask_in_terminal
    # shown before the first event: what will count as done
    context.reporter.event("goal", words=session.goal.words(), relations=session.goal.strings())
    try:
        replayed = runner.restore_robot(spec.seed)
        if args.resume and not args.json:
            Console(stderr=True).print(f"resumed {args.resume}: replayed {replayed} steps")
        if display is not None:
            with display:
                final = runner.run(spec.understood, spec.human_mode, ask, spec.recovery)
        else:
            final = runner.run(spec.understood, spec.human_mode, ask, spec.recovery)
    except TakeoverPending as exc:
        print(f"wallwm: {exc}", file=sys.stderr)
        _json_stop(args, "takeover_pending", session.thread_id, exc)
        return 3
    except WallwmError as exc:
        print(
            f"wallwm: error: {exc}; the run is saved: continue it with "
            f"`wallwm run --resume {session.thread_id}`",
            file=sys.stderr,
        )
        _json_stop(args, "error", session.thread_id, exc)
        return 1
    finally:
        session.close()
    metrics = context.store.metrics or {}
    if args.json:
        print(json.dumps({"event": "result", "episode": str(context.store.root), **metrics}))
    else:
        Console(stderr=True).print(
            f"[bold]{final.get('status')}[/]: progress {metrics.get('progress', 0):.0f}%, "
            f"{metrics.get('events')} events, {metrics.get('recoveries')} recoveries, "
            f"{metrics.get('wall_time_s')} s. Episode: {context.store.root}",
            soft_wrap=True,  # an episode path cut at the console width cannot be copied
        )
    return 0 if final.get("status") == "success" else 1


def resolution(text: str) -> int:
    """--resolution: an even number of pixels from 16 to 1024 (H.264 needs even sizes)."""
    try:
        value = int(text)
    except ValueError:
        value = -1
    if not 16 <= value <= 1024 or value % 2:
        raise argparse.ArgumentTypeError(f"{text!r} is not an even number of pixels in 16..1024")
    return value


def _json_stop(args: argparse.Namespace, status: str, thread_id: str, exc: Exception) -> None:
    """Under --json, a last line for machines when the run stops before its end."""
    if args.json:
        line = {"event": "stopped", "status": status, "episode": thread_id}
        print(json.dumps({**line, "error": type(exc).__name__, "message": str(exc)}))


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "run",
        help="execute a task in the simulator with the agent (planner + world model + verifier)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    # Defaults are None here (RunSpec holds the real ones), so a resumed run can tell the flags
    # given from those left out.
    parser.add_argument("instruction", nargs="?", help="the task in words")
    parser.add_argument(
        "--task",
        choices=sorted(TASKS),
        metavar="NAME",
        help="a task of the suite (its success predicate judges the run)",
    )
    parser.add_argument("--seed", type=int, help="scene and sampling seed, 0 to 2^32-1 (0)")
    parser.add_argument(
        "--executor",
        help="a checkpoint name (grounded, tiny) or folder, or "
        + "; ".join(f"{name}: {entry.summary}" for name, entry in EXECUTORS.items())
        + "; auto (default) = the learned grounded checkpoint (the oracle where it is not "
        "installed)",
    )
    parser.add_argument(
        "--environment",
        choices=environment_names(),
        help="where the robot acts (tabletop, the default): "
        + "; ".join(f"{name}: {entry.summary}" for name, entry in ENVIRONMENTS.items()),
    )
    parser.add_argument(
        "--planner",
        choices=planner_names(),
        help="auto (default) = vlm when a VLM URL is configured, else embedded; "
        + "; ".join(f"{name}: {entry.summary}" for name, entry in PLANNERS.items()),
    )
    parser.add_argument("--vlm-url", help="OpenAI-compatible base URL (env WALLWM_VLM_URL)")
    parser.add_argument("--vlm-model", help="served model name (env WALLWM_VLM_MODEL)")
    parser.add_argument(
        "--vlm-timeout",
        type=float,
        metavar="SECONDS",
        help="give up on one VLM request after this long, retries included "
        "(env WALLWM_VLM_TIMEOUT; default 60)",
    )
    parser.add_argument(
        "--vlm-retries",
        type=int,
        metavar="N",
        help="retries of a VLM request after a connection error, timeout, 429 or 5xx "
        "(env WALLWM_VLM_RETRIES; default 3)",
    )
    parser.add_argument(
        "--human",
        action=argparse.BooleanOptionalAction,
        help="a person types every event (Event Mode driven by a human) and answers the "
        "question when the instruction cannot be read",
    )
    parser.add_argument(
        "--recovery",
        action=argparse.BooleanOptionalAction,
        help="act on divergences and let the embedded planner take over from a VLM server "
        "that stopped answering (the default); --no-recovery verifies and records divergences "
        "but never recovers (a baseline for studies) and stops when the server does",
    )
    parser.add_argument(
        "--fault",
        action="append",
        choices=FAULT_KINDS,
        help="inject a fault (repeatable), for failure-recovery studies",
    )
    parser.add_argument(
        "--resolution",
        type=resolution,
        help="camera images are N x N pixels (default 128; a learned executor needs its "
        "training size)",
    )
    parser.add_argument("--max-events", type=int, help="budget of attempted events (30)")
    parser.add_argument("--max-retries", type=int, help="retries of one event (3)")
    parser.add_argument("--wall-time", type=float, help="budget in seconds (900)")
    parser.add_argument("--calibration", help="verifier thresholds (from `wallwm calibrate`)")
    parser.add_argument(
        "--skills-dir",
        action="append",
        help="an extra folder of skill files (repeatable)",
    )
    parser.add_argument(
        "--scene",
        metavar="FILE",
        help="a YAML scene file: the objects present and the relations at the start (see above); "
        "the rest is placed at random by --seed",
    )
    parser.add_argument("--runs-dir", default="runs", help="where episodes and checkpoints go")
    parser.add_argument(
        "--resume",
        metavar="ID",
        help="continue an interrupted run; the planner, VLM, human, recovery, budget and "
        "calibration flags may change, the task, instruction, seed, scene, faults, executor, "
        "resolution and skill folders may not",
    )
    parser.add_argument("--json", action="store_true", help="JSON lines instead of the display")
    parser.set_defaults(func=run)
