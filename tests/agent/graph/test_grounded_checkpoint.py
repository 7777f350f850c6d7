"""The shipped grounded checkpoint acts: its reach goes to the block the targets mark, follows the
mark to another block, driven by the agent loop (perception, the embedded planner) it takes the
gripper to the named block, and as the default executor (`auto`) it does a whole task. Held-out
seeds; the targets come from perception."""

from __future__ import annotations

import numpy as np
import pytest

from agent.envs.tabletop.scene import BLOCKS
from agent.envs.tabletop.sim import SimConfig, TabletopSim
from agent.envs.tabletop.tasks import PlanStep
from agent.perception import perceive
from agent.perception.targets import as_event_targets, targets_for
from agent.studies.eval_model import eval_seeds
from tests.agent.graph.conftest import RESOLUTION, run_to_end, task_spec
from worldmodel.executor import EventModeExecutor
from worldmodel.locate import checkpoint_folder
from worldmodel.types import EventRequest

REACH_STEPS = 16  # skills/reach.md typical_frames: the expert's median reach


def nearest(point: np.ndarray, sim: TabletopSim) -> tuple[str, float]:
    """The block nearest `point` in the table plane, and the 3-D distance to it."""
    where = {block: sim.object_pose(block)[0] for block in BLOCKS}
    block = min(BLOCKS, key=lambda b: float(np.linalg.norm(point[:2] - where[b][:2])))
    return block, float(np.linalg.norm(point - where[block]))


@pytest.fixture(scope="module")
def executor() -> EventModeExecutor:
    return EventModeExecutor.from_checkpoint(checkpoint_folder("grounded"))


def test_the_reach_goes_to_the_marked_block_and_follows_the_mark(executor):
    sim = TabletopSim(SimConfig(width=128, height=128))
    try:
        for index, seed in enumerate(eval_seeds(4)):
            observation = sim.reset(seed)
            named, other = BLOCKS[index % 4], BLOCKS[(index + 1) % 4]
            scene = perceive(observation)
            caption = PlanStep("reach", {"object": named}).caption
            for marked in (named, other):  # the caption names `named` both times
                targets = as_event_targets(targets_for(scene, {"object": marked}))
                request = EventRequest(
                    caption, observation, REACH_STEPS, seed, "reach", targets=targets
                )
                end = executor.predict(request).actions[-1, :3]
                block, distance = nearest(end, sim)
                assert block == marked and distance < 0.05, (seed, marked, block, distance)
    finally:
        sim.close()


def test_driven_by_the_agent_loop_it_takes_the_gripper_to_the_named_block(sessions):
    seed = eval_seeds(2)[1]
    spec = task_spec("bowl_red_blue", seed, executor="grounded", max_events=1, recovery=False)
    session = sessions(spec)
    _, final = run_to_end(session)
    [event] = final["history"]
    assert event["skill"] == "reach"
    named = event["arguments"]["object"]
    gripper = session.robot.proprio()[:3]
    block, distance = nearest(gripper, session.robot)
    assert block == named and distance < 0.05, (named, block, distance)
    home = TabletopSim(SimConfig(width=RESOLUTION, height=RESOLUTION))
    try:
        home.reset(seed)
        assert np.linalg.norm(home.proprio()[:3] - home.object_pose(named)[0]) > 0.15
    finally:
        home.close()


def test_the_default_executor_is_the_grounded_model_and_it_does_a_whole_task(sessions, monkeypatch):
    seed = eval_seeds(1)[0]
    spec = task_spec("bowl_red_blue", seed, executor="auto")
    session = sessions(spec)
    executor = session.runner.context.executor
    assert executor.name == "wallwm-grounded"
    batches = []  # what the text encoder was asked to encode, call by call
    encode = executor.text_encoder.encode
    monkeypatch.setattr(
        executor.text_encoder, "encode", lambda given: batches.append(given) or encode(given)
    )
    _, final = run_to_end(session)
    metrics = session.metrics
    assert final["status"] == "success", final["history"]
    assert metrics["goal_met"] and metrics["goal_met_in_world"]
    pick_and_place = ["reach", "grasp", "lift", "move", "place", "release"]
    assert [event["skill"] for event in final["history"]] == pick_and_place * 2  # no retries
    # every event's caption was embedded ahead, in one batch: the planner's plan of 12 events
    assert [len(batch) for batch in batches] == [12]
    assert [event["caption"] for event in final["history"]] == [c for b in batches for c in b]
