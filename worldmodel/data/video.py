"""Per-camera mp4 files with PyAV: H.264, yuv420p, one frame per control step."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np


def write_mp4(path: Path, frames: np.ndarray, fps: int, crf: int = 18) -> None:
    """Encode uint8 (T, H, W, 3) frames; H and W must be even (yuv420p)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    _, height, width, _ = frames.shape
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("libx264", rate=Fraction(fps))
        stream.width, stream.height = width, height
        stream.pix_fmt = "yuv420p"
        stream.options = {"crf": str(crf), "preset": "veryfast"}
        for image in frames:
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb24")
            container.mux(stream.encode(frame))
        container.mux(stream.encode())


def read_mp4(path: Path) -> np.ndarray:
    """Decode every frame of an mp4 as uint8 (T, H, W, 3) RGB."""
    with av.open(str(path)) as container:
        frames = [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]
    if not frames:
        return np.zeros((0, 0, 0, 3), np.uint8)
    return np.stack(frames)


def count_frames(path: Path) -> int:
    """Number of decodable frames (decodes, since stream headers may omit the count)."""
    with av.open(str(path)) as container:
        return sum(1 for _ in container.decode(video=0))


def resize_frames(frames: np.ndarray, height: int, width: int) -> np.ndarray:
    """Resize uint8 (..., H, W, 3) frames: area averaging down (no aliasing), bilinear up."""
    import torch
    import torch.nn.functional as F

    if frames.shape[-3:-1] == (height, width):
        return frames
    lead = frames.shape[:-3]
    x = torch.from_numpy(np.ascontiguousarray(frames)).reshape(-1, *frames.shape[-3:])
    x = x.permute(0, 3, 1, 2).float()  # (N, 3, H, W)
    if height <= frames.shape[-3] and width <= frames.shape[-2]:
        x = F.interpolate(x, size=(height, width), mode="area")
    else:
        x = F.interpolate(x, size=(height, width), mode="bilinear", align_corners=False)
    x = x.round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1)  # (N, h, w, 3)
    return x.reshape(*lead, height, width, 3).numpy()
