"""The closed-loop evaluation: the oracle scores 100%, paraphrases are held out, faults are seen."""

import json

import numpy as np
import pytest

from agent.cli.main import main
from agent.envs.tabletop import get_task
from agent.envs.tabletop.datagen import EVAL_SEED_OFFSET, plan_episode
from agent.studies.eval_model import (
    EventRunner,
    Report,
    eval_seeds,
    held_out_jobs,
    paraphrase_caption,
    training_episodes,
)
from worldmodel.errors import ContractError
from worldmodel.types import EventRequest


def test_the_oracle_passes_every_event_and_the_task():
    task = get_task("bowl_red_blue")
    runner = EventRunner(None, size=32)
    report = Report()
    try:
        assert runner.task(task, eval_seeds(1)[0], single_events=True, report=report)
        assert runner.task(task, eval_seeds(1)[0], single_events=False, report=report)
    finally:
        runner.close()
    assert len(report.events) == 2 * len(task.plan())
    assert all(event.success for event in report.events)
    assert all(event.action_error_m == 0.0 for event in report.events)
    assert min(event.psnr["front"] for event in report.events) == 60.0  # identical frames
    assert report.tasks == {"containers": [True]}


def test_held_out_paraphrases_and_seeds():
    task = get_task("bowl_red_blue")
    captions = [(step.caption, paraphrase_caption(step)) for _, step in task.plan()]
    assert all(original != held_out for original, held_out in captions)
    assert captions[3][1] == "carry the red block over to the bowl"
    assert eval_seeds(2) == [EVAL_SEED_OFFSET, EVAL_SEED_OFFSET + 1]


def test_one_family_repeats_its_episodes_of_a_full_run():
    full = held_out_jobs(20)
    stacking = [job for job in full if job[0].family == "stacking"]
    assert len(stacking) == 4 and held_out_jobs(4, ("stacking",)) == stacking
    assert {seed for _, seed, _ in stacking} == {EVAL_SEED_OFFSET + i for i in (1, 6, 11, 16)}
    assert [paraphrased for *_, paraphrased in stacking] == [True, False, True, False]
    two = held_out_jobs(3, ("drawer", "containers"))
    assert [task.family for task, _, _ in two] == ["containers", "drawer", "containers"]


def test_training_episodes_are_the_nominal_ones_the_dataset_recorded(tmp_path, capsys):
    root = tmp_path / "data"
    generate = ["data", "generate", "--out", str(root), "--episodes", "2", "--size", "24"]
    assert (
        main([*generate, "--families", "containers", "--seed", "2", "--recovery-fraction", "0.5"])
        == 0
    )
    plans = [plan_episode(index, 2, ("containers",), 0.5) for index in range(2)]
    assert [plan.recovery for plan in plans] == [True, False]  # the first one is skipped
    assert training_episodes(root, 1) == [(plans[1].task, plans[1].sim_seed)]
    with pytest.raises(ContractError, match="1 nominal episodes; 2 were asked for"):
        training_episodes(root, 2)
    # the CLI on them, with the oracle: every event and the task succeed, no empty fault rows
    args = ["eval-model", "--checkpoint", "oracle", "--data", str(root), "--episodes", "1"]
    assert main([*args, "--fault-episodes", "0"]) == 0
    out = capsys.readouterr().out
    assert f"{plans[1].task.name} seed {plans[1].sim_seed}" in out
    assert "0%" not in out.replace("100%", "") and "injected fault" not in out


class RecordingOracle:
    """The oracle (which answers with its whole routine); keeps every request it was given."""

    def __init__(self, oracle):
        self.oracle = oracle
        self.requests = []

    def predict(self, request):
        self.requests.append(request)
        return self.oracle.predict(request)


def test_chunk_mode_asks_with_the_instruction_every_chunk_steps():
    task = get_task("bowl_red_blue")
    runner = EventRunner(None, size=32, chunk=4)
    spy = RecordingOracle(runner.oracle)
    runner.executor = spy
    report = Report()
    try:
        runner.task(task, eval_seeds(1)[0], single_events=True, report=report)
    finally:
        runner.close()
    assert {request.caption for request in spy.requests} == {task.instruction}
    assert all(request.frames <= 4 for request in spy.requests)
    assert len(spy.requests) > len(task.plan())  # events longer than 4 steps were split
    assert all(len(event.psnr) == 3 for event in report.events)


def test_an_expert_routine_longer_than_the_executor_answers_is_asked_for_in_pieces():
    """A learned model predicts at most action.max_steps per request (the oracle's guard lets a
    stuck routine run to 300 steps); the event is then asked for in pieces, not refused."""
    task = get_task("bowl_red_blue")
    runner = EventRunner(None, size=32)
    spy = RecordingOracle(runner.oracle)
    spy.max_steps = 4
    runner.executor = spy
    try:
        _, reach = task.plan()[0]
        runner.sim.reset(eval_seeds(1)[0])
        runner.event(reach, eval_seeds(1)[0], restore=True)
    finally:
        runner.close()
    assert len(spy.requests) > 1 and all(request.frames <= 4 for request in spy.requests)
    assert {request.caption for request in spy.requests} == {reach.caption}


@pytest.mark.parametrize("source", ["perceived", "truth", "none"])
def test_every_request_carries_the_events_targets_from_the_chosen_source(source):
    task = get_task("bowl_red_blue")
    runner = EventRunner(None, size=64, targets=source)
    spy = RecordingOracle(runner.oracle)
    runner.executor = spy
    try:
        runner.sim.reset(eval_seeds(1)[0])
        block = runner.sim.object_pose("red_block")[0]
        _, reach = task.plan()[0]
        runner.event(reach, eval_seeds(1)[0], restore=True)
    finally:
        runner.close()
    (request,) = spy.requests
    if source == "none":
        assert request.targets == ()
        return
    (target,) = request.targets
    assert (target.role, target.name) == ("object", "red_block")
    assert np.linalg.norm(np.asarray(target.position) - block) < (
        0.01 if source == "perceived" else 1e-3
    )
    assert {"front", "side"} <= set(target.points)


@pytest.mark.parametrize(("executor", "expected"), [("oracle", 1.0), ("hold-still", 0.0)])
def test_json_figures_of_the_upper_bound_and_the_negative_control(executor, expected, capsys):
    """--json prints one object a script can check; the oracle scores every event, the
    hold-still control none (an evaluation scoring it above 0 measures something else)."""
    args = ["eval-model", "--checkpoint", executor, "--episodes", "1", "--fault-episodes", "0"]
    assert main([*args, "--json", "--targets", "truth"]) == 0
    figures = json.loads(capsys.readouterr().out)
    assert figures["executor"] == executor and figures["targets"] == "truth"
    assert set(figures["skills"]) == {"reach", "grasp", "lift", "move", "place", "release"}
    assert all(skill["success"] == expected for skill in figures["skills"].values())
    assert figures["tasks"] == {"containers": {"episodes": 1, "success": expected}}


def test_families_limits_the_episodes_and_the_json_says_so(capsys):
    args = ["eval-model", "--checkpoint", "hold-still", "--episodes", "1", "--fault-episodes"]
    assert main([*args, "0", "--families", "stacking", "--json", "--targets", "truth"]) == 0
    figures = json.loads(capsys.readouterr().out)
    assert figures["families"] == ["stacking"]
    assert figures["tasks"] == {"stacking": {"episodes": 1, "success": 0.0}}


def test_the_skill_horizon_asks_for_what_the_agent_loop_asks_for():
    from agent.execution.registry import build_executor
    from agent.skills import SkillCatalogue

    task = get_task("bowl_red_blue")
    seed = eval_seeds(1)[0]
    runner = EventRunner(None, size=32, horizon="skill")
    spy = RecordingOracle(build_executor("hold-still", runner.sim))
    runner.executor = spy
    try:
        observation = runner.sim.reset(seed)
        (_, reach), (_, grasp) = task.plan()[:2]
        request = EventRequest(reach.caption, observation, 1, seed, "reach", dict(reach.arguments))
        expert_steps = len(runner.oracle.predict(request).actions)
        for step in (reach, grasp):
            runner.event(step, seed, restore=True)
    finally:
        runner.close()
    # The reach: its skill's horizon from the hand to the perceived block, within 2 steps of
    # the expert's own duration; the grasp (no horizon): the skill file's typical_frames.
    reach_frames, grasp_frames = (request.frames for request in spy.requests)
    assert abs(reach_frames - expert_steps) <= 2, (reach_frames, expert_steps)
    assert grasp_frames == SkillCatalogue.load()["grasp"].typical_frames
    with pytest.raises(ContractError, match="horizon 'mine'"):
        EventRunner(None, size=32, horizon="mine")


def test_an_executor_that_ends_before_the_skill_horizon_is_scored_on_what_it_did():
    """The oracle answers with its whole routine, shorter than the skill file's frames: the
    event ends there, and its frames and open-loop error are still scored."""
    task = get_task("bowl_red_blue")
    runner = EventRunner(None, size=32, horizon="skill")
    try:
        runner.sim.reset(eval_seeds(1)[0])
        _, reach = task.plan()[0]
        outcome = runner.event(reach, eval_seeds(1)[0], restore=False)
    finally:
        runner.close()
    assert outcome.success and outcome.action_error_m == 0.0
    assert min(outcome.psnr.values()) == 60.0  # identical frames, all of them compared
