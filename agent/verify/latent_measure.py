"""The latent measure: the observed clip encoded by the world model's VAE against the predicted
latents, so nothing is decoded (works with an executor that skips the decode)."""

from __future__ import annotations

import numpy as np

from agent.verify.base import LatentEncoder
from agent.verify.measures import latent_divergence
from worldmodel.types import EventPrediction


class LatentMeasure:
    name = "latent"
    needs_encoder = True
    ssim_curve = False

    def divergence(
        self,
        prediction: EventPrediction,
        observed: dict[str, np.ndarray],
        keyframes: dict[str, np.ndarray] | None,
        encoder: LatentEncoder | None,
    ) -> dict[str, np.ndarray]:
        if prediction.latents is None or prediction.latent_index is None or keyframes is None:
            raise ValueError(
                f"the latent measure needs predicted latents (model {prediction.model!r} gave "
                f"{'none' if prediction.latents is None else 'no step alignment'}) and the "
                "event's keyframes"
            )
        if encoder is None:
            raise ValueError("the latent measure needs the world model's VAE to encode")
        encoded = encoder.encode_observed(keyframes, observed)
        return {
            camera: latent_divergence(
                prediction.latents[camera], encoded[camera], prediction.latent_index[: len(clip)]
            )
            for camera, clip in observed.items()
        }


def build() -> LatentMeasure:
    return LatentMeasure()
