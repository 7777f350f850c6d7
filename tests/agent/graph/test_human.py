"""Human takeover: the graph interrupts, a person's answers (Command(resume=...)) drive events,
an answer that cannot be read is asked again with the error, and "end" finishes the task."""

from __future__ import annotations

import json
from typing import Any

import pytest

from agent.graph.runner import TakeoverPending
from agent.state import EventState
from tests.agent.graph.conftest import task_spec
from tests.agent.vlm_servers import Reply


class Person:
    """Types scripted answers and remembers what each takeover showed."""

    def __init__(self, answers: list[str]) -> None:
        self.answers = list(answers)
        self.shown: list[dict[str, Any]] = []

    def __call__(self, payload: dict[str, Any]) -> str:
        self.shown.append(payload)
        return self.answers.pop(0)


def test_a_person_drives_events_and_ends_the_task(sessions):
    spec = task_spec("push_then_bowl", human=True)
    runner = sessions(spec).runner
    runner.restore_robot(spec.seed)
    person = Person(
        [
            "push object=yellow_block target=plate",  # a skill call
            "fly to the moon",  # unreadable: asked again, with the error
            "grasp object=red_block colour=red",  # a skill call with a wrong argument
            "reach the red block",  # a caption
            "end",
        ]
    )
    final = runner.run(spec.instruction, True, person)

    assert [h["caption"] for h in final["history"]] == [
        "push the yellow block toward the plate",
        "reach the red block",
    ]
    assert all(h["ok"] for h in final["history"]) and len(final["executions"]) == 2
    assert len(person.shown) == 5 and person.answers == []
    assert person.shown[0]["error"] is None
    assert person.shown[0]["instruction"] == spec.instruction
    assert "could not read 'fly to the moon'" in person.shown[2]["error"]
    assert "'end'" in person.shown[2]["error"]
    assert "colour" in person.shown[3]["error"]  # the bad argument is named
    assert person.shown[4]["error"] is None  # a good answer clears the error
    # "end" before the task is done: the simulator's success predicate says it failed.
    metrics = runner.context.store.metrics
    assert final["status"] == "failed" and metrics["success"] is False
    assert 0 < metrics["progress"] < 100
    assert (
        final["plan"]["decision"] == "end" and final["plan"]["reason"] == "a person ended the task"
    )


def test_without_a_person_the_run_waits_and_resumes_with_the_answer(sessions):
    spec = task_spec("push_then_bowl", human=True)
    runner = sessions(spec).runner
    runner.restore_robot(spec.seed)
    with pytest.raises(TakeoverPending, match=r"wallwm run --resume task"):
        runner.run(spec.instruction, True, None)
    snapshot = runner.graph.get_state(runner.config)
    assert snapshot.next == ("human",) and snapshot.interrupts
    assert snapshot.interrupts[0].value["instruction"] == spec.instruction

    # A later process answers the pending question (the runner sends Command(resume=answer)).
    later = sessions(spec)
    later.runner.restore_robot(spec.seed)
    person = Person(["push the yellow block toward the plate", "end"])
    final = later.runner.run(spec.instruction, True, person)
    assert [h["skill"] for h in final["history"]] == ["push"]
    assert len(person.shown) == 2 and final["status"] == "failed"
    events = (later.runner.context.store.root / "events.jsonl").read_text().splitlines()
    assert [json.loads(line)["key"] for line in events] == ["e000-x000"]


def takeover_answer() -> str:
    state = EventState(
        next_event="ask a person",
        skill="reach",
        arguments={"object": "red_block"},
        frames=1,
        progress=0,
        decision="takeover",
        reason="I cannot see the red block",
    )
    return state.model_dump_json()


def test_a_planner_takeover_decision_hands_over_to_a_person(sessions, scripted_server):
    server = scripted_server([Reply.chat(takeover_answer())])
    spec = task_spec("push_then_bowl", planner="vlm", vlm_url=server.url, vlm_model="scripted")
    runner = sessions(spec).runner
    runner.restore_robot(spec.seed)
    person = Person(["reach the red block", "end"])
    final = runner.run(spec.instruction, False, person)
    assert person.shown[0]["reason"] == "I cannot see the red block"
    assert [h["caption"] for h in final["history"]] == ["reach the red block"]
    # After the person's event the planner is asked again; it takes over again; "end".
    assert len(server.requests) == 2 and len(person.shown) == 2
    assert final["status"] == "failed" and final["plan"]["decision"] == "end"
