"""The VLM client and VLMPlanner against a real `transformers serve` on 127.0.0.1.

The served model is tiny and random, so its answers are garbage: these tests check that the real
server accepts our requests (labelled base64 images, the plan prompt, response_format json_schema)
and that garbage takes the documented path: one reprompt, then VLMInvalidOutputError. Whether a
server constrains decoding with `response_format` is its own affair (vLLM does:
test_vllm_json.py).
"""

import pytest

from agent.planning.vlm import VLMPlanner
from agent.planning.vlm_client import (
    VLMClient,
    VLMClientConfig,
    VLMInvalidOutputError,
    VLMRequestError,
    image_content,
)
from agent.planning.vlm_settings import VLMSettings
from agent.skills import SkillCatalogue
from agent.state import EventRecord, Verification
from tests.agent.vlm_servers import IMAGE_TOKENS

# The shared server takes 10-17 s to build and start on 2 busy cores.
pytestmark = pytest.mark.slow

# Short garbage answers keep each request well under a second on 2 cores.
CONFIG = VLMClientConfig(timeout_s=60.0, max_tokens=24, max_attempts=2, backoff_s=0.1)


def client_for(server, model=None) -> VLMClient:
    settings = VLMSettings(url=server.url, model=model or server.model, api_key=None)
    return VLMClient(settings, CONFIG)


def test_server_starts_in_reasonable_time(tiny_vlm_server):
    assert tiny_vlm_server.start_s < 60.0
    print(f"transformers serve healthy after {tiny_vlm_server.start_s:.1f} s")


def test_labelled_images_reach_the_vision_tower(tiny_vlm_server, observation):
    text = [{"type": "text", "text": "describe"}]
    images = image_content(observation.images, order=observation.camera_names)
    with client_for(tiny_vlm_server) as client:
        plain = client.complete([{"role": "user", "content": text}])
        seen = client.complete([{"role": "user", "content": text + images}])
    assert plain.completion_tokens is not None and plain.completion_tokens <= CONFIG.max_tokens
    # Three cameras: each adds its label text and IMAGE_TOKENS image tokens to the prompt.
    added = seen.prompt_tokens - plain.prompt_tokens
    assert added >= 3 * IMAGE_TOKENS
    assert seen.attempts == 1


def test_a_json_schema_request_is_answered_by_a_server_that_may_ignore_it(tiny_vlm_server):
    schema = {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}
    response_format = {"type": "json_schema", "json_schema": {"name": "n", "schema": schema}}
    with client_for(tiny_vlm_server) as client:
        answer = client.complete([{"role": "user", "content": "n?"}], response_format)
    # Whether the server constrains decoding is its own business (validation catches what it
    # lets through); what is ours: the request is sent once and answered.
    assert answer.attempts == 1 and isinstance(answer.text, str)


def test_planner_garbage_is_reprompted_once_then_a_typed_error(tiny_vlm_server, observation):
    requests = []
    client = client_for(tiny_vlm_server)
    client.observer = requests.append
    planner = VLMPlanner(client, SkillCatalogue.load())
    history = [
        EventRecord(
            caption="reach the red block",
            skill="reach",
            arguments={"object": "red_block"},
            frames=30,
            ok=True,
            divergence=0.05,
        )
    ]
    with pytest.raises(VLMInvalidOutputError) as info, client:
        planner.plan("put the red block in the bowl", observation, history, Verification(ok=True))
    error = info.value
    assert len(requests) == 2 and len(error.answers) == 2 and len(error.problems) == 2
    first, second = requests
    assert first["response_format"]["json_schema"]["name"] == "event_state"
    content = first["messages"][0]["content"]
    assert sum(part["type"] == "image_url" for part in content) == 3
    assert "put the red block in the bowl" in content[0]["text"]
    assert "1. reach the red block [reach object=red_block] 30 steps -> ok" in content[0]["text"]
    # The reprompt repeats the conversation, the garbage answer and why it was rejected.
    assert second["messages"][:1] == first["messages"]
    assert second["messages"][1]["role"] == "assistant"
    assert error.problems[0] in second["messages"][2]["content"]
    assert "not a valid event_state" in str(error) and "embedded planner" in str(error)


def test_a_model_the_server_does_not_serve_is_refused_without_retry(tiny_vlm_server):
    requests = []
    with client_for(tiny_vlm_server, model="no-such-model") as client:
        client.observer = requests.append
        with pytest.raises(VLMRequestError, match=r"HTTP 400.*--vlm-model"):
            client.complete([{"role": "user", "content": "hello"}])
    assert len(requests) == 1
