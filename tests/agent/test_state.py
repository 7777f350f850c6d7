"""EventState validates the planner's answer; its JSON schema is what constrains a VLM."""

import pytest
from pydantic import ValidationError

from agent.state import (
    DECISIONS,
    FAILURES,
    MAX_EVENT_FRAMES,
    EventRecord,
    EventState,
    Verification,
    event_state_json_schema,
)

VALID = {
    "next_event": "grasp the red block",
    "skill": "grasp",
    "arguments": {"object": "red_block"},
    "frames": 15,
    "progress": 20,
    "decision": "continue",
    "failure": "none",
    "reason": "the gripper is at the red block",
}


def test_valid_state_round_trips_through_json():
    state = EventState.model_validate(VALID)
    assert EventState.model_validate_json(state.model_dump_json()) == state
    assert state.arguments == {"object": "red_block"}


def test_failure_and_reason_default_to_none_and_empty():
    state = EventState.model_validate(
        {k: v for k, v in VALID.items() if k not in ("failure", "reason")}
    )
    assert (state.failure, state.reason) == ("none", "")


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("frames", 0),
        ("frames", MAX_EVENT_FRAMES + 1),
        ("progress", -1),
        ("progress", 101),
        ("decision", "pause"),
        ("failure", "gremlins"),
        ("skill", "Grasp It"),
        ("next_event", ""),
        ("arguments", {"object": 3}),
    ],
)
def test_out_of_contract_values_are_rejected_naming_the_field(field, value):
    with pytest.raises(ValidationError) as info:
        EventState.model_validate({**VALID, field: value})
    assert info.value.errors()[0]["loc"][0] == field


def test_unknown_fields_are_rejected():
    with pytest.raises(ValidationError, match="extra"):
        EventState.model_validate({**VALID, "confidence": 0.9})


def test_schema_lists_the_fixed_decisions_and_taxonomy():
    schema = event_state_json_schema()
    properties = schema["properties"]
    assert schema["additionalProperties"] is False
    assert properties["decision"]["enum"] == list(DECISIONS)
    assert properties["failure"]["enum"] == list(FAILURES)
    assert set(DECISIONS) == {"continue", "replan", "takeover", "end"}
    assert "none" in FAILURES and "missed_grasp" in FAILURES and "grasp_slip" in FAILURES
    assert (properties["frames"]["minimum"], properties["frames"]["maximum"]) == (1, 200)
    assert set(schema["required"]) == {"next_event", "skill", "frames", "progress", "decision"}


def test_history_and_verification_describe_themselves_in_one_line():
    record = EventRecord(
        caption="grasp the red block",
        skill="grasp",
        arguments={"object": "red_block"},
        frames=15,
        ok=False,
        failure="missed_grasp",
        divergence=0.4213,
    )
    assert record.describe() == (
        "grasp the red block [grasp object=red_block] 15 steps -> FAILED (missed_grasp), "
        "divergence 0.421"
    )
    verdict = Verification(ok=False, divergence=0.42, threshold=0.2, failure="missed_grasp")
    assert verdict.describe() == (
        "the last event went diverged (missed_grasp); divergence 0.420 vs threshold 0.200"
    )
    assert Verification(ok=True).describe() == "the last event went as predicted"
