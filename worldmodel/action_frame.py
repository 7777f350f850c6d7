"""Relative ("delta") actions: pose components taken relative to the pose at the event's start.

WALL-WM predicts actions relative to the robot state where the event begins, so "stay where you
are" is the zero prediction and a skill such as "lift" is the same target from every start. A
model config names the action components it predicts this way (`relative_action_dims`); each is
paired with the proprio component of the same index (the tabletop arm's proprio is
[x, y, z, roll, pitch, yaw, gripper opening], its action [x, y, z, roll, pitch, yaw, gripper]).
Angle differences are wrapped to (-pi, pi] both ways, so a yaw near +-pi does not read as a
full turn.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from worldmodel.types import ARM_COMPONENTS

ANGLE_COMPONENTS = frozenset({"roll", "pitch", "yaw"})


def is_angle(dim: int) -> bool:
    """Whether action component `dim` (of any arm) is an angle."""
    return ARM_COMPONENTS[dim % len(ARM_COMPONENTS)] in ANGLE_COMPONENTS


def wrap_angle(values: np.ndarray) -> np.ndarray:
    """Angles mapped into (-pi, pi]."""
    return np.pi - np.mod(np.pi - values, 2 * np.pi)


def to_relative(actions: np.ndarray, start: np.ndarray, dims: Sequence[int]) -> np.ndarray:
    """(T, A) absolute actions -> the model's representation, given the (P,) start proprio."""
    out = np.array(actions, dtype=np.float32, copy=True)
    for dim in dims:
        delta = out[..., dim] - start[dim]
        out[..., dim] = wrap_angle(delta) if is_angle(dim) else delta
    return out


def to_absolute(actions: np.ndarray, start: np.ndarray, dims: Sequence[int]) -> np.ndarray:
    """Inverse of `to_relative`: the model's actions -> absolute targets (angles wrapped)."""
    out = np.array(actions, dtype=np.float32, copy=True)
    for dim in dims:
        value = out[..., dim] + start[dim]
        out[..., dim] = wrap_angle(value) if is_angle(dim) else value
    return out
