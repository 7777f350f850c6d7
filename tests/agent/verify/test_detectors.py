"""The action-consistency and combined detectors: conformal thresholds per skill fitted with
calibration.py, flags per event, and the combined false-alarm rate held at alpha."""

from __future__ import annotations

import numpy as np
import pytest

from agent.verify.calibration import CalibrationError, ScoreSample, conformal_quantile
from agent.verify.detectors import (
    ACTION,
    ACTION_KEY,
    COMBINED,
    DetectorCalibration,
    Detectors,
    detectors_file,
    event_flags,
    fit_detectors,
)
from agent.verify.verifier import Verdict


def verdict(curve: list[float], threshold: float, skill: str = "grasp") -> Verdict:
    """A one-camera verdict whose smoothed divergence is `curve`, flagged as the verifier would
    flag it against `threshold`."""
    above = [step for step, value in enumerate(curve) if value > threshold]
    return Verdict(
        skill=skill,
        calibrated=True,
        diverged=bool(above),
        failure="missed_grasp" if above else "none",
        detection_step=above[0] if above else None,
        cameras=(),
        divergence={"front": curve},
    )


def calibration(rng: np.random.Generator, n: int, alpha: float) -> DetectorCalibration:
    divergence = [ScoreSample("grasp", "front", s) for s in rng.uniform(0, 1, n)]
    spreads = [ScoreSample("grasp", ACTION_KEY, s) for s in rng.uniform(0, 0.1, n)]
    return fit_detectors(divergence, spreads, "m", "latent", alpha, window=1)


def test_flags_name_the_first_step_above_each_threshold():
    fitted = calibration(np.random.default_rng(0), 200, alpha=0.1)
    action_threshold = fitted.action.threshold("grasp", ACTION_KEY)
    split_action = fitted.split_action.threshold("grasp", ACTION_KEY)
    assert split_action > action_threshold  # alpha / 2 sits further out than alpha
    detectors = Detectors(fitted, window=1)
    # Spread above the action threshold from step 2; divergence above its alpha / 2 threshold
    # from step 3: the action detector flags at 2, the combined one at the earlier of its halves.
    spread = np.array([0.0, 0.0, split_action + 0.01, 0.2, 0.2], np.float32)
    divergence_threshold = fitted.split_divergence.threshold("grasp", "front")
    curve = [0.0, 0.0, 0.0, divergence_threshold + 0.1, 0.0]
    result = detectors.detect(verdict(curve, 2.0), "latent", spread, steps=5)
    assert result["flags"]["latent"] == {"flagged": False, "step": None}
    assert result["flags"][ACTION] == {"flagged": True, "step": 2}
    assert result["flags"][COMBINED] == {"flagged": True, "step": 2}
    assert result["spread"]["score"] == pytest.approx(0.2)
    # Only the executed steps count: stopped after step 1, nothing was flagged.
    stopped = detectors.detect(verdict(curve[:2], 2.0), "ssim", spread, steps=2)
    assert stopped["flags"] == {
        "frame": {"flagged": False, "step": None},
        ACTION: {"flagged": False, "step": None},
        COMBINED: {"flagged": False, "step": None},
    }


def test_without_a_spread_or_calibration_only_the_divergence_detector_runs():
    fitted = calibration(np.random.default_rng(0), 50, alpha=0.1)
    flagged = verdict([0.0, 0.9], 0.5)
    assert Detectors(fitted, 1).detect(flagged, "latent", None, 2) == {
        "spread": None,
        "flags": {"latent": {"flagged": True, "step": 1}},
    }
    uncalibrated = Detectors(None, 3).detect(flagged, "latent", np.array([0.1, 0.3]), 2)
    assert list(uncalibrated["flags"]) == ["latent"]
    assert uncalibrated["spread"]["score"] == pytest.approx(0.2)  # trailing mean of 0.1, 0.3


def test_combined_false_alarms_stay_within_alpha():
    """Nominal events with independent divergence and spread scores: each detector alone and
    the combined one flag at most about alpha of fresh nominal events; fitting both halves at
    alpha instead of alpha / 2 would flag nearly 2 alpha."""
    rng = np.random.default_rng(1)
    alpha = 0.1
    nominal = rng.uniform(0, 1, 2000)
    divergence = [ScoreSample("grasp", "front", s) for s in nominal]
    nominal_spreads = [ScoreSample("grasp", ACTION_KEY, s) for s in rng.uniform(0, 0.1, 2000)]
    detectors = Detectors(fit_detectors(divergence, nominal_spreads, "m", "latent", alpha, 1), 1)
    alone = conformal_quantile(list(nominal), alpha)  # the verifier's own threshold at alpha
    flags = {"latent": 0, ACTION: 0, COMBINED: 0}
    events = 4000
    scores, spreads = rng.uniform(0, 1, events), rng.uniform(0, 0.1, events)
    for score, spread in zip(scores, spreads, strict=True):
        result = detectors.detect(verdict([score], alone), "latent", np.array([spread]), 1)
        for name in flags:
            flags[name] += result["flags"][name]["flagged"]
    rates = {name: count / events for name, count in flags.items()}
    assert rates["latent"] == pytest.approx(alpha, abs=0.02)
    assert rates[ACTION] == pytest.approx(alpha, abs=0.02)
    assert rates[COMBINED] == pytest.approx(1 - (1 - alpha / 2) ** 2, abs=0.02)
    assert rates[COMBINED] <= alpha + 0.015


def test_calibration_round_trip_and_model_check(tmp_path):
    fitted = calibration(np.random.default_rng(2), 30, alpha=0.05)
    path = detectors_file(tmp_path / "calibration.json")
    assert path.name == "calibration.detectors.json"
    fitted.save(path)
    assert DetectorCalibration.load(path, model="m") == fitted
    with pytest.raises(CalibrationError, match="calibrated for model 'm'"):
        DetectorCalibration.load(path, model="other")
    path.write_text("{}")
    with pytest.raises(CalibrationError, match="not a detectors calibration"):
        DetectorCalibration.load(path)


def test_old_event_records_read_as_their_verdict():
    record = {"verdict": {"diverged": True, "detection_step": 4, "measure": "ssim"}}
    assert event_flags(record) == {"frame": {"flagged": True, "step": 4}}
