"""Does the mark steer the reach? Open-loop reaches on held-out scenes, with the target marked,
moved to each other block, and left out.

Usage:
    PYTHONPATH=. python benchmarks/bench_grounding.py --checkpoint tiny --checkpoint RUN/export
    PYTHONPATH=. python benchmarks/bench_grounding.py --checkpoint RUN/export --targets truth

For each of `--reaches` fresh scenes (simulator seeds from 1,000,000, never generated for
training), the gripper at home, the reach names one block (the four colours in turn, caption as
the expert's plan words it) and lasts as long as the expert's. The executor predicts it from the
same observation and noise seed several times, changing only the targets:
- marked: the named block's target, from perception of the observation (`--targets perceived`,
  what the agent gives) or from simulator state (`truth`);
- moved: the target of each other block instead, the caption unchanged (still naming the first);
- zeroed: no targets (all-zero marks: the caption alone).
Where each prediction ends is its last action's xyz. Error: the 3-D distance from there to the
block's centre, which is where the expert's reach ends. Nearest: the block whose centre is
nearest the end point in the table plane. Spread: the mean distance of the four end points (the
named block marked, then each other) from their mean. A model without mark channels gives the
same prediction in every case (its row is the baseline).
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from agent.envs.tabletop.oracle import SimulatorOracleExecutor
from agent.envs.tabletop.scene import BLOCKS
from agent.envs.tabletop.sim import SimConfig, TabletopSim
from agent.envs.tabletop.targets import true_targets
from agent.envs.tabletop.tasks import PlanStep
from agent.perception import perceive
from agent.perception.targets import as_event_targets, targets_for
from agent.studies.eval_model import eval_seeds
from benchmarks.record import markdown_table, record
from worldmodel.executor import EventModeExecutor
from worldmodel.locate import checkpoint_folder
from worldmodel.types import EventRequest, EventTarget

SUCCESS_M = 0.03  # the evaluation's success radius (agent/studies/eval_model.py tolerance_m)


def scene_targets(source: str, sim: TabletopSim, observation) -> dict[str, tuple[EventTarget, ...]]:
    """Each block's reach targets in this scene: perceived once, or from simulator state."""
    if source == "truth":
        return {block: true_targets(sim, {"object": block}) for block in BLOCKS}
    scene = perceive(observation)
    return {block: as_event_targets(targets_for(scene, {"object": block})) for block in BLOCKS}


def nearest(point: np.ndarray, where: dict[str, np.ndarray]) -> str:
    """The block whose centre is nearest `point` in the table plane."""
    return min(BLOCKS, key=lambda block: float(np.linalg.norm(point[:2] - where[block][:2])))


def predict_ends(
    executor: EventModeExecutor,
    sim: TabletopSim,
    oracle: SimulatorOracleExecutor,
    seed: int,
    named: str,
    source: str,
) -> tuple[dict[str, np.ndarray], np.ndarray, dict[str, np.ndarray], bool]:
    """(end point with each block's target, end point without targets, each block's centre,
    whether the named block has a target) of one held-out reach."""
    observation = sim.reset(seed)
    step = PlanStep("reach", {"object": named})
    plan = EventRequest(step.caption, observation, 1, seed, step.skill, step.arguments)
    steps = len(oracle.predict(plan).actions)
    where = {block: sim.object_pose(block)[0] for block in BLOCKS}
    targets = scene_targets(source, sim, observation)
    ends = {}
    for block in (*BLOCKS, None):
        marked = targets[block] if block else ()
        request = EventRequest(step.caption, observation, steps, seed, step.skill, targets=marked)
        ends[block] = executor.predict(request).actions[-1, :3]
    zeroed = ends.pop(None)
    return ends, zeroed, where, bool(targets[named] and targets[named][0].points)


def measure(executor: EventModeExecutor, source: str, reaches: int) -> dict[str, float]:
    """The figures of one checkpoint with one target source over `reaches` held-out reaches."""
    sim = TabletopSim(SimConfig(width=128, height=128))
    oracle = SimulatorOracleExecutor(sim)
    named_error, named_nearest, zero_error, zero_nearest = [], [], [], []
    moved_nearest, moved_error, spreads, seen = [], [], [], []
    try:
        for index, seed in enumerate(eval_seeds(reaches)):
            named = BLOCKS[index % len(BLOCKS)]
            ends, zeroed, where, found = predict_ends(executor, sim, oracle, seed, named, source)
            seen.append(found)
            named_error.append(np.linalg.norm(ends[named] - where[named]))
            named_nearest.append(nearest(ends[named], where) == named)
            for block in BLOCKS:
                if block != named:
                    moved_nearest.append(nearest(ends[block], where) == block)
                    moved_error.append(np.linalg.norm(ends[block] - where[block]))
            points = np.stack([e[:2] for e in ends.values()])
            spreads.append(np.linalg.norm(points - points.mean(0), axis=1).mean())
            zero_error.append(np.linalg.norm(zeroed - where[named]))
            zero_nearest.append(nearest(zeroed, where) == named)
    finally:
        oracle.close()
        sim.close()
    return {
        "reaches": reaches,
        "seen": float(np.mean(seen)),
        "error_cm": 100 * float(np.median(named_error)),
        "within": float(np.mean(np.asarray(named_error) < SUCCESS_M)),
        "nearest": float(np.mean(named_nearest)),
        "moved_nearest": float(np.mean(moved_nearest)),
        "moved_error_cm": 100 * float(np.median(moved_error)),
        "spread_cm": 100 * float(np.mean(spreads)),
        "zero_error_cm": 100 * float(np.median(zero_error)),
        "zero_within": float(np.mean(np.asarray(zero_error) < SUCCESS_M)),
        "zero_nearest": float(np.mean(zero_nearest)),
    }


def percent(value: float) -> str:
    return f"{100 * value:.0f}%"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--checkpoint", action="append", help="a shipped name or a folder (repeatable; tiny)"
    )
    parser.add_argument(
        "--targets",
        action="append",
        choices=("perceived", "truth"),
        help="where the marks come from (repeatable; default perceived)",
    )
    parser.add_argument("--reaches", type=int, default=64, help="held-out scenes, one reach each")
    parser.add_argument("--note", default="", help="text added to the recorded notes")
    parser.add_argument("--no-record", action="store_true", help="print only")
    args = parser.parse_args()
    rows = []
    began = time.perf_counter()
    for name in args.checkpoint or ["tiny"]:
        executor = EventModeExecutor.from_checkpoint(checkpoint_folder(name))
        executor.decode = False  # the end points are all this needs
        sources = args.targets or ["perceived"]
        marks = executor.model.config.video.mark_channels
        for source in sources if marks else sources[:1]:  # without marks they change nothing
            result = measure(executor, source, args.reaches)
            rows.append(
                [
                    name,
                    source if marks else "(no mark input)",
                    result["reaches"],
                    percent(result["seen"]),
                    f"{result['error_cm']:.1f}",
                    percent(result["within"]),
                    percent(result["nearest"]),
                    percent(result["moved_nearest"]),
                    f"{result['moved_error_cm']:.1f}",
                    f"{result['spread_cm']:.1f}",
                    f"{result['zero_error_cm']:.1f}",
                    percent(result["zero_within"]),
                    percent(result["zero_nearest"]),
                ]
            )
            print(rows[-1], flush=True)
    header = [
        "checkpoint",
        "targets",
        "reaches",
        "named block has a target",
        "marked: median error (cm)",
        "marked: within 3 cm",
        "marked: named block nearest",
        "moved: marked block nearest",
        "moved: median error to it (cm)",
        "spread of the 4 end points (cm)",
        "zeroed: median error (cm)",
        "zeroed: within 3 cm",
        "zeroed: named block nearest",
    ]
    notes = (
        f"{args.reaches} held-out scenes (simulator seeds from 1,000,000), one reach each from "
        "the home pose, the colours in turn; every case of a scene shares the noise seed. "
        "Error: 3-D distance from the last predicted position to the block's centre. Moved: the "
        "target of each of the 3 other blocks, the caption still naming the first (1 in 4 by "
        f"chance). {time.perf_counter() - began:.0f} s. {args.note}"
    ).strip()
    record(
        "Does the mark steer the reach? (bench_grounding)",
        markdown_table(header, rows),
        notes,
        args.no_record,
    )


if __name__ == "__main__":
    main()
