"""Measures come from the registry: a new one is a file and a line."""

from __future__ import annotations

import numpy as np
import pytest

from agent.run_spec import RunSpec, RunSpecError
from agent.verify import registry
from agent.verify.calibration import CalibrationError, Thresholds
from agent.verify.verifier import Verifier
from tests.agent.verify.test_verify import moving_square_clip, prediction_of


def test_a_registered_measure_judges_events(monkeypatch):
    entry = registry.MeasureEntry("tests.agent.verify.mean_brightness", "mean brightness")
    monkeypatch.setitem(registry.MEASURES, "brightness", entry)
    thresholds = Thresholds("oracle", "brightness", 0.05, 3, values={"*": {"front": 0.2}})
    verifier = Verifier(thresholds)
    clip = {"front": moving_square_clip()}
    assert not verifier.verify("grasp", prediction_of(clip), clip).diverged
    # the same motion under a much brighter light: a measure of brightness sees nothing else
    bright = {"front": np.clip(clip["front"].astype(int) + 100, 0, 255).astype(np.uint8)}
    verdict = verifier.verify("grasp", prediction_of(clip), bright)
    assert verdict.diverged and verdict.failure == "missed_grasp"
    assert RunSpec("put the red block in the bowl", measure="brightness").measure == "brightness"


def test_an_unknown_measure_is_refused_where_it_is_named():
    with pytest.raises(CalibrationError, match="unknown divergence measure 'ssmi'"):
        Verifier(measure="ssmi")
    with pytest.raises(RunSpecError, match="expected one of ssim, latent"):
        RunSpec("put the red block in the bowl", measure="ssmi")
    with pytest.raises(CalibrationError, match="needs the world model's VAE"):
        Verifier(measure="latent")
