"""Commands -> a goal grounded in a scene: descriptions become object names, steps become stages.

Grounding rules (each failure is a specific error, never a guess):
- a colour names that block ("red" -> red_block); a colour class names every block of the class
  present; a block or place the scene lacks -> MissingObjectError naming it and what is there;
- "the block in the bowl", "the one on the plate", "the block under the red one" pick the blocks
  the scene's relations say; "the block that is not red" every block but the red one;
- "every block", "all blocks but the red one", "both blocks", "the other one", "all four blocks"
  count the scene's blocks; a singular description that fits several blocks -> ClarificationError;
- "it" is the object just moved (or, for open and close, the drawer); "them" the objects just
  moved; "... in it" the place just named; "drop it in" the container just named;
- towers: listed bottom-up or top-down as the words say ("from the bottom", "red on top"); a
  tower whose order the words leave open -> ClarificationError;
- a drawer found closed is left closed after things are put in it, unless the words say
  otherwise ("hide the green block in the drawer": in(green_block, drawer), closed(drawer)).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

from agent.goals.errors import ClarificationError, GoalInputError, MissingObjectError
from agent.goals.parser import Command, Ref
from agent.goals.relations import Goal, Relation, Stage
from agent.goals.scene import (
    COLOUR_CLASSES,
    CONTAINERS,
    OPENABLE,
    Scene,
    colour,
    kind,
    placement,
)

_PLACES = ("bowl", "plate", "drawer")
_LOCATED = ("in", "on", "near", "holding")  # relations whose first argument is where X is


def _words(names: Sequence[str]) -> str:
    shown = [f"the {n.replace('_', ' ')}" for n in names]
    return shown[0] if len(shown) == 1 else ", ".join(shown[:-1]) + " or " + shown[-1]


def _describe(ref: Ref) -> str:
    if ref.noun and ref.noun not in ("block", "blocks", "one", "ones"):
        return f"the {ref.noun}"
    noun = "blocks" if ref.plural else "block"
    if ref.colour in COLOUR_CLASSES:
        return f"a {ref.colour} block ({' or '.join(COLOUR_CLASSES[ref.colour])})"
    if ref.colour:
        return f"the {ref.colour} {noun}"
    return "blocks" if ref.plural else "a block"


class Resolver:
    """Grounds the commands of one instruction in one scene (a fresh resolver per reading)."""

    def __init__(self, scene: Scene) -> None:
        self.scene = scene
        self.mentioned: list[str] = []  # every object named so far, in order
        self.moved: tuple[str, ...] = ()  # the objects of the last command
        self.last: Command | None = None  # the last placement, for "and so does the blue one"
        self.steps: list[list[Relation]] = []  # the relations of each command, in order
        self.avoid: set[Relation] = set()
        self.objects: tuple[str, ...] = ()  # the objects of the command being grounded

    # ---- descriptions -> names ------------------------------------------------------------------
    def names(self, ref: Ref, role: str = "object") -> list[str]:
        """The objects `ref` describes. `role` says what a pronoun may stand for: 'object',
        'openable', or 'in'/'on'/'near'/'to' for a destination ("in it" is a container)."""
        if ref.pronoun is not None:
            return self._pronoun(ref.pronoun, role)
        if ref.quantifier == "both" and ref == Ref(quantifier="both"):  # "put both in the bowl"
            return self._pronoun("both", role)
        if ref.noun in _PLACES or (ref.noun and ref.noun not in ("block", "blocks", "one", "ones")):
            if ref.noun not in self.scene.objects:
                raise MissingObjectError(f"the {ref.noun}", self.scene.listing())
            return [ref.noun]
        return self._blocks(ref)

    def _pronoun(self, pronoun: str, role: str) -> list[str]:
        if role == "openable":
            named = [o for o in reversed(self.mentioned) if kind(o) in OPENABLE]
            present = [o for o in self.scene.objects if kind(o) in OPENABLE]
            found = named[:1] or (present if len(present) == 1 else [])
            if not found:
                raise ClarificationError("What should I open or close? Name the drawer.", "'it'")
            return found
        if pronoun == "both":
            blocks = list(self.moved) if len(self.moved) == 2 else self.scene.blocks()
            if len(blocks) != 2:
                raise ClarificationError(
                    f"Which two blocks do you mean by 'both'? There are {len(blocks)}: "
                    f"{_words(self.scene.blocks())}.",
                    "'both'",
                )
            return blocks
        if role in ("in", "on", "near", "to", "under"):
            recent = [*(self.moved if len(self.moved) == 1 else ()), *reversed(self.mentioned)]
            named = [o for o in recent if o not in self.objects and _fits(o, role)]
        elif pronoun == "them":
            named = list(self.moved)
        else:
            named = list(self.moved) if len(self.moved) == 1 else self.mentioned[-1:]
        if not named:
            raise ClarificationError(f"What does '{pronoun}' refer to? Name the object.", pronoun)
        return named if pronoun == "them" else named[:1]

    def _blocks(self, ref: Ref) -> list[str]:
        present = self.scene.blocks()
        candidates = list(present)
        if ref.colour is not None:
            colours = COLOUR_CLASSES.get(ref.colour, (ref.colour,))
            if ref.negated:
                candidates = [b for b in candidates if colour(b) not in colours]
            else:
                wanted = [f"{c}_block" for c in colours]
                candidates = [b for b in wanted if b in present]
                if ref.colour not in COLOUR_CLASSES and not candidates:
                    raise MissingObjectError(_describe(ref), self.scene.listing())
        if ref.location is not None:
            candidates = [b for b in candidates if self._located(b, *ref.location)]
        for excluded in ref.excluded:
            removed = set(self.names(excluded))
            candidates = [b for b in candidates if b not in removed]
        if ref.quantifier == "other":
            candidates = [b for b in candidates if b not in self.mentioned]
        return self._count(ref, candidates)

    def _located(self, block: str, preposition: str, where: Ref) -> bool:
        places = self.names(where, preposition)
        facts = self.scene.relations
        if preposition == "under":
            return any(Relation("on", (p, block)) in facts for p in places)
        names = ("near",) if preposition == "near" else ("in", "on")
        return any(Relation(n, (block, p)) in facts for n in names for p in places)

    def _count(self, ref: Ref, candidates: list[str]) -> list[str]:
        what = _describe(ref)
        if ref.location is not None:
            what += f" {ref.location[0]} {_describe(ref.location[1])}"
        if not candidates:
            raise MissingObjectError(what, self.scene.listing())
        # "both blocks" counts; "both the red and the blue blocks" lists them
        both = ref.quantifier == "both" and ref.colour is None
        expected = ref.count or (2 if both else None)
        if expected is not None and len(candidates) != expected:
            if len(candidates) < expected:
                raise MissingObjectError(f"{expected} such blocks", self.scene.listing())
            raise ClarificationError(
                f"Which {expected} of {_words(candidates)} do you mean?", f"{what}: too many"
            )
        # "warm colours in the bowl", "not red": a class or a negation without a noun is plural
        bare = ref.noun is None and (ref.colour in COLOUR_CLASSES or ref.negated)
        plural = ref.plural or bare
        if not plural and len(candidates) > 1:
            raise ClarificationError(f"Which block do you mean: {_words(candidates)}?", what)
        return candidates

    def one(self, ref: Ref, role: str) -> str:
        names = self.names(ref, role)
        if len(names) != 1:
            raise ClarificationError(f"Which one do you mean: {_words(names)}?", _describe(ref))
        return names[0]

    # ---- commands -> relations ------------------------------------------------------------------
    def run(self, commands: Sequence[Command]) -> Goal:
        for command in commands:
            self._command(command)
        if not any(self.steps) and not self.avoid and commands:
            raise ClarificationError(
                "I understood no placement to make: what should end up where?", "no goal"
            )
        self._close_what_was_closed()
        return Goal(tuple(Stage(s) for s in stages(self.steps)), frozenset(self.avoid))

    def _close_what_was_closed(self) -> None:
        """A drawer found closed is left closed: things put away in it ("hide the green block in
        the drawer") end with it shut, as the task suite's success checks expect, unless the
        instruction says what the drawer should be."""
        for drawer in (o for o in self.scene.objects if kind(o) in OPENABLE):
            said = any(r.args == (drawer,) for batch in self.steps for r in batch)
            if said or Relation("closed", (drawer,)) not in self.scene.relations:
                continue
            used = [i for i, b in enumerate(self.steps) if any(r.args[1:] == (drawer,) for r in b)]
            if used:
                self.steps[used[-1]].append(Relation("closed", (drawer,)))

    def _add(self, relation: Relation, command: Command) -> None:
        (self.avoid.add if command.forbidden else self.steps[-1].append)(relation)

    def _command(self, command: Command) -> None:
        self.steps.append([])
        self._ground(command)
        self.objects = ()

    def _ground(self, command: Command) -> None:
        kind_ = command.kind
        if kind_ == "intro":
            return
        if kind_ in ("open", "close"):
            target = self.one(command.objects[0], "openable")
            if kind(target) not in OPENABLE:
                raise ClarificationError(f"Only the drawer opens and closes, not the {target}.")
            self._add(Relation("open" if kind_ == "open" else "closed", (target,)), command)
            self.mentioned.append(target)
            return
        if kind_ == "tower":
            self._tower(command)
            return
        if kind_ == "ditto":
            if self.last is None:
                raise ClarificationError("Where should it go too? Name the place.", "'too'")
            command = Command(self.last.kind, command.objects, self.last.preposition,
                              self.last.dest, command.forbidden)  # fmt: skip
        if kind_ == "again":  # "..., then in the bowl": the same objects somewhere else
            if not self.moved:
                raise ClarificationError("What should go there? Name the object.", "no object")
            command = Command("place", (), command.preposition, command.dest, command.forbidden)
            objects = list(self.moved)
        else:
            objects = [o for ref in command.objects for o in self.names(ref)]
        self.objects = tuple(objects)
        if kind_ == "nowhere":
            raise ClarificationError(f"Where should {_words(objects)} go?", "no destination")
        if kind_ == "take":
            self._moved(objects)
            for obj in objects:
                self._add(Relation("holding", (obj,)), command)
            return
        dest = self._dest(command)
        for obj in objects:
            self._add(self._relation(command, obj, dest), command)
        self._moved(objects)
        self.mentioned.append(dest)
        self.last = Command(command.kind, (), command.preposition, Ref(noun=dest) if dest in
                            _PLACES else Ref(colour=colour(dest)))  # fmt: skip

    def _dest(self, command: Command) -> str:
        if command.kind == "elided":  # "drop the red block in": the container just named
            named = [o for o in reversed(self.mentioned) if kind(o) in ("bowl", "drawer")]
            if not named:
                raise ClarificationError("In what? Name the bowl or the drawer.", "no container")
            return named[0]
        assert command.dest is not None
        return self.one(command.dest, command.preposition or "to")

    def _relation(self, command: Command, obj: str, dest: str) -> Relation:
        if kind(obj) != "block":
            raise ClarificationError(f"I can only move blocks, not the {obj}: what should move?")
        if obj == dest:
            raise ClarificationError(f"The {obj.replace('_', ' ')} cannot go on itself: where?")
        if command.kind == "push" or command.preposition == "near":
            return Relation("near", (obj, dest))
        if command.preposition == "under":
            if kind(dest) != "block":
                raise ClarificationError(f"Nothing can go under the {dest}: where should it go?")
            return Relation("on", (dest, obj))
        return Relation(placement(dest), (obj, dest))

    def _moved(self, objects: list[str]) -> None:
        self.moved = tuple(objects)
        self.mentioned.extend(objects)

    def _tower(self, command: Command) -> None:
        listed = command.tower or tuple((ref, None) for ref in command.objects)
        named = [(self.names(ref), position) for ref, position in listed]
        items = [(names[0], position) for names, position in named if len(names) == 1]
        if len(items) < len(named):  # "stack all four blocks into one tower": no order given
            items = []
        size = command.size or len([o for ref in command.objects for o in self.names(ref)]) or None
        if not items or (size is not None and size != len(items)):
            named = f"you named {len(items)}" if items else "you named none in order"
            raise ClarificationError(
                f"In what order, from the bottom, should the tower of {size or 'these'} blocks "
                f"go? ({named})",
                "tower order",
            )
        positions = [p for _, p in items]
        direction = command.direction
        if direction is None and (positions[0] == "bottom" or positions[-1] == "top"):
            direction = "bottom_up"
        if direction is None and (positions[0] == "top" or positions[-1] == "bottom"):
            direction = "top_down"
        if direction is None:
            raise ClarificationError(
                f"Which block goes at the bottom of the tower: {_words([o for o, _ in items])}?",
                "tower direction",
            )
        order = [o for o, _ in items] if direction == "bottom_up" else [o for o, _ in items][::-1]
        for below, above in itertools.pairwise(order):
            self._add(Relation("on", (above, below)), command)
        self._moved(order)


def _fits(name: str, preposition: str) -> bool:
    """Whether "<preposition> it" can mean `name`: "in it" a container, "on it" anything else."""
    if preposition == "in":
        return kind(name) in CONTAINERS
    return preposition != "on" or kind(name) not in CONTAINERS


def conflicts(old: Relation, new: Relation) -> bool:
    """Whether `new` undoes `old`: the same object somewhere else, a drawer opened then closed,
    two blocks on one block, or two blocks each on the other."""
    if {old.name, new.name} == {"open", "closed"}:
        return old.args == new.args
    if old.name in _LOCATED and new.name in _LOCATED:
        if old.args[0] == new.args[0]:
            return True
        if old.name == new.name == "on" and kind(new.args[1]) == "block":
            return old.args[1] == new.args[1] or old.args == new.args[::-1]
    return False


def stages(steps: Sequence[Sequence[Relation]]) -> list[frozenset[Relation]]:
    """The relations of each command, in order -> cumulative stages. A new stage starts when a
    command undoes what an earlier one made ("... then move them to the plate").

    Holding an object before placing it is a means, not a stage ("pick up the red block and put
    it in the bowl" is one stage: in(red_block, bowl)).
    """
    done: list[frozenset[Relation]] = []
    current: list[Relation] = []
    for batch in steps:
        new = [r for r in batch if r not in current]
        undone = [r for r in current if any(conflicts(r, n) for n in new)]
        means = [r for r in undone if r.name == "holding"]
        if len(means) < len(undone):
            done.append(frozenset(current))
        current = [r for r in current if r not in undone] + new
    return [*done, frozenset(current)] if current else done


def ground(readings: Sequence[Sequence[Command]], scene: Scene) -> Goal:
    """The goal of the first reading that grounds in the scene; if none does, the best
    reading's error (readings come best first)."""
    first: GoalInputError | None = None
    for commands in readings:
        try:
            return Resolver(scene).run(commands)
        except GoalInputError as exc:
            first = first or exc
    assert first is not None, "an instruction has at least one reading"
    raise first
