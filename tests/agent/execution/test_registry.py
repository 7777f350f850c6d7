"""Executors and environments come from registries: the hold-still control runs through the
agent loop and meets no goal; an unknown name is refused before anything is built."""

from __future__ import annotations

import pytest

from agent.envs import registry as environments
from agent.execution import registry as executors
from agent.run_spec import RunSpec, RunSpecError
from agent.session import open_session
from tests.agent.graph.conftest import RESOLUTION


def test_the_hold_still_control_runs_and_meets_no_goal(tmp_path):
    spec = RunSpec(
        "put the red block in the bowl",
        executor="hold-still",
        planner="embedded",
        resolution=RESOLUTION,
        max_events=3,
    )
    with open_session(spec, tmp_path) as session:
        assert session.runner.context.executor.name == "hold-still"
        start = session.robot.reset(spec.seed).proprio.copy()
        final = session.run()
        end = session.runner.context.workspace.observation.proprio
        metrics = session.metrics
    assert final["status"] != "success" and not metrics["goal_met"]
    assert metrics["events"] == 3  # the event budget spent: nothing it did brought the goal
    assert abs(end[:3] - start[:3]).max() < 0.01  # the gripper stayed where it was


def test_auto_means_the_grounded_checkpoint_and_the_oracle_where_it_is_missing():
    assert executors.resolve("auto", {"tiny", "grounded"}) == "grounded"
    assert executors.resolve("auto", {"tiny"}) == "oracle"
    assert executors.resolve("tiny", {"tiny", "grounded"}) == "tiny"


def test_unknown_executors_and_environments_are_refused():
    with pytest.raises(RunSpecError, match="neither auto, oracle, hold-still"):
        RunSpec("put the red block in the bowl", executor="orcale")
    with pytest.raises(RunSpecError, match="the environment is 'kitchen'"):
        RunSpec("put the red block in the bowl", environment="kitchen")
    assert environments.environment_names() == ("tabletop",)
