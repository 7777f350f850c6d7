"""Every instruction of the instruction set run end to end: does the world end up as asked?

Usage:
    PYTHONPATH=. MUJOCO_GL=egl python benchmarks/bench_instructions_e2e.py [--limit N] [--no-record]

Every case runs in its scene (the instruction set's `scenes:` are scene files: the objects
present and the relations at the start, the rest placed by the seed) as `wallwm run INSTRUCTION
--scene FILE` does, in process: perception reads the scene, the goal is read from the
instruction, the embedded planner plans it with PDDL and the simulator oracle executes it. A case
that expects an error must be refused before anything is made; the others must end with the goal
met in the simulator's own relations (`final_relations`). Counted apart: runs that reported
success while the world does not meet the goal (the target is zero).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from agent.envs.tabletop.scene_file import SceneSetup
from agent.goals.instruction_set import ERROR_KINDS, Case, load_cases
from agent.run_spec import RunSpec
from agent.session import open_session
from benchmarks.record import markdown_table, record
from worldmodel.errors import WallwmError

SEED = 0  # places what the case's scene leaves at random


def scene_setup(case: Case) -> SceneSetup:
    """The case's scene as a scene file would give it."""
    relations = sorted(str(relation) for relation in case.scene.relations)
    return SceneSetup(tuple(case.scene.listing()), tuple(relations))


def run_case(case: Case, runs: Path) -> dict:
    spec = RunSpec(
        case.instruction,
        seed=SEED,
        executor="oracle",
        planner="embedded",
        resolution=64,
        scene=scene_setup(case),
    )
    with open_session(spec, runs) as session:
        session.run()
        return session.metrics


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, help="only the first N cases (a quick look)")
    parser.add_argument("--no-record", action="store_true", help="print, leave RESULTS.md")
    args = parser.parse_args()
    cases = load_cases()[: args.limit]
    tally = {"goal": 0, "goal met": 0, "error": 0, "refused right": 0, "false success": 0}
    misses: list[str] = []
    started = time.monotonic()
    with tempfile.TemporaryDirectory() as folder:
        for number, case in enumerate(cases):
            runs = Path(folder) / str(number)
            if case.error is not None:
                tally["error"] += 1
                try:
                    run_case(case, runs)
                except ERROR_KINDS[case.error]:
                    tally["refused right"] += int(not runs.exists() or not any(runs.iterdir()))
                    continue
                except WallwmError as exc:  # another refusal, or a scene that could not be set up
                    misses.append(f"{case.instruction!r}: {type(exc).__name__} ({exc})")
                    continue
                misses.append(f"{case.instruction!r}: ran, expected {case.error}")
                continue
            tally["goal"] += 1
            try:
                metrics = run_case(case, runs)
            except WallwmError as exc:
                misses.append(f"{case.instruction!r}: {type(exc).__name__} ({exc})")
                continue
            in_world = bool(metrics.get("goal_met_in_world"))
            tally["goal met"] += int(in_world)
            tally["false success"] += int(bool(metrics.get("success")) and not in_world)
            if not in_world:
                misses.append(f"{case.instruction!r}: {metrics.get('status')}, goal not met")
            print(f"{number + 1}/{len(cases)} {case.instruction!r}: {metrics.get('status')}")
    seconds = time.monotonic() - started
    share = 100 * tally["goal met"] / max(1, tally["goal"])
    table = markdown_table(
        [
            "cases",
            "goal met in the world",
            "refused as expected",
            "success reported, goal not met",
            "seconds",
        ],
        [
            [
                len(cases),
                f"{tally['goal met']} of {tally['goal']} ({share:.0f}%)",
                f"{tally['refused right']} of {tally['error']}",
                tally["false success"],
                f"{seconds:.0f}",
            ]
        ],
    )
    listed = "\n".join(f"- {miss}" for miss in misses) or "- none"
    setting = "Oracle executor, embedded planner, seed 0, 64 px, each case in its scene"
    notes = f"{setting}. Misses:\n{listed}"
    record("Instructions end to end (oracle executor)", table, notes, print_only=args.no_record)


if __name__ == "__main__":
    main()
