"""Does a checkpoint's reach go where its caption says? The same scene, one caption per block.

Usage:
    PYTHONPATH=. python research/caption_following.py --checkpoint tiny --checkpoint RUN/export
    PYTHONPATH=. python research/caption_following.py --guidance 1 --guidance 5

Reach fails when the model does not know where the named block is, or when it does not know which
block is named. This tells the two apart. On held-out seeds (those of `wallwm eval-model`), at
every reach of the expert's plan with the gripper empty, it asks the executor for the reach with
the caption as planned and with the colour word swapped for each other block, from the same
observation, and reads where each prediction ends (the last predicted xy). A model that follows
the caption moves its end point with the colour (the spread is large) and ends nearest the named
block; one that ignores the caption ends at the same place whatever the colour.

The same predictions' last frames say whether the video tower follows the colour: their mean
absolute difference between colours, against that between two noise seeds of the same caption
(grey levels of 255, every camera). The action tower reads the caption only through the video
tower, so where the frames do not move with the colour, the actions cannot be expected to.

`--guidance W` samples with classifier-free guidance on the caption (EventInputs.guidance), which
amplifies whatever the model makes of the colour word.
"""

from __future__ import annotations

import argparse

import numpy as np

from agent.envs.tabletop.scene import BLOCKS
from agent.studies.eval_model import EventRunner, held_out_jobs
from benchmarks.record import markdown_table, record
from worldmodel.executor import EventModeExecutor
from worldmodel.locate import checkpoint_folder
from worldmodel.types import EventPrediction, EventRequest


def spoken(block: str) -> str:
    return block.replace("_", " ")  # "red_block" -> "red block", as the captions say it


def measure(executor: EventModeExecutor, episodes: int) -> dict[str, float]:
    """Mean end-point spread over the colours, distance to the named block, and how often the
    named block is the nearest one, over every (reach, colour) pair."""
    spreads, distances, nearest, across_colours, across_seeds = [], [], [], [], []
    for task, seed, _ in held_out_jobs(episodes):  # planned captions: the colour word is there
        runner = EventRunner(None)  # the oracle drives the scene through the expert's plan
        sim = runner.sim
        try:
            sim.reset(seed)
            for _, step in task.plan():
                observation = sim.observe()
                request = EventRequest(
                    step.caption, observation, 1, seed, step.skill, dict(step.arguments)
                )
                expert = runner.oracle.predict(request)
                named = step.arguments.get("object")
                # only captions that say the block's name, so that swapping it changes them
                if (
                    step.skill == "reach"
                    and named in BLOCKS
                    and spoken(named) in step.caption
                    and sim.held_object(0) is None
                ):
                    where = {block: sim.object_pose(block)[0][:2] for block in BLOCKS}
                    ends, frames = {}, {}
                    for block in BLOCKS:
                        caption = step.caption.replace(spoken(named), spoken(block))
                        reach = EventRequest(caption, observation, len(expert.actions), seed)
                        prediction = executor.predict(reach)
                        ends[block], frames[block] = prediction.actions[-1, :2], last(prediction)
                    reseeded = EventRequest(
                        step.caption, observation, len(expert.actions), seed + 1
                    )
                    across_seeds.append(np.abs(last(executor.predict(reseeded)) - frames[named]))
                    across_colours.extend(
                        np.abs(frames[a] - frames[b]) for a in BLOCKS for b in BLOCKS if a < b
                    )
                    points = np.stack(list(ends.values()))
                    spreads.append(np.linalg.norm(points - points.mean(0), axis=1).mean())
                    for block, end in ends.items():
                        gaps = {other: np.linalg.norm(end - xy) for other, xy in where.items()}
                        distances.append(gaps[block])
                        nearest.append(min(gaps, key=gaps.get) == block)
                for action in expert.actions:
                    sim.step(action)
        finally:
            runner.close()
    return {
        "reaches": len(spreads),
        "spread_cm": 100 * float(np.mean(spreads)),
        "distance_cm": 100 * float(np.mean(distances)),
        "nearest": float(np.mean(nearest)),
        "frames_across_colours": float(np.mean([d.mean() for d in across_colours])),
        "frames_across_seeds": float(np.mean([d.mean() for d in across_seeds])),
    }


def row(name: str, guidance: float, result: dict[str, float]) -> list[str | int]:
    return [
        name,
        f"{guidance:g}",
        int(result["reaches"]),
        f"{result['spread_cm']:.1f}",
        f"{result['distance_cm']:.1f}",
        f"{100 * result['nearest']:.0f}%",
        f"{result['frames_across_colours']:.2f}",
        f"{result['frames_across_seeds']:.2f}",
    ]


def last(prediction: EventPrediction) -> np.ndarray:
    """The last predicted frame of every camera, side by side, as floats (grey levels)."""
    if prediction.frames is None:
        raise SystemExit("this executor predicts no frames; the frame comparison needs them")
    views = [prediction.frames[camera][-1] for camera in sorted(prediction.frames)]
    return np.concatenate(views, axis=1).astype(np.float32)  # uint8 differences would wrap


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--checkpoint",
        action="append",
        help="a shipped name or a folder (repeatable; default tiny)",
    )
    parser.add_argument(
        "--guidance",
        type=float,
        action="append",
        help="classifier-free guidance scale (repeatable; default 1: none)",
    )
    parser.add_argument("--episodes", type=int, default=5, help="held-out episodes")
    args = parser.parse_args()
    rows = []
    for name in args.checkpoint or ["tiny"]:
        executor = EventModeExecutor.from_checkpoint(checkpoint_folder(name))
        for guidance in args.guidance or [1.0]:
            executor.guidance = guidance
            result = measure(executor, args.episodes)
            rows.append(row(name, guidance, result))
            print(rows[-1], flush=True)
    header = [
        "checkpoint",
        "guidance",
        "reaches",
        "end-point spread over the 4 colours (cm)",
        "end to the named block (cm)",
        "named block is the nearest",
        "last frame change between colours",
        "same, between noise seeds",
    ]
    notes = (
        f"{args.episodes} held-out episodes; every reach with an empty gripper asked once per "
        f"block colour ({len(BLOCKS)} blocks, so 1 in {len(BLOCKS)} by chance). Frame changes: "
        "mean absolute difference of the last predicted frames, grey levels of 255."
    )
    record(
        "Does the reach follow the caption?", markdown_table(header, rows), notes, print_only=True
    )


if __name__ == "__main__":
    main()
