"""The planner's output (EventState) and the small records the planner reads back.

EventState is the contract of DESIGN.md: whatever plans the next event (a served VLM, the embedded
planner, a person) answers with one, and its JSON schema is what a VLM's decoding is constrained
with. Everything here is small and JSON-serialisable, so it can sit in the graph state and in
checkpoints; frames and actions never do.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

Decision = Literal["continue", "replan", "takeover", "end"]
DECISIONS: tuple[str, ...] = get_args(Decision)

# The fixed failure taxonomy. "none" means the last event (or the plan so far) went as expected.
Failure = Literal[
    "none",
    "missed_grasp",  # the gripper closed on nothing
    "grasp_slip",  # the object was held, then lost
    "object_displaced",  # the object moved away from where the event expected it
    "collision",  # the arm hit something it should not have
    "occlusion_or_camera_fault",  # the cameras do not show what the event needs to see
    "wrong_object",  # the event acted on another object than the one named
    "unreachable",  # the target lies outside the arm's workspace
    "other",  # anything else; `reason` says what
]
FAILURES: tuple[str, ...] = get_args(Failure)

# One event is a short segment: at 10 Hz, 200 control steps are 20 s of motion. Longer plans are
# several events, so a bound here catches a planner that confuses steps with seconds or frames.
MAX_EVENT_FRAMES = 200

# Bounds on the free-text fields keep a rambling planner from bloating the state and the prompts.
MAX_CAPTION_CHARS = 200
MAX_REASON_CHARS = 500

# Skill argument values are object or place ids of the scene ("red_block", "bowl", "drawer"), at
# most 64 characters. The length bound lives in the pattern: vLLM's xgrammar backend refuses a
# string schema that has both a pattern and maxLength.
ARGUMENT_VALUE_PATTERN = r"^[a-z][a-z0-9_]{0,63}$"
ArgumentValue = Annotated[str, StringConstraints(pattern=ARGUMENT_VALUE_PATTERN)]


class EventState(BaseModel):
    """The next event to execute and the planner's reading of the task so far."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    next_event: str = Field(
        min_length=1,
        max_length=MAX_CAPTION_CHARS,
        description="the next event in words, from the skill's caption templates, "
        "e.g. 'grasp the red block'",
    )
    skill: str = Field(
        pattern=r"^[a-z][a-z0-9_]{0,63}$",  # at most 64 characters, bounded in the pattern
        description="name of the skill that executes the event, one of the skill catalogue",
    )
    arguments: dict[str, ArgumentValue] = Field(
        default_factory=dict,
        description="the skill's arguments as object ids, "
        "e.g. {'object': 'red_block', 'target': 'bowl'}",
    )
    frames: int = Field(
        ge=1,
        le=MAX_EVENT_FRAMES,
        description="segment length in control steps (10 Hz), near the skill's typical duration",
    )
    progress: int = Field(ge=0, le=100, description="how much of the whole task is done, percent")
    decision: Decision = Field(
        description="continue with next_event, replan the remaining events, "
        "ask a human to take over, or end the task"
    )
    failure: Failure = Field(
        default="none", description="what went wrong with the last event, or none"
    )
    reason: str = Field(
        default="",
        max_length=MAX_REASON_CHARS,
        description="one sentence: why this event and this decision",
    )


def event_state_json_schema() -> dict[str, Any]:
    """The JSON schema that constrains a VLM's answer (OpenAI `response_format` json_schema)."""
    return EventState.model_json_schema()


class EventRecord(BaseModel):
    """One finished event as the planner sees it in the history."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    caption: str
    skill: str
    arguments: dict[str, str] = Field(default_factory=dict)
    frames: int = Field(ge=0)
    ok: bool
    failure: Failure = "none"
    divergence: float | None = None
    note: str = ""

    def describe(self) -> str:
        """One line for a prompt: what ran and how it went."""
        arguments = " ".join(f"{key}={value}" for key, value in sorted(self.arguments.items()))
        outcome = "ok" if self.ok else f"FAILED ({self.failure})"
        divergence = "" if self.divergence is None else f", divergence {self.divergence:.3f}"
        note = f": {self.note}" if self.note else ""
        return (
            f"{self.caption} [{self.skill} {arguments}".rstrip()
            + f"] {self.frames} steps -> {outcome}{divergence}{note}"
        )


class Verification(BaseModel):
    """The verifier's verdict on the last event: predicted vs observed frames."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    ok: bool
    divergence: float | None = None
    threshold: float | None = None
    failure: Failure = "none"
    detail: str = ""

    def describe(self) -> str:
        """A short paragraph for a prompt."""
        verdict = "as predicted" if self.ok else f"diverged ({self.failure})"
        numbers = ""
        if self.divergence is not None:
            numbers = f"; divergence {self.divergence:.3f}"
            if self.threshold is not None:
                numbers += f" vs threshold {self.threshold:.3f}"
        detail = f"; {self.detail}" if self.detail else ""
        return f"the last event went {verdict}{numbers}{detail}"


def schema_text() -> str:
    """The EventState schema as compact JSON text, for prompts that show it to the model."""
    return json.dumps(event_state_json_schema(), separators=(",", ":"))
