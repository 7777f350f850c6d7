"""Skill files, a scene and a goal stage compiled to PDDL (STRIPS with types).

The domain comes from the `planning` cases in the skills' front matter: one PDDL action per case
and per combination of its parameter types (`target: [bowl, plate]` makes two). The problem comes
from the scene (objects typed by what they are, relations as they are perceived, plus what the
planner needs that perception leaves implicit) and one goal stage. A skill without planning cases
(regrasp, a recovery) is not in the domain.

Planner facts that perception does not name, derived here from the scene:
- `on(X, table)` for a block that is in or on nothing and not held;
- `clear(X)` for a block with nothing on it; `empty(gripper)` when nothing is held;
- `closed(drawer)` for a drawer that is neither said open nor closed.
A held object (`holding(X)`) is in the gripper: its other places are dropped. A goal stage also
asks for `empty(gripper)` (every placement ends with a release) unless it asks to hold something,
and `holding(X)` in a goal means held up: `lifted(X)`.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

from agent.goals.errors import GoalError, UnsolvableGoalError
from agent.goals.relations import Relation
from agent.goals.scene import Scene, kind

GRIPPER, TABLE = "gripper", "table"
_KINDS = ("block", "bowl", "plate", "drawer", TABLE, GRIPPER)


class PlanningDomainError(GoalError):
    """The skills' planning cases do not make a consistent PDDL domain."""


class _Case(Protocol):
    parameters: dict[str, str | tuple[str, ...]]
    preconditions: tuple[str, ...]
    effects: tuple[str, ...]


class PlannableSkill(Protocol):
    """What the compiler reads of agent.skills.Skill."""

    name: str
    arguments: dict
    planning: tuple[_Case, ...]


@dataclass(frozen=True)
class Action:
    """One PDDL action: a skill, its parameters (name, type) in order, and which are arguments."""

    name: str
    skill: str
    parameters: tuple[tuple[str, str], ...]
    arguments: tuple[str, ...]
    preconditions: tuple[Relation, ...]
    adds: tuple[Relation, ...]
    deletes: tuple[Relation, ...]


@dataclass(frozen=True)
class Domain:
    """The compiled domain: its PDDL text and the actions by PDDL name."""

    text: str
    actions: dict[str, Action]
    predicates: dict[str, int]
    constants: tuple[str, ...]

    @property
    def achievable(self) -> frozenset[str]:
        """The relation names some skill's effects make true."""
        return frozenset(r.name for a in self.actions.values() for r in a.adds)


def _atom(relation: Relation, variables: Iterable[str] = ()) -> str:
    names = set(variables)
    args = " ".join(f"?{a}" if a in names else a for a in relation.args)
    return f"({relation.name} {args})"


def compile_domain(skills: Iterable[PlannableSkill]) -> Domain:
    """The PDDL domain of every skill with planning cases."""
    actions: dict[str, Action] = {}
    for skill in sorted(skills, key=lambda s: s.name):
        number = itertools.count()
        for case in skill.planning:
            names = list(case.parameters)
            choices = [[t] if isinstance(t, str) else list(t) for t in case.parameters.values()]
            preconditions = tuple(Relation.parse(text) for text in case.preconditions)
            effects = [(t.startswith("not "), Relation.parse(t.removeprefix("not ")))
                       for t in case.effects]  # fmt: skip
            for types in itertools.product(*choices):
                name = f"{skill.name}__{next(number)}"
                actions[name] = Action(
                    name=name,
                    skill=skill.name,
                    parameters=tuple(zip(names, types, strict=True)),
                    arguments=tuple(skill.arguments),
                    preconditions=preconditions,
                    adds=tuple(r for negated, r in effects if not negated),
                    deletes=tuple(r for negated, r in effects if negated),
                )
    predicates: dict[str, int] = {"in": 2, "on": 2, "near": 2, "open": 1, "closed": 1}
    constants: set[str] = set()
    for action in actions.values():
        variables = {n for n, _ in action.parameters}
        for relation in (*action.preconditions, *action.adds, *action.deletes):
            if predicates.setdefault(relation.name, len(relation.args)) != len(relation.args):
                raise PlanningDomainError(
                    f"skill {action.skill!r}: relation {relation} has {len(relation.args)} "
                    f"argument(s) but {relation.name!r} has {predicates[relation.name]} elsewhere; "
                    "use one arity per relation name in every skill file"
                )
            constants |= {a for a in relation.args if a not in variables}
    types = sorted({*_KINDS, *(t for a in actions.values() for _, t in a.parameters)})
    lines = [
        "(define (domain wallwm)",
        "  (:requirements :strips :typing)",
        f"  (:types {' '.join(types)} - object)",
    ]
    if constants:
        lines.append(f"  (:constants {' '.join(f'{c} - {kind(c)}' for c in sorted(constants))})")
    lines.append(
        "  (:predicates "
        + " ".join(
            f"({name} {' '.join(f'?x{i} - object' for i in range(arity))})"
            for name, arity in sorted(predicates.items())
        )
        + ")"
    )
    for action in actions.values():
        variables = [n for n, _ in action.parameters]
        preconditions = " ".join(_atom(r, variables) for r in action.preconditions)
        effects = [_atom(r, variables) for r in action.adds]
        effects += [f"(not {_atom(r, variables)})" for r in action.deletes]
        lines += [
            f"  (:action {action.name}",
            f"    :parameters ({' '.join(f'?{n} - {t}' for n, t in action.parameters)})",
            f"    :precondition (and {preconditions})",
            f"    :effect (and {' '.join(effects)}))",
        ]
    lines.append(")")
    return Domain("\n".join(lines), actions, predicates, tuple(sorted(constants)))


def initial_facts(scene: Scene) -> set[Relation]:
    """The scene's relations plus the facts the planner needs that perception leaves implicit."""
    held = {r.args[0] for r in scene.relations if r.name == "holding"}
    facts = {
        r for r in scene.relations if not (r.args[0] in held and r.name in ("in", "on", "near"))
    }
    placed = {r.args[0] for r in facts if r.name in ("in", "on")}
    covered = {r.args[1] for r in facts if r.name == "on"}
    for block in scene.blocks():
        if block not in placed and block not in held:
            facts.add(Relation("on", (block, TABLE)))
        if block not in covered:
            facts.add(Relation("clear", (block,)))
    if not held:
        facts.add(Relation("empty", (GRIPPER,)))
    for drawer in (o for o in scene.objects if kind(o) == "drawer"):
        if not {Relation("open", (drawer,)), Relation("closed", (drawer,))} & facts:
            facts.add(Relation("closed", (drawer,)))
    return facts


def goal_facts(goal: Iterable[Relation]) -> set[Relation]:
    """A goal stage as planner facts (see the module docstring)."""
    facts = {Relation("lifted", r.args) if r.name == "holding" else r for r in goal}
    if not any(r.name == "holding" for r in goal):
        facts.add(Relation("empty", (GRIPPER,)))
    return facts


def compile_problem(
    domain: Domain, scene: Scene, facts: Iterable[Relation], goal: Sequence[Relation]
) -> str:
    """The PDDL problem: the scene's objects, these initial facts and this goal."""
    objects = sorted((scene.objects | {TABLE, GRIPPER}) - set(domain.constants))
    facts = set(facts)
    unreachable = sorted(str(r) for r in goal if r.name not in domain.achievable and r not in facts)
    if unreachable:
        raise UnsolvableGoalError(
            f"no skill can make {', '.join(unreachable)} true: no skill file's planning effects "
            "name that relation; add a skill whose effects do"
        )
    types = {o: kind(o) if kind(o) in _KINDS else "object" for o in objects}
    init = " ".join(_atom(r) for r in sorted(facts) if r.name in domain.predicates)
    return "\n".join(
        [
            "(define (problem stage) (:domain wallwm)",
            f"  (:objects {' '.join(f'{o} - {types[o]}' for o in objects)})",
            f"  (:init {init})",
            f"  (:goal (and {' '.join(_atom(r) for r in sorted(goal))})))",
        ]
    )
