"""Relative ("delta") actions: pose components taken relative to the pose at the event's start.

WALL-WM predicts actions relative to the robot state where the event begins, so "stay where you
are" is the zero prediction and a skill such as "lift" is the same target from every start. A
model config names the action components it predicts this way (`relative_action_dims`); each is
paired with the proprio component of the same index (the tabletop arm's proprio is
[x, y, z, roll, pitch, yaw, gripper opening], its action [x, y, z, roll, pitch, yaw, gripper]).
Angle differences are wrapped to (-pi, pi] both ways, so a yaw near +-pi does not read as a
full turn.

Anchored actions (a config's `anchor_actions`, with target inputs): for an event whose targets
say where its place is (`event_anchor`: the destination, else the object), the first arm's x, y
and z are taken relative to that place instead of the start, so every reach ends at the same
value (the block) and every place at the same height above its destination. Why: with the
target given as a point relative to the start, the tiny model's reach end points scattered
3.2 / 1.9 cm (x / y, one standard deviation) around the right places, without bias (slope 1.08 /
0.93 on 32 held-out reaches): the end point was a regression, refit for every scene. Anchored,
the end of a reach is a constant. An event without targets keeps the start as its origin.
A skill in a config's `anchor_keep_height` keeps its z from the start: a move carries at the
height its lift left it, so its end is start-level, not a height above the destination (which
varies 2.5 cm sd with the destination: bowl floor, plate, a block or a stack's top).
A skill in `anchor_in_place` (grasp, lift, release: they act where the gripper is) keeps the
start as its origin: anchored, a grasp after a reach that ended 1.5 cm off (within the reach's
3 cm) commanded the gripper 8 cm up, a start it had never seen (held-out probe, session 20).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np

from worldmodel.types import ARM_COMPONENTS, EventTarget

POSITION_DIMS = (0, 1, 2)  # the first arm's x, y, z: what an anchor replaces the start for

ANGLE_COMPONENTS = frozenset({"roll", "pitch", "yaw"})


def is_angle(dim: int) -> bool:
    """Whether action component `dim` (of any arm) is an angle."""
    return ARM_COMPONENTS[dim % len(ARM_COMPONENTS)] in ANGLE_COMPONENTS


def wrap_angle(values: np.ndarray) -> np.ndarray:
    """Angles mapped into (-pi, pi]."""
    return np.pi - np.mod(np.pi - values, 2 * np.pi)


class AnchorRules(Protocol):
    """The anchoring fields a model config and the event loader's config share (read-only:
    both are frozen dataclasses)."""

    @property
    def anchor_actions(self) -> bool: ...

    @property
    def anchor_keep_height(self) -> tuple[str, ...]: ...

    @property
    def anchor_in_place(self) -> tuple[str, ...]: ...


def anchor_for(
    rules: AnchorRules, targets: Sequence[EventTarget], skill: str | None
) -> np.ndarray | None:
    """The event's anchor under `rules` (`event_anchor`); None when they anchor nothing."""
    if not rules.anchor_actions:
        return None
    return event_anchor(targets, skill, rules.anchor_keep_height, rules.anchor_in_place)


def event_anchor(
    targets: Sequence[EventTarget],
    skill: str | None = None,
    keep_height: Sequence[str] = (),
    in_place: Sequence[str] = (),
) -> np.ndarray | None:
    """(3,) where an event's motion is anchored: its destination's table position, else its
    object's, with z NaN (taken from the start) for a skill in `keep_height`; None for a skill
    in `in_place` and when it has neither with a position."""
    if skill is not None and skill in in_place:
        return None
    for role in ("destination", "object"):
        for target in targets:
            if target.role == role and target.position is not None:
                anchor = np.asarray(target.position, np.float32).copy()
                if skill is not None and skill in keep_height:
                    anchor[2] = np.nan
                return anchor
    return None


def _origin(start: np.ndarray, anchor: np.ndarray | None) -> np.ndarray:
    """The start proprio with the first arm's position replaced by the anchor's given (not NaN)
    components, if any."""
    origin = np.array(start, dtype=np.float32, copy=True)
    if anchor is not None:
        for dim, value in zip(POSITION_DIMS, anchor, strict=True):
            if not np.isnan(value):
                origin[dim] = value
    return origin


def to_relative(
    actions: np.ndarray,
    start: np.ndarray,
    dims: Sequence[int],
    anchor: np.ndarray | None = None,
) -> np.ndarray:
    """(T, A) absolute actions -> the model's representation, given the (P,) start proprio and,
    for anchored actions, the event's anchor (see the module docstring)."""
    origin = _origin(start, anchor)
    out = np.array(actions, dtype=np.float32, copy=True)
    for dim in dims:
        delta = out[..., dim] - origin[dim]
        out[..., dim] = wrap_angle(delta) if is_angle(dim) else delta
    return out


def to_absolute(
    actions: np.ndarray,
    start: np.ndarray,
    dims: Sequence[int],
    anchor: np.ndarray | None = None,
) -> np.ndarray:
    """Inverse of `to_relative`: the model's actions -> absolute targets (angles wrapped)."""
    origin = _origin(start, anchor)
    out = np.array(actions, dtype=np.float32, copy=True)
    for dim in dims:
        value = out[..., dim] + origin[dim]
        out[..., dim] = wrap_angle(value) if is_angle(dim) else value
    return out
