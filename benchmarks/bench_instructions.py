"""Instruction reading: accuracy on the team's instruction set and time per instruction.

Each case of agent/goals/instructions/ is read in its scene; it counts as right when the goal
is exactly the expected stages (or the expected error: an absent object, a question). Rows per
tag (a case has several tags), then the whole set; the target is >= 95% of the set.

    .venv/bin/python -m benchmarks.bench_instructions [--no-record]
"""

from __future__ import annotations

import argparse
import statistics
import time

from agent.envs.tabletop.scene import OBJECTS
from agent.envs.tabletop.tasks import TASKS
from agent.goals import ClarificationError, InstructionParser, Scene, read_goal
from agent.goals.instruction_set import (
    UNDERSPECIFIED,
    accuracy,
    evaluate,
    load_cases,
    suite_final_relations,
)
from benchmarks.record import markdown_table, record

TARGET = 0.95  # issue #27: >= 95% of the instruction set parsed to exactly the expected goal


def suite_paraphrases(parser: InstructionParser) -> list[bool]:
    """Whether each of the task suite's 45 paraphrases ends in the relations its success check
    tests (or asks, where the paraphrase leaves the task open)."""
    scene = Scene.of(OBJECTS, ["closed(drawer)"])
    right = []
    for task in TASKS.values():
        for text in task.paraphrases:
            try:
                final = {str(r) for r in read_goal(text, scene, parser).final}
                right.append(text not in UNDERSPECIFIED and final == suite_final_relations(task))
            except ClarificationError:
                right.append(text in UNDERSPECIFIED)
    return right


def main() -> None:
    options = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    options.add_argument("--no-record", action="store_true", help="print only")
    args = options.parse_args()

    parser = InstructionParser()
    cases = load_cases()
    began = time.perf_counter()
    parser.words.read("put the red block on the platter")  # MiniLM loads here, once, untimed
    load_s = time.perf_counter() - began
    outcomes, times = [], []
    for case in cases:
        began = time.perf_counter()
        outcomes.append(evaluate(case, parser))
        times.append(time.perf_counter() - began)
    tags = sorted({tag for case in cases for tag in case.tags})
    rows = []
    for tag in tags:
        tagged = [o for o in outcomes if tag in o.case.tags]
        rows.append([tag, len(tagged), sum(o.ok for o in tagged), f"{accuracy(tagged):.0%}"])
    score = accuracy(outcomes)
    rows.append(["**all**", len(outcomes), sum(o.ok for o in outcomes), f"**{score:.1%}**"])
    suite = suite_paraphrases(parser)
    rows.append(["task-suite paraphrases (tasks.py)", len(suite), sum(suite),
                 f"{sum(suite) / len(suite):.0%}"])  # fmt: skip
    table = markdown_table(["tag", "cases", "right", "accuracy"], rows)
    wrong = [f"- `{o.case.instruction}` ({o.case.scene_name}): got {o.got}" for o in outcomes
             if not o.ok]  # fmt: skip
    notes = (
        f"Target >= {TARGET:.0%}: {'met' if score >= TARGET else 'NOT met'}. Reading one "
        f"instruction (words, lark Earley parse of every reading, grounding): median "
        f"{statistics.median(times) * 1000:.1f} ms, max {max(times) * 1000:.0f} ms; loading MiniLM "
        f"for the first unknown word {load_s:.1f} s. Command: "
        "`.venv/bin/python -m benchmarks.bench_instructions`."
    )
    notes += (
        "\n\nThe grammar was written with the first 93 cases and the suite's paraphrases in "
        "view, so they are not a test of generalisation. The second and third rounds were: "
        "each was scored untouched before the reader was fixed for what it showed, 30 of 40 "
        "and 18 of 20 (48 of 60, 80%) right then; they count as right above after the fixes."
    )
    if wrong:
        notes += "\n\nWrong:\n" + "\n".join(wrong)
    record("Instruction reading: the instruction set", table, notes, args.no_record)


if __name__ == "__main__":
    main()
