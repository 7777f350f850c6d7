"""Write episodes as mp4 (H.264 via PyAV): one file per camera, or the cameras tiled."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import av
import numpy as np


def write_mp4(path: str | Path, frames: np.ndarray, fps: int = 10) -> Path:
    """Encode uint8 frames (T, H, W, 3) to an H.264 mp4 at `fps`."""
    path = Path(path)
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise ValueError(f"frames have shape {frames.shape} {frames.dtype}; expected (T, H, W, 3)")
    height, width = frames.shape[1] - frames.shape[1] % 2, frames.shape[2] - frames.shape[2] % 2
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for frame in frames:
            image = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame[:height, :width]))
            container.mux(stream.encode(image))
        container.mux(stream.encode())
    return path


def tile(frames: Mapping[str, np.ndarray], order: Sequence[str]) -> np.ndarray:
    """Cameras side by side: (T, H, W * cameras, 3)."""
    return np.concatenate([frames[name] for name in order], axis=2)


def read_mp4(path: str | Path) -> np.ndarray:
    """Decode an mp4 back to uint8 frames (T, H, W, 3) (tests and checks)."""
    with av.open(str(path)) as container:
        return np.stack([f.to_ndarray(format="rgb24") for f in container.decode(video=0)])
