"""Target marks: an event's targets drawn as heatmaps at the keyframe latent's resolution, and
the same targets as points for the action tower (`target_points`).

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

# Per role: the target's table position relative to the gripper at the event's start, in units of
# POINT_SCALE_M, and 1 where the event has that target with a position (0 and zeros where not).
POINT_FEATURES = 4
POINT_SCALE_M = 0.25  # about the reach of the tabletop's tasks, so the features are of order 1


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


def target_points(targets: Sequence[EventTarget], gripper: np.ndarray) -> np.ndarray:
    """(len(TARGET_ROLES) * POINT_FEATURES,) float32: the action tower's target points.

    Why points besides the heatmaps: the heatmaps reach the action tower only through video
    tokens that each cover about 22x33 cm of table (tiny preset), and fine-tuning on them left
    the reach 3.6 cm from the block at the median (RESULTS.md "Does the mark steer the reach?");
    the action tower predicts motion relative to the gripper's start (relative_action_dims), so
    the target's offset from that start is the input a reach needs, in the frame the actions
    are in. `gripper` is the end effector's (x, y, z) in the base frame at the event's start;
    positions come from perception (pixels and camera calibration) or, in training data, from
    the simulator at the event's first frame."""
    points = np.zeros((len(TARGET_ROLES), POINT_FEATURES), np.float32)
    for target in targets:
        if target.position is None:
            continue
        row = TARGET_ROLES.index(target.role)
        offset = np.asarray(target.position, np.float32) - np.asarray(gripper[:3], np.float32)
        points[row, :3] = offset / POINT_SCALE_M
        points[row, 3] = 1.0
    return points.reshape(-1)
