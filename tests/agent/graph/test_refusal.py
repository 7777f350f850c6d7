"""An event the executor refuses before moving is a failed event, not a crash."""

import pytest

from agent.graph.runner import TakeoverPending
from agent.run_spec import RunSpec
from agent.session import open_session


def test_refused_event_is_recovered_then_given_up_without_a_crash(tmp_path):
    # The oracle refuses to grasp a bowl; nothing moves, the skill's strategies run out.
    spec = RunSpec(
        instruction="put the red block and the blue block in the bowl",
        task="bowl_red_blue",
        executor="oracle",
        planner="embedded",
        human=True,
        resolution=64,
        max_events=6,
    )
    session = open_session(spec, tmp_path)
    answers = iter(["grasp the bowl", "end"])
    questions = []

    def person(payload):
        questions.append(payload)
        return next(answers)

    try:
        session.runner.restore_robot(spec.seed)
        final = session.runner.run(spec.instruction, True, person)
    finally:
        session.close()
    assert len(questions) == 2
    assert "refused 'grasp the bowl' before any action" in questions[1]["error"]
    assert final["history"][0]["ok"] is False and final["history"][0]["frames"] == 0
    assert final["executions"] == [] and final["status"] == "failed"


class BowlGrasper:
    """Stands in for a VLM that insists on an event the executor cannot do."""

    name = "bowl-grasper"

    def plan(self, instruction, observation, history, last_verification):
        from agent.state import EventState

        return EventState(
            next_event="grasp the bowl",
            skill="grasp",
            arguments={"object": "bowl"},
            frames=15,
            progress=0,
            decision="continue",
        )


def test_refusals_escalate_through_the_skill_strategies_to_a_person(tmp_path):
    spec = RunSpec(
        instruction="put the red block and the blue block in the bowl",
        task="bowl_red_blue",
        executor="oracle",
        planner="embedded",
        resolution=64,
        max_events=10,
    )
    session = open_session(spec, tmp_path)
    session.runner.context.planner = BowlGrasper()
    try:
        session.runner.restore_robot(spec.seed)
        with pytest.raises(TakeoverPending):
            session.runner.run(spec.instruction, False, None)
        state = session.runner.state()
    finally:
        session.close()
    strategies = [decision["strategy"] for decision in state["recoveries"]]
    assert strategies == ["back_off_and_retry", "back_off_and_retry", "replan", "human_takeover"]
    assert all(not record["ok"] and record["frames"] == 0 for record in state["history"])
    assert state["executions"] == []
