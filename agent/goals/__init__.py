"""Goals: an instruction read into stages of relations grounded in a scene, and planned.

from agent.goals import Scene, read_goal
scene = Scene.of(["red_block", "blue_block", "bowl"], [])
goal = read_goal("put the red block in the bowl, then the blue one too", scene)
goal.strings()  # [["in(blue_block, bowl)", "in(red_block, bowl)"]]
"""

from __future__ import annotations

from agent.goals.errors import (
    ClarificationError,
    GoalError,
    GoalInputError,
    MissingObjectError,
    RelationSyntaxError,
    UnsolvableGoalError,
)
from agent.goals.parser import InstructionParser
from agent.goals.relations import Goal, Relation, Stage, relations
from agent.goals.resolve import Resolver, ground
from agent.goals.scene import COLOUR_CLASSES, Scene

_PARSER: InstructionParser | None = None


def read_goal(instruction: str, scene: Scene, parser: InstructionParser | None = None) -> Goal:
    """The goal an instruction asks for in this scene.

    Raises ClarificationError (unreadable, cut off or ambiguous: ask the person),
    MissingObjectError (an object the scene lacks). Both are GoalInputError: nothing moves.
    """
    global _PARSER
    if parser is None:
        _PARSER = _PARSER or InstructionParser()
        parser = _PARSER
    return ground(parser.parse(instruction).readings, scene)


__all__ = [
    "COLOUR_CLASSES",
    "ClarificationError",
    "Goal",
    "GoalError",
    "GoalInputError",
    "InstructionParser",
    "MissingObjectError",
    "Relation",
    "RelationSyntaxError",
    "Resolver",
    "Scene",
    "Stage",
    "UnsolvableGoalError",
    "ground",
    "read_goal",
    "relations",
]
