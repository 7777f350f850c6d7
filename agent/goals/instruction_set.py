"""The team's instruction set (instructions/: scenes.yaml and the cases in round*.yaml): loading
it and scoring the reader on it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from agent.goals.errors import ClarificationError, GoalInputError, MissingObjectError
from agent.goals.parser import InstructionParser
from agent.goals.relations import Goal
from agent.goals.resolve import ground
from agent.goals.scene import Scene, placement

if TYPE_CHECKING:
    from agent.envs.tabletop.tasks import Task

INSTRUCTION_SET = Path(__file__).with_name("instructions")  # scenes.yaml, round*.yaml
ERROR_KINDS: dict[str, type[GoalInputError]] = {
    "missing": MissingObjectError,
    "clarify": ClarificationError,
}


@dataclass(frozen=True)
class Case:
    """One instruction with its scene and what it must become."""

    instruction: str
    scene_name: str
    scene: Scene
    tags: tuple[str, ...]
    goal: Goal | None  # None when an error is expected
    error: str | None = None  # a key of ERROR_KINDS
    missing: str | None = None  # what a MissingObjectError must name
    met: bool = False  # the goal already holds in the scene


@dataclass(frozen=True)
class Outcome:
    case: Case
    ok: bool
    got: str  # the goal's stages, or the error's class and message


def _read(path: Path) -> dict[str, Any]:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def load_cases(folder: Path = INSTRUCTION_SET) -> list[Case]:
    """Every case of the instruction set, in the order written, with its scene built."""
    scenes = {
        name: Scene.of(spec["objects"], spec.get("relations", []))
        for name, spec in _read(folder / "scenes.yaml")["scenes"].items()
    }
    written = [raw for path in sorted(folder.glob("round*.yaml")) for raw in _read(path)["cases"]]
    cases = []
    for raw in written:
        goal = None
        if "goal" in raw:
            goal = Goal.of(*raw["goal"], avoid=raw.get("avoid", []))
        cases.append(
            Case(
                instruction=raw["instruction"],
                scene_name=raw["scene"],
                scene=scenes[raw["scene"]],
                tags=tuple(raw.get("tags", ())),
                goal=goal,
                error=raw.get("error"),
                missing=raw.get("missing"),
                met=bool(raw.get("met", False)),
            )
        )
    return cases


def evaluate(case: Case, parser: InstructionParser) -> Outcome:
    """Read the case's instruction in its scene and compare with what it must become."""
    try:
        goal = ground(parser.parse(case.instruction).readings, case.scene)
    except GoalInputError as exc:
        expected = ERROR_KINDS.get(case.error or "")
        ok = expected is not None and isinstance(exc, expected)
        if ok and case.missing is not None:
            ok = isinstance(exc, MissingObjectError) and exc.missing == case.missing
        return Outcome(case, ok, f"{type(exc).__name__}: {exc}")
    ok = case.goal is not None and goal == case.goal
    if ok and case.met:
        ok = goal.holds(case.scene.relations)
    elif ok:
        ok = goal.empty or not goal.holds(case.scene.relations) or case.met
    return Outcome(case, ok, str(goal.strings()) + (f" avoid {goal.avoid}" if goal.avoid else ""))


def accuracy(outcomes: list[Outcome]) -> float:
    return sum(o.ok for o in outcomes) / len(outcomes) if outcomes else 0.0


# Task-suite paraphrases that leave the task open; asking is right ("with the yellow block at the
# base and red on top" does not say where green and blue go).
UNDERSPECIFIED = frozenset(
    {"build a four-block tower with the yellow block at the base and red on top"}
)


def suite_final_relations(task: Task) -> set[str]:
    """What the simulator's success check of a suite task tests, as perception relations."""
    final = set()
    for subtask in task.subtasks:
        if not subtask.final:
            continue
        step = subtask.steps[-1]
        if step.skill == "close":
            final.add(f"closed({step.arguments['object']})")
        elif step.skill == "push":
            final.add(f"near({step.arguments['object']}, {step.arguments['target']})")
        else:  # pick and place: the place step names the object and the target
            place = next(s for s in subtask.steps if s.skill == "place").arguments
            final.add(f"{placement(place['target'])}({place['object']}, {place['target']})")
    return final
