"""The team's instruction set (agent/goals/instructions/): every case reads as expected."""

from __future__ import annotations

import pytest

from agent.envs.tabletop.scene import OBJECTS
from agent.envs.tabletop.tasks import TASKS, Task
from agent.goals import ClarificationError, InstructionParser, Scene, read_goal
from agent.goals.instruction_set import UNDERSPECIFIED, evaluate, load_cases, suite_final_relations

CASES = load_cases()
REQUIRED_TAGS = {
    "composition", "sequence", "revisit", "quantifier", "negation", "scene_reference", "absent",
    "already_met", "nonsense", "truncation", "shouting", "typo", "synonym", "pronoun", "tower",
    "colour_class", "nothing", "suite", "minilm",
}  # fmt: skip


def test_the_set_is_large_and_covers_every_kind_of_instruction() -> None:
    assert len(CASES) >= 60
    tags = {tag for case in CASES for tag in case.tags}
    assert tags >= REQUIRED_TAGS, f"no case tagged {sorted(REQUIRED_TAGS - tags)}"
    for tag in REQUIRED_TAGS:
        assert sum(tag in case.tags for case in CASES) >= 2 or tag == "minilm", tag
    assert sum(case.error is not None for case in CASES) >= 15
    assert sum(case.met for case in CASES) >= 3


@pytest.mark.parametrize("case", CASES, ids=[f"{c.scene_name}: {c.instruction}" for c in CASES])
def test_case(case, parser: InstructionParser) -> None:
    outcome = evaluate(case, parser)
    expected = case.goal.strings() if case.goal is not None else case.error
    assert outcome.ok, f"expected {expected}, got {outcome.got}"


SUITE = [(task, text) for task in TASKS.values() for text in task.paraphrases]


@pytest.mark.parametrize("task, text", SUITE, ids=[text for _, text in SUITE])
def test_suite_paraphrases_read_as_the_simulator_s_success_check(
    task: Task, text: str, parser: InstructionParser
) -> None:
    """The task suite's 45 paraphrases (tasks.py, written by others) end in exactly the
    relations the task's success check tests."""
    scene = Scene.of(OBJECTS, ["closed(drawer)"])
    if text in UNDERSPECIFIED:
        with pytest.raises(ClarificationError):
            read_goal(text, scene, parser)
        return
    goal = read_goal(text, scene, parser)
    assert {str(r) for r in goal.final} == suite_final_relations(task)
