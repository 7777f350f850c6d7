"""Scene files: which objects are on the table and which relations hold when a run starts.

    objects: [red_block, blue_block, bowl, plate, drawer]  # absent ones are not in the scene
    relations: ["in(red_block, bowl)", "on(yellow_block, blue_block)", "open(drawer)"]

Relations are spelt as perception spells them (agent/goals/relations.py). A scene may set
`in(X, bowl)`, `in(X, drawer)`, `on(X, plate)`, `on(X, Y)` (towers), `near(X, Y)`, `open(drawer)`
and `closed(drawer)`; everything else is placed at random by the seed. `SceneSetup` is checked
when it is made, so an impossible scene is refused before a simulator is built.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import yaml

from agent.envs.tabletop.scene import BLOCKS, CAPACITY, CONTAINERS, DRAWER, OBJECTS
from agent.goals.errors import RelationSyntaxError
from agent.goals.relations import PERCEPTION_RELATIONS, Relation
from worldmodel.errors import WallwmError

KEYS = ("objects", "relations")


class SceneFileError(WallwmError):
    """A scene file that cannot be read or asks for a scene that cannot be set up."""


@dataclass(frozen=True)
class Placement:
    """Where the scene's relations put things; every object not named here is placed at random.

    `support`: block -> the container or block it starts in or on (in/on relations).
    `beside`: block -> the object it starts next to (near relations).
    """

    support: dict[str, str] = field(default_factory=dict)
    beside: dict[str, str] = field(default_factory=dict)
    drawer_open: bool = False

    def resting_on_table(self, name: str) -> bool:
        return name not in self.support and name not in self.beside


@dataclass(frozen=True)
class SceneSetup:
    """The objects present and the relations asked for at the start (the default: every object,
    all at random)."""

    objects: tuple[str, ...] = OBJECTS
    relations: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        _check_objects(self.objects)
        self.placement  # noqa: B018 - checks the relations

    @property
    def absent(self) -> tuple[str, ...]:
        return tuple(name for name in OBJECTS if name not in self.objects)

    @cached_property
    def placement(self) -> Placement:
        return _placement(self.objects, self.relations)

    def to_dict(self) -> dict[str, list[str]]:
        return {"objects": list(self.objects), "relations": list(self.relations)}

    @classmethod
    def from_dict(cls, values: dict[str, Any], source: str = "the scene") -> SceneSetup:
        """A scene from its mapping (a parsed file, or a run spec's record of one)."""
        if not isinstance(values, dict):
            raise SceneFileError(f"{source} is not a mapping with keys {', '.join(KEYS)}")
        unknown = sorted(set(values) - set(KEYS))
        if unknown:
            raise SceneFileError(f"{source} has unknown key(s) {unknown}; expected {list(KEYS)}")
        lists = {}
        for key in KEYS:
            value = values.get(key, OBJECTS if key == "objects" else ())
            if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
                raise SceneFileError(f"{source}: {key} must be a list of names, got {value!r}")
            lists[key] = tuple(value)
        try:
            return cls(**lists)
        except SceneFileError as exc:
            raise SceneFileError(f"{source}: {exc}") from None


def load_scene(path: str | Path) -> SceneSetup:
    """The scene a YAML file describes; SceneFileError says what is wrong with it."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise SceneFileError(f"cannot read scene file {path}: {exc}") from None
    try:
        values = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        message = " ".join(str(exc).split())
        raise SceneFileError(f"scene file {path} is not valid YAML: {message}") from None
    return SceneSetup.from_dict(values, f"scene file {path}")


def _check_objects(objects: tuple[str, ...]) -> None:
    for name in objects:
        if name not in OBJECTS:
            close = difflib.get_close_matches(name, OBJECTS, n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            raise SceneFileError(f"unknown object {name!r}{hint}; objects are {', '.join(OBJECTS)}")
    repeated = sorted({name for name in objects if objects.count(name) > 1})
    if repeated:
        raise SceneFileError(f"objects lists {', '.join(repeated)} more than once")


def _parse(text: str, objects: tuple[str, ...]) -> Relation:
    """One relation of a scene, spelt right and naming present objects of the right kinds."""
    if text.count("(") != text.count(")"):  # YAML splits [in(a, b)] at its comma
        raise SceneFileError(
            f"relation {text!r} is cut at a comma: quote each relation in a [ ] list "
            '(["in(red_block, bowl)"]) or write one per line after "- "'
        )
    try:
        relation = Relation.parse(text)
    except RelationSyntaxError as exc:
        raise SceneFileError(str(exc)) from None
    settable = ("in", "on", "near", "open", "closed")
    if relation.name == "holding":
        raise SceneFileError(f"{text}: a scene starts with the gripper empty; drop it")
    if relation.name not in settable or len(relation.args) != PERCEPTION_RELATIONS[relation.name]:
        raise SceneFileError(
            f"{text} is not a relation a scene can set; use in(X, bowl), in(X, drawer), "
            "on(X, plate), on(X, Y), near(X, Y), open(drawer) or closed(drawer)"
        )
    for name in relation.args:
        if name not in OBJECTS:
            raise SceneFileError(f"{text} names unknown object {name!r}")
        if name not in objects:
            raise SceneFileError(f"{text} names {name}, which is not in the scene's objects")
    first, *rest = relation.args
    kinds = {
        "in": ("bowl", DRAWER),
        "on": ("plate", *BLOCKS),
        "near": (*BLOCKS, *CONTAINERS),
    }
    if relation.name in ("open", "closed"):
        if first != DRAWER:
            raise SceneFileError(f"{text}: only the drawer opens and closes")
    elif first not in BLOCKS or rest[0] not in kinds[relation.name] or first == rest[0]:
        hint = {"in": "in(X, plate) is written on(X, plate)", "on": "a block is in the bowl"}
        raise SceneFileError(
            f"{text}: X must be a block and the second object one of "
            f"{', '.join(kinds[relation.name])}"
            + (f" ({hint[relation.name]})" if relation.name in hint else "")
        )
    return relation


def _placement(objects: tuple[str, ...], texts: tuple[str, ...]) -> Placement:
    """Where the relations put things; SceneFileError for a scene that cannot be set up."""
    parsed = [_parse(text, objects) for text in texts]
    support: dict[str, str] = {}
    beside: dict[str, str] = {}
    said: dict[str, Relation] = {}
    for relation in parsed:
        if relation.name in ("in", "on", "near"):
            block, other = relation.args
            if block in said:
                raise SceneFileError(
                    f"{block} is placed twice: {said[block]} and {relation}; keep one"
                )
            said[block] = relation
            (beside if relation.name == "near" else support)[block] = other
    names = {relation.name for relation in parsed}
    if {"open", "closed"} <= names:
        raise SceneFileError("open(drawer) and closed(drawer) both asked for; keep one")
    in_drawer = [block for block, place in support.items() if place == DRAWER]
    if in_drawer and "closed" in names:
        raise SceneFileError(
            f"in({in_drawer[0]}, drawer) with closed(drawer): blocks are set in the open drawer "
            "(a closed one hides them from the cameras); drop closed(drawer)"
        )
    for container, capacity in CAPACITY.items():
        inside = sorted(block for block, place in support.items() if place == container)
        if len(inside) > capacity:
            raise SceneFileError(
                f"{len(inside)} blocks ({', '.join(inside)}) in the {container}; it holds "
                f"{capacity} at the start of a scene"
            )
    _check_towers(support)
    for block, other in beside.items():
        under_a_block = other in BLOCKS and other in support.values()
        if other in support or other in beside or under_a_block:
            raise SceneFileError(
                f"near({block}, {other}): {other} must stand alone on the table (not in or on "
                "anything, under a block, or next to another object by the scene)"
            )
    return Placement(support, beside, drawer_open=bool(in_drawer) or "open" in names)


def _check_towers(support: dict[str, str]) -> None:
    """Towers stand on the table, one block on each block, without loops."""
    tops: dict[str, str] = {}
    for top, below in support.items():
        if below not in BLOCKS:
            continue
        if below in tops:
            raise SceneFileError(f"{tops[below]} and {top} are both on {below}; keep one")
        tops[below] = top
        if support.get(below) in (*CONTAINERS, DRAWER):
            raise SceneFileError(
                f"on({top}, {below}) with {below} in or on the {support[below]}: towers start "
                "on the table"
            )
    for start in tops:
        seen, block = {start}, start
        while block in support and support[block] in BLOCKS:
            block = support[block]
            if block in seen:
                raise SceneFileError(f"the towers with {start} go round in a loop")
            seen.add(block)


# Every object, all placed at random: the tabletop without a scene file.
DEFAULT_SCENE = SceneSetup()
