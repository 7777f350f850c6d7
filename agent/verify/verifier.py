"""The verifier: did the world go the way the world model predicted?

For each camera it scores every control step of the event (predicted vs observed), smooths the
score over a short trailing window so one noisy frame does not trigger, and compares the peak
with the calibrated threshold of (skill, camera). Two measures: "ssim" (1 - SSIM of predicted
and observed frames) and "latent" (the observed clip encoded by the world model's VAE against
the predicted latents: nothing is decoded, so it works with an executor that skips the decode).
Per-camera results let a frozen or blacked-out camera be told apart from a failed grasp: a camera
fault shows on one camera whose frames stop changing or go dark; a physical failure shows on the
cameras that see the object.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from agent.verify.base import LatentEncoder
from agent.verify.calibration import CalibrationError, Thresholds
from agent.verify.measures import dark_steps, frozen_steps, moving_average, psnr, ssim
from agent.verify.registry import load_measure
from worldmodel.types import EventPrediction

# Used only when no calibration exists (the verifier then says it is uncalibrated).
UNCALIBRATED_THRESHOLD = 0.5
# A camera whose steps above the threshold mostly follow frozen or dark frames has a camera fault.
CAMERA_FAULT_FRACTION = 0.5
# The physical failure a divergence most likely means, by the skill that was running.
FAILURE_BY_SKILL = {
    "reach": "object_displaced",
    "grasp": "missed_grasp",
    "regrasp": "missed_grasp",
    "lift": "missed_grasp",
    "move": "grasp_slip",
    "place": "grasp_slip",
}


@dataclass(frozen=True)
class CameraReport:
    """One camera's verdict over one event (small and JSON-friendly)."""

    camera: str
    score: float  # peak smoothed divergence (1 - SSIM, or the latent measure)
    threshold: float
    diverged: bool
    first_step: int | None  # first step whose smoothed divergence exceeded the threshold
    mean_ssim: float  # NaN when the prediction has no frames (latent measure, no decode)
    mean_psnr: float
    frozen_fraction: float
    dark_fraction: float
    # Of the steps above the threshold, the share explained by a frozen or dark frame within the
    # smoothing window: a few black frames can cause the whole divergence of an event.
    explained_by_camera: float

    @property
    def camera_fault(self) -> bool:
        return self.diverged and self.explained_by_camera >= CAMERA_FAULT_FRACTION


@dataclass(frozen=True)
class Verdict:
    """The verdict on one event, with the evidence behind it."""

    skill: str
    calibrated: bool
    diverged: bool
    failure: str  # a class of agent.state's failure taxonomy
    detection_step: int | None
    cameras: tuple[CameraReport, ...]
    # camera -> smoothed divergence per step, full precision: the combined detector compares it
    # with other thresholds (agent/verify/detectors.py); the episode store keeps it rounded.
    divergence: dict[str, list[float]]

    def summary(self) -> str:
        """One line for the planner's prompt and the progress display."""
        if not self.diverged:
            return "the event went as predicted on every camera"
        worst = max(self.cameras, key=lambda c: c.score - c.threshold)
        where = ", ".join(c.camera for c in self.cameras if c.diverged)
        return (
            f"divergence on {where} from step {self.detection_step} (worst {worst.camera}: "
            f"{worst.score:.3f} > {worst.threshold:.3f}); likely {self.failure}"
        )


class Verifier:
    """Compares an EventPrediction with what the cameras actually recorded."""

    def __init__(
        self,
        thresholds: Thresholds | None = None,
        window: int = 3,
        measure: str = "ssim",
        encoder: LatentEncoder | None = None,
    ) -> None:
        self.thresholds = thresholds
        self.window = thresholds.window if thresholds else window
        self.measure = thresholds.measure if thresholds else measure
        try:
            self.divergence = load_measure(self.measure)
        except ValueError as exc:
            raise CalibrationError(str(exc)) from None
        if self.divergence.needs_encoder and encoder is None:
            raise CalibrationError(
                "the latent measure needs the world model's VAE: use a learned executor "
                "(the simulator oracle predicts frames, not latents), or the ssim measure"
            )
        self.encoder = encoder

    @property
    def calibrated(self) -> bool:
        return self.thresholds is not None

    def verify(
        self,
        skill: str,
        prediction: EventPrediction,
        observed: dict[str, np.ndarray],
        keyframes: dict[str, np.ndarray] | None = None,
    ) -> Verdict:
        """Score the executed steps (observed may be shorter than predicted if stopped early).

        `keyframes` (camera -> the image at the event's start) is needed by the latent measure."""
        predicted_frames = prediction.frames or {}
        for camera in observed:
            if camera not in predicted_frames and camera not in (prediction.latents or {}):
                raise ValueError(f"camera {camera!r} was observed but not predicted")
        raw = self.divergence.divergence(prediction, observed, keyframes, self.encoder)
        reports, curves = [], {}
        for camera, frames in observed.items():
            divergence = raw[camera]
            steps = len(divergence)
            observed_clip = frames[:steps]
            predicted_clip = predicted_frames.get(camera)
            curve = moving_average(divergence, self.window)
            threshold = (
                self.thresholds.threshold(skill, camera)
                if self.thresholds
                else UNCALIBRATED_THRESHOLD
            )
            above = np.flatnonzero(curve > threshold)
            # A camera fault is the camera standing still or going dark where the prediction did
            # not: a scene that is really static is not a frozen camera.
            frozen = frozen_steps(observed_clip)
            dark = dark_steps(observed_clip)
            if predicted_clip is not None:
                predicted_clip = predicted_clip[:steps]
                frozen &= ~frozen_steps(predicted_clip)
                dark &= ~dark_steps(predicted_clip)
            # a bad frame at step t lifts the smoothed curve at steps t .. t + window - 1
            near_bad = np.convolve(frozen | dark, np.ones(self.window), mode="full")[:steps] > 0
            if self.divergence.ssim_curve:  # the mean SSIM comes with the divergence
                mean_ssim = float(1.0 - divergence.mean())
                mean_psnr = float(psnr(predicted_clip, observed_clip).mean())
            elif predicted_clip is not None:
                mean_ssim = float(ssim(predicted_clip, observed_clip).mean())
                mean_psnr = float(psnr(predicted_clip, observed_clip).mean())
            else:
                mean_ssim = mean_psnr = float("nan")
            reports.append(
                CameraReport(
                    camera=camera,
                    score=float(curve.max()),
                    threshold=float(threshold),
                    diverged=bool(len(above)),
                    first_step=int(above[0]) if len(above) else None,
                    mean_ssim=mean_ssim,
                    mean_psnr=mean_psnr,
                    frozen_fraction=float(frozen.mean()),
                    dark_fraction=float(dark.mean()),
                    explained_by_camera=float(near_bad[above].mean()) if len(above) else 0.0,
                )
            )
            curves[camera] = curve.tolist()
        diverged = [report for report in reports if report.diverged]
        if not diverged:
            failure = "none"
        elif all(report.camera_fault for report in diverged):
            failure = "occlusion_or_camera_fault"
        else:
            failure = FAILURE_BY_SKILL.get(skill, "other")
        return Verdict(
            skill=skill,
            calibrated=self.calibrated,
            diverged=bool(diverged),
            failure=failure,
            detection_step=min(
                (r.first_step for r in diverged if r.first_step is not None), default=None
            ),
            cameras=tuple(reports),
            divergence=curves,
        )
