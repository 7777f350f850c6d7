"""Synthetic but well-formed episodes for the data-layer tests (the simulator makes real ones)."""

import numpy as np
import pytest

from worldmodel.data.episode import EpisodeRecord, EventAnnotation
from worldmodel.types import CameraSpec

CAMERAS = (
    CameraSpec(
        "front",
        32,
        32,
        intrinsics=CameraSpec.pinhole_intrinsics(32, 32, 45.0),
        extrinsics=np.eye(4),
    ),
    CameraSpec("wrist", 32, 32, mounted_on="arm0"),
)


def make_episode(
    seed: int, steps: int = 24, task: str = "put the red block in the bowl"
) -> EpisodeRecord:
    rng = np.random.default_rng(seed)
    # Smooth images: a moving bright square on a gradient, so H.264 keeps them close.
    frames = {}
    for offset, camera in enumerate(CAMERAS):
        clip = np.zeros((steps, 32, 32, 3), np.uint8)
        clip[..., 2] = np.linspace(0, 200, 32, dtype=np.uint8)[None, None, :]
        for t in range(steps):
            x = (t + 3 * offset + seed) % 24
            clip[t, 8:16, x : x + 8, 0] = 255
        frames[camera.name] = clip
    actions = np.cumsum(rng.normal(0, 0.01, (steps, 7)), 0).astype(np.float32)
    half = steps // 2
    annotations = [
        EventAnnotation("task", task, 0, steps),
        EventAnnotation("subtask", "establish grasp", 0, half, "grasp", {"object": "red_block"}),
        EventAnnotation("subtask", "transport and release", half, steps),
        EventAnnotation("action", "grasp the red block", 0, half, "grasp", {"object": "red_block"}),
        EventAnnotation(
            "action",
            "place the red block in the bowl",
            half,
            steps,
            "place",
            {"object": "red_block", "target": "bowl"},
        ),
    ]
    return EpisodeRecord(
        task=task,
        cameras=CAMERAS,
        frames=frames,
        proprio=rng.normal(0, 1, (steps, 8)).astype(np.float32),
        actions=actions,
        annotations=annotations,
        fps=10,
        metadata={"seed": seed},
    )


@pytest.fixture
def episode_factory():
    return make_episode
