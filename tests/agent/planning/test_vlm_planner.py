"""VLMPlanner builds one labelled request per plan and validates answers against the skills."""

import json

import pytest

from agent.planning.base import Planner
from agent.planning.vlm import (
    VLMPlanner,
    VLMPlannerConfig,
    catalogue_schema,
    describe_history,
)
from agent.planning.vlm_client import VLMClient, VLMClientConfig, VLMInvalidOutputError
from agent.planning.vlm_settings import VLMSettings
from agent.skills import SkillCatalogue
from agent.state import (
    EventRecord,
    EventState,
    Verification,
    event_state_json_schema,
    schema_text,
)
from tests.agent.vlm_servers import Reply

ANSWER = {
    "next_event": "grasp the red block",
    "skill": "grasp",
    "arguments": {"object": "red_block"},
    "frames": 15,
    "progress": 25,
    "decision": "continue",
    "failure": "none",
    "reason": "the gripper is around the red block",
}
FAST = VLMClientConfig(timeout_s=2.0, max_attempts=1)


def record(i: int) -> EventRecord:
    return EventRecord(caption=f"event {i}", skill="reach", frames=10, ok=True)


@pytest.fixture(scope="module")
def skills() -> SkillCatalogue:
    return SkillCatalogue.load()


def planner_for(url: str, skills: SkillCatalogue) -> VLMPlanner:
    return VLMPlanner(VLMClient(VLMSettings(url=url, model="m", api_key=None), FAST), skills)


def test_request_is_the_plan_prompt_then_one_labelled_image_per_camera(skills, observation):
    planner = planner_for("http://127.0.0.1:9/v1", skills)
    assert isinstance(planner, Planner)
    verdict = Verification(ok=False, divergence=0.4, threshold=0.2, failure="grasp_slip")
    messages = planner.messages("stack green on blue", observation, [record(1)], verdict)
    assert len(messages) == 1 and messages[0]["role"] == "user"
    text, *images = messages[0]["content"]
    assert [part.get("text") for part in images[::2]] == [
        "camera front:",
        "camera side:",
        "camera wrist:",
    ]
    assert all(p["image_url"]["url"].startswith("data:image/png;base64,") for p in images[1::2])
    prompt = text["text"]
    assert "Task: stack green on blue" in prompt
    assert "cameras front, side, wrist" in prompt
    assert "### regrasp" in prompt and "move the {object} above the {target}" in prompt
    assert "1. event 1 [reach] 10 steps -> ok" in prompt
    assert "diverged (grasp_slip); divergence 0.400 vs threshold 0.200" in prompt
    assert '"enum":["continue","replan","takeover","end"]' in prompt


def test_history_is_bounded():
    history = [record(i) for i in range(1, 8)]
    text = describe_history(history, limit=3)
    assert text.splitlines() == [
        "(4 earlier events not shown)",
        "5. event 5 [reach] 10 steps -> ok",
        "6. event 6 [reach] 10 steps -> ok",
        "7. event 7 [reach] 10 steps -> ok",
    ]
    assert describe_history([], limit=3) == "none yet: this is the first event"
    assert VLMPlannerConfig().max_history_events == 20


def test_validate_checks_the_skill_catalogue(skills):
    planner = planner_for("http://127.0.0.1:9/v1", skills)
    assert planner.validate(ANSWER) == EventState.model_validate(ANSWER)
    with pytest.raises(ValueError, match=r"unknown skill 'grap' \(did you mean 'grasp'\?\)"):
        planner.validate({**ANSWER, "skill": "grap"})
    with pytest.raises(ValueError, match=r"missing \['target'\]"):
        planner.validate({**ANSWER, "skill": "place"})
    with pytest.raises(ValueError, match="not a valid EventState: field frames"):
        planner.validate({**ANSWER, "frames": 0})
    # Ending or handing over runs no event, so its skill is not held to the catalogue.
    ended = planner.validate({**ANSWER, "decision": "end", "skill": "done", "arguments": {}})
    assert ended.decision == "end"


def test_plan_returns_the_validated_event(scripted_server, skills, observation):
    server = scripted_server([Reply.chat(json.dumps(ANSWER))])
    planner = planner_for(server.url, skills)
    state = planner.plan("put the red block in the bowl", observation, [], None)
    assert state == EventState.model_validate(ANSWER)
    assert "none: nothing ran yet" in server.requests[0]["messages"][0]["content"][0]["text"]


def test_an_unknown_skill_is_reprompted_with_the_closest_name(scripted_server, skills, observation):
    wrong = json.dumps({**ANSWER, "skill": "grab"})
    server = scripted_server([Reply.chat(wrong), Reply.chat(f"```json\n{json.dumps(ANSWER)}\n```")])
    state = planner_for(server.url, skills).plan("pick", observation, [], None)
    assert state.skill == "grasp"
    reprompt = server.requests[1]["messages"][2]["content"]
    assert "unknown skill 'grab' (did you mean 'grasp'?)" in reprompt
    assert schema_text() in reprompt  # the compact schema the plan prompt shows, not the anyOf
    sent = server.requests[1]["response_format"]["json_schema"]["schema"]
    assert sent == catalogue_schema(skills, observation.camera_names)


def test_two_bad_answers_raise_the_typed_error(scripted_server, skills, observation):
    server = scripted_server([Reply.chat(json.dumps({**ANSWER, "progress": 140}))])
    with pytest.raises(VLMInvalidOutputError, match="field progress"):
        planner_for(server.url, skills).plan("pick", observation, [], None)
    assert len(server.requests) == 2


def schema_nodes(node):
    """Every dict inside a JSON schema."""
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from schema_nodes(value)
    elif isinstance(node, list):
        for value in node:
            yield from schema_nodes(value)


def test_catalogue_schema_has_one_alternative_per_skill_with_its_arguments(skills):
    schema = catalogue_schema(skills)
    variants = {v["properties"]["skill"]["const"]: v for v in schema["anyOf"]}
    assert set(variants) == set(skills)
    place = variants["place"]["properties"]["arguments"]
    assert place["required"] == ["object", "target"] and place["additionalProperties"] is False
    assert variants["grasp"]["properties"]["arguments"]["required"] == ["object"]
    assert all("arguments" in v["required"] for v in variants.values())


@pytest.mark.parametrize("which", ["event_state", "catalogue"])
def test_schemas_avoid_what_vllm_xgrammar_refuses(skills, which):
    schema = event_state_json_schema() if which == "event_state" else catalogue_schema(skills)
    for node in schema_nodes(schema):
        if "pattern" in node:
            assert not {"minLength", "maxLength"} & set(node), node


POINTED = {
    **ANSWER,
    "targets": [
        {"role": "object", "name": "red_block", "points": [{"camera": "front", "x": 0.4, "y": 0.6}]}
    ],
}


def test_the_vlm_points_and_a_camera_it_invents_is_reprompted(scripted_server, skills, observation):
    invented = json.dumps({**POINTED, "targets": [{**POINTED["targets"][0], "points": [
        {"camera": "top", "x": 0.4, "y": 0.6}]}]})  # fmt: skip
    server = scripted_server([Reply.chat(invented), Reply.chat(json.dumps(POINTED))])
    state = planner_for(server.url, skills).plan("pick", observation, [], None)
    assert state.target("object").points[0].model_dump() == {"camera": "front", "x": 0.4, "y": 0.6}
    assert "camera 'top' is not one of the robot's cameras" in server.requests[1]["messages"][2][
        "content"]  # fmt: skip
    # the schema asks for points inline (no $ref) and leaves the table position to perception
    sent = server.requests[0]["response_format"]["json_schema"]["schema"]
    targets = sent["anyOf"][0]["properties"]["targets"]
    assert "$ref" not in json.dumps(sent) and "position" not in json.dumps(targets)
    points = targets["items"]["properties"]["points"]
    assert points["maxItems"] == 3  # one per camera, and only the robot's cameras
    point = points["items"]["properties"]
    assert point["camera"]["enum"] == ["front", "side", "wrist"]
    assert point["x"]["minimum"] == 0.0 and point["y"]["maximum"] == 1.0
