"""The VLM planner: a served VLM (vLLM or any OpenAI-compatible server) decides every event.

At the start the task is read into the run's goal: by the instruction reader (agent.goals) and by
the VLM (prompts/goal.md, schema-constrained); the reader's goal is the one the run is judged
against when it can read the instruction, the VLM's when it cannot. Each event is then asked for
with prompts/plan.md, one labelled image per camera and JSON-schema structured output, the goal
included. An "end" while the cameras do not show the goal is sent back once with what is
missing; an "end" given again ends the run, which the goal then judges (a failure).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from agent.goals import ClarificationError, Goal, Scene, read_goal
from agent.planning.memory import SceneMemory
from agent.planning.prompts import PromptLibrary
from agent.planning.vlm_client import VLMClient, VLMError, image_content
from agent.planning.vlm_goal import ask_goal
from agent.planning.vlm_settings import VLMSettings
from agent.skills import SkillCatalogue
from agent.state import (
    CAMERA_NAME_PATTERN,
    EventRecord,
    EventState,
    Verification,
    event_state_json_schema,
    schema_text,
)
from worldmodel.types import Observation

if TYPE_CHECKING:
    from agent.run_spec import RunSpec


def build(spec: RunSpec, skills: SkillCatalogue, memory: SceneMemory) -> VLMPlanner:
    """The registry's entry: the client from the run's VLM settings (and the environment)."""
    settings = VLMSettings.resolve(
        spec.vlm_url, spec.vlm_model, timeout_s=spec.vlm_timeout_s, retries=spec.vlm_retries
    )
    return VLMPlanner(VLMClient(settings), skills, memory=memory)


@dataclass(frozen=True)
class VLMPlannerConfig:
    """How much context goes into each planning request."""

    max_history_events: int = 20  # older events are summarised as a count, keeping prompts short


def targets_schema(
    description: str, name: dict[str, Any], cameras: Sequence[str] = ()
) -> dict[str, Any]:
    """The targets a VLM points with, inline (no $ref): role, object id and a point per camera in
    normalised image coordinates, at most one per camera when the cameras are known. No table
    position: perception adds it."""
    number = {"type": "number", "minimum": 0.0, "maximum": 1.0}
    named = {"enum": list(cameras)} if cameras else {"pattern": CAMERA_NAME_PATTERN}
    camera = {"type": "string", **named}
    point = {
        "type": "object",
        "properties": {
            "camera": camera,
            "x": {**number, "description": "0 = left edge of the image, 1 = right edge"},
            "y": {**number, "description": "0 = top edge of the image, 1 = bottom edge"},
        },
        "required": ["camera", "x", "y"],
        "additionalProperties": False,
    }
    target = {
        "type": "object",
        "properties": {
            "role": {"type": "string", "enum": ["object", "destination"]},
            "name": name,
            "points": {"type": "array", "items": point, "maxItems": len(cameras) or 8},
        },
        "required": ["role", "name", "points"],
        "additionalProperties": False,
    }
    return {"description": description, "type": "array", "items": target, "maxItems": 2}


def catalogue_schema(skills: SkillCatalogue, cameras: Sequence[str] = ()) -> dict[str, Any]:
    """EventState's JSON schema narrowed to a skill catalogue: one alternative per skill with its
    name and exactly its arguments, so a server that constrains decoding (vLLM) can only answer
    with a known skill called with the arguments it takes."""
    base = event_state_json_schema()
    value = base["properties"]["arguments"]["additionalProperties"]
    variants = []
    for skill in skills.values():
        properties = {
            **base["properties"],
            "targets": targets_schema(base["properties"]["targets"]["description"], value, cameras),
            "skill": {
                "description": base["properties"]["skill"]["description"],
                "const": skill.name,
            },
            "arguments": {
                "type": "object",
                "properties": {name: value for name in skill.arguments},
                "required": list(skill.arguments),
                "additionalProperties": False,
            },
        }
        variants.append(
            {
                "type": "object",
                "properties": properties,
                "required": [*base["required"], "arguments"],
                "additionalProperties": False,
            }
        )
    return {"title": base["title"], "description": base["description"], "anyOf": variants}


def describe_history(history: Sequence[EventRecord], limit: int) -> str:
    """The event history as numbered lines; only the last `limit` events are spelled out."""
    if not history:
        return "none yet: this is the first event"
    shown = history[-limit:] if limit > 0 else []
    skipped = len(history) - len(shown)
    lines = [f"({skipped} earlier events not shown)"] if skipped else []
    lines += [f"{skipped + i + 1}. {record.describe()}" for i, record in enumerate(shown)]
    return "\n".join(lines)


def describe_validation_error(exc: ValidationError) -> str:
    """A pydantic error as one short line per field, the way a model can act on it."""
    return "; ".join(
        f"field {'.'.join(str(p) for p in error['loc']) or '(object)'}: {error['msg']}"
        + ("" if error["type"] == "missing" else f" (got {error['input']!r})")
        for error in exc.errors()
    )


class VLMPlanner:
    """Plans with a served VLM through VLMClient (agent/planning/vlm_client.py says how it
    fails)."""

    name = "vlm"

    def __init__(
        self,
        client: VLMClient,
        skills: SkillCatalogue,
        prompts: PromptLibrary | None = None,
        config: VLMPlannerConfig | None = None,
        memory: SceneMemory | None = None,
    ) -> None:
        self.client = client
        self.skills = skills
        self.prompts = prompts or client.prompts
        self.config = config or VLMPlannerConfig()
        self.memory = memory or SceneMemory()
        self.goal: Goal | None = None  # what the run is judged against (see understand)
        self.stated_goal: Goal | None = None  # the VLM's own reading, when it gave one
        self.schema = catalogue_schema(skills)
        self._schemas: dict[tuple[str, ...], dict[str, Any]] = {}

    def understand(self, instruction: str, observation: Observation, scene: Scene) -> Goal:
        """The run's goal: the instruction reader's when it can read the instruction (an object
        the scene lacks is refused there), else the VLM's. The VLM is asked either way; when
        the reader has the goal, a VLM that cannot answer only leaves `stated_goal` empty."""
        try:
            reading: Goal | None = read_goal(instruction, scene)
            unreadable: ClarificationError | None = None
        except ClarificationError as exc:
            reading, unreadable = None, exc
        try:
            self.stated_goal = ask_goal(self.client, self.prompts, instruction, observation, scene)
        except (VLMError, ClarificationError):
            if reading is None:
                raise  # neither can read it: the VLM's question, or why it could not answer
            self.stated_goal = None
        self.goal = reading if reading is not None else self.stated_goal
        if self.goal is None and unreadable is not None:
            raise unreadable
        return self.goal

    def messages(
        self,
        instruction: str,
        observation: Observation,
        history: Sequence[EventRecord],
        last_verification: Verification | None,
        note: str = "",
    ) -> list[dict[str, Any]]:
        """The chat messages of one planning request: prompt text, then the labelled images."""
        verification = (
            last_verification.describe() if last_verification else "none: nothing ran yet"
        )
        text = self.prompts.render(
            "plan",
            instruction=instruction,
            goal=self.goal.describe() if self.goal is not None else "(not stated)",
            cameras=", ".join(observation.camera_names),
            skills=self.skills.describe(),
            history=describe_history(history, self.config.max_history_events),
            last_verification=f"{verification}\n{note}" if note else verification,
            schema=schema_text(),
        )
        images = image_content(
            observation.images,
            order=observation.camera_names,
            image_format=self.client.config.image_format,
            jpeg_quality=self.client.config.jpeg_quality,
        )
        return [{"role": "user", "content": [{"type": "text", "text": text}, *images]}]

    def validate(self, data: dict[str, Any], cameras: Sequence[str] = ()) -> EventState:
        """An EventState whose skill and arguments exist in the catalogue (checked when the
        decision runs an event: continue or replan) whose points name only `cameras`. A target
        on another object than the arguments name is replaced by perception's afterwards."""
        try:
            state = EventState.model_validate(data)
        except ValidationError as exc:
            raise ValueError(f"not a valid EventState: {describe_validation_error(exc)}") from None
        if state.decision in ("continue", "replan"):
            self.skills.check_call(state.skill, state.arguments)
        if cameras:
            state.check_cameras(cameras)
        return state

    def plan(
        self,
        instruction: str,
        observation: Observation,
        history: Sequence[EventRecord],
        last_verification: Verification | None,
    ) -> EventState:
        """Ask the VLM for the next event; raises the client's typed errors on failure."""
        decided = self._ask(instruction, observation, history, last_verification)
        missing = self.missing(observation)
        if decided.decision == "end" and missing:
            note = (
                "You answered end, but the cameras do not show the goal: missing "
                f"{', '.join(missing)}. Plan the next event, or end only if the goal holds."
            )
            decided = self._ask(instruction, observation, history, last_verification, note)
        return decided

    def missing(self, observation: Observation) -> list[str]:
        """The goal's final relations the cameras do not show now (none without a goal)."""
        if self.goal is None:
            return []
        seen = self.memory.scene(observation).relations
        return sorted(str(r) for r in self.goal.final - seen)

    def _ask(
        self,
        instruction: str,
        observation: Observation,
        history: Sequence[EventRecord],
        last_verification: Verification | None,
        note: str = "",
    ) -> EventState:
        messages = self.messages(instruction, observation, history, last_verification, note)
        cameras = observation.camera_names
        if cameras not in self._schemas:  # points may name only the robot's cameras
            self._schemas[cameras] = catalogue_schema(self.skills, cameras)
        return self.client.complete_json(
            messages,
            "event_state",
            self._schemas[cameras],
            lambda data: self.validate(data, cameras),
            schema_hint=schema_text(),
        )
