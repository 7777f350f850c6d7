"""Relations, goal stages and goals: what must hold in the scene when a task is done.

A relation is spelt exactly `name(a, b)` or `name(a)`: one space after the comma, object names
as the simulator names them (`red_block`, `bowl`, `plate`, `drawer`). The perception vocabulary:
`in(X, bowl)`, `in(X, drawer)`, `on(X, plate)`, `on(X, Y)`, `near(X, Y)`, `open(drawer)`,
`closed(drawer)`, `holding(X)`.

A goal is a sequence of stages. Each stage lists every relation that must hold once that step of
the instruction is done, including earlier ones it keeps ("put the red block in the bowl, then
the blue one on the plate" is one stage of two relations); a new stage starts only when a step
undoes an earlier one ("... then move it to the plate": the red block in the bowl, then on the
plate). The goal is met when its last stage holds; an empty goal (nothing asked) always is.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from agent.goals.errors import RelationSyntaxError

PERCEPTION_RELATIONS: dict[str, int] = {
    "in": 2,
    "on": 2,
    "near": 2,
    "open": 1,
    "closed": 1,
    "holding": 1,
}
_NAME = r"[a-z][a-z0-9_]*"
_RELATION = re.compile(rf"({_NAME})\(({_NAME})(?:, ({_NAME}))?\)")


@dataclass(frozen=True, order=True)
class Relation:
    """One fact about the scene, e.g. Relation("in", ("red_block", "bowl"))."""

    name: str
    args: tuple[str, ...]

    def __post_init__(self) -> None:
        if not re.fullmatch(_NAME, self.name) or not 1 <= len(self.args) <= 2:
            raise RelationSyntaxError(
                f"relation {self.name!r} with {len(self.args)} argument(s); expected a "
                "lower_snake_case name with one or two object names"
            )
        for arg in self.args:
            if not re.fullmatch(_NAME, arg):
                raise RelationSyntaxError(
                    f"object name {arg!r} in relation {self.name!r}; expected a lower_snake_case "
                    "name such as red_block"
                )

    def __str__(self) -> str:
        return f"{self.name}({', '.join(self.args)})"

    @classmethod
    def parse(cls, text: str) -> Relation:
        """`Relation.parse("on(red_block, plate)")`; the spelling must be exact."""
        match = _RELATION.fullmatch(text)
        if match is None:
            raise RelationSyntaxError(
                f"relation {text!r} is not spelt name(a, b) or name(a); write e.g. "
                "'in(red_block, bowl)' or 'open(drawer)' (one space after the comma)"
            )
        name, first, second = match.groups()
        return cls(name, (first,) if second is None else (first, second))

    def words(self) -> str:
        """The relation in English: "the red block in the bowl"."""
        things = [_display(arg) for arg in self.args]
        if self.name in ("open", "closed"):
            return f"{things[0]} {self.name}"
        if self.name == "holding":
            return f"holding {things[0]}"
        if self.name == "near":
            return f"{things[0]} next to {things[1]}"
        if len(things) == 2:
            return f"{things[0]} {self.name} {things[1]}"
        return f"{self.name} {things[0]}"


def _display(name: str) -> str:
    return "the " + name.replace("_", " ")


def relations(texts: Iterable[str | Relation]) -> frozenset[Relation]:
    """A set of relations from their strings (or relations, kept as they are)."""
    return frozenset(t if isinstance(t, Relation) else Relation.parse(t) for t in texts)


@dataclass(frozen=True)
class Stage:
    """The relations that must all hold once one step of the instruction is done."""

    relations: frozenset[Relation]

    def holds(self, facts: Iterable[str | Relation]) -> bool:
        return self.relations <= relations(facts)

    def strings(self) -> list[str]:
        return sorted(str(r) for r in self.relations)

    def words(self) -> str:
        return ", ".join(r.words() for r in sorted(self.relations))


@dataclass(frozen=True)
class Goal:
    """Stages in order; `avoid` lists what the instruction forbids ("do not put ... in ...").

    `avoid` is shown with the goal and checked by `violated`; it never adds events.
    """

    stages: tuple[Stage, ...] = ()
    avoid: frozenset[Relation] = field(default_factory=frozenset)

    @classmethod
    def of(cls, *stages: Iterable[str], avoid: Iterable[str] = ()) -> Goal:
        """`Goal.of(["in(red_block, bowl)"], ["on(red_block, plate)"])`."""
        return cls(tuple(Stage(relations(s)) for s in stages), relations(avoid))

    @property
    def empty(self) -> bool:
        return not self.stages

    @property
    def final(self) -> frozenset[Relation]:
        """What must hold at the end: the last stage's relations."""
        return self.stages[-1].relations if self.stages else frozenset()

    def holds(self, facts: Iterable[str | Relation]) -> bool:
        """True when the goal is met in a scene with these relations (the last stage holds)."""
        return self.final <= relations(facts)

    def stages_holding(self, facts: Iterable[str | Relation]) -> tuple[bool, ...]:
        """For each stage, whether it holds in a scene with these relations."""
        present = relations(facts)
        return tuple(stage.relations <= present for stage in self.stages)

    def violated(self, facts: Iterable[str | Relation]) -> frozenset[Relation]:
        """The forbidden relations that hold in a scene with these relations."""
        return self.avoid & relations(facts)

    def strings(self) -> list[list[str]]:
        """The stages as lists of relation strings (the form the instruction set records)."""
        return [stage.strings() for stage in self.stages]

    def words(self) -> str:
        """The goal in English, one line: shown before the first event."""
        if not self.stages:
            text = "nothing to do"
        elif len(self.stages) == 1:
            text = self.stages[0].words()
        else:
            text = "; then ".join(f"{stage.words()}" for stage in self.stages)
        if self.avoid:
            text += "; never " + ", ".join(r.words() for r in sorted(self.avoid))
        return text

    def describe(self) -> str:
        """Words and relations, one stage a line."""
        lines = [f"goal: {self.words()}"]
        for index, stage in enumerate(self.stages, start=1):
            lines.append(f"  stage {index}: {' '.join(stage.strings())}")
        if self.avoid:
            lines.append(f"  avoid: {' '.join(sorted(str(r) for r in self.avoid))}")
        return "\n".join(lines)
