"""The JSON-schema path against a real vLLM server: constrained decoding makes even a random
model's answer a valid EventState naming a catalogue skill with exactly its arguments.

vLLM's CPU build serves text-only models here (its multimodal path needs torchvision, which these
machines cannot run), so the request is the planner's prompt and schema without the images; the
images path is tested against `transformers serve` in test_vlm_server.py.
"""

import pytest

from agent.goals import ClarificationError, Goal, Scene
from agent.planning.vlm import VLMPlanner, catalogue_schema
from agent.planning.vlm_client import VLMClient, VLMClientConfig
from agent.planning.vlm_goal import goal_schema, read_answer
from agent.planning.vlm_settings import VLMSettings
from agent.skills import SkillCatalogue
from agent.state import EventState, event_state_json_schema

# Starting vLLM's CPU engine takes 35-65 s.
pytestmark = pytest.mark.slow

# A random model fills strings up to their maximum lengths: leave room for a whole EventState.
CONFIG = VLMClientConfig(timeout_s=120.0, max_tokens=1024, max_attempts=2)


def text_only(messages: list[dict]) -> list[dict]:
    """The planner's messages with the image parts (and their labels) left out."""
    return [{"role": "user", "content": messages[0]["content"][0]["text"]}]


def test_constrained_decoding_yields_a_valid_catalogue_event(vllm_server, observation):
    print(f"vLLM healthy after {vllm_server.start_s:.1f} s")
    requests = []
    settings = VLMSettings(url=vllm_server.url, model=vllm_server.model, api_key=None)
    with VLMClient(settings, CONFIG, observer=requests.append) as client:
        planner = VLMPlanner(client, SkillCatalogue.load())
        messages = text_only(
            planner.messages("put the red block in the bowl", observation, [], None)
        )
        # the schema of a planning request: points may name only the observation's cameras
        schema = catalogue_schema(planner.skills, observation.camera_names)
        state = client.complete_json(
            messages,
            "event_state",
            schema,
            lambda data: planner.validate(data, observation.camera_names),
        )
    assert isinstance(state, EventState)
    assert len(requests) == 1  # valid at the first answer: no reprompt was needed
    skill = planner.skills[state.skill]
    assert set(state.arguments) == set(skill.arguments)


def test_the_plain_event_state_schema_compiles_in_xgrammar(vllm_server):
    """vLLM answers 400 for schema features xgrammar lacks (e.g. a pattern with maxLength)."""
    settings = VLMSettings(url=vllm_server.url, model=vllm_server.model, api_key=None)
    schema = {"name": "event_state", "schema": event_state_json_schema()}
    with VLMClient(settings, CONFIG) as client:
        answer = client.complete(
            [{"role": "user", "content": "Plan the next event as JSON."}],
            {"type": "json_schema", "json_schema": schema},
        )
    assert answer.text.startswith('{"next_event":"')


def test_the_goal_schema_makes_even_a_random_answer_a_goal_or_a_question(vllm_server):
    """The goal request's schema compiles in xgrammar, and constrained decoding keeps a random
    model to relations possible in the scene (read_answer raises ValueError otherwise)."""
    scene = Scene.of(["red_block", "blue_block", "bowl", "plate", "drawer"], ["closed(drawer)"])
    settings = VLMSettings(url=vllm_server.url, model=vllm_server.model, api_key=None)
    requests = []
    with VLMClient(settings, CONFIG, observer=requests.append) as client:
        answer = client.complete_json(
            [{"role": "user", "content": "State the goal of: put the red block in the bowl."}],
            "goal",
            goal_schema(scene),
            lambda data: read_answer(data, scene),
        )
    assert isinstance(answer, Goal | ClarificationError)
    assert len(requests) == 1  # valid at the first answer
