"""Perception quality and speed on held-out tabletop scenes with varied layouts.

Each scene (`agent/envs/tabletop/layouts.py`) has blocks stacked, in the bowl, in the open drawer,
on the plate, held by the gripper or hidden behind it. Against simulator truth: per object, how
often it is found when some camera shows it (at least 5 segmentation pixels), and its position
error; per relation kind, precision and recall; per camera, how often a visible object is sighted;
time per observation (3 cameras, 128x128); and bad input (black, frozen or missing cameras, an
object hidden in every view) must give "not seen", never a guess.

    PYTHONPATH=. MUJOCO_GL=egl python benchmarks/bench_perception.py [--scenes 200] [--no-record]

Rewrites its own section of benchmarks/RESULTS.md in place.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import time
from collections import defaultdict

os.environ.setdefault("MUJOCO_GL", "egl")

import numpy as np

from agent.envs.tabletop.layouts import arrange
from agent.envs.tabletop.oracle import SimulatorOracleExecutor
from agent.envs.tabletop.scene import BLOCKS, CAMERAS, OBJECTS
from agent.envs.tabletop.sim import SimConfig, TabletopSim
from agent.envs.tabletop.tasks import TASKS
from agent.envs.tabletop.truth import (
    MIN_VISIBLE_PIXELS,
    SegmentationRenderer,
    true_positions,
    true_relations,
)
from agent.perception import PerceptionConfig, perceive
from benchmarks.record import markdown_table, record
from worldmodel.types import EventRequest

TITLE = "Perception from the cameras (held-out scenes)"
FIRST_SEED = 1_000_000  # held out: datasets and evaluations use seeds below 1,000,000
TIMING_REPEATS = 5


def relation_kind(relation: str) -> str:
    """'in(red_block, bowl)' -> 'in(X, bowl)'; 'on(red_block, blue_block)' -> 'on(X, Y)'."""
    name, _, rest = relation.partition("(")
    parts = rest.rstrip(")").split(", ")
    if len(parts) == 1:
        return f"{name}({'X' if name == 'holding' else parts[0]})"
    return f"{name}(X, {'Y' if parts[1] in BLOCKS else parts[1]})"


def visible_in(masks: dict[str, dict[str, np.ndarray]], name: str) -> list[str]:
    """The cameras that show `name` (the wrist's washed-out table hides the plate: not counted)."""
    excluded = PerceptionConfig().plate_cameras_exclude if name == "plate" else ()
    return [c for c in masks if c not in excluded and masks[c][name].sum() >= MIN_VISIBLE_PIXELS]


def bad_input_checks(sim: TabletopSim) -> list[list[object]]:
    """Rows: (case, objects reported seen that cannot be, expected 0)."""
    rows = []
    observation = sim.reset(FIRST_SEED + 10_000)
    black = {n: np.zeros_like(i) for n, i in observation.images.items()}
    scene = perceive(dataclasses.replace(observation, images=black))
    rows.append(["every camera black", sum(f.seen for f in scene.objects.values())])
    moved = sim.step(sim.hold_action() + np.array([0.05, 0, 0, 0, 0, 0, 0], np.float32))
    stale = dict(observation.images)
    scene = perceive(dataclasses.replace(moved, images=stale), previous=observation)
    rows.append(["every camera frozen", sum(f.seen for f in scene.objects.values())])
    cameras = [c for c in observation.cameras if c.name != "front"]
    only_front = {"front": observation.images["front"]}
    scene = perceive(
        dataclasses.replace(
            observation,
            cameras=tuple(observation.cameras[:1]),
            images=only_front,
            camera_poses={},
        ),
        cameras=cameras,
    )
    rows.append(["only undeclared cameras asked for", sum(f.seen for f in scene.objects.values())])
    sim.reset(FIRST_SEED + 10_001)
    drawer, _ = sim.object_pose("drawer")
    sim.set_object_position("red_block", drawer + np.array([0.0, 0.0, 0.036]))
    scene = perceive(sim.observe())
    rows.append(["a block inside the closed drawer", int(scene.seen("red_block"))])
    return rows


def suite_episodes(sim: TabletopSim, segmentation: SegmentationRenderer, seeds: int) -> list:
    """Rows per relation kind at the end of every event of every suite task run by the oracle
    executor: (kind, tp, fp, fn, fn of blocks hidden in every view)."""
    oracle = SimulatorOracleExecutor(sim)
    counts = defaultdict(lambda: [0, 0, 0, 0])
    for task in TASKS.values():
        for seed in range(seeds):
            observation = sim.reset(seed)
            for _, step in task.plan():
                request = EventRequest(
                    step.caption, observation, 1, skill=step.skill, arguments=dict(step.arguments)
                )
                for action in oracle.predict(request).actions:
                    observation = sim.step(action)
                perceived, held = set(perceive(observation).relations()), true_relations(sim)
                masks = segmentation.visible()
                for relation in perceived | held:
                    row = counts[relation_kind(relation)]
                    subject = relation.partition("(")[2].split(",")[0].rstrip(")")
                    if relation in perceived & held:
                        row[0] += 1
                    elif relation in perceived:
                        row[1] += 1
                    elif subject in OBJECTS and not visible_in(masks, subject):
                        row[3] += 1  # inside the closed drawer: no single frame shows it
                    else:
                        row[2] += 1
    oracle.close()
    rows = []
    for kind in sorted(counts):
        tp, fp, fn, hidden = counts[kind]
        rows.append(
            [kind, tp, fp, fn, hidden, f"{100 * tp / max(tp + fp, 1):.1f}%",
             f"{100 * tp / max(tp + fn, 1):.1f}%"]
        )  # fmt: skip
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scenes", type=int, default=200)
    parser.add_argument("--episode-seeds", type=int, default=2, help="per suite task")
    parser.add_argument("--no-record", action="store_true", help="print only")
    args = parser.parse_args()
    found = defaultdict(lambda: [0, 0])  # object -> [found, visible]
    errors = defaultdict(list)  # object -> cm
    relations = defaultdict(lambda: [0, 0, 0])  # kind -> [tp, fp, fn]
    sighted = defaultdict(lambda: [0, 0])  # camera -> [sighted, visible]
    seconds = []
    with TabletopSim(SimConfig()) as sim:
        segmentation = SegmentationRenderer(sim)
        for seed in range(FIRST_SEED, FIRST_SEED + args.scenes):
            observation = arrange(sim, seed)
            timings = []
            for _ in range(TIMING_REPEATS):
                began = time.perf_counter()
                scene = perceive(observation)
                timings.append(time.perf_counter() - began)
            seconds.append(min(timings))
            masks, truth, held = segmentation.visible(), true_positions(sim), true_relations(sim)
            for name in OBJECTS:
                cameras = visible_in(masks, name)
                if cameras:
                    found[name][1] += 1
                    found[name][0] += scene.seen(name)
                    for camera in cameras:
                        sighted[camera][1] += 1
                        sighted[camera][0] += camera in scene.objects[name].sightings
                if scene.seen(name):
                    error = np.subtract(scene.objects[name].position, truth[name])
                    errors[name].append(100 * float(np.linalg.norm(error)))
            perceived = set(scene.relations())
            for relation in perceived | held:
                counts = relations[relation_kind(relation)]
                counts[
                    0 if relation in perceived & held else 1 if relation in perceived else 2
                ] += 1
        bad = bad_input_checks(sim)
        episode_rows = suite_episodes(sim, segmentation, args.episode_seeds)
        segmentation.close()

    object_rows = []
    for name in OBJECTS:
        hit, total = found[name]
        cm = np.array(errors[name]) if errors[name] else np.array([np.nan])
        block = name in BLOCKS
        met = hit >= 0.99 * total and (
            not block or (np.median(cm) <= 1.0 and np.percentile(cm, 95) <= 2.0)
        )
        object_rows.append(
            [
                name,
                f"{hit}/{total} ({100 * hit / max(total, 1):.1f}%)",
                f"{np.median(cm):.2f}",
                f"{np.percentile(cm, 95):.2f}",
                f"{cm.max():.2f}",
                ("met" if met else "MISSED") + ("" if block else " (detection)"),
            ]
        )
    relation_rows = []
    for kind in sorted(relations):
        tp, fp, fn = relations[kind]
        precision, recall = tp / max(tp + fp, 1), tp / max(tp + fn, 1)
        met = precision >= 0.98 and recall >= 0.98
        relation_rows.append(
            [
                kind,
                tp,
                fp,
                fn,
                f"{100 * precision:.1f}%",
                f"{100 * recall:.1f}%",
                "met" if met else "MISSED",
            ]
        )
    camera_rows = [
        [c, f"{sighted[c][0]}/{sighted[c][1]} ({100 * sighted[c][0] / max(sighted[c][1], 1):.1f}%)"]
        for c in CAMERAS
    ]
    ms = 1000 * np.array(seconds)
    speed_met = np.median(ms) <= 5.0
    tables = [
        markdown_table(
            ["object", "found when visible", "error median (cm)", "p95 (cm)", "max (cm)", "target"],
            object_rows,
        ),
        markdown_table(
            ["relation", "true pos.", "false pos.", "false neg.", "precision", "recall", "target"],
            relation_rows,
        ),
        markdown_table(["camera", "visible objects sighted"], camera_rows),
        markdown_table(
            ["time per observation (3 x 128x128)", "median", "p95", "target"],
            [
                [
                    "perceive()",
                    f"{np.median(ms):.2f} ms",
                    f"{np.percentile(ms, 95):.2f} ms",
                    "<= 5 ms: " + ("met" if speed_met else "MISSED"),
                ]
            ],
        ),
        markdown_table(["bad input", "objects reported seen (must be 0)"], bad),
        f"Suite episodes ({len(TASKS)} tasks x {args.episode_seeds} seeds, oracle executor), "
        "relations at the end of every event:",
        markdown_table(
            [
                "relation",
                "true pos.",
                "false pos.",
                "false neg.",
                "false neg. hidden in every view",
                "precision",
                "recall (visible)",
            ],
            episode_rows,
        ),
    ]
    notes = (
        f"{args.scenes} scenes, seeds {FIRST_SEED}..{FIRST_SEED + args.scenes - 1}. Targets: found "
        ">= 99% when visible in some camera (>= 5 segmentation pixels; the plate in the wrist "
        "camera, whose headlight washes the table out to white, is not counted); block error "
        "median <= 1 cm, p95 <= 2 cm (3-D, against the body centre; the drawer: its sliding "
        "tray); relations >= 98% precision and recall (simulator truth: the task suite's "
        "predicates); <= 5 ms per observation (best of 5 per scene, one process, numpy on the "
        "CPU). Command: `PYTHONPATH=. MUJOCO_GL=egl python benchmarks/bench_perception.py "
        f"--scenes {args.scenes} --episode-seeds {args.episode_seeds}`. In the suite episodes a "
        "block inside the closed drawer is in no camera: `in(X, drawer)` then needs memory across "
        "observations, which single-observation perception does not keep."
    )
    record(TITLE, "\n\n".join(tables), notes, print_only=args.no_record)


if __name__ == "__main__":
    sys.exit(main())
