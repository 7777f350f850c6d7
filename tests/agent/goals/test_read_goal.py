"""Reading instructions in a scene: the errors a person sees, and how words were read."""

from __future__ import annotations

import pytest

from agent.goals import (
    COLOUR_CLASSES,
    ClarificationError,
    InstructionParser,
    MissingObjectError,
    Scene,
    read_goal,
)
from agent.goals.parser import _lark
from agent.goals.vocabulary import ABSENT_NOUNS, CLASSES, COLOURS, OTHER_COLOURS, edit_distance

FULL = Scene.of(
    ["red_block", "green_block", "blue_block", "yellow_block", "bowl", "plate", "drawer"],
    ["closed(drawer)"],
)


def test_an_absent_object_is_one_line_naming_it_and_what_is_there(
    parser: InstructionParser,
) -> None:
    scene = Scene.of(["red_block", "blue_block", "bowl"])
    with pytest.raises(MissingObjectError) as caught:
        read_goal("put the green block in the bowl", scene, parser)
    assert caught.value.missing == "the green block"
    assert caught.value.present == ("blue_block", "red_block", "bowl")
    assert str(caught.value) == (
        "not in the scene: the green block; there is: blue_block, red_block, bowl. "
        "Name one of these."
    )
    assert "\n" not in str(caught.value)


def test_a_cut_off_instruction_asks_how_it_goes_on(parser: InstructionParser) -> None:
    with pytest.raises(ClarificationError) as caught:
        read_goal("put the red block in the bowl and", FULL, parser)
    assert caught.value.question == "The instruction stops after 'and': how does it go on?"


def test_a_missing_destination_asks_where(parser: InstructionParser) -> None:
    with pytest.raises(ClarificationError) as caught:
        read_goal("put the red and blue blocks", FULL, parser)
    assert caught.value.question == "Where should the red block or the blue block go?"


def test_an_ambiguous_block_asks_which(parser: InstructionParser) -> None:
    with pytest.raises(ClarificationError) as caught:
        read_goal("put the block on the plate", FULL, parser)
    assert caught.value.question.startswith("Which block do you mean: the blue block, ")


def test_an_unknown_word_is_named_in_the_question(parser: InstructionParser) -> None:
    with pytest.raises(ClarificationError) as caught:
        read_goal("put the red block in the zorblax", FULL, parser)
    assert "'zorblax'" in caught.value.question


def test_a_prohibition_is_not_read_as_a_request(parser: InstructionParser) -> None:
    goal = read_goal("don't put the red block in the bowl", FULL, parser)
    assert goal.empty and goal.holds(FULL.relations)
    assert [str(r) for r in goal.avoid] == ["in(red_block, bowl)"]


def test_typos_are_read_as_the_words_they_misspell(parser: InstructionParser) -> None:
    reading = parser.parse("put the rde blok in the bowel").reading
    assert reading.substitutions == {"rde": "red", "blok": "block", "bowel": "bowl"}
    assert reading.tokens == ["put", "red", "block", "in", "bowl"]
    assert edit_distance("stakc", "stack") == 1 and edit_distance("bed", "red") == 1


def test_colour_classes_are_the_documented_ones(parser: InstructionParser) -> None:
    assert COLOUR_CLASSES == {"warm": ("red", "yellow"), "cool": ("green", "blue")}
    goal = read_goal("put the cool blocks in the bowl", FULL, parser)
    assert goal.strings() == [["in(blue_block, bowl)", "in(green_block, bowl)"]]


def test_the_grammar_knows_exactly_the_vocabulary_s_colours_and_nouns() -> None:
    terminals = {t.name: t.pattern.value for t in _lark().terminals}
    assert set(terminals["COLOUR"].strip("(?:)").split("|")) == {
        *COLOURS,
        *OTHER_COLOURS,
        *CLASSES,
    }
    assert set(terminals["NOUN"].strip("(?:)").split("|")) == {
        "bowl",
        "plate",
        "drawer",
        *ABSENT_NOUNS,
    }
