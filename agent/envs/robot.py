"""The Robot protocol: what the simulator and any real robot implement, so they are interchangeable.

A robot checks every action against its `action_space` before it reaches motors or physics and
returns a validated Observation after every step.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np

from worldmodel.types import ActionSpace, CameraSpec, Observation


@runtime_checkable
class Robot(Protocol):
    """A robot that takes absolute end-effector targets and returns multi-camera observations."""

    @property
    def cameras(self) -> tuple[CameraSpec, ...]: ...

    @property
    def action_space(self) -> ActionSpace: ...

    def reset(self, seed: int) -> Observation:
        """Put the robot (and, for a simulator, the scene) in its start state."""
        ...

    def step(self, action: np.ndarray) -> Observation:
        """Apply one action (checked against `action_space`) for one control period."""
        ...

    def close(self) -> None:
        """Release cameras, connections and renderers."""
        ...
