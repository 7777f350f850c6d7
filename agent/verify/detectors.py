"""The failure detectors a study compares on the same events.

- Divergence ("frame" for the ssim measure, "latent" for the latent one): the verifier's verdict,
  predicted against observed, per camera (agent/verify/verifier.py).
- Action consistency ("action"): how far K action sequences sampled from the executor for the
  event lie apart (EventPrediction.action_spread), as FAIL-Detect and FIPER score a policy's
  disagreement with itself. It needs no observation: a model unsure of what to do (an input far
  from its data) spreads its draws before anything moves; a fault that strikes mid-event is
  invisible to it unless the next event's input looks unusual.
- Combined ("combined"): flags when either of the two flags, each at its own threshold for
  alpha / 2 (see DetectorCalibration).
- Grip and scene ("grip", "scene"): the fingers closing on nothing in a holding skill, and a
  block the event left alone seen to move (agent/verify/physical.py); "agent" flags when the
  divergence, grip or scene detector does: the union the agent acts on.

The action score of an event is the peak of its spread, smoothed over the verifier's window, over
the executed steps; its thresholds are conformal per skill, fitted with calibration.py on the
same nominal events as the divergence thresholds, under one pseudo-camera (ACTION_KEY).
The agent acts on the divergence verdict and the grip and scene checks; the action and combined
detectors are recorded beside them, so every detector is scored on exactly the same episodes.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from agent.verify.calibration import CalibrationError, ScoreSample, Thresholds, fit_thresholds
from agent.verify.measures import moving_average
from agent.verify.verifier import Verdict

ACTION = "action"
COMBINED = "combined"
AGENT = "agent"  # what the agent acts on: the divergence verdict, the grip or the scene check
ACTION_KEY = "actions"  # the action detector's one "camera" in its Thresholds
ACTION_MEASURE = "action_spread"
# The action and combined thresholds lie beside the divergence ones: calibration.json ->
# calibration.detectors.json (the divergence file keeps its format for older readers).
DETECTORS_SUFFIX = ".detectors.json"


def divergence_name(measure: str) -> str:
    """The divergence detector's name in a study: the ssim measure compares frames."""
    return "frame" if measure == "ssim" else measure


def detectors_file(calibration: Path) -> Path:
    return calibration.with_suffix(DETECTORS_SUFFIX)


def first_above(curve: Sequence[float] | np.ndarray, threshold: float) -> int | None:
    """The first step whose value exceeds the threshold; None if none does."""
    above = np.flatnonzero(np.asarray(curve, dtype=np.float64) > threshold)
    return int(above[0]) if len(above) else None


def spread_curve(spread: np.ndarray, steps: int, window: int) -> np.ndarray:
    """The spread of the executed steps, smoothed like the divergence (a trailing mean)."""
    return moving_average(np.asarray(spread[:steps], dtype=np.float64), window)


@dataclass(frozen=True)
class DetectorCalibration:
    """Thresholds of the action and combined detectors for one model.

    The combined detector flags when its divergence half or its action half flags. Each half is
    fitted for alpha / 2 (its divergence half again split over the cameras by fit_thresholds),
    so by the union bound a nominal event is flagged with probability at most
    alpha / 2 + alpha / 2 = alpha, the same false-alarm budget as either detector alone.
    """

    alpha: float
    action: Thresholds  # the action detector alone, at alpha
    split_divergence: Thresholds  # the combined detector's divergence half, at alpha / 2
    split_action: Thresholds  # its action half, at alpha / 2

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(asdict(self), indent=2) + "\n")

    @classmethod
    def load(cls, path: Path, model: str | None = None) -> DetectorCalibration:
        try:
            values = json.loads(path.read_text())
            calibration = cls(
                alpha=values["alpha"],
                **{
                    k: Thresholds(**values[k])
                    for k in ("action", "split_divergence", "split_action")
                },
            )
        except (OSError, json.JSONDecodeError, KeyError, TypeError) as exc:
            raise CalibrationError(f"{path} is not a detectors calibration file: {exc}") from exc
        if model is not None and calibration.action.model != model:
            raise CalibrationError(
                f"{path} was calibrated for model {calibration.action.model!r}, not {model!r}; "
                "run `wallwm calibrate` with this model"
            )
        return calibration


def fit_detectors(
    divergence: list[ScoreSample],
    spreads: list[ScoreSample],
    model: str,
    measure: str,
    alpha: float,
    window: int,
) -> DetectorCalibration:
    """The action detector's thresholds at alpha and both halves of the combined one at
    alpha / 2, from the nominal events' divergence and spread scores."""
    return DetectorCalibration(
        alpha=alpha,
        action=fit_thresholds(spreads, model, ACTION_MEASURE, alpha, window),
        split_divergence=fit_thresholds(divergence, model, measure, alpha / 2, window),
        split_action=fit_thresholds(spreads, model, ACTION_MEASURE, alpha / 2, window),
    )


def _flag(step: int | None) -> dict[str, Any]:
    return {"flagged": step is not None, "step": step}


class Detectors:
    """Scores one verified event with every detector that can run on it."""

    def __init__(self, calibration: DetectorCalibration | None, window: int) -> None:
        self.calibration = calibration
        self.window = window

    def detect(
        self,
        verdict: Verdict,
        measure: str,
        spread: np.ndarray | None,
        steps: int,
        physical: Mapping[str, int | None] | None = None,
    ) -> dict[str, Any]:
        """{'spread': {'score', 'curve'} or None, 'flags': detector -> {'flagged', 'step'}}.

        The divergence detector is always there; the action and combined ones need the
        event's spread and a DetectorCalibration. `steps` is the number of executed steps.
        `physical` holds the grip and scene checks' first flagged step (agent/verify/
        physical.py); with them comes AGENT, the union the agent acts on."""
        divergence = verdict.detection_step if verdict.diverged else None
        flags = {divergence_name(measure): _flag(divergence)}
        if physical is not None:
            flags |= {name: _flag(step) for name, step in physical.items()}
            acted_on = [s for s in (divergence, *physical.values()) if s is not None]
            flags[AGENT] = _flag(min(acted_on) if acted_on else None)
        if spread is None or not len(spread) or steps < 1:
            return {"spread": None, "flags": flags}
        curve = spread_curve(spread, steps, self.window)
        scored = {"score": float(curve.max()), "curve": curve.round(5).tolist()}
        calibration = self.calibration
        if calibration is None:
            return {"spread": scored, "flags": flags}
        skill = verdict.skill
        flags[ACTION] = _flag(first_above(curve, calibration.action.threshold(skill, ACTION_KEY)))
        split = calibration.split_action.threshold(skill, ACTION_KEY)
        candidates = [
            first_above(curve, split),
            split_divergence(verdict, calibration.split_divergence),
        ]
        flagged = [step for step in candidates if step is not None]
        flags[COMBINED] = _flag(min(flagged) if flagged else None)
        return {"spread": scored, "flags": flags}


def split_divergence(verdict: Verdict, thresholds: Thresholds) -> int | None:
    """The first step any camera's smoothed divergence exceeds its (alpha / 2) threshold."""
    steps = [
        first_above(curve, thresholds.threshold(verdict.skill, camera))
        for camera, curve in verdict.divergence.items()
    ]
    return min((s for s in steps if s is not None), default=None)


def event_flags(record: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """detector -> {'flagged', 'step'} of a recorded event; an event recorded before the
    detectors existed has its verdict's flag under the measure's name."""
    detectors = record.get("detectors")
    if detectors is not None:
        return detectors["flags"]
    verdict = record["verdict"]
    step = verdict["detection_step"] if verdict["diverged"] else None
    return {divergence_name(verdict.get("measure", "ssim")): _flag(step)}
