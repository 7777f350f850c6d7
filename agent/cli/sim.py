"""`wallwm sim`: run the scripted expert on a tabletop task and write videos a person can watch.

Usage:
    wallwm sim --list
    wallwm sim drawer_red --seed 3 --out runs/drawer_red          # front.mp4, side.mp4, wrist.mp4
    wallwm sim stack_three --seed 0 --out runs/stack --tiled       # one tiled.mp4
    wallwm sim bowl_red_blue --fault grasp_slip --recover --out runs/slip
    wallwm sim bowl_red_blue --recovery-demo --out runs/regrasp     # perturbed start, re-grasp
    wallwm sim --eval --seeds 50                                   # expert success per family
    wallwm sim stack_three --snapshot docs/cameras.png --width 256 --height 256

The episode itself (episode.json with captions on four levels, events and fault log, plus
arrays.npz with frames, proprio and actions) is written next to the videos.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from agent.cli.output import refuse


def list_tasks() -> int:
    from agent.envs.tabletop.tasks import TASKS

    for task in TASKS.values():
        events = sum(len(sub.steps) for sub in task.subtasks)
        print(
            f"{task.name:20s} {task.family:11s} {len(task.subtasks)} subtasks, "
            f"{events:2d} skill events  {task.instruction}"
        )
    return 0


def evaluate(seeds: int) -> int:
    from agent.envs.tabletop.evaluate import FAMILIES, family_jobs, run_outcomes, summarise

    print(f"expert success over {seeds} seeds per family (no faults, no rendering)")
    for family in FAMILIES:
        began = time.perf_counter()
        success, progress = summarise(run_outcomes(family_jobs(family, seeds)))
        print(
            f"  {family:11s} success {success:5.1f}%  progress {progress:5.1f}%  "
            f"({time.perf_counter() - began:.0f} s)"
        )
    return 0


def run_task(args: argparse.Namespace) -> int:
    from agent.envs.tabletop.expert import RunConfig, recovery_episode, run_episode
    from agent.envs.tabletop.faults import FaultConfig, FaultInjector
    from agent.envs.tabletop.sim import SimConfig, TabletopSim
    from agent.envs.tabletop.tasks import get_task
    from agent.envs.tabletop.video import tile
    from worldmodel.data.video import write_mp4

    task = get_task(args.task)
    faults = FaultInjector(FaultConfig(args.fault)) if args.fault else None
    sim = TabletopSim(SimConfig(width=args.width, height=args.height), faults=faults)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    print(f"task {task.name} ({task.family}), seed {args.seed}: {task.instruction}")
    began = time.perf_counter()
    try:
        config = RunConfig(recover=args.recover)
        if args.recovery_demo:
            episode = recovery_episode(sim, task, args.seed, config=config)
        else:
            episode = run_episode(sim, task, args.seed, config)
    finally:
        sim.close()
    elapsed = time.perf_counter() - began
    for event in episode.events:
        tag = " (recovery)" if event.recovery else ""
        print(f"  [{event.start:4d}-{event.end:4d}) {event.caption}{tag}")
    for fault in episode.faults[:10]:
        print(f"  fault: {fault}")
    order = [camera.name for camera in episode.cameras]
    if args.tiled:
        written = [write_mp4(out / "tiled.mp4", tile(episode.frames, order), args.fps)]
    else:
        written = [write_mp4(out / f"{name}.mp4", episode.frames[name], args.fps) for name in order]
    episode.save(out)
    print(
        f"{'success' if episode.success else 'FAILED'}: progress {episode.progress:.0f}%, "
        f"{episode.steps} steps ({episode.steps / args.fps:.1f} s simulated) in {elapsed:.1f} s"
    )
    print("wrote " + ", ".join(str(path) for path in written) + f" and the episode in {out}")
    return 0 if episode.success else 1


def snapshot(args: argparse.Namespace) -> int:
    """Write one PNG with every camera's frame at the end of the expert's first carry."""
    import matplotlib.image
    import numpy as np

    from agent.envs.tabletop.expert import RunConfig, run_episode
    from agent.envs.tabletop.sim import SimConfig, TabletopSim
    from agent.envs.tabletop.tasks import get_task
    from agent.envs.tabletop.video import tile

    task = get_task(args.task)
    with TabletopSim(SimConfig(width=args.width, height=args.height)) as sim:
        episode = run_episode(sim, task, args.seed, RunConfig())
    moves = [event.end for event in episode.events if event.skill == "move"]
    index = moves[0] if moves else episode.steps // 2
    order = [camera.name for camera in episode.cameras]
    frames = {name: episode.frames[name][index : index + 1] for name in order}
    image = tile(frames, order)[0]
    gap = np.full((image.shape[0], 4, 3), 255, np.uint8)
    width = args.width
    panels = [image[:, k * width : (k + 1) * width] for k in range(len(order))]
    joined = np.concatenate([p for panel in panels for p in (panel, gap)][:-1], axis=1)
    Path(args.snapshot).parent.mkdir(parents=True, exist_ok=True)
    matplotlib.image.imsave(args.snapshot, joined)
    print(f"wrote {args.snapshot}: cameras {', '.join(order)} at step {index} of {task.name}")
    return 0


def run(args: argparse.Namespace) -> int:
    from worldmodel.errors import WallwmError

    try:
        return dispatch(args)
    except WallwmError as error:  # a bad task, fault or skill name: say what to do, no traceback
        return refuse(str(error))


def dispatch(args: argparse.Namespace) -> int:
    if args.list:
        return list_tasks()
    if args.eval:
        return evaluate(args.seeds)
    if args.snapshot and args.task:
        return snapshot(args)
    if not args.task or not args.out:
        raise SystemExit("wallwm sim: give a TASK and --out DIR (or --list / --eval)")
    return run_task(args)


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "sim",
        help="run the scripted expert on a tabletop task and write mp4 videos",
        description="Run the MuJoCo tabletop world's scripted expert on a task; write one mp4 "
        "per camera (or a tiled one) and the recorded episode.",
    )
    parser.add_argument("task", nargs="?", help="task name (see --list)")
    parser.add_argument("--seed", type=int, default=0, help="object placement seed")
    parser.add_argument("--out", help="output folder")
    parser.add_argument(
        "--tiled", action="store_true", help="one mp4 with the cameras side by side"
    )
    parser.add_argument("--width", type=int, default=128)
    parser.add_argument("--height", type=int, default=128)
    parser.add_argument("--fps", type=int, default=10, help="video rate (control rate is 10 Hz)")
    parser.add_argument(
        "--fault",
        help="inject one fault (seeded): grasp_slip, missed_grasp, external_push, camera_freeze, "
        "black_frames, dropped_frames, action_noise or action_delay",
    )
    parser.add_argument("--recover", action="store_true", help="retry failed subtasks (re-grasp)")
    parser.add_argument(
        "--recovery-demo",
        action="store_true",
        help="start from a perturbed pose near the first grasp and record the re-grasp",
    )
    parser.add_argument("--list", action="store_true", help="list the tasks and exit")
    parser.add_argument("--eval", action="store_true", help="expert success per task family")
    parser.add_argument("--seeds", type=int, default=50, help="seeds per family for --eval")
    parser.add_argument("--snapshot", metavar="PNG", help="write one frame of every camera")
    parser.set_defaults(func=run)
