"""Relations are spelt exactly; goals hold stage by stage."""

from __future__ import annotations

import pytest

from agent.goals import Goal, Relation, RelationSyntaxError, relations


def test_relations_round_trip_with_exact_spelling() -> None:
    for text in ("in(red_block, bowl)", "on(green_block, blue_block)", "open(drawer)"):
        assert str(Relation.parse(text)) == text
    assert Relation.parse("near(yellow_block, plate)") == Relation(
        "near", ("yellow_block", "plate")
    )


@pytest.mark.parametrize(
    "text",
    ["in(red_block,bowl)", "in(red_block,  bowl)", "In(red_block, bowl)", "in red_block bowl",
     "in(red block, bowl)", "in()", "on(a, b, c)", " open(drawer)"],
)  # fmt: skip
def test_misspelt_relations_are_refused_with_the_expected_form(text: str) -> None:
    with pytest.raises(RelationSyntaxError, match=r"name\(a, b\)"):
        Relation.parse(text)


def test_goal_holds_per_stage_and_at_the_end() -> None:
    goal = Goal.of(["in(red_block, bowl)"], ["on(red_block, plate)", "closed(drawer)"])
    start = ["closed(drawer)"]
    midway = ["in(red_block, bowl)", "closed(drawer)"]
    end = ["on(red_block, plate)", "closed(drawer)", "near(blue_block, bowl)"]
    assert goal.stages_holding(start) == (False, False)
    assert goal.stages_holding(midway) == (True, False)
    assert goal.stages_holding(end) == (False, True)
    assert not goal.holds(midway) and goal.holds(end)
    assert goal.final == relations(["on(red_block, plate)", "closed(drawer)"])


def test_an_empty_goal_always_holds_and_says_so() -> None:
    goal = Goal.of(avoid=["in(red_block, bowl)"])
    assert goal.empty and goal.holds([])
    assert goal.violated(["in(red_block, bowl)"]) == relations(["in(red_block, bowl)"])
    assert goal.words() == "nothing to do; never the red block in the bowl"


def test_goal_in_words_and_relations() -> None:
    goal = Goal.of(["open(drawer)", "in(red_block, drawer)"], ["closed(drawer)"])
    assert goal.words() == ("the red block in the drawer, the drawer open; then the drawer closed")
    assert goal.describe().splitlines() == [
        "goal: the red block in the drawer, the drawer open; then the drawer closed",
        "  stage 1: in(red_block, drawer) open(drawer)",
        "  stage 2: closed(drawer)",
    ]
