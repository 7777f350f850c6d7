"""The whole agent loop on real components: suite tasks complete, a fault is detected on the
cameras and recovered from, budgets end a run, and a planner's unknown skill is refused."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

import agent.session
from agent.graph.runner import TaskRunner
from agent.resources import resource_dir
from agent.session import open_session
from agent.skills import UnknownSkillError
from agent.state import EventState
from agent.verify.calibration import Thresholds
from agent.verify.verifier import Verifier
from tests.agent.graph.conftest import run_to_end, task_spec


def recorded(runner: TaskRunner) -> list[dict]:
    path = runner.context.store.root / "events.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()]


# One short task per family: mixed (7 events), drawer (8), sorting, stacking, containers (12).
@pytest.mark.parametrize(
    "task", ["push_then_bowl", "drawer_red", "sort_red_green", "stack_three", "bowl_red_blue"]
)
def test_suite_task_completes(sessions, task):
    runner, final = run_to_end(sessions(task_spec(task)))
    metrics = runner.context.store.metrics
    assert final["status"] == "success"
    assert metrics["success"] is True and metrics["progress"] == 100.0
    assert metrics["failed_events"] == 0 and metrics["recoveries"] == 0
    events = recorded(runner)
    assert [event["index"] for event in events] == list(range(len(events)))
    assert len(events) == metrics["events"] == len(final["history"]) == len(final["executions"])
    assert all(not event["verdict"]["diverged"] for event in events)
    # Every event is recorded with where its object (and destination) were in the cameras.
    for event in events:
        plan = event["plan"]
        roles = {t["role"]: t for t in plan["targets"]}
        assert roles["object"]["name"] == plan["arguments"]["object"] and roles["object"]["points"]
        assert ("destination" in roles) == ("target" in plan["arguments"])
    # Reaches and moves are asked for as long as the expert (the oracle) takes: their skills'
    # horizons, from the hand to where perception put the target.
    for event in events:
        if event["plan"]["skill"] in ("reach", "move"):
            assert abs(event["plan"]["frames"] - event["pending"]["steps"]) <= 2, event["plan"]
    # The planner's progress rises monotonically to the end; the last plan is "end".
    assert final["plan"]["decision"] == "end" and final["plan"]["progress"] == 100
    # Small state: no arrays in the checkpoint (large arrays stay in the episode files).
    assert len(json.dumps(final)) < 20_000


def test_grasp_slip_is_detected_and_recovered_by_a_regrasp(sessions):
    runner, final = run_to_end(sessions(task_spec("bowl_red_blue", seed=1, faults=("grasp_slip",))))
    metrics = runner.context.store.metrics
    assert final["status"] == "success" and metrics["progress"] == 100.0
    failed = [event for event in recorded(runner) if event["verdict"]["diverged"]]
    assert failed, "the slip was not seen"
    slip = failed[0]
    # Seed 1 slips while lifting; the verifier names the likely failure by the running skill.
    assert slip["plan"]["skill"] == "lift" and slip["verdict"]["failure"] == "missed_grasp"
    wrist = next(c for c in slip["verdict"]["cameras"] if c["camera"] == "wrist")
    assert wrist["diverged"] and wrist["score"] > wrist["threshold"]
    # The decision is recorded with its evidence, and the regrasp ran and succeeded.
    recovery = final["recoveries"][0]
    assert recovery["strategy"] == "regrasp" and recovery["attempt"] == 1
    assert recovery["evidence"]["ok"] is False and recovery["evidence"]["failure"] == "missed_grasp"
    assert recovery["evidence"]["divergence"] == pytest.approx(wrist["score"], abs=1e-3)
    block = slip["plan"]["arguments"]["object"].replace("_", " ")  # the block being lifted
    assert recovery["queued"] == [f"regrasp the {block}", f"lift the {block}"]
    regrasps = [h for h in final["history"] if h["skill"] == "regrasp"]
    assert regrasps and regrasps[0]["ok"]
    assert metrics["recoveries"] == len(final["recoveries"]) >= 1
    assert metrics["failed_events"] == len(failed)


def test_a_pushed_block_is_seen_moved_and_fetched_again_by_a_replan(sessions):
    spec = task_spec("bowl_red_blue", seed=0, faults=("external_push",))
    runner, final = run_to_end(sessions(spec))
    assert final["status"] == "success"
    pushed = [e for e in recorded(runner) if e["detectors"]["flags"]["scene"]["flagged"]]
    assert len(pushed) == 1, "the push was not seen"
    # A knocked block is no event's fault: the planner plans again from the cameras.
    recovery = final["recoveries"][0]
    assert recovery["strategy"] == "replan"
    assert recovery["evidence"]["failure"] == "object_displaced"
    assert "moved" in recovery["evidence"]["detail"]


def test_event_budget_ends_the_run(sessions):
    runner, final = run_to_end(sessions(task_spec("push_then_bowl", max_events=2)))
    metrics = runner.context.store.metrics
    assert final["status"] == "budget_exhausted" and metrics["status"] == "budget_exhausted"
    assert len(final["executions"]) == 2 and metrics["events"] == 2
    assert "event budget of 2" in metrics["stop_reason"]
    assert 0 < metrics["progress"] < 100


def test_wall_time_budget_ends_the_run(sessions):
    runner, final = run_to_end(sessions(task_spec("push_then_bowl", wall_time_s=0.5)))
    metrics = runner.context.store.metrics
    assert final["status"] == "budget_exhausted"
    assert metrics["stop_reason"].startswith("wall-time budget")
    assert 1 <= metrics["events"] < 7  # an event in flight finishes; the next is not started


class UnknownSkillPlanner:
    """A planner that names a skill the catalogue lacks (no real planner can: the embedded one
    plans from the catalogue and the VLM planner's validation reprompts)."""

    name = "broken"

    def plan(self, instruction, observation, history, last_verification) -> EventState:
        return EventState(
            next_event="juggle the red block",
            skill="juggle",
            arguments={"object": "red_block"},
            frames=10,
            progress=0,
            decision="continue",
        )


def test_unknown_skill_from_a_planner_is_refused_before_anything_runs(sessions):
    runner = sessions(task_spec("push_then_bowl")).runner
    runner.context.planner = UnknownSkillPlanner()
    runner.restore_robot(0)
    with pytest.raises(UnknownSkillError, match=r"unknown skill 'juggle'.*known skills"):
        runner.run("juggle the red block", False, None)
    assert runner.state().get("executions", []) == []
    assert runner.graph.get_state(runner.config).next == ("plan",)
    assert not (runner.context.store.root / "events.jsonl").exists()


def always_diverging() -> Verifier:
    """A real verifier whose (absurd) calibration flags every event: a failure that persists."""
    cameras = {"front": -1.0, "side": -1.0, "wrist": -1.0}
    return Verifier(Thresholds("simulator-oracle", "ssim", 0.05, 3, values={"*": cameras}))


class SameEvent:
    """A planner that plans one event again and again: the graph's retry limits and recovery
    strategies, not a planner's choices, decide how a persistent failure escalates."""

    name = "same-event"

    def __init__(self, skill: str, caption: str, **arguments: str) -> None:
        self.event = EventState(
            next_event=caption,
            skill=skill,
            arguments=arguments,
            frames=30,
            progress=0,
            decision="continue",
        )

    def plan(self, instruction, observation, history, last_verification) -> EventState:
        return self.event


def test_a_persistent_failure_escalates_to_a_person_within_the_retry_limit(sessions):
    runner = sessions(task_spec("push_then_bowl")).runner
    runner.context.verifier = always_diverging()
    runner.context.planner = SameEvent(
        "push", "push the yellow block toward the plate", object="yellow_block", target="plate"
    )
    runner.restore_robot(0)
    shown = []
    final = runner.run(
        task_spec("push_then_bowl").instruction, False, lambda p: shown.append(p) or "end"
    )
    # push: retry_limit 2, recovery [back_off_and_retry, replan, human_takeover]. The replanned
    # push is the same event: its attempts are not reset, so the third failure escalates.
    assert [(r["attempt"], r["strategy"]) for r in final["recoveries"]] == [
        (1, "back_off_and_retry"),
        (2, "replan"),
        (3, "human_takeover"),
    ]
    assert len(final["executions"]) == 3 and len(shown) == 1
    assert shown[0]["last_verification"]["ok"] is False
    assert final["status"] == "failed"


def test_past_the_last_strategy_the_task_fails(sessions, tmp_path):
    skills = tmp_path / "skills"
    skills.mkdir()
    push = (Path(resource_dir("skills")) / "push.md").read_text()
    push = re.sub(r"(?m)^recovery: .*$", "recovery: [back_off_and_retry]", push)
    (skills / "push.md").write_text(re.sub(r"(?m)^retry_limit: .*$", "retry_limit: 1", push))
    runner = sessions(task_spec("push_then_bowl", skills_dirs=(str(skills),))).runner
    runner.context.verifier = always_diverging()
    runner.restore_robot(0)
    final = runner.run(task_spec("push_then_bowl").instruction, False, None)
    assert [r["strategy"] for r in final["recoveries"]] == ["back_off_and_retry", "give_up"]
    assert final["status"] == "failed" and len(final["executions"]) == 2
    assert runner.context.store.metrics["stop_reason"] is None


def test_runs_started_in_the_same_second_get_their_own_episode(monkeypatch, tmp_path):
    monkeypatch.setattr(agent.session, "episode_id", lambda instruction: "20990101-000000-same")
    first = open_session(task_spec("push_then_bowl"), tmp_path / "runs")
    second = open_session(task_spec("push_then_bowl"), tmp_path / "runs")
    try:
        assert (first.thread_id, second.thread_id) == (
            "20990101-000000-same",
            "20990101-000000-same-2",
        )
        assert second.runner.state() == {}  # a new thread, not the first run's
    finally:
        first.close()
        second.close()


def test_a_failed_drawer_opening_is_retried_not_regrasped(sessions):
    # open.md lists regrasp first, but the drawer was never grasped: no executor can regrasp it
    # (the oracle refuses object='drawer'), so the run skips to backing off and retrying.
    runner = sessions(task_spec("drawer_red")).runner
    runner.context.verifier = always_diverging()
    runner.context.planner = SameEvent("open", "open the drawer", object="drawer")
    runner.restore_robot(0)
    final = runner.run(task_spec("drawer_red").instruction, False, lambda payload: "end")
    assert [r["strategy"] for r in final["recoveries"]] == [
        "back_off_and_retry",
        "back_off_and_retry",
        "replan",
        "human_takeover",
    ]
    assert all(record["skill"] == "open" for record in final["history"])
    assert final["status"] == "failed"
