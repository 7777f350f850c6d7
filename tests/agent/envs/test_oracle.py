"""SimulatorOracleExecutor: its prediction is what the live world then does."""

import numpy as np
import pytest

from agent.envs.tabletop.errors import SkillArgumentError
from agent.envs.tabletop.oracle import SimulatorOracleExecutor
from worldmodel.types import EventExecutor, EventRequest, EventTarget


def test_prediction_matches_a_real_rollout(sim):
    obs = sim.reset(7)
    oracle = SimulatorOracleExecutor(sim)
    assert isinstance(oracle, EventExecutor)
    request = EventRequest(
        "reach the green block", obs, frames=20, skill="reach", arguments={"object": "green_block"}
    )
    before = sim.get_state()
    prediction = oracle.predict(request)
    np.testing.assert_array_equal(sim.get_state().physics, before.physics)  # live untouched
    assert prediction.model == "simulator-oracle"
    for camera in ("front", "side", "wrist"):
        assert prediction.frames[camera].shape == (prediction.steps, 128, 128, 3)
    again = oracle.predict(request)
    np.testing.assert_array_equal(again.actions, prediction.actions)
    for t, action in enumerate(prediction.actions):
        observed = sim.step(action)
        for camera, image in observed.images.items():
            np.testing.assert_array_equal(image, prediction.frames[camera][t])
    ee, _ = sim.ee_pose(0)
    green, _ = sim.object_pose("green_block")
    assert np.linalg.norm(ee - green) < 0.01
    oracle.close()


def test_oracle_needs_the_skill(sim):
    obs = sim.reset(0)
    oracle = SimulatorOracleExecutor(sim)
    with pytest.raises(SkillArgumentError, match=r"needs EventRequest\.skill"):
        oracle.predict(EventRequest("grasp the red block", obs, frames=10))
    oracle.close()


def test_the_oracle_ignores_targets(sim):
    obs = sim.reset(7)
    oracle = SimulatorOracleExecutor(sim)
    plain = EventRequest(
        "reach the green block", obs, frames=20, skill="reach", arguments={"object": "green_block"}
    )
    # a target on the wrong spot changes nothing: the oracle reads the skill and its arguments
    elsewhere = EventTarget("object", "green_block", {"front": (0.1, 0.9)}, (0.3, -0.3, 0.02))
    grounded = EventRequest(
        plain.caption, obs, 20, skill="reach", arguments=plain.arguments, targets=(elsewhere,)
    )
    np.testing.assert_array_equal(oracle.predict(plain).actions, oracle.predict(grounded).actions)
    oracle.close()
