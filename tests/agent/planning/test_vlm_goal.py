"""The VLM planner states the goal at the start, and its "end" is checked against the goal:
a scripted server plays the VLM (the answers a real tiny model cannot be made to give)."""

from __future__ import annotations

import json

import pytest

from agent.goals import ClarificationError, Scene
from agent.planning.vlm_goal import goal_schema, read_answer
from agent.run_spec import RunSpec
from agent.session import open_session
from agent.state import EventState
from tests.agent.graph.conftest import RESOLUTION, run_to_end
from tests.agent.vlm_servers import Reply

SCENE = Scene.of(["red_block", "blue_block", "bowl", "plate", "drawer"], ["closed(drawer)"])


def vlm_spec(instruction: str, url: str, **overrides: object) -> RunSpec:
    values = {"executor": "oracle", "planner": "vlm", "resolution": RESOLUTION, **overrides}
    return RunSpec(instruction, vlm_url=url, vlm_model="scripted", **values)  # type: ignore[arg-type]


def goal_reply(stages: list[list[str]], question: str = "") -> Reply:
    return Reply.chat(json.dumps({"stages": stages, "avoid": [], "question": question}))


def end_answer() -> str:
    return EventState(
        next_event="end",
        skill="reach",
        arguments={"object": "red_block"},
        frames=1,
        progress=100,
        decision="end",
        reason="done",
    ).model_dump_json()


def test_the_goal_schema_offers_only_what_the_scene_can_hold():
    choices = goal_schema(SCENE)["properties"]["avoid"]["items"]["enum"]
    assert "in(red_block, bowl)" in choices and "on(red_block, blue_block)" in choices
    assert "open(drawer)" in choices and "near(red_block, plate)" in choices
    assert not any("green" in choice for choice in choices)  # not in the scene
    assert "in(red_block, red_block)" not in choices and "on(red_block, red_block)" not in choices


def test_an_answer_is_a_goal_a_question_or_sent_back():
    goal = read_answer({"stages": [["in(red_block, bowl)"]], "avoid": [], "question": ""}, SCENE)
    assert goal.strings() == [["in(red_block, bowl)"]]
    asked = read_answer({"stages": [], "avoid": [], "question": "which block?"}, SCENE)
    assert isinstance(asked, ClarificationError) and asked.question == "which block?"
    with pytest.raises(ValueError, match=r"not possible in this scene: in\(green_block, bowl\)"):
        read_answer({"stages": [["in(green_block, bowl)"]], "avoid": [], "question": ""}, SCENE)


def test_the_vlm_goal_is_the_runs_goal_when_the_reader_cannot_read_it(tmp_path, scripted_server):
    # "tidy up" is not in the grammar: the VLM's reading becomes the goal, shown and judged.
    server = scripted_server(
        [Reply.chat(end_answer())], goal_replies=[goal_reply([["open(drawer)"]])]
    )
    session = open_session(vlm_spec("tidy up", server.url), tmp_path)
    try:
        assert session.goal.strings() == [["open(drawer)"]]
        assert "open(drawer)" in server.goal_requests[0]["messages"][0]["content"][0]["text"]
        _, final = run_to_end(session)
    finally:
        session.close()
    # The VLM said "end" at once: sent back once with what is missing, then the goal judges.
    assert len(server.requests) == 2
    note = server.requests[1]["messages"][0]["content"][0]["text"]
    assert "You answered end, but the cameras do not show the goal: missing open(drawer)" in note
    metrics = json.loads((session.runner.context.store.root / "metrics.json").read_text())
    assert final["status"] == "failed" and metrics["events"] == 0
    assert metrics["goal"] == [["open(drawer)"]] and not metrics["goal_met"]


def test_the_readers_goal_is_judged_whatever_the_vlm_states(tmp_path, scripted_server):
    server = scripted_server(
        [Reply.chat(end_answer())], goal_replies=[goal_reply([["in(blue_block, bowl)"]])]
    )
    session = open_session(vlm_spec("put the red block in the bowl", server.url), tmp_path)
    try:
        assert session.goal.strings() == [["in(red_block, bowl)"]]
        planner = session.runner.context.planner
        assert planner.stated_goal is not None
        assert planner.stated_goal.strings() == [["in(blue_block, bowl)"]]
        plan_prompt = planner.messages(
            "put the red block in the bowl", session.robot.observe(), [], None
        )
        assert "stage 1: in(red_block, bowl)" in plan_prompt[0]["content"][0]["text"]
    finally:
        session.close()


def test_a_vlm_question_ends_the_run_before_anything_is_made(tmp_path, scripted_server):
    server = scripted_server(
        [Reply.chat(end_answer())], goal_replies=[goal_reply([], "Which blocks do you mean?")]
    )
    with pytest.raises(ClarificationError, match="Which blocks do you mean"):
        open_session(vlm_spec("tidy up", server.url), tmp_path)
    assert not any(tmp_path.iterdir())
    assert server.requests == []


def test_a_person_answers_the_question_and_a_resume_reads_the_same(tmp_path):
    asked: list[dict] = []

    def person(payload: dict) -> str:
        asked.append(payload)
        return "put the red block in the bowl"

    spec = RunSpec(
        "put the red block in the",
        executor="oracle",
        planner="embedded",
        resolution=RESOLUTION,
        human=True,
    )
    session = open_session(spec, tmp_path, ask=person)
    thread = session.thread_id
    session.close()
    assert len(asked) == 1 and "stops after 'the'" in asked[0]["question"]
    assert session.spec.clarification == "put the red block in the bowl"
    assert session.goal.strings() == [["in(red_block, bowl)"]]
    recorded = json.loads((tmp_path / thread / "episode.json").read_text())["spec"]
    assert recorded["clarification"] == "put the red block in the bowl"
    resumed = open_session(RunSpec.from_dict(recorded), tmp_path, thread, ask=person)
    resumed.close()
    assert len(asked) == 1 and resumed.goal == session.goal


def test_without_a_person_the_question_is_the_error(tmp_path):
    spec = RunSpec(
        "put the red block in the", executor="oracle", planner="embedded", resolution=RESOLUTION
    )
    with pytest.raises(ClarificationError, match="stops after 'the'"):
        open_session(spec, tmp_path, ask=lambda payload: "never asked")
    assert not any(tmp_path.iterdir())
