"""Camera views tiled side by side for the episode videos (`wallwm sim --tiled`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np


def tile(frames: Mapping[str, np.ndarray], order: Sequence[str]) -> np.ndarray:
    """Cameras side by side: (T, H, W * cameras, 3)."""
    return np.concatenate([frames[name] for name in order], axis=2)
