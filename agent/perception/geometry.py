"""Pinhole geometry of calibrated cameras: pixel rays, projection, triangulation.

Pixel coordinates follow `worldmodel.types`: OpenCV axes, the centre of pixel (row i, column j)
at (u, v) = (j + 0.5, i + 0.5); `CameraSpec.pinhole_intrinsics` puts the principal point at
(W / 2, H / 2) on that convention. Normalised image coordinates divide by the image size:
(u / W, v / H) in [0, 1] x [0, 1], (0, 0) the top-left corner of the image.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np


@dataclass(frozen=True)
class View:
    """One camera at one instant: its intrinsics and its pose in the base frame."""

    name: str
    width: int
    height: int
    intrinsics: np.ndarray  # (3, 3) pixels
    pose: np.ndarray  # (4, 4) base_from_camera, OpenCV axes

    @property
    def origin(self) -> np.ndarray:
        return self.pose[:3, 3]

    @cached_property
    def _pixel_to_base(self) -> np.ndarray:
        """(3, 3) rotation times inverse intrinsics: pixel (u, v, 1) -> base-frame direction."""
        return self.pose[:3, :3] @ np.linalg.inv(self.intrinsics)

    def ray(self, u: float, v: float) -> np.ndarray:
        """Unit direction in the base frame of the ray through pixel point (u, v)."""
        direction = self._pixel_to_base @ np.array([u, v, 1.0])
        return direction / np.linalg.norm(direction)

    def project(self, point: np.ndarray) -> tuple[float, float] | None:
        """Pixel point (u, v) of a base-frame point; None behind the camera."""
        local = self.pose[:3, :3].T @ (np.asarray(point, np.float64) - self.origin)
        if local[2] <= 1e-6:
            return None
        pixel = self.intrinsics @ (local / local[2])
        return float(pixel[0]), float(pixel[1])

    def contains(self, u: float, v: float) -> bool:
        return 0.0 <= u <= self.width and 0.0 <= v <= self.height


def triangulate(
    origins: list[np.ndarray], directions: list[np.ndarray], weights: list[float]
) -> tuple[np.ndarray, float]:
    """The point nearest to several rays in weighted least squares, and the largest distance
    from it to a ray (metres): a large one means the sightings do not belong together."""
    lhs = np.zeros((3, 3))
    rhs = np.zeros(3)
    for origin, direction, weight in zip(origins, directions, weights, strict=True):
        across = np.eye(3) - np.outer(direction, direction)  # projects onto the ray's normal
        lhs += weight * across
        rhs += weight * across @ origin
    point = np.linalg.solve(lhs, rhs)
    spread = max(
        float(np.linalg.norm((np.eye(3) - np.outer(d, d)) @ (point - o)))
        for o, d in zip(origins, directions, strict=True)
    )
    return point, spread


def on_plane_z(origin: np.ndarray, direction: np.ndarray, z: float) -> np.ndarray | None:
    """Where a ray meets the horizontal plane at height z; None if it never does."""
    if abs(direction[2]) < 1e-9:
        return None
    distance = (z - origin[2]) / direction[2]
    return None if distance <= 0 else origin + distance * direction


def on_plane_y(origins: np.ndarray, directions: np.ndarray, y: float) -> np.ndarray:
    """(N, 3) points where N rays from one origin meet the vertical plane at y (NaN if never)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        distance = (y - origins[1]) / directions[:, 1]
    distance = np.where(distance > 0, distance, np.nan)
    return origins[None, :] + distance[:, None] * directions


def pixel_rays(view: View, us: np.ndarray, vs: np.ndarray) -> np.ndarray:
    """(N, 3) unit base-frame directions of the rays through pixel points (us, vs)."""
    directions = (view._pixel_to_base @ np.stack([us, vs, np.ones_like(us)])).T  # (N, 3)
    return directions / np.linalg.norm(directions, axis=1, keepdims=True)
