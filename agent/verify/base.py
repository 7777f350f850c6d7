"""The divergence-measure contract: how far what the cameras recorded is from the prediction.

A measure is one file in agent/verify/ with a `build() -> Measure` function, and one line in
agent/verify/registry.py.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from worldmodel.types import EventPrediction


class LatentEncoder(Protocol):
    """Encodes what the cameras recorded the way the world model's VAE encodes its predictions
    (EventModeExecutor.encode_observed)."""

    def encode_observed(
        self, keyframes: dict[str, np.ndarray], observed: dict[str, np.ndarray]
    ) -> dict[str, np.ndarray]: ...


class Measure(Protocol):
    """camera -> raw divergence per executed step: 0 for a perfect prediction, growing with the
    mismatch. The verifier smooths it and compares it with the calibrated thresholds."""

    name: str
    needs_encoder: bool  # compares in the world model's latent space (a learned executor only)
    ssim_curve: bool  # the divergence is 1 - SSIM, so the mean SSIM comes with it

    def divergence(
        self,
        prediction: EventPrediction,
        observed: dict[str, np.ndarray],
        keyframes: dict[str, np.ndarray] | None,
        encoder: LatentEncoder | None,
    ) -> dict[str, np.ndarray]: ...
