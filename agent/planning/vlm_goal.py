"""Asking a served VLM for the goal of a task (prompts/goal.md), once at the start of a run.

The answer is schema-constrained: stages and `avoid` can only name relations possible among the
objects the cameras found (`Scene.goal_relations`), or the VLM asks one question instead.
"""

from __future__ import annotations

from typing import Any

from agent.goals import ClarificationError, Goal, Scene
from agent.planning.prompts import PromptLibrary
from agent.planning.vlm_client import VLMClient, image_content
from worldmodel.types import Observation

MAX_STAGES = 8  # bounded, so a constrained random model cannot run past its token budget
GOAL_SCHEMA_HINT = '{"stages": [["in(red_block, bowl)"]], "avoid": [], "question": ""}'


def goal_schema(scene: Scene) -> dict[str, Any]:
    relation = {"type": "string", "enum": scene.goal_relations()}
    return {
        "title": "Goal",
        "type": "object",
        "properties": {
            "stages": {
                "type": "array",
                "items": {"type": "array", "items": relation, "minItems": 1, "maxItems": 8},
                "maxItems": MAX_STAGES,
            },
            "avoid": {"type": "array", "items": relation, "maxItems": 8},
            "question": {"type": "string", "maxLength": 300},
        },
        "required": ["stages", "avoid", "question"],
        "additionalProperties": False,
    }


def read_answer(data: dict[str, Any], scene: Scene) -> Goal | ClarificationError:
    """The goal the answer states, or the question it asks; ValueError when it is neither (the
    client then sends the problem back once)."""
    question = str(data.get("question") or "").strip()
    stages, avoid = data.get("stages"), data.get("avoid", [])
    if not isinstance(stages, list) or not all(isinstance(s, list) for s in stages):
        raise ValueError("stages must be a list of lists of relation strings")
    if not isinstance(avoid, list):
        raise ValueError("avoid must be a list of relation strings")
    if question and not stages:
        return ClarificationError(question, "the VLM asks")
    possible = set(scene.goal_relations())
    named = [text for stage in stages for text in stage] + list(avoid)
    unknown = [text for text in named if text not in possible]
    if unknown:
        raise ValueError(
            f"not possible in this scene: {', '.join(map(str, unknown))}; "
            f"choose from: {', '.join(sorted(possible))}"
        )
    return Goal.of(*stages, avoid=avoid)


def ask_goal(
    client: VLMClient,
    prompts: PromptLibrary,
    instruction: str,
    observation: Observation,
    scene: Scene,
) -> Goal:
    """The goal the VLM reads in the task; raises ClarificationError with its question, or the
    client's typed errors (unavailable, invalid output)."""
    text = prompts.render(
        "goal",
        instruction=instruction,
        cameras=", ".join(observation.camera_names),
        objects=", ".join(scene.listing()) or "none",
        relations=", ".join(sorted(str(r) for r in scene.relations)) or "none",
        choices=", ".join(scene.goal_relations()) or "none",
        schema=GOAL_SCHEMA_HINT,
    )
    images = image_content(
        observation.images,
        order=observation.camera_names,
        image_format=client.config.image_format,
        jpeg_quality=client.config.jpeg_quality,
    )
    messages = [{"role": "user", "content": [{"type": "text", "text": text}, *images]}]
    answer = client.complete_json(
        messages,
        "goal",
        goal_schema(scene),
        lambda data: read_answer(data, scene),
        schema_hint=GOAL_SCHEMA_HINT,
    )
    if isinstance(answer, ClarificationError):
        raise answer
    return answer
