"""The pixel measure: 1 - SSIM of predicted and observed frames, per camera and step."""

from __future__ import annotations

import numpy as np

from agent.verify.base import LatentEncoder
from agent.verify.measures import ssim
from worldmodel.types import EventPrediction


class SsimMeasure:
    name = "ssim"
    needs_encoder = False
    ssim_curve = True

    def divergence(
        self,
        prediction: EventPrediction,
        observed: dict[str, np.ndarray],
        keyframes: dict[str, np.ndarray] | None,
        encoder: LatentEncoder | None,
    ) -> dict[str, np.ndarray]:
        if prediction.frames is None:
            raise ValueError(
                f"model {prediction.model!r} returned latents only; the ssim measure needs "
                "predicted frames (decode them or calibrate with --measure latent)"
            )
        curves = {}
        for camera, frames in observed.items():
            steps = min(len(frames), len(prediction.frames[camera]))
            curves[camera] = 1.0 - ssim(prediction.frames[camera][:steps], frames[:steps])
        return curves


def build() -> SsimMeasure:
    return SsimMeasure()
