"""Divergence measures, conformal calibration and the verifier's verdicts."""

import numpy as np
import pytest

from agent.verify.calibration import (
    CalibrationError,
    ScoreSample,
    Thresholds,
    conformal_quantile,
    fit_thresholds,
)
from agent.verify.measures import (
    dark_steps,
    frozen_steps,
    latent_divergence,
    moving_average,
    psnr,
    ssim,
)
from agent.verify.verifier import Verifier
from worldmodel.types import EventPrediction


def moving_square_clip(steps=12, size=48, speed=2, seed=0):
    rng = np.random.default_rng(seed)
    clip = np.full((steps, size, size, 3), 90, np.uint8)
    clip += rng.integers(0, 6, clip.shape, dtype=np.uint8)  # sensor-like noise
    for t in range(steps):
        x = 4 + speed * t
        clip[t, 16:28, x : x + 12] = (220, 40, 40)
    return clip


def test_ssim_and_psnr_values():
    clip = moving_square_clip()
    np.testing.assert_allclose(ssim(clip, clip), 1.0, atol=1e-6)
    assert psnr(clip, clip).tolist() == [60.0] * 12
    shifted = np.clip(clip.astype(int) + 10, 0, 255).astype(np.uint8)
    np.testing.assert_allclose(psnr(clip, shifted), 10 * np.log10(255**2 / 100), atol=0.05)
    other = moving_square_clip(seed=1, speed=0)
    similarity = ssim(clip, other)
    assert similarity[0] > 0.9 and similarity[-1] < similarity[0] - 0.1  # square drifts apart


def test_frozen_dark_and_moving_average():
    clip = moving_square_clip()
    clip[6:] = clip[5]
    clip[3] = 0
    assert frozen_steps(clip).tolist() == [False] * 6 + [True] * 6
    assert np.flatnonzero(dark_steps(clip)).tolist() == [3]
    assert frozen_steps(clip[:1]).tolist() == [False]
    np.testing.assert_allclose(moving_average(np.array([1.0, 3.0, 5.0, 7.0]), 2), [1, 2, 4, 6])


def test_latent_divergence_follows_the_step_to_latent_alignment():
    predicted = np.ones((3, 4, 2, 2), np.float32)
    observed = predicted.copy()
    observed[2] *= 2.0  # the last latent frame differs
    per_step = latent_divergence(predicted, observed, np.array([0, 1, 1, 2, 2]))
    np.testing.assert_allclose(per_step, [0, 0, 0, 0.25, 0.25], atol=1e-6)


def test_conformal_quantile_rank():
    scores = list(range(1, 20))  # n = 19
    assert conformal_quantile(scores, 0.1) == 18  # ceil(20 * 0.9) = 18th smallest
    assert conformal_quantile([1.0, 2.0], 0.01) == 2.0  # too few for the guarantee: the max


def test_calibrated_false_alarm_rate_holds_on_fresh_nominal_events():
    rng = np.random.default_rng(0)
    cameras = ("front", "side", "wrist")

    def nominal(n):
        return {camera: rng.gamma(2.0, 0.05, n) for camera in cameras}

    calibration = nominal(400)
    samples = [
        ScoreSample("grasp", camera, float(score))
        for camera, scores in calibration.items()
        for score in scores
    ]
    thresholds = fit_thresholds(samples, model="tiny", measure="ssim", alpha=0.05, window=3)
    fresh = nominal(4000)
    alarms = np.zeros(4000, bool)
    for camera in cameras:
        alarms |= fresh[camera] > thresholds.threshold("grasp", camera)
    assert alarms.mean() <= 0.05 + 0.01


def test_thresholds_round_trip_and_refuse_another_model(tmp_path):
    samples = [ScoreSample("grasp", "front", s) for s in np.linspace(0, 1, 30)]
    samples += [ScoreSample("place", "front", 0.2)]
    thresholds = fit_thresholds(samples, "tiny", "ssim", alpha=0.1, window=3)
    assert thresholds.threshold("place", "front") == thresholds.threshold("*", "front")  # pooled
    path = tmp_path / "calibration.json"
    thresholds.save(path)
    assert Thresholds.load(path, model="tiny") == thresholds
    with pytest.raises(CalibrationError, match="calibrated for model 'tiny', not 'other'"):
        Thresholds.load(path, model="other")
    with pytest.raises(CalibrationError, match="wallwm calibrate"):
        thresholds.threshold("grasp", "wrist")
    with pytest.raises(CalibrationError, match="run `wallwm calibrate`"):
        Thresholds.load(tmp_path / "missing.json")


def prediction_of(frames):
    steps = len(next(iter(frames.values())))
    return EventPrediction(
        actions=np.zeros((steps, 7), np.float32),
        model="oracle",
        time_to_first_action_s=0.0,
        total_s=0.0,
        frames=frames,
    )


def test_verifier_tells_camera_fault_from_failed_grasp():
    predicted = {name: moving_square_clip(seed=i) for i, name in enumerate(("front", "wrist"))}
    thresholds = Thresholds("oracle", "ssim", 0.05, 3, values={"*": {"front": 0.1, "wrist": 0.1}})
    verifier = Verifier(thresholds)

    same = verifier.verify("grasp", prediction_of(predicted), predicted)
    assert not same.diverged and same.failure == "none" and same.calibrated

    frozen = dict(predicted)
    frozen["wrist"] = np.repeat(predicted["wrist"][:1], 12, axis=0)
    verdict = verifier.verify("grasp", prediction_of(predicted), frozen)
    assert verdict.diverged and verdict.failure == "occlusion_or_camera_fault"
    assert [c.camera for c in verdict.cameras if c.diverged] == ["wrist"]

    # The object stayed put on both cameras while the model predicted it moving: a missed grasp.
    still = {name: moving_square_clip(seed=i, speed=0) for i, name in enumerate(("front", "wrist"))}
    verdict = verifier.verify("grasp", prediction_of(predicted), still)
    assert verdict.diverged and verdict.failure == "missed_grasp"
    assert verdict.detection_step is not None and 0 < verdict.detection_step < 12
    assert "missed_grasp" in verdict.summary()
    # The curves keep full precision: the combined detector compares them with its own
    # thresholds, and a rounded peak could cross a threshold the score itself does not.
    assert [max(verdict.divergence[c.camera]) for c in verdict.cameras] == [
        c.score for c in verdict.cameras
    ]


def test_uncalibrated_verifier_says_so():
    clip = {"front": moving_square_clip()}
    verdict = Verifier().verify("reach", prediction_of(clip), clip)
    assert not verdict.calibrated and not verdict.diverged


def test_a_few_black_frames_are_a_camera_fault_not_a_failed_grasp():
    predicted = {name: moving_square_clip(seed=i) for i, name in enumerate(("front", "wrist"))}
    observed = dict(predicted)
    observed["wrist"] = predicted["wrist"].copy()
    observed["wrist"][[4, 9]] = 0  # two dropped-to-black frames out of twelve
    thresholds = Thresholds("oracle", "ssim", 0.05, 3, values={"*": {"front": 0.1, "wrist": 0.1}})
    verdict = Verifier(thresholds).verify("grasp", prediction_of(predicted), observed)
    wrist = next(c for c in verdict.cameras if c.camera == "wrist")
    assert wrist.diverged and wrist.dark_fraction < 0.5 and wrist.explained_by_camera == 1.0
    assert verdict.failure == "occlusion_or_camera_fault"
