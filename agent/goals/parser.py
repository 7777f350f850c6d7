"""Instruction text -> commands: the vocabulary's tokens parsed with the lark grammar.

The commands still name objects by description ("the block in the bowl", "it", "every block
but the red one"); agent/goals/resolve.py grounds them in a scene. Where the grammar allows two
readings ("put the red block in the bowl" as a placement, or as "the red block that is in the
bowl" with no destination), the complete one with fewer relative clauses is taken.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

from lark import Lark, Token, Transformer, Tree
from lark.exceptions import UnexpectedEOF, UnexpectedInput, VisitError
from lark.visitors import CollapseAmbiguities

from agent.goals.errors import ClarificationError
from agent.goals.vocabulary import Reading, WordMapper

GRAMMAR = Path(__file__).with_name("instruction.lark")
# A last word that cannot end an instruction: it was cut off mid-way.
_CUT_OFF = frozenset({"and", "then", "the", "a", "an", "of", "with", "to", "from", "except"})
_COUNTS = {"two": 2, "three": 3, "four": 4, "five": 5}


@dataclass(frozen=True)
class Ref:
    """A description of objects, not yet grounded: e.g. colour='red', noun='block'."""

    pronoun: str | None = None  # it, them, both
    quantifier: str | None = None  # all, other, both
    count: int | None = None
    negated: bool = False  # "not red": every block but the red ones
    colour: str | None = None  # a colour or a colour class (warm, cool)
    noun: str | None = None  # block, blocks, one, ones, bowl, plate, drawer, or an absent thing
    location: tuple[str, Ref] | None = None  # ("in", the bowl): "the block in the bowl"
    excluded: tuple[Ref, ...] = ()

    @property
    def plural(self) -> bool:
        return bool(self.quantifier or self.count or self.noun in ("blocks", "ones"))


@dataclass(frozen=True)
class Command:
    """One step of an instruction. `kind` is the grammar rule's name."""

    kind: str
    objects: tuple[Ref, ...] = ()
    preposition: str | None = None  # in, on, near, to, under
    dest: Ref | None = None
    forbidden: bool = False
    tower: tuple[tuple[Ref, str | None], ...] = ()  # (block, "top"/"bottom"/None) as listed
    direction: str | None = None  # bottom_up, top_down
    size: int | None = None

    @property
    def incomplete(self) -> bool:
        return self.kind in ("nowhere", "elided")


@dataclass(frozen=True)
class Parse:
    """The readings of an instruction, best first (each a tuple of commands; an empty tuple is
    "nothing to do"), and how its words were read."""

    readings: tuple[tuple[Command, ...], ...]
    reading: Reading


def _score(value: object) -> tuple[int, int, int]:
    """Lower is better: fewer incomplete commands, then fewer relative clauses ("the block in
    the bowl"), then longer exceptions ("all but the red and blue ones" excepts both)."""
    own = (0, 0, 0)
    inner: list[object] = []
    if isinstance(value, Command):
        own = (int(value.incomplete), 0, 0)
        inner = [*value.objects, value.dest, *(r for r, _ in value.tower)]
    elif isinstance(value, Ref):
        own = (0, int(value.location is not None), -len(value.excluded))
        inner = [*value.excluded, value.location[1] if value.location else None]
    elif isinstance(value, tuple | list):
        inner = list(value)
    scores = [own, *(_score(v) for v in inner if v is not None)]
    return (sum(s[0] for s in scores), sum(s[1] for s in scores), sum(s[2] for s in scores))


@dataclass(frozen=True)
class _Dest:
    preposition: str
    ref: Ref


@dataclass(frozen=True)
class _Body:
    items: tuple[tuple[Ref, str | None], ...]
    direction: str | None


@dataclass(frozen=True)
class _Location:
    preposition: str
    ref: Ref


@dataclass(frozen=True)
class _NotColour:
    colour: str


@dataclass(frozen=True)
class _Excluded:
    refs: tuple[Ref, ...]


class _ToCommands(Transformer):
    """Parse tree -> Commands and Refs (lark calls one method per rule name)."""

    def _ambig(self, readings: list) -> object:
        return min(readings, key=_score)

    def nothing(self, _: list) -> tuple[Command, ...]:
        return ()

    def clauses(self, commands: list) -> tuple[Command, ...]:
        return tuple(commands)

    def forbid(self, children: list) -> Command:
        command: Command = children[-1]  # after the NOT token
        return Command(**{**command.__dict__, "forbidden": True})

    def group(self, refs: list) -> tuple[Ref, ...]:
        return tuple(refs)

    def goes(self, _: list) -> None:
        return None

    def dest(self, children: list) -> _Dest:
        return _Dest(str(children[0]), children[1])

    def dest_to(self, children: list) -> _Dest:
        return _Dest("to", children[0])

    def dest_under(self, children: list) -> _Dest:
        return _Dest("under", children[0])

    def bare_prep(self, children: list) -> str:
        return str(children[0])

    def place(self, children: list) -> Command:
        group, dest = children[0], children[-1]  # a "goes" in between is None
        return Command("place", group, dest.preposition, dest.ref)

    def place_except(self, children: list) -> Command:
        """ "put all the blocks in the bowl except the yellow one": the exception comes last."""
        group, dest, excluded = children
        last = group[-1]
        kept = Ref(**{**last.__dict__, "excluded": (*last.excluded, *excluded)})
        return Command("place", (*group[:-1], kept), dest.preposition, dest.ref)

    def push(self, children: list) -> Command:
        group, dest = children
        return Command("push", group, dest.preposition, dest.ref)

    def nowhere(self, children: list) -> Command:
        return Command("nowhere", children[0])

    def elided(self, children: list) -> Command:
        return Command("elided", children[0], children[1])

    def take(self, children: list) -> Command:
        return Command("take", children[0])

    def fill(self, children: list) -> Command:
        return Command("place", children[1], "in", children[0])

    def open(self, children: list) -> Command:
        return Command("open", (children[0],))

    def close(self, children: list) -> Command:
        return Command("close", (children[0],))

    def ditto(self, children: list) -> Command:
        return Command("ditto", children[0])

    def again(self, children: list) -> Command:
        return Command("again", (), children[0].preposition, children[0].ref)

    def intro(self, _: list) -> Command:
        return Command("intro")

    def size(self, children: list) -> int:
        return _COUNTS[str(children[0])]

    def tower_item(self, children: list) -> tuple[Ref, str | None]:
        return children[0], (str(children[1]) if len(children) > 1 else None)

    def tower_body(self, children: list) -> _Body:
        items = tuple(c for c in children if isinstance(c, tuple))
        direction = [str(c) for c in children if isinstance(c, Token) and c.type == "DIRECTION"]
        return _Body(items, direction[0] if direction else None)

    def tower(self, children: list) -> Command:
        group: tuple[Ref, ...] = next((c for c in children if isinstance(c, tuple)), ())
        size = next((c for c in children if isinstance(c, int)), None)
        body = next((c for c in children if isinstance(c, _Body)), _Body((), None))
        direction = [str(c) for c in children if isinstance(c, Token) and c.type == "DIRECTION"]
        return Command(
            "tower",
            group,
            tower=body.items,
            direction=body.direction or (direction[0] if direction else None),
            size=size,
        )

    def it(self, _: list) -> Ref:
        return Ref(pronoun="it")

    def them(self, _: list) -> Ref:
        return Ref(pronoun="them")

    def located(self, children: list) -> _Location:
        return _Location(str(children[0]), children[1])

    def beneath(self, children: list) -> _Location:
        return _Location("under", children[0])

    def not_colour(self, children: list) -> _NotColour:
        return _NotColour(str(children[1]))

    def exception(self, children: list) -> _Excluded:
        return _Excluded(children[0])

    def thing(self, children: list) -> Ref:
        fields: dict = {}
        for child in children:
            if isinstance(child, Token):
                if child.type == "QUANT":
                    fields["quantifier"] = str(child)
                elif child.type == "NUMBER":
                    fields["count"] = _COUNTS[str(child)]
                elif child.type == "NOT":
                    fields["negated"] = True
                elif child.type == "COLOUR":
                    fields["colour"] = str(child)
                else:  # BLOCK, NOUN
                    fields["noun"] = str(child)
            elif isinstance(child, _NotColour):
                fields["negated"], fields["colour"] = True, child.colour
            elif isinstance(child, _Location):
                fields["location"] = (child.preposition, child.ref)
            elif isinstance(child, _Excluded):
                fields["excluded"] = child.refs
        return Ref(**fields)


@cache
def _lark() -> Lark:
    text = GRAMMAR.read_text(encoding="utf-8")
    # The basic lexer (every word is one token) is several times faster than Earley's dynamic one.
    return Lark(text, parser="earley", lexer="basic", ambiguity="explicit")


MAX_READINGS = 64  # beyond this many, each ambiguity is settled on its own by _score


def _readings(tree: Tree) -> tuple[tuple[Command, ...], ...]:
    """Every reading of the parse forest (best first by _score), or the locally best one when
    there are more than MAX_READINGS."""
    count = 1
    for node in tree.find_data("_ambig"):
        count *= len(node.children)
    trees = CollapseAmbiguities().transform(tree) if count <= MAX_READINGS else [tree]
    readings = [_ToCommands().transform(t) for t in trees]
    unique = list(dict.fromkeys(readings))
    return tuple(sorted(unique, key=_score))


class InstructionParser:
    """Reads instructions into commands; one per process is enough (the grammar is cached)."""

    def __init__(self, words: WordMapper | None = None) -> None:
        self.words = words or WordMapper()

    def parse(self, instruction: str) -> Parse:
        """The commands of `instruction`; raises ClarificationError when it cannot be read."""
        raw = instruction.lower().replace(",", " , ").split()
        if not raw:
            raise ClarificationError("The instruction is empty: what should I do?", "no words")
        if raw[-1] in _CUT_OFF or raw[-1] == ",":
            raise ClarificationError(
                f"The instruction stops after {raw[-1]!r}: how does it go on?", "cut off"
            )
        reading = self.words.read(instruction)
        if not reading.tokens:
            raise ClarificationError(
                f"I found nothing to do in {instruction!r}: what should I do?", "only filler words"
            )
        text = " ".join(reading.tokens)
        try:
            readings = _readings(_lark().parse(text))
        except UnexpectedEOF:
            raise ClarificationError(
                f"The instruction stops mid-way ({instruction!r}): how does it go on?",
                f"read as {text!r}",
            ) from None
        except UnexpectedInput as exc:
            column = getattr(exc, "column", 0) or 0
            where = text[max(column - 1, 0) :].split(" ", 1)[0] if column else text
            raise ClarificationError(
                f"I cannot follow {instruction!r} from {where!r} on; could you rephrase it, e.g. "
                "'put the red block in the bowl, then stack the green block on the blue one'?",
                f"read as {text!r}",
            ) from None
        except VisitError as exc:  # a reading the transformer cannot build: a grammar gap
            raise ClarificationError(
                f"I cannot follow {instruction!r}; could you rephrase it?", str(exc.orig_exc)
            ) from None
        return Parse(readings, reading)
