"""Conformal thresholds on divergence scores, per skill and camera, for a chosen false-alarm rate.

Split conformal prediction: with n nominal scores s_1..s_n of one (skill, camera), the threshold
is the ceil((n + 1)(1 - a)) smallest score, so a new nominal score exceeds it with probability
at most a. An event is flagged when any of its C cameras exceeds its threshold, so each camera
gets a = alpha / C (Bonferroni) and the event-level false-alarm rate stays at most alpha.
Thresholds are saved with the name of the model whose predictions they were fitted on: a
threshold of one checkpoint means nothing for another.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path

from worldmodel.errors import WallwmError

POOLED = "*"  # the skill key of thresholds pooled over every skill (fallback for rare skills)
# Thresholds that ship inside a checkpoint folder, used when a run names no calibration:
# `wallwm calibrate --executor FOLDER --save FOLDER/calibration.json`.
SHIPPED_FILE = "calibration.json"


class CalibrationError(WallwmError):
    """Thresholds are missing, belong to another model, or cannot be fitted."""


@dataclass(frozen=True)
class ScoreSample:
    """One nominal event's divergence score on one camera."""

    skill: str
    camera: str
    score: float


def conformal_quantile(scores: list[float], alpha: float) -> float:
    """The smallest threshold exceeded by a new exchangeable score with probability <= alpha.

    With too few scores for that guarantee (ceil((n + 1)(1 - alpha)) > n) the largest score is
    returned and the guarantee is weaker; `Thresholds.counts` lets a reader see that.
    """
    if not scores:
        raise CalibrationError("no scores to calibrate on")
    ordered = sorted(scores)
    rank = math.ceil((len(ordered) + 1) * (1 - alpha))
    return ordered[min(rank, len(ordered)) - 1]


@dataclass
class Thresholds:
    """Per (skill, camera) thresholds on one divergence measure, for one model."""

    model: str
    measure: str
    alpha: float
    window: int
    values: dict[str, dict[str, float]] = field(default_factory=dict)
    counts: dict[str, dict[str, int]] = field(default_factory=dict)

    def threshold(self, skill: str, camera: str) -> float:
        """The skill's own threshold, else the pooled one; raises if the camera is unknown."""
        for key in (skill, POOLED):
            if camera in self.values.get(key, {}):
                return self.values[key][camera]
        raise CalibrationError(
            f"no threshold for camera {camera!r}: calibrated cameras are "
            f"{sorted(self.values.get(POOLED, {}))}; run `wallwm calibrate` for this robot"
        )

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(asdict(self), indent=2) + "\n")

    @classmethod
    def load(cls, path: Path, model: str | None = None) -> Thresholds:
        if not path.exists():
            raise CalibrationError(f"no calibration file {path}; run `wallwm calibrate`")
        try:
            thresholds = cls(**json.loads(path.read_text()))
        except (json.JSONDecodeError, TypeError) as exc:
            raise CalibrationError(f"{path} is not a calibration file: {exc}") from exc
        if model is not None and thresholds.model != model:
            raise CalibrationError(
                f"{path} was calibrated for model {thresholds.model!r}, not {model!r}; "
                "run `wallwm calibrate` with this model"
            )
        return thresholds


def fit_thresholds(
    samples: list[ScoreSample],
    model: str,
    measure: str,
    alpha: float,
    window: int,
    min_samples: int = 20,
) -> Thresholds:
    """Fit thresholds per (skill, camera) with at least `min_samples` scores, and pooled ones."""
    if not 0 < alpha < 1:
        raise CalibrationError(f"alpha is {alpha}; expected a false-alarm rate in (0, 1)")
    by_key: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for sample in samples:
        by_key[sample.skill][sample.camera].append(sample.score)
        by_key[POOLED][sample.camera].append(sample.score)
    if not by_key:
        raise CalibrationError("no nominal events were scored; nothing to calibrate")
    cameras = len(by_key[POOLED])
    per_camera_alpha = alpha / cameras
    thresholds = Thresholds(model=model, measure=measure, alpha=alpha, window=window)
    for skill, per_camera in by_key.items():
        for camera, scores in per_camera.items():
            if skill != POOLED and len(scores) < min_samples:
                continue
            thresholds.values.setdefault(skill, {})[camera] = conformal_quantile(
                scores, per_camera_alpha
            )
            thresholds.counts.setdefault(skill, {})[camera] = len(scores)
    return thresholds


def shipped_calibration(checkpoint: Path | None) -> Path | None:
    """The thresholds shipped in a learned executor's checkpoint folder, if it has them."""
    if checkpoint is None or not (checkpoint / SHIPPED_FILE).is_file():
        return None
    return checkpoint / SHIPPED_FILE
