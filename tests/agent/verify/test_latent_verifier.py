"""The latent measure: observed frames encoded by the model's own VAE against its predictions."""

import dataclasses
import math

import numpy as np
import pytest

from agent.envs.tabletop import SimConfig, TabletopSim
from agent.verify.calibration import CalibrationError
from agent.verify.verifier import Verifier
from worldmodel.executor import EventModeExecutor
from worldmodel.locate import find_checkpoints
from worldmodel.types import EventRequest


@pytest.fixture(scope="module")
def event():
    folder = next(p for p in find_checkpoints() if p.name == "tiny")
    executor = EventModeExecutor.from_checkpoint(folder)
    sim = TabletopSim(SimConfig(width=64, height=64))
    observation = sim.reset(3)
    sim.close()
    request = EventRequest("lift the red block", observation, 8, seed=0)
    return executor, observation, executor.predict(request)


def test_what_was_predicted_scores_far_below_a_dark_camera(event):
    executor, observation, prediction = event
    verifier = Verifier(measure="latent", encoder=executor)
    keyframes = dict(observation.images)
    as_predicted = verifier.verify("lift", prediction, prediction.frames, keyframes)
    dark = {name: np.zeros_like(clip) for name, clip in prediction.frames.items()}
    blacked_out = verifier.verify("lift", prediction, dark, keyframes)
    for same, black in zip(as_predicted.cameras, blacked_out.cameras, strict=True):
        assert len(as_predicted.divergence[same.camera]) == 8
        assert same.score < 0.5 * black.score
        assert black.dark_fraction == 1.0


def test_no_decode_needed(event):
    executor, observation, prediction = event
    latents_only = dataclasses.replace(prediction, frames=None)
    verdict = Verifier(measure="latent", encoder=executor).verify(
        "lift", latents_only, prediction.frames, dict(observation.images)
    )
    assert all(math.isnan(report.mean_ssim) for report in verdict.cameras)
    with pytest.raises(ValueError, match="needs predicted frames"):
        Verifier().verify("lift", latents_only, prediction.frames)


def test_latent_measure_needs_an_encoder():
    with pytest.raises(CalibrationError, match="needs the world model's VAE"):
        Verifier(measure="latent")
