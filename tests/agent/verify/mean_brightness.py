"""A measure an integrator might add: the difference of mean brightness per step, scaled to
0..1. Registered by test_registry.py only."""

from __future__ import annotations

import numpy as np


class MeanBrightness:
    name = "brightness"
    needs_encoder = False
    ssim_curve = False

    def divergence(self, prediction, observed, keyframes, encoder) -> dict[str, np.ndarray]:
        curves = {}
        for camera, clip in observed.items():
            predicted = prediction.frames[camera][: len(clip)].astype(float)
            steps = clip[: len(predicted)].astype(float)
            curves[camera] = np.abs(predicted.mean((1, 2, 3)) - steps.mean((1, 2, 3))) / 255.0
        return curves


def build() -> MeanBrightness:
    return MeanBrightness()
