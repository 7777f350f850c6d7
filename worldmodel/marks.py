"""Target marks: an event's targets drawn as heatmaps at the keyframe latent's resolution.

A grounded event says where its object (and destination) is in each camera, as a point in
normalised image coordinates (worldmodel.types.EventTarget). The model takes those points as
mark channels beside the keyframe latents: channel r of view v is a Gaussian of
`mark_sigma` latent pixels (peak 1) centred on the point of role TARGET_ROLES[r] in camera v,
and zero where that camera has no point or the event no such target. A request without targets
therefore gives all-zero marks, which the zero-initialised mark embedding turns into nothing.

Why heatmaps rather than point tokens: a heatmap lies on the same grid as the keyframe latent,
so the patch embedding puts the mark into the very token that shows the object, with its
sub-token offset in which of the patch's pixels are lit; the tower's attention and RoPE then
treat it like image content, and the action tower already reads where a token lies. A point
token would need its own coordinate encoding matched to the tokens' positions and a new
attention path, and cannot start as an exact no-op the way a zero-initialised embedding does.
(Measured before this code: a linear probe reads a Gaussian mark folded into the tiny model's
4x4 tokens back to 1.4 cm; ../shared/research/reach-diagnosis.md.)

Tried and not kept: an auxiliary localisation loss (a soft-argmax head on the last video
block's keyframe tokens finding the marks, weight 0.1, training only). Fine-tuning the shipped
tiny on reach for 1000 action-stage steps with and without it gave the same figures on 64
held-out reaches (benchmarks/bench_grounding.py, true targets): median end-point error 4.9 cm
against 5.1, the marked block nearest 89% against 89%, and with the mark moved to another
block that block nearest 36% against 38%.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from worldmodel.types import TARGET_ROLES, EventTarget


def render_marks(
    targets: Sequence[EventTarget],
    cameras: Sequence[str],
    size: tuple[int, int],
    sigma: float,
) -> np.ndarray:
    """(V, len(TARGET_ROLES), h, w) float32 heatmaps of `targets` for `cameras` in that order.

    The point (x, y) of a camera of size (H, W) maps to latent position (x w, y h) in pixel
    units, where latent pixel (i, j) has its centre at (j + 0.5, i + 0.5): the same convention
    as the image's (worldmodel.types), so the mark sits over the pixels that show the target."""
    height, width = size
    marks = np.zeros((len(cameras), len(TARGET_ROLES), height, width), np.float32)
    rows = np.arange(height, dtype=np.float32) + 0.5  # (h,) latent pixel centres
    columns = np.arange(width, dtype=np.float32) + 0.5  # (w,)
    for target in targets:
        channel = TARGET_ROLES.index(target.role)
        for view, camera in enumerate(cameras):
            point = target.points.get(camera)
            if point is None:
                continue
            x, y = point[0] * width, point[1] * height
            row = np.exp(-((rows - y) ** 2) / (2 * sigma**2))  # (h,)
            column = np.exp(-((columns - x) ** 2) / (2 * sigma**2))  # (w,)
            marks[view, channel] = row[:, None] * column[None, :]
    return marks
