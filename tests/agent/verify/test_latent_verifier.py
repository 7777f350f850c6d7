"""The latent measure: observed frames encoded by the model's own VAE against its predictions."""

import dataclasses
import math
import shutil

import numpy as np
import pytest

from agent.envs.tabletop import SimConfig, TabletopSim
from agent.run_spec import RunSpec
from agent.session import build_verifier
from agent.verify.calibration import SHIPPED_FILE, CalibrationError, Thresholds
from agent.verify.verifier import Verifier
from worldmodel.executor import EventModeExecutor
from worldmodel.locate import find_checkpoints
from worldmodel.types import EventRequest


@pytest.fixture(scope="module")
def event():
    """A learned prediction, and the frames the simulator recorded executing its actions."""
    folder = next(p for p in find_checkpoints() if p.name == "tiny")
    executor = EventModeExecutor.from_checkpoint(folder)
    sim = TabletopSim(SimConfig(width=64, height=64, clip_actions=True))
    observation = sim.reset(3)
    prediction = executor.predict(EventRequest("lift the red block", observation, 8, seed=0))
    recorded = {name: [] for name in observation.camera_names}
    for action in prediction.actions:
        for name, image in sim.step(sim.action_space.clip(action)).images.items():
            recorded[name].append(image)
    sim.close()
    recorded = {name: np.stack(images) for name, images in recorded.items()}
    return executor, dict(observation.images), prediction, recorded


def test_latent_divergence_is_zero_for_a_perfect_prediction_and_grows_with_the_mismatch(event):
    executor, keyframes, prediction, recorded = event
    # A prediction whose latents are exactly those of what then happened.
    perfect = dataclasses.replace(prediction, latents=executor.encode_observed(keyframes, recorded))
    thresholds = Thresholds("m", "latent", 0.05, 3, values={"*": dict.fromkeys(recorded, 0.05)})
    verifier = Verifier(thresholds, encoder=executor)
    same = verifier.verify("lift", perfect, recorded, keyframes)
    assert not same.diverged and max(report.score for report in same.cameras) < 1e-6
    assert all(len(curve) == 8 for curve in same.divergence.values())

    # One camera goes black: a camera fault, not a failed lift.
    dark = dict(recorded, wrist=np.zeros_like(recorded["wrist"]))
    verdict = verifier.verify("lift", perfect, dark, keyframes)
    assert [report.camera for report in verdict.cameras if report.diverged] == ["wrist"]
    assert verdict.failure == "occlusion_or_camera_fault"

    # Every camera sees the scene displaced: a physical failure.
    shifted = {name: np.roll(clip, 16, axis=2) for name, clip in recorded.items()}
    verdict = verifier.verify("lift", perfect, shifted, keyframes)
    assert verdict.diverged and verdict.failure == "missed_grasp"
    assert verdict.detection_step == 0


def test_no_decode_needed(event):
    executor, keyframes, prediction, recorded = event
    latents_only = dataclasses.replace(prediction, frames=None)
    verdict = Verifier(measure="latent", encoder=executor).verify(
        "lift", latents_only, recorded, keyframes
    )
    assert all(math.isnan(report.mean_ssim) for report in verdict.cameras)
    with pytest.raises(ValueError, match="needs predicted frames"):
        Verifier().verify("lift", latents_only, recorded)


def test_latent_measure_needs_an_encoder():
    with pytest.raises(CalibrationError, match="needs the world model's VAE"):
        Verifier(measure="latent")


def test_thresholds_shipped_in_the_checkpoint_are_used_unless_the_run_names_its_own(tmp_path):
    shipped = next(p for p in find_checkpoints() if p.name == "tiny")
    folder = tmp_path / "tiny"
    shutil.copytree(shipped, folder)
    executor = EventModeExecutor.from_checkpoint(folder)
    spec = RunSpec("put the red block in the bowl")
    assert build_verifier(spec, executor).thresholds is None  # none shipped: uncalibrated
    cameras = dict.fromkeys(("front", "side", "wrist"), 0.25)
    Thresholds(executor.name, "latent", 0.05, 3, {"*": cameras}).save(folder / SHIPPED_FILE)
    assert build_verifier(spec, executor).thresholds.threshold("reach", "side") == 0.25
    own = tmp_path / "own.json"
    Thresholds(executor.name, "latent", 0.05, 3, {"*": dict(cameras, side=0.5)}).save(own)
    chosen = build_verifier(dataclasses.replace(spec, calibration=str(own)), executor)
    assert chosen.thresholds.threshold("reach", "side") == 0.5
