"""The errors of reading an instruction into a goal and planning it.

Each one says what was wrong and what the user can do; a CLI maps `GoalInputError` to exit 2
(bad input, nothing moved) and shows `ClarificationError.question` to the person.
"""

from __future__ import annotations

from worldmodel.errors import WallwmError


class GoalError(WallwmError):
    """Base class of the goal and planning errors."""


class GoalInputError(GoalError):
    """The instruction cannot become a goal in this scene; nothing should move."""


class RelationSyntaxError(GoalInputError, ValueError):
    """A relation string that is not spelt `name(a, b)` or `name(a)`."""


class ClarificationError(GoalInputError):
    """The instruction cannot be read, stops mid-way or is ambiguous: ask the person.

    `question` is what to ask; the message adds what was read.
    """

    def __init__(self, question: str, detail: str = "") -> None:
        self.question = question
        super().__init__(f"{question} ({detail})" if detail else question)


class MissingObjectError(GoalInputError):
    """The instruction names an object the scene does not have."""

    def __init__(self, missing: str, present: list[str] | tuple[str, ...]) -> None:
        self.missing = missing
        self.present = tuple(present)
        there = ", ".join(self.present) or "nothing"
        super().__init__(f"not in the scene: {missing}; there is: {there}. Name one of these.")


class UnsolvableGoalError(GoalError):
    """No sequence of the skills' actions reaches the goal stage from the scene."""
