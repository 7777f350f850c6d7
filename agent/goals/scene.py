"""The scene a goal is read against: the objects present and the relations that hold now.

It is plain data (names and relation strings) so that camera perception, the simulator's ground
truth or a test can all supply it. Object names follow the simulator: `<colour>_block`, `bowl`,
`plate`, `drawer`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from agent.goals.relations import Relation, relations

# Colour classes (documented in agent/goals/README.md): what "warm" and "cool" blocks mean.
COLOUR_CLASSES: dict[str, tuple[str, ...]] = {
    "warm": ("red", "yellow"),
    "cool": ("green", "blue"),
}
# The relations perception reports (the rest of a planner's facts are its own bookkeeping).
PERCEIVED: frozenset[str] = frozenset({"in", "on", "near", "open", "closed", "holding"})
CONTAINERS: tuple[str, ...] = ("bowl", "drawer")  # a block goes *in* these, *on* anything else
OPENABLE: tuple[str, ...] = ("drawer",)


def kind(name: str) -> str:
    """What an object is: 'block' for `<colour>_block`, else its own name ('bowl', 'plate')."""
    return "block" if name.endswith("_block") else name


def colour(name: str) -> str | None:
    """The colour of a block ('red' for red_block), None for anything else."""
    return name.removesuffix("_block") if kind(name) == "block" else None


def placement(target: str) -> str:
    """The relation an object has with `target` once put there: 'in' a container, else 'on'."""
    return "in" if kind(target) in CONTAINERS else "on"


@dataclass(frozen=True)
class Scene:
    """Objects present (by name) and the relations that hold among them now."""

    objects: frozenset[str]
    relations: frozenset[Relation]

    @classmethod
    def of(cls, objects: Iterable[str], facts: Iterable[str | Relation] = ()) -> Scene:
        """`Scene.of(["red_block", "bowl"], ["in(red_block, bowl)"])`."""
        return cls(frozenset(objects), relations(facts))

    def blocks(self) -> list[str]:
        return sorted(o for o in self.objects if kind(o) == "block")

    def listing(self) -> list[str]:
        """The objects in display order: blocks first, then the rest, by name."""
        return self.blocks() + sorted(o for o in self.objects if kind(o) != "block")

    def goal_relations(self) -> list[str]:
        """Every relation a goal may ask for among these objects (a block in a container, on the
        plate or on another block, next to anything; the drawer open or closed): the choices a
        VLM is given when it states a goal (agent/planning/vlm.py)."""
        blocks = self.blocks()
        others = sorted(o for o in self.objects if kind(o) != "block")
        found = []
        for block in blocks:
            found += [f"{placement(place)}({block}, {place})" for place in others]
            found += [f"on({block}, {other})" for other in blocks if other != block]
            found += [f"near({block}, {other})" for other in self.listing() if other != block]
        for thing in others:
            if thing in OPENABLE:
                found += [f"open({thing})", f"closed({thing})"]
        return found
