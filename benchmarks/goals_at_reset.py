"""Tasks whose goal already holds before anything moves: per suite task, over seeds 0..N-1, how
many start layouts already satisfy the task's success predicate, one of its final placement goals
(in, on or near), or its first subtask (progress above 0 at step 0).

`close the drawer` goals are left out of the placement column: the drawer starts closed in every
layout by design, and the tasks open it first.

    PYTHONPATH=. MUJOCO_GL=egl python benchmarks/goals_at_reset.py             # seeds 0..199
    PYTHONPATH=. MUJOCO_GL=egl python benchmarks/goals_at_reset.py --seeds 40 --no-record
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("MUJOCO_GL", "egl")

from agent.envs.tabletop.sim import SimConfig, TabletopSim
from agent.envs.tabletop.tasks import TASKS, Task, drawer_closed
from agent.envs.tabletop.truth import true_relations
from benchmarks.record import markdown_table, record


def held_at_reset(sim: TabletopSim, task: Task) -> tuple[bool, bool, bool]:
    """(success, a final placement goal holds, the first subtask's goal holds) in sim's state."""
    placements = [s for s in task.subtasks if s.final and s.goal is not drawer_closed]
    return (
        task.success(sim),
        any(subtask.goal(sim) for subtask in placements),
        task.subtasks[0].goal(sim),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=200, help="seeds 0..N-1 (200)")
    parser.add_argument("--no-record", action="store_true", help="print, leave RESULTS.md")
    args = parser.parse_args()
    counts = {name: [0, 0, 0] for name in TASKS}
    placed_relations = 0  # seeds whose start shows any in, on or near relation
    began = time.perf_counter()
    with TabletopSim(SimConfig(render=False)) as sim:
        for seed in range(args.seeds):
            sim.reset(seed)  # the layout depends on the seed only, not on the task
            placed_relations += any(
                r.startswith(("in(", "on(", "near(")) for r in true_relations(sim)
            )
            for name, task in TASKS.items():
                for column, held in enumerate(held_at_reset(sim, task)):
                    counts[name][column] += held
    rows = [[name, *values] for name, values in counts.items()]
    rows.append(["all tasks", *(sum(values[c] for values in counts.values()) for c in range(3))])
    table = markdown_table(
        ["task", "success at reset", "a final placement goal holds", "progress > 0"], rows
    )
    record(
        "Goals that already hold at reset",
        table,
        notes=f"Seeds 0..{args.seeds - 1}, {time.perf_counter() - began:.0f} s. A count is the "
        "number of seeds whose start layout already shows it; every one should be 0. Seeds whose "
        f"start shows any in, on or near relation between any objects: {placed_relations}.",
        print_only=args.no_record,
    )


if __name__ == "__main__":
    main()
