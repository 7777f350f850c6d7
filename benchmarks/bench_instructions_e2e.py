"""Every instruction of the instruction set run end to end: does the world end up as asked?

Usage:
    PYTHONPATH=. MUJOCO_GL=egl python benchmarks/bench_instructions_e2e.py [--limit N] [--no-record]

Each case whose scene is the tabletop as it starts (`full`: every object, the drawer closed,
nothing placed) runs as `wallwm run INSTRUCTION` does, in process: perception reads the scene,
the goal is read from the instruction, the embedded planner plans it with PDDL and the simulator
oracle executes it. A case that expects an error must be refused before anything is made; the
others must end with the goal met in the simulator's own relations (`final_relations`). Counted
apart: runs that reported success while the world does not meet the goal (the target is zero).
Cases needing another scene wait for `wallwm run --scene`.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from agent.goals import GoalInputError
from agent.goals.instruction_set import ERROR_KINDS, load_cases
from agent.run_spec import RunSpec
from agent.session import open_session
from benchmarks.record import markdown_table, record

SEED = 0  # the layout every case starts from: nothing placed, drawer closed


def run_case(instruction: str, runs: Path) -> dict:
    spec = RunSpec(instruction, seed=SEED, executor="oracle", planner="embedded", resolution=64)
    session = open_session(spec, runs)
    try:
        session.runner.restore_robot(spec.seed)
        session.runner.run(spec.instruction, False, None)
        return session.runner.context.store.metrics or {}
    finally:
        session.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, help="only the first N cases (a quick look)")
    parser.add_argument("--no-record", action="store_true", help="print, leave RESULTS.md")
    args = parser.parse_args()
    cases = [case for case in load_cases() if case.scene_name == "full"][: args.limit]
    tally = {"goal": 0, "goal met": 0, "error": 0, "refused right": 0, "false success": 0}
    misses: list[str] = []
    started = time.monotonic()
    with tempfile.TemporaryDirectory() as folder:
        for number, case in enumerate(cases):
            runs = Path(folder) / str(number)
            if case.error is not None:
                tally["error"] += 1
                try:
                    run_case(case.instruction, runs)
                except ERROR_KINDS[case.error]:
                    tally["refused right"] += int(not runs.exists() or not any(runs.iterdir()))
                    continue
                except GoalInputError as exc:
                    misses.append(f"{case.instruction!r}: {type(exc).__name__} ({exc})")
                    continue
                misses.append(f"{case.instruction!r}: ran, expected {case.error}")
                continue
            tally["goal"] += 1
            try:
                metrics = run_case(case.instruction, runs)
            except GoalInputError as exc:
                misses.append(f"{case.instruction!r}: refused ({exc})")
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
            "cases (scene full)",
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
    notes = "Oracle executor, embedded planner, seed 0, 64 px. Misses:\n" + (
        "\n".join(f"- {miss}" for miss in misses) or "- none"
    )
    record("Instructions end to end (oracle executor)", table, notes, print_only=args.no_record)


if __name__ == "__main__":
    main()
