"""Goal stage -> skill calls: the compiled PDDL solved in-process by pyperplan.

Why pyperplan: it is on PyPI, pure Python (no binary to build or fetch, nothing to start) and
solves in-process, so a plan costs milliseconds with no subprocess or file; it parses standard
PDDL, so the compiled domain and problem stay inspectable and any other PDDL planner (Fast
Downward through unified-planning, say) can take them unchanged. Its licence is the GPL-3.0: it
is a dependency the project imports, not code copied into it.

Search: weighted A* (weight 2) with the FF heuristic, chosen on benchmarks/bench_planning.py
--compare (134 stages: the instruction set's goals and a reversed four-block tower). It planned
1,204 events in 1.7 s, as few as optimal A* with LM-cut, which took 19.7 s (4.9 s for the tower
alone); greedy best-first search was a little faster but planned 36 wasted events; the
preferred-operator variants gave up on the reversed tower.

`plan` is stateless: after a failed or diverged event, call it again with the perceived scene and
it plans from there (replanning).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

from pyperplan import grounding
from pyperplan.heuristics.relaxation import hFFHeuristic
from pyperplan.pddl.parser import Parser
from pyperplan.search import weighted_astar_search
from pyperplan.task import Operator, Task

from agent.goals.errors import MissingObjectError, UnsolvableGoalError
from agent.goals.pddl import (
    Domain,
    PlannableSkill,
    compile_domain,
    compile_problem,
    goal_facts,
    initial_facts,
)
from agent.goals.relations import Goal, Relation, Stage, relations
from agent.goals.resolve import conflicts
from agent.goals.scene import PERCEIVED, Scene

SEARCH_WEIGHT = 2  # weighted A*: f = g + 2 h (see the module docstring for the measurements)
# States the search may evaluate before giving up. The hardest solvable stage measured (rebuilding
# a reversed four-block tower, 36 events) evaluated 1,658; an impossible goal that the checks
# before the search miss would otherwise search the whole state space (21 s for four blocks).
MAX_EVALUATIONS = 10_000


_IN_GRIPPER = ("holding", "lifted", "above", "placed")  # the planner's steps of carrying X


class _SearchBudgetSpent(Exception):
    """The search evaluated MAX_EVALUATIONS states without reaching the goal."""


class _BudgetedFF(hFFHeuristic):
    """The FF heuristic, counting its calls: pyperplan's search has no limit of its own."""

    def __init__(self, task: object, budget: int) -> None:
        super().__init__(task)
        self.left = budget

    def __call__(self, node: object) -> float:
        self.left -= 1
        if self.left < 0:
            raise _SearchBudgetSpent
        return super().__call__(node)


class SkillCall(NamedTuple):
    """One planned event: a skill and its arguments, e.g. ("place", {"object": ..., ...})."""

    skill: str
    arguments: dict[str, str]


@dataclass
class Planner:
    """Plans goal stages with a set of skills; the domain is compiled and parsed once."""

    skills: Iterable[PlannableSkill]
    domain: Domain = field(init=False)

    def __post_init__(self) -> None:
        self.domain = compile_domain(self.skills)
        self._parser = Parser(None)  # pyperplan reads PDDL from files unless told otherwise
        self._parser.domInput = self.domain.text
        self._pddl_domain = self._parser.parse_domain(read_from_file=False)

    def problem(self, scene: Scene, stage: Iterable[str | Relation]) -> str:
        """The PDDL problem text for one stage in this scene (for inspection and other solvers)."""
        return compile_problem(
            self.domain, scene, initial_facts(scene), sorted(goal_facts(relations(stage)))
        )

    def plan(self, scene: Scene, stage: Stage | Iterable[str | Relation]) -> list[SkillCall]:
        """A shortest-found sequence of skill calls after which the stage holds; [] if it holds.

        Raises MissingObjectError (the stage names an object the scene lacks) or
        UnsolvableGoalError (no sequence of the skills reaches it).
        """
        return self.plan_and_predict(scene, stage)[0]

    def plan_goal(self, scene: Scene, goal: Goal) -> list[list[SkillCall]]:
        """Every stage in order, each planned from the scene the previous plan leads to."""
        plans = []
        for stage in goal.stages:
            calls, scene = self.plan_and_predict(scene, stage)
            plans.append(calls)
        return plans

    def task(self, scene: Scene, wanted: Iterable[str | Relation]) -> Task:
        """The stage as a grounded pyperplan task (for any of pyperplan's searches).

        Its facts are numbered (see `_numbered`) so that the plan is the same in every run."""
        self._parser.probInput = self.problem(scene, wanted)
        task = grounding.ground(self._parser.parse_problem(self._pddl_domain, read_from_file=False))
        return _numbered(task)

    def plan_and_predict(
        self, scene: Scene, stage: Stage | Iterable[str | Relation]
    ) -> tuple[list[SkillCall], Scene]:
        """The plan, and the scene it should leave (perceivable relations only)."""
        wanted = stage.relations if isinstance(stage, Stage) else relations(stage)
        absent = sorted({a for r in wanted for a in r.args} - scene.objects)
        if absent:
            raise MissingObjectError(f"the {absent[0].replace('_', ' ')}", scene.listing())
        if wanted <= scene.relations:
            return [], scene
        pairs = itertools.permutations(sorted(wanted), 2)
        clash = next(((a, b) for a, b in pairs if conflicts(a, b)), None)
        if clash is not None:
            raise UnsolvableGoalError(
                f"{clash[0]} and {clash[1]} cannot hold together (a block is in one place, and "
                "one block fits on another); split them into stages or drop one"
            )
        task = self.task(scene, wanted)
        try:
            solution = weighted_astar_search(
                task, _BudgetedFF(task, MAX_EVALUATIONS), SEARCH_WEIGHT
            )
        except _SearchBudgetSpent:
            raise UnsolvableGoalError(
                f"no plan found for {', '.join(sorted(str(r) for r in wanted))} within "
                f"{MAX_EVALUATIONS} searched states; the goal is probably impossible with these "
                "skills: check the skill files' preconditions and effects"
            ) from None
        if solution is None:
            shown = ", ".join(sorted(str(r) for r in wanted))
            now = ", ".join(sorted(str(r) for r in scene.relations)) or "none"
            raise UnsolvableGoalError(
                f"no sequence of the skills makes {shown} hold from the scene (relations now: "
                f"{now}); check the goal is possible (a block cannot be on two others) and the "
                "skill files' preconditions and effects"
            )
        calls, facts = [], initial_facts(scene)
        for operator in _without_wasted_events(task, solution):
            name, *values = operator.name.strip("()").split()
            action = self.domain.actions[name]
            bound = dict(zip((n for n, _ in action.parameters), values, strict=True))
            calls.append(SkillCall(action.skill, {a: bound[a] for a in action.arguments}))
            for relation in action.deletes:
                facts.discard(_bind(relation, bound))
            facts |= {_bind(r, bound) for r in action.adds}
        return calls, Scene(scene.objects, _perceivable(facts))


def _numbered(task: Task) -> Task:
    """The task with its operators sorted by name and each fact replaced by its sorted index.

    pyperplan grounds through sets, and its FF heuristic walks sets of facts: with facts as
    strings, that order follows Python's per-process hash seed, and so did the plan (a four-block
    tower sometimes opened the drawer on the way). Integers hash to themselves, so the order, and
    the plan, are the same in every run; they also hash faster than strings."""
    number = {fact: index for index, fact in enumerate(sorted(task.facts))}

    def numbered(facts: Iterable[str]) -> frozenset[int]:
        return frozenset(number[fact] for fact in sorted(facts))

    operators = [
        Operator(o.name, numbered(o.preconditions), numbered(o.add_effects),
                 numbered(o.del_effects))
        for o in sorted(task.operators, key=lambda operator: operator.name)
    ]  # fmt: skip
    return Task(task.name, numbered(task.facts), numbered(task.initial_state),
                numbered(task.goals), operators)  # fmt: skip


def _without_wasted_events(task: Task, solution: list[Operator]) -> list[Operator]:
    """The plan with every event the goal does not need taken out (greedy action elimination).

    Weighted A* is not optimal: now and then its plan carries an event nothing depends on (the
    drawer opened on the way to building a tower). Each event in turn is dropped, together with
    any later event it alone made possible; if the rest still runs and reaches the goal, the
    shorter plan is kept. Plans are tens of events, so this costs well under a millisecond."""
    plan = list(solution)
    index = 0
    while index < len(plan):
        shorter = _run_without(task, plan, index)
        if shorter is None:
            index += 1
        else:
            plan = shorter
    return plan


def _run_without(task: Task, plan: list[Operator], dropped: int) -> list[Operator] | None:
    """The plan minus event `dropped` and the later events that then cannot run, if it still
    reaches the goal; None otherwise."""
    state, kept = task.initial_state, []
    for index, operator in enumerate(plan):
        if index == dropped or not operator.applicable(state):
            continue
        state = operator.apply(state)
        kept.append(operator)
    return kept if task.goal_reached(state) else None


def _perceivable(facts: Iterable[Relation]) -> frozenset[Relation]:
    """Planner facts as perception would report them: its bookkeeping dropped, an object in the
    gripper at any height `holding(X)`."""
    held = {Relation("holding", r.args[:1]) for r in facts if r.name in _IN_GRIPPER}
    return frozenset(r for r in facts if r.name in PERCEIVED and r.args[-1] != "table") | held


def _bind(relation: Relation, values: Mapping[str, str]) -> Relation:
    return Relation(relation.name, tuple(values.get(a, a) for a in relation.args))


_PLANNERS: dict[tuple[int, ...], Planner] = {}


def plan(
    scene: Scene, goal_stage: Stage | Iterable[str | Relation], skills: Sequence[PlannableSkill]
) -> list[SkillCall]:
    """The skill calls that make `goal_stage` hold in `scene` ([] when it already holds).

    `skills` is e.g. `list(SkillCatalogue.load().values())`; its planner is built once.
    """
    key = tuple(id(s) for s in skills)
    if key not in _PLANNERS:
        _PLANNERS[key] = Planner(list(skills))
    return _PLANNERS[key].plan(scene, goal_stage)
