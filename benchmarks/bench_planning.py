"""Planning overhead: time to plan the instruction set's goals with the skill files (pyperplan).

For every case of agent/goals/instructions/ that has a goal, each stage is planned from the
scene the previous stage leaves (as a run would: plan once, replan only after a failed or
diverged event). Reported: time per event (a stage's planning time over its events; the target
is < 20 ms) and time per call (what one replan costs). `--compare` also runs other pyperplan
searches on the same stages, the measurements behind the choice in agent/goals/planner.py.

    .venv/bin/python -m benchmarks.bench_planning [--compare] [--no-record]
"""

from __future__ import annotations

import argparse
import statistics
import time

from pyperplan.heuristics.lm_cut import LmCutHeuristic
from pyperplan.heuristics.relaxation import hFFHeuristic
from pyperplan.search import astar_search, greedy_best_first_search, weighted_astar_search

from agent.goals.instruction_set import load_cases
from agent.goals.planner import Planner
from agent.goals.relations import Stage, relations
from agent.goals.scene import Scene
from agent.skills import SkillCatalogue
from benchmarks.record import markdown_table, record

TARGET_MS = 20.0  # issue #27: planning overhead per event under 20 ms
REPEATS = 5
SEARCHES = {
    "weighted A* (w=2) + FF (chosen)": lambda t: weighted_astar_search(t, hFFHeuristic(t), 2),
    "greedy best-first + FF": lambda t: greedy_best_first_search(t, hFFHeuristic(t)),
    "A* + FF": lambda t: astar_search(t, hFFHeuristic(t)),
    "A* + LM-cut (optimal)": lambda t: astar_search(t, LmCutHeuristic(t)),
}


# Not in the instruction set: the hardest stage we know, a four-block tower rebuilt upside down.
_BLOCKS = ["red_block", "green_block", "blue_block", "yellow_block"]
_TOWER = [
    "on(green_block, blue_block)",
    "on(red_block, green_block)",
    "on(yellow_block, red_block)",
]
_REBUILT = [
    "on(blue_block, yellow_block)",
    "on(green_block, blue_block)",
    "on(red_block, green_block)",
]
STRESS = (
    "rebuild the tower blue-green-red-yellow as yellow-blue-green-red (stress)",
    Scene.of([*_BLOCKS, "bowl", "plate", "drawer"], ["closed(drawer)", *_TOWER]),
    Stage(relations(_REBUILT)),
)


def stages(planner: Planner) -> list[tuple[str, Scene, Stage]]:
    """(instruction, scene, stage) for every stage, each from the scene the last one leaves."""
    out = []
    for case in load_cases():
        if case.goal is None:
            continue
        scene = case.scene
        for stage in case.goal.stages:
            out.append((case.instruction, scene, stage))
            scene = planner.plan_and_predict(scene, stage)[1]
    return out


def compare(planner: Planner, work: list[tuple[str, Scene, Stage]]) -> str:
    """Events and seconds of each search on the stages that need planning."""
    rows = []
    for name, search in SEARCHES.items():
        events, seconds, worst = 0, 0.0, 0.0
        for _, scene, stage in work:
            if stage.relations <= scene.relations:
                continue
            began = time.perf_counter()
            solution = search(planner.task(scene, stage.relations))
            took = time.perf_counter() - began
            events, seconds, worst = events + len(solution), seconds + took, max(worst, took)
        rows.append([name, events, f"{seconds:.2f}", f"{worst * 1000:.0f}"])
    return markdown_table(["search", "events planned", "total s", "slowest stage ms"], rows)


def main() -> None:
    options = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    options.add_argument("--compare", action="store_true", help="also time other searches")
    options.add_argument("--no-record", action="store_true", help="print only")
    args = options.parse_args()

    planner = Planner(list(SkillCatalogue.load().values()))
    work = stages(planner)
    per_call, per_event, events = [], [], 0
    for instruction, scene, stage in [*work, STRESS]:
        took = float("inf")
        for _ in range(REPEATS):  # best of five: other work on a shared machine only adds time
            began = time.perf_counter()
            calls = planner.plan(scene, stage)
            took = min(took, time.perf_counter() - began)
        per_call.append((took * 1000, instruction))
        if calls:
            per_event.append(
                (took * 1000 / len(calls), f"`{instruction}`: {' '.join(stage.strings())}")
            )
            events += len(calls)
    total_ms = sum(t for t, _ in per_call)
    median_call = statistics.median(t for t, _ in per_call)
    rows = [
        ["stages planned (instruction set + 1 stress stage)", len(work) + 1, ""],
        ["events planned", events, ""],
        ["per event, all stages (ms)", f"{total_ms / events:.2f}", f"< {TARGET_MS:g}"],
        ["per event, median stage (ms)", f"{statistics.median(t for t, _ in per_event):.2f}", ""],
        ["per event, worst stage (ms)", f"{max(per_event)[0]:.2f}", ""],
        ["per call (one replan), median (ms)", f"{median_call:.1f}", ""],
        ["per call (one replan), max (ms)", f"{max(per_call)[0]:.0f}", ""],
    ]  # fmt: skip
    table = markdown_table(["what", "value", "target"], rows)
    met = total_ms / events < TARGET_MS
    notes = (
        f"Target < {TARGET_MS:g} ms per event: {'met' if met else 'NOT met'} (best of "
        f"{REPEATS} per stage; the stage with the most per event: {max(per_event)[1]}). "
        "A stage is planned "
        "once (compile the problem to PDDL, parse, ground, weighted A* with FF in pyperplan) and "
        "again only after a failed or diverged event; one call is the cost of such a replan. "
        f"The slowest call: {max(per_call)[1]}, where the search evaluates about 1,700 states "
        "in pure Python. Command: "
        "`.venv/bin/python -m benchmarks.bench_planning --compare`."
    )
    if args.compare:
        notes += "\n\nSearches compared on the same stages:\n\n" + compare(planner, [*work, STRESS])
    record("Goal planning overhead (pyperplan)", table, notes, args.no_record)


if __name__ == "__main__":
    main()
