"""`wallwm run`: execute a long-horizon task, one event at a time, in the MuJoCo tabletop.

Usage:
    wallwm run "put the red block in the bowl, then stack green on blue"
    wallwm run --task drawer_red --seed 3 --fault grasp_slip
    wallwm run "put the red block in the bowl" --vlm-url http://gpu-host:8000/v1 --vlm-model M
    wallwm run "put the red block in the bowl" --human      # a person types every event
    wallwm run --resume 20261121-052031-put-the-red-block   # continue an interrupted run
    wallwm run --task bowl_red_blue --json                  # JSON lines instead of the display

Exit status:
    0  the task succeeded
    1  the task failed or spent a budget, or an error stopped it (the run is saved: --resume ID)
    2  bad input: an instruction the planner cannot read, an unknown task, fault or skill folder,
       a resume ID with no recorded episode
    3  the run waits for a person (a takeover under --json): answer with --resume ID in a terminal
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console

from agent.envs.tabletop import FAULT_KINDS, TASKS
from agent.envs.tabletop.tasks import get_task, paraphrase
from worldmodel.errors import WallwmError

if TYPE_CHECKING:
    from agent.session import RunSpec

# The agent's modules (torch, LangGraph, the model) load inside run(), so `wallwm --help` and
# the other subcommands start fast.


def ask_in_terminal(payload: dict[str, Any]) -> str:
    """Answer a human takeover at the keyboard."""
    from agent.graph.runner import TakeoverPending

    console = Console(stderr=True)
    console.print(f"\n[bold yellow]takeover[/]: {payload.get('instruction')}")
    if payload.get("reason"):
        console.print(f"  planner: {payload['reason']}")
    if payload.get("error"):
        console.print(f"  [red]{payload['error']}[/]")
    try:
        return console.input("  next event (a caption, 'skill arg=value', or 'end'): ")
    except EOFError:  # no one at the keyboard (stdin closed): leave the question pending
        raise TakeoverPending("no answer on standard input") from None


def spec_from_args(args: argparse.Namespace) -> RunSpec:
    from agent.session import RunSpec

    instruction = args.instruction or paraphrase(get_task(args.task), args.seed)
    return RunSpec(
        instruction=instruction,
        task=args.task,
        seed=args.seed,
        executor=args.executor,
        planner=args.planner,
        vlm_url=args.vlm_url,
        vlm_model=args.vlm_model,
        human=args.human,
        recovery=args.recovery,
        faults=tuple(args.fault),
        resolution=args.resolution,
        max_events=args.max_events,
        max_retries=args.max_retries,
        wall_time_s=args.wall_time,
        calibration=args.calibration,
        skills_dirs=tuple(args.skills_dir),
    )


def run(args: argparse.Namespace) -> int:
    from agent.graph.runner import TakeoverPending
    from agent.progress import JsonReporter, RichReporter
    from agent.session import load_spec, open_session

    runs_dir = Path(args.runs_dir)
    if args.resume is None and args.instruction is None and args.task is None:
        print("wallwm run: give an instruction, --task NAME, or --resume ID", file=sys.stderr)
        return 2
    try:
        spec = load_spec(runs_dir, args.resume) if args.resume else spec_from_args(args)
    except WallwmError as exc:
        print(f"wallwm run: {exc}", file=sys.stderr)
        return 2
    reporter = JsonReporter() if args.json else None
    try:
        session = open_session(spec, runs_dir, thread_id=args.resume, reporter=reporter)
    except WallwmError as exc:
        print(f"wallwm run: {exc}", file=sys.stderr)
        return 2
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
    try:
        replayed = runner.restore_robot(spec.seed)
        if args.resume and not args.json:
            Console(stderr=True).print(f"resumed {args.resume}: replayed {replayed} steps")
        if display is not None:
            with display:
                final = runner.run(spec.instruction, spec.human, ask, spec.recovery)
        else:
            final = runner.run(spec.instruction, spec.human, ask, spec.recovery)
    except TakeoverPending as exc:
        print(f"wallwm run: {exc}", file=sys.stderr)
        _json_stop(args, "takeover_pending", session.thread_id, exc)
        return 3
    except WallwmError as exc:
        print(
            f"wallwm run: {exc}\nThe run is saved; continue it with "
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
    parser.add_argument("instruction", nargs="?", help="the task in words")
    parser.add_argument(
        "--task",
        choices=sorted(TASKS),
        metavar="NAME",
        help="a task of the suite (its success predicate judges the run)",
    )
    parser.add_argument("--seed", type=int, default=0, help="scene and sampling seed")
    parser.add_argument(
        "--executor",
        default="auto",
        help="oracle, a checkpoint name (tiny) or folder; auto = the simulator oracle until a "
        "shipped checkpoint passes the quality bar (the tiny model does not yet)",
    )
    parser.add_argument(
        "--planner",
        default="auto",
        choices=["auto", "embedded", "vlm"],
        help="auto = vlm when a VLM URL is configured, else embedded",
    )
    parser.add_argument("--vlm-url", help="OpenAI-compatible base URL (env WALLWM_VLM_URL)")
    parser.add_argument("--vlm-model", help="served model name (env WALLWM_VLM_MODEL)")
    parser.add_argument(
        "--human",
        action="store_true",
        help="a person types every event (Event Mode driven by a human)",
    )
    parser.add_argument(
        "--no-recovery",
        dest="recovery",
        action="store_false",
        help="verify and record divergences but never recover (a baseline for studies)",
    )
    parser.add_argument(
        "--fault",
        action="append",
        default=[],
        choices=FAULT_KINDS,
        help="inject a fault (repeatable), for failure-recovery studies",
    )
    parser.add_argument(
        "--resolution",
        type=resolution,
        default=128,
        help="camera images are N x N pixels (a learned executor needs its training size)",
    )
    parser.add_argument("--max-events", type=int, default=30, help="budget of attempted events")
    parser.add_argument("--max-retries", type=int, default=3, help="retries of one event")
    parser.add_argument("--wall-time", type=float, default=900.0, help="budget in seconds")
    parser.add_argument("--calibration", help="verifier thresholds (from `wallwm calibrate`)")
    parser.add_argument(
        "--skills-dir",
        action="append",
        default=[],
        help="an extra folder of skill files (repeatable)",
    )
    parser.add_argument("--runs-dir", default="runs", help="where episodes and checkpoints go")
    parser.add_argument("--resume", metavar="ID", help="continue an interrupted run")
    parser.add_argument("--json", action="store_true", help="JSON lines instead of the display")
    parser.set_defaults(func=run)
