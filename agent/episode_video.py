"""Episode videos: every event's predicted | observed frames tiled, events one after the other.

Used by `wallwm replay --video` and by the study report of `wallwm eval`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from agent.episode import EpisodeStore, EpisodeStoreError
from worldmodel.data.video import write_mp4

LABEL_HEIGHT = 12  # pixels of the strip that names the event above its tiles
GAP = 2  # pixels between tiles


def _label(text: str, width: int) -> np.ndarray:
    """A dark strip with `text` in PIL's built-in bitmap font: uint8 (LABEL_HEIGHT, width, 3)."""
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (width, LABEL_HEIGHT), (24, 24, 24))
    ImageDraw.Draw(image).text((2, 0), text, fill=(235, 235, 235))
    return np.asarray(image)


def event_tiles(store: EpisodeStore, index: int, caption: str) -> np.ndarray | None:
    """One event as uint8 (T, H, W, 3) frames: a row per camera of predicted | observed, the
    shorter clip held on its last frame, a missing one black. None if nothing was recorded."""
    predicted, observed = store.frames(index, "predicted"), store.frames(index, "observed")
    cameras = sorted(set(predicted) | set(observed))
    if not cameras:
        return None
    clips = [clip for clip in (*predicted.values(), *observed.values()) if len(clip)]
    length = max(len(clip) for clip in clips)
    height, width = clips[0].shape[1:3]

    def fitted(clip: np.ndarray | None) -> np.ndarray:
        if clip is None or not len(clip):
            return np.zeros((length, height, width, 3), np.uint8)
        tail = np.repeat(clip[-1:], length - len(clip), axis=0)
        return np.concatenate([clip, tail])[:, :height, :width]

    gap = np.zeros((length, height, GAP, 3), np.uint8)
    rows = [
        np.concatenate([fitted(predicted.get(c)), gap, fitted(observed.get(c))], axis=2)
        for c in cameras
    ]  # each (T, H, 2W + GAP, 3)
    row_gap = np.zeros((length, GAP, rows[0].shape[2], 3), np.uint8)
    stacked = [rows[0]]
    for row in rows[1:]:
        stacked += [row_gap, row]
    tiles = np.concatenate(stacked, axis=1)  # (T, C * H + gaps, 2W + GAP, 3)
    label = _label(f"{index}: {caption}", tiles.shape[2])
    return np.concatenate([np.broadcast_to(label, (length, *label.shape)), tiles], axis=1)


def write_video(store: EpisodeStore, path: Path) -> int:
    """Every event's tiles one after the other into `path`; returns the frames written."""
    clips = []
    for recorded in store.events:
        tiles = event_tiles(store, recorded.index, recorded.record["plan"]["next_event"])
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
