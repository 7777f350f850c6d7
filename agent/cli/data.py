"""`wallwm data`: generate event datasets with the scripted expert, and check them.

Usage:
    wallwm data generate --out /work/data/tabletop --episodes 200 --recovery-fraction 0.2
    wallwm data generate --out /tmp/small --episodes 4 --families containers drawer --size 32
    wallwm data generate --out /tmp/tower --episodes 20 --scene scenes/tower_open_drawer.yaml
    wallwm data check /work/data/tabletop
    wallwm data upgrade /work/data/tabletop600

Generation is resumable: run the same command again after an interruption and it continues at
the next episode (a partially written episode is discarded); the result is the same dataset.
`check` loads every episode and checks the layout against what LeRobot 0.4 writes, naming each
field that is off; `upgrade` rewrites a dataset of the earlier wallwm layout in the current one.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path


def folder_size(root: Path) -> int:
    return sum(path.stat().st_size for path in root.rglob("*") if path.is_file())


def generate(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    from agent.envs.tabletop.datagen import GenerationConfig, Generator
    from agent.envs.tabletop.scene_file import DEFAULT_SCENE, load_scene

    console = Console(stderr=True)
    config = GenerationConfig(
        episodes=args.episodes,
        families=tuple(args.families),
        recovery_fraction=args.recovery_fraction,
        seed=args.seed,
        width=args.size,
        height=args.size,
        keyframe_interval=args.keyframe_interval,
        reach_jitter=args.reach_jitter,
        carry_jitter=args.carry_jitter,
        scene=load_scene(args.scene) if args.scene else DEFAULT_SCENE,
    )
    generator = Generator(Path(args.out), config)
    if generator.writer.discarded:
        console.print(
            f"[yellow]discarded {len(generator.writer.discarded)} file(s) of an interrupted "
            "episode[/yellow]"
        )
    start_index = generator.done
    if start_index:
        console.print(f"resuming {args.out} at episode {start_index}")
    began = time.perf_counter()
    recovered = 0
    try:
        with Progress(
            "[progress.description]{task.description}",
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            console=console,
        ) as progress:
            bar = progress.add_task("episodes", total=args.episodes, completed=start_index)
            while generator.done < args.episodes:
                plan = generator.step()
                recovered += plan.recovery
                kind = "recovery" if plan.recovery else "nominal"
                progress.update(bar, advance=1, description=f"{plan.task.name} ({kind})")
    finally:
        generator.close()
    made = generator.done - start_index
    minutes = (time.perf_counter() - began) / 60
    rate = made / minutes if minutes > 0 else 0.0
    size = folder_size(Path(args.out)) / 2**20
    print(
        f"{made} episodes written ({recovered} recovery) in {minutes * 60:.0f} s: "
        f"{rate:.1f} episodes/min; dataset {args.out}: {generator.done} episodes, {size:.1f} MiB"
    )
    return 0


def check(args: argparse.Namespace) -> int:
    from rich.progress import track

    from worldmodel.data.conformance import UPGRADE_HINT, keyframe_interval, layout_problems
    from worldmodel.data.reader import DatasetError, DatasetReader

    root = Path(args.root)
    try:
        reader = DatasetReader(root)
    except DatasetError as error:
        print(f"not a usable dataset: {error}")
        return 1
    problems: list[str] = []
    frames = 0
    recovery = 0
    for position in track(range(len(reader)), description="checking", transient=True):
        try:
            episode = reader.load(position)
        except DatasetError as error:
            problems.append(str(error))
            continue
        frames += episode.length
        recovery += bool(episode.metadata.get("recovery"))
    try:
        reader.stats  # noqa: B018 - the statistics must exist for training
    except DatasetError as error:
        problems.append(str(error))
    layout = layout_problems(root)
    first = next(iter(sorted(root.glob("videos/*/chunk-*/file-*.mp4"))), None)
    keyframes = f"a keyframe every {keyframe_interval(first):.0f} frames" if first else "no video"
    levels = ", ".join(f"{k} {v}" for k, v in reader.level_counts().items())
    print(
        f"{args.root}: {len(reader)} episodes ({recovery} recovery), {frames} frames, cameras "
        f"{reader.camera_names} ({keyframes}), events: {levels}; "
        f"{folder_size(root) / 2**20:.1f} MiB"
    )
    for problem in problems:
        print(f"PROBLEM: {problem}")
    if reader.legacy:
        for problem in layout:
            print(f"OUTDATED: {problem}")
        print(
            f"the episodes are usable, in wallwm's earlier layout: LeRobot reads it but loses "
            f"the task text, cannot append and drops our events; {UPGRADE_HINT.format(root=root)}"
        )
        layout = []
    else:
        for problem in layout:
            print(f"LAYOUT: {problem}")
    failures = len(problems) + len(layout)
    print("ok" if not failures else f"{failures} problem(s)")
    return 0 if not failures else 1


def upgrade(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress

    from agent.envs.tabletop.datagen import tabletop_names
    from worldmodel.data.reader import DatasetError, DatasetReader
    from worldmodel.data.upgrade import upgrade as upgrade_dataset

    root = Path(args.root)
    reader = DatasetReader(root)
    if not reader.legacy:
        raise DatasetError(f"{root} is already in the current layout; nothing to upgrade")
    features = reader.info["features"]
    names = {}
    if reader.info.get("robot_type") == "wallwm-tabletop":
        widths = (features[k]["shape"][0] for k in ("observation.state", "action"))
        names = tabletop_names(*widths)
    with Progress(
        "upgrading", BarColumn(), MofNCompleteColumn(), console=Console(stderr=True)
    ) as progress:
        bar = progress.add_task("episodes", total=len(reader))
        count = upgrade_dataset(
            root, **names, progress=lambda done, _: progress.update(bar, completed=done)
        )
    print(f"{root}: {count} episodes rewritten in the current layout")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    from agent.envs.tabletop.tasks import FAMILIES
    from worldmodel.data.lerobot_format import KEYFRAME_INTERVAL

    parser = subparsers.add_parser("data", help="generate, check and upgrade event datasets")
    commands = parser.add_subparsers(dest="data_command", metavar="ACTION", required=True)
    gen = commands.add_parser("generate", help="record expert episodes as a LeRobot dataset")
    gen.add_argument("--out", required=True, help="dataset folder (created or resumed)")
    gen.add_argument("--episodes", type=int, required=True, help="total episodes wanted")
    gen.add_argument("--families", nargs="+", default=list(FAMILIES), choices=FAMILIES)
    gen.add_argument("--recovery-fraction", type=float, default=0.2)
    gen.add_argument("--seed", type=int, default=0, help="dataset seed (episode i: seed, i)")
    gen.add_argument(
        "--reach-jitter",
        type=float,
        default=0.0,
        metavar="M",
        help="standard deviation (m) of a random offset of where the expert's reaches end, so "
        "grasps, lifts and places are recorded from off-centre starts too (0: exact)",
    )
    gen.add_argument(
        "--carry-jitter",
        type=float,
        default=0.0,
        metavar="M",
        help="standard deviation (m) of where the expert's lifts (below the carry height) and "
        "moves (off the spot) end, so moves and places are recorded from imperfect starts too",
    )
    gen.add_argument("--size", type=int, default=128, help="camera width and height in pixels")
    gen.add_argument(
        "--keyframe-interval",
        type=int,
        default=KEYFRAME_INTERVAL,
        help=f"frames between mp4 keyframes (default {KEYFRAME_INTERVAL}, as LeRobot)",
    )
    gen.add_argument(
        "--scene",
        metavar="FILE",
        help="every episode starts from this scene file (objects present, starting relations; "
        "see `wallwm run --help`); only tasks whose objects it holds are drawn",
    )
    gen.set_defaults(func=generate)
    chk = commands.add_parser("check", help="load every episode and report problems")
    chk.add_argument("root", help="dataset folder")
    chk.set_defaults(func=check)
    upg = commands.add_parser(
        "upgrade", help="rewrite a dataset of the earlier wallwm layout as LeRobot writes it"
    )
    upg.add_argument("root", help="dataset folder (replaced once the new one is complete)")
    upg.set_defaults(func=upgrade)
