"""Episode videos: every event's predicted | observed frames tiled, events one after the other,
each camera's row named, and the event's targets marked where they were when it began.

Used by `wallwm replay --video` and by the study report of `wallwm eval`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from agent.episode import EpisodeStore, EpisodeStoreError
from worldmodel.data.video import write_mp4

LABEL_HEIGHT = 12  # pixels of the strip that names the event above its tiles
CAMERA_WIDTH = 36  # pixels of the strip left of each row that names its camera
GAP = 2  # pixels between tiles
# Target markers: a ring on the event's object, a cross on its destination.
MARKER_COLOURS = {"object": (0, 255, 255), "destination": (255, 0, 255)}
MARKER_RADIUS = 4


def _label(text: str, width: int, height: int = LABEL_HEIGHT) -> np.ndarray:
    """A dark strip with `text` in PIL's built-in bitmap font: uint8 (height, width, 3)."""
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (width, height), (24, 24, 24))
    ImageDraw.Draw(image).text((2, 0), text, fill=(235, 235, 235))
    return np.asarray(image)


def _marker(role: str, height: int, width: int, x: float, y: float) -> np.ndarray:
    """bool (height, width): a ring (object) or a cross (destination) at normalised (x, y)."""
    rows, cols = np.mgrid[0:height, 0:width]
    du, dv = cols + 0.5 - x * width, rows + 0.5 - y * height
    if role == "object":
        distance = np.hypot(du, dv)
        return (distance >= MARKER_RADIUS - 0.75) & (distance <= MARKER_RADIUS + 0.25)
    arm = (np.abs(du) <= MARKER_RADIUS + 0.5) & (np.abs(dv) <= MARKER_RADIUS + 0.5)
    return arm & ((np.abs(du - dv) < 0.75) | (np.abs(du + dv) < 0.75))


def draw_targets(clip: np.ndarray, camera: str, targets: list[dict[str, Any]]) -> np.ndarray:
    """A copy of `clip` (T, H, W, 3) with each target's point in `camera` marked on every frame
    (the points are where things were when the event began)."""
    out = clip.copy()
    height, width = clip.shape[1:3]
    for target in targets:
        for point in target.get("points", []):
            if point["camera"] == camera:
                mask = _marker(target["role"], height, width, point["x"], point["y"])
                out[:, mask] = MARKER_COLOURS.get(target["role"], (255, 255, 255))
    return out


def _legend(targets: list[dict[str, Any]]) -> str:
    marks = {"object": "o", "destination": "+"}
    return "  ".join(f"{marks.get(t['role'], '?')} {t['name']}" for t in targets)


def event_tiles(store: EpisodeStore, index: int, plan: dict[str, Any]) -> np.ndarray | None:
    """One event as uint8 (T, H, W, 3) frames: a strip naming the event and its targets, a
    strip naming the columns, then a row per camera (named on its left) of predicted |
    observed, the targets marked on both, the shorter clip held on its last frame, a missing
    one black. None if nothing was recorded."""
    predicted, observed = store.frames(index, "predicted"), store.frames(index, "observed")
    cameras = sorted(set(predicted) | set(observed))
    if not cameras:
        return None
    clips = [clip for clip in (*predicted.values(), *observed.values()) if len(clip)]
    length = max(len(clip) for clip in clips)
    height, width = clips[0].shape[1:3]
    targets = list(plan.get("targets") or [])

    def fitted(clip: np.ndarray | None, camera: str) -> np.ndarray:
        if clip is None or not len(clip):
            return np.zeros((length, height, width, 3), np.uint8)
        tail = np.repeat(clip[-1:], length - len(clip), axis=0)
        return draw_targets(np.concatenate([clip, tail])[:, :height, :width], camera, targets)

    gap = np.zeros((length, height, GAP, 3), np.uint8)
    rows = []
    for camera in cameras:
        name = np.broadcast_to(
            _label(camera, CAMERA_WIDTH, height), (length, height, CAMERA_WIDTH, 3)
        )
        pair = [fitted(predicted.get(camera), camera), gap, fitted(observed.get(camera), camera)]
        rows.append(np.concatenate([name, *pair], axis=2))  # (T, H, CAMERA_WIDTH + 2W + GAP, 3)
    row_gap = np.zeros((length, GAP, rows[0].shape[2], 3), np.uint8)
    stacked = [rows[0]]
    for row in rows[1:]:
        stacked += [row_gap, row]
    tiles = np.concatenate(stacked, axis=1)  # (T, C * H + gaps, CAMERA_WIDTH + 2W + GAP, 3)
    columns = np.concatenate(
        [
            _label("", CAMERA_WIDTH),
            _label("predicted", width),
            _label("", GAP),
            _label("observed", width),
        ],
        axis=1,
    )
    legend = _legend(targets)
    title = f"{index}: {plan['next_event']}" + (f"  ({legend})" if legend else "")
    header = np.concatenate([_label(title, tiles.shape[2]), columns])
    return np.concatenate([np.broadcast_to(header, (length, *header.shape)), tiles], axis=1)


def write_video(store: EpisodeStore, path: Path) -> int:
    """Every event's tiles one after the other into `path`; returns the frames written."""
    clips = []
    for recorded in store.events:
        tiles = event_tiles(store, recorded.index, recorded.record["plan"])
        if tiles is not None:
            clips.append(tiles)
    if not clips:
        raise EpisodeStoreError(f"{store.root} has no recorded frames to put in a video")
    height = max(clip.shape[1] for clip in clips)
    width = max(clip.shape[2] for clip in clips)
    padded = [
        np.pad(clip, ((0, 0), (0, height - clip.shape[1]), (0, width - clip.shape[2]), (0, 0)))
        for clip in clips
    ]
    frames = np.concatenate(padded)
    frames = frames[:, : height - height % 2, : width - width % 2]  # H.264 needs even sizes
    write_mp4(path, np.ascontiguousarray(frames), store.fps)
    return len(frames)
