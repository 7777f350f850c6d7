"""Random access into event datasets: how fast one frame (a LeRobot item) comes out of the mp4s.

Usage:
    PYTHONPATH=. .venv/bin/python benchmarks/bench_dataset_access.py \
        --data before=/tmp/old-dataset after=/tmp/new-dataset [--gop-sweep]
    PYTHONPATH=. /work/lerobot-venv/bin/python benchmarks/bench_dataset_access.py \
        --data after=/tmp/new-dataset --lerobot

A LeRobot item at time t needs the frame at t of every camera: the decoder seeks to the last
keyframe at or before t and decodes forward to t, so the cost grows with the distance to that
keyframe. Measured per dataset, one process, one thread:
  first / last   seconds for the item at the first and at the last frame of an episode
  items/s        items at random frames of random episodes
  episodes/s     whole episodes decoded by our own reader (the training path, all frames)
  keyframe gap   mean frames between keyframes; bytes per frame of the mp4s
`--lerobot` times LeRobot's own `LeRobotDataset.__getitem__` (run it with a Python that has
lerobot installed); otherwise the same seek-and-decode is done with PyAV directly.
`--gop-sweep` re-encodes one episode with several keyframe spacings and times the same access.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import av
import numpy as np
import pyarrow.parquet as pq

from benchmarks.record import markdown_table, record


def episode_rows(root: Path) -> list[dict]:
    rows = []
    for path in sorted((root / "meta/episodes").glob("chunk-*/file-*.parquet")):
        rows.extend(pq.read_table(path).to_pylist())
    return sorted(rows, key=lambda row: row["episode_index"])


def video_paths(root: Path, row: dict) -> list[tuple[Path, float]]:
    """(mp4 file, episode start time in it) of every camera of an episode row."""
    keys = sorted({k.split("/")[1] for k in row if k.startswith("videos/")})
    return [
        (
            root
            / "videos"
            / key
            / f"chunk-{row[f'videos/{key}/chunk_index']:03d}"
            / f"file-{row[f'videos/{key}/file_index']:03d}.mp4",
            float(row[f"videos/{key}/from_timestamp"]),
        )
        for key in keys
    ]


def decode_at(path: Path, timestamp: float) -> np.ndarray:
    """The frame at `timestamp`: seek to the keyframe before it and decode forward (LeRobot's
    pyav path)."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "NONE"
        container.seek(int(timestamp / stream.time_base), stream=stream, backward=True)
        for frame in container.decode(stream):
            if frame.time >= timestamp - 1e-4:
                return frame.to_ndarray(format="rgb24")
    raise RuntimeError(f"{path} has no frame at {timestamp}")


def keyframe_stats(path: Path) -> tuple[int, int, int]:
    """(frames, keyframes, bytes) of an mp4."""
    with av.open(str(path)) as container:
        packets = [p for p in container.demux(video=0) if p.size]
    return len(packets), sum(p.is_keyframe for p in packets), path.stat().st_size


class PyAVItems:
    """Items as (frame of every camera) through PyAV, for Pythons without lerobot."""

    name = "PyAV seek"

    def __init__(self, root: Path, fps: int) -> None:
        self.rows = episode_rows(root)
        self.root, self.fps = root, fps

    def get(self, episode: int, frame: int) -> None:
        for path, start in video_paths(self.root, self.rows[episode]):
            decode_at(path, start + frame / self.fps)


class LeRobotItems:
    """Items through LeRobot's own loader."""

    name = "LeRobotDataset"

    def __init__(self, root: Path, fps: int) -> None:
        from lerobot.datasets.lerobot_dataset import LeRobotDataset

        self.dataset = LeRobotDataset("local/bench", root=root)
        self.rows = episode_rows(root)

    def get(self, episode: int, frame: int) -> None:
        self.dataset[self.rows[episode]["dataset_from_index"] + frame]


def time_items(items, rows: list[dict], samples: int, rng: np.random.Generator) -> list[float]:
    """[first-item seconds, last-item seconds, random items per second]."""
    firsts, lasts = [], []
    for episode, row in enumerate(rows):
        began = time.perf_counter()
        items.get(episode, 0)
        firsts.append(time.perf_counter() - began)
        began = time.perf_counter()
        items.get(episode, row["length"] - 1)
        lasts.append(time.perf_counter() - began)
    episodes = rng.integers(len(rows), size=samples)
    picks = [(e, int(rng.integers(rows[e]["length"]))) for e in episodes]
    began = time.perf_counter()
    for episode, frame in picks:
        items.get(episode, frame)
    rate = samples / (time.perf_counter() - began)
    return [float(np.median(firsts)), float(np.median(lasts)), rate]


def reader_rate(root: Path, episodes: int) -> float:
    from worldmodel.data.reader import DatasetReader

    reader = DatasetReader(root)
    episodes = min(episodes, len(reader))
    began = time.perf_counter()
    for position in range(episodes):
        reader.load(position)
    return episodes / (time.perf_counter() - began)


def _timed(path: Path, timestamp: float) -> float:
    began = time.perf_counter()
    decode_at(path, timestamp)
    return time.perf_counter() - began


def gop_sweep(root: Path, fps: int, gops: list[int]) -> list[list[object]]:
    """Re-encode episode 0's first camera with each keyframe spacing; time first/last frame."""
    from worldmodel.data.video import read_mp4, write_mp4

    row = episode_rows(root)[0]
    path, start = video_paths(root, row)[0]
    frames = read_mp4(path)[round(start * fps) : round(start * fps) + row["length"]]
    out = []
    with tempfile.TemporaryDirectory() as folder:
        for gop in gops:
            clip = write_mp4(Path(folder) / f"g{gop}.mp4", frames, fps, gop=gop)
            count, keys, size = keyframe_stats(clip)
            # the fastest of 5 tries per frame: robust to other work on a shared machine
            seconds = [min(_timed(clip, frame / fps) for _ in range(5)) for frame in range(count)]
            timings = [seconds[0], seconds[-1], float(np.mean(seconds))]
            label = f"{gop}" if gop < count else f"{gop} (one keyframe)"
            first, last, mean = (f"{seconds * 1e3:.2f}" for seconds in timings)
            out.append([label, keys, first, last, mean, f"{size / count:.0f}"])
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", nargs="+", required=True, help="LABEL=DIR ... datasets to time")
    parser.add_argument("--samples", type=int, default=60, help="random items per dataset")
    parser.add_argument("--episodes", type=int, default=4, help="episodes decoded by our reader")
    parser.add_argument("--lerobot", action="store_true", help="time LeRobot's own loader")
    parser.add_argument("--gop-sweep", action="store_true", help="also sweep keyframe spacings")
    parser.add_argument("--about", default="", help="a sentence on the datasets, for the notes")
    parser.add_argument("--no-record", action="store_true", help="print only")
    args = parser.parse_args()
    import json

    import torch

    torch.set_num_threads(1)
    rows_out = []
    fps = 10
    for spec in args.data:
        label, _, folder = spec.partition("=")
        root = Path(folder)
        fps = int(json.loads((root / "meta/info.json").read_text())["fps"])
        rows = episode_rows(root)
        items = (LeRobotItems if args.lerobot else PyAVItems)(root, fps)
        first, last, rate = time_items(items, rows, args.samples, np.random.default_rng(0))
        stats = [keyframe_stats(p) for row in rows for p, _ in video_paths(root, row)]
        frames, keys, size = (sum(s[i] for s in stats) for i in range(3))
        rows_out.append(
            [
                label,
                items.name,
                f"{len(rows)} x {np.mean([r['length'] for r in rows]):.0f} frames",
                f"{first * 1e3:.1f}",
                f"{last * 1e3:.1f}",
                f"{rate:.1f}",
                "-" if args.lerobot else f"{reader_rate(root, args.episodes):.2f}",
                f"{frames / keys:.1f}",
                f"{size / frames:.0f}",
            ]
        )
    header = ["dataset", "loader", "episodes", "first item ms", "last item ms", "items/s"]
    header += ["reader episodes/s", "keyframe gap", "mp4 bytes/frame"]
    table = markdown_table(header, rows_out)
    notes = (
        "An item is one frame of every camera (3 cameras here); first/last: median over episodes "
        "of the item at frame 0 and at the last frame; items/s over random frames; reader: "
        "`DatasetReader.load` decoding whole episodes. Sources: " + ", ".join(args.data) + ". "
    ) + args.about
    if args.gop_sweep:
        sweep = gop_sweep(Path(args.data[-1].partition("=")[2]), fps, [1, 2, 4, 8, 1000])
        table += (
            "\n\nKeyframe spacing (one camera of episode 0 re-encoded; PyAV seek, the fastest of "
            "5 tries per frame):\n\n"
        )
        table += markdown_table(
            [
                "keyframe every",
                "keyframes",
                "first ms",
                "last ms",
                "mean ms, every frame",
                "bytes/frame",
            ],
            sweep,
        )
    title = "Dataset random access" + (" (LeRobot loader)" if args.lerobot else "")
    record(title, table, notes, print_only=args.no_record)


if __name__ == "__main__":
    main()
