"""The planner's output (EventState) and the small records the planner reads back.

EventState is the planner-to-agent contract: whatever plans the next event (a served VLM, the
embedded planner, a person) answers with one, and its JSON schema is what a VLM's decoding is
constrained with. Everything here is small and JSON-serialisable, so it can sit in the graph
state and in checkpoints; frames and actions never do.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import Annotated, Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

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


CAMERA_NAME_PATTERN = r"^[a-z][a-z0-9_]{0,31}$"


class TargetPoint(BaseModel):
    """Where an object is in one camera: normalised image coordinates (see `worldmodel.types`):
    x = column / width to the right, y = row / height down, (0, 0) the top-left corner."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    camera: str = Field(pattern=CAMERA_NAME_PATTERN, description="the camera's name")
    x: float = Field(
        ge=0.0, le=1.0, allow_inf_nan=False, description="0 = left edge, 1 = right edge"
    )
    y: float = Field(
        ge=0.0, le=1.0, allow_inf_nan=False, description="0 = top edge, 1 = bottom edge"
    )


class Target(BaseModel):
    """The event's object (role "object") or its destination (role "destination"): a point per
    camera that shows it, and its table position when known."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    role: Literal["object", "destination"] = Field(
        description="object: what the skill acts on; destination: where it goes (a skill's target)"
    )
    name: ArgumentValue = Field(description="the object id, as in the arguments")
    points: list[TargetPoint] = Field(
        default_factory=list,
        max_length=8,
        description="one point per camera that shows the object",
    )
    position: tuple[float, float, float] | None = Field(
        default=None, description="table position (x, y, z) in metres, robot base frame, if known"
    )

    @field_validator("points")
    @classmethod
    def _one_point_per_camera(cls, points: list[TargetPoint]) -> list[TargetPoint]:
        cameras = [point.camera for point in points]
        if len(set(cameras)) != len(cameras):
            raise ValueError(f"one point per camera; got cameras {cameras}")
        return points

    @field_validator("position")
    @classmethod
    def _finite(cls, position: tuple[float, float, float] | None) -> Any:
        if position is not None and not all(math.isfinite(v) for v in position):
            raise ValueError(f"position {position} is not finite")
        return position


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
    targets: list[Target] = Field(
        default_factory=list,
        max_length=2,
        description="where the event's object and, for a skill with a target, its destination "
        "are in each camera image (normalised x, y in [0, 1] from the top-left corner)",
    )

    @field_validator("targets")
    @classmethod
    def _one_per_role(cls, targets: list[Target]) -> list[Target]:
        roles = [target.role for target in targets]
        if len(set(roles)) != len(roles):
            raise ValueError(f"one target per role; got roles {roles}")
        return targets

    def target(self, role: str) -> Target | None:
        """The target of `role` ("object" or "destination"), if given."""
        return next((t for t in self.targets if t.role == role), None)

    def check_cameras(self, cameras: Sequence[str]) -> None:
        """Raise ValueError naming the field of a point on a camera not in `cameras`."""
        for i, target in enumerate(self.targets):
            for j, point in enumerate(target.points):
                if point.camera not in cameras:
                    raise ValueError(
                        f"field targets.{i}.points.{j}.camera: camera {point.camera!r} is not "
                        f"one of the robot's cameras {list(cameras)}"
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
