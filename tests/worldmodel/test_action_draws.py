"""K extra action draws per event: one video forward, the executed actions untouched, a spread."""

import numpy as np
import pytest

from worldmodel.errors import ContractError
from worldmodel.executor import EventModeExecutor, action_spread
from worldmodel.types import CameraSpec, EventPrediction, EventRequest, Observation

NAMES = ("front", "left_wrist", "right_wrist")


def _request(seed: int = 0, frames: int = 10) -> EventRequest:
    rng = np.random.default_rng(seed)
    specs = tuple(CameraSpec(name, 16, 16) for name in NAMES)
    images = {name: rng.integers(0, 256, (16, 16, 3), dtype=np.uint8) for name in NAMES}
    observation = Observation(specs, images, np.zeros(7, np.float32), 0.0, 0)
    return EventRequest("pick up the red block", observation, frames, seed=seed)


@pytest.fixture(scope="module")
def executor():
    return EventModeExecutor.from_preset("debug", seed=0)


def test_action_spread_is_the_mean_distance_from_the_draws_mean():
    draws = np.zeros((2, 3, 7), np.float32)
    draws[0, :, 0] = 0.02  # the two draws lie 4 cm apart along x: each 2 cm from their mean
    draws[1, :, 0] = -0.02
    draws[1, 2, 3:] = 5.0  # rotations and the gripper do not count
    np.testing.assert_allclose(action_spread(draws), [0.02, 0.02, 0.02], rtol=1e-6)


@pytest.mark.parametrize("guidance", [1.0, 2.0])
def test_draws_leave_the_executed_actions_bit_identical(executor, count_calls, guidance):
    executor.guidance = guidance
    video_calls = count_calls(executor.model.video)
    try:
        plain = executor.predict(_request(seed=3))
        executor.action_draws = 4
        calls_before = video_calls[0]
        drawn = executor.predict(_request(seed=3))
        calls_with_draws = video_calls[0] - calls_before
        again = executor.predict(_request(seed=3))
    finally:
        executor.action_draws = 0
        executor.guidance = 1.0
    assert plain.action_spread is None
    assert np.array_equal(plain.actions, drawn.actions)
    assert calls_with_draws == 1  # the draws read the event's one video forward
    assert drawn.action_spread.shape == (10,)
    assert np.all(drawn.action_spread > 0)
    np.testing.assert_array_equal(drawn.action_spread, again.action_spread)  # seeded


def test_draws_at_temperature_0_repeat_the_executed_actions(executor, monkeypatch):
    """The K draws read the video context repeated K times (in paired order when guided): at
    temperature 0 each must reproduce the executed trajectory, so the spread vanishes."""
    monkeypatch.setattr("worldmodel.executor.DRAW_TEMPERATURE", 0.0)
    executor.action_draws, executor.guidance = 3, 2.0
    try:
        prediction = executor.predict(_request(seed=1))
    finally:
        executor.action_draws, executor.guidance = 0, 1.0
    assert np.all(prediction.action_spread < 1e-5)


def test_draws_need_the_asymmetric_sampler(executor):
    with pytest.raises(ContractError, match="asymmetric"):
        EventModeExecutor(
            executor.model,
            executor.stats,
            executor.vae,
            executor.text_encoder,
            mode="symmetric",
            action_draws=2,
        )


def test_a_spread_must_have_one_value_per_action():
    latents = {"front": np.zeros((2, 4, 4, 4), np.float32)}
    fields = dict(actions=np.zeros((3, 7)), model="m", time_to_first_action_s=0.0, total_s=0.0)
    fields |= dict(latents=latents, latent_index=np.array([1, 1, 1]))
    assert EventPrediction(**fields, action_spread=np.ones(3)).action_spread.dtype == np.float32
    with pytest.raises(ContractError, match="one per action"):
        EventPrediction(**fields, action_spread=np.ones(2))
