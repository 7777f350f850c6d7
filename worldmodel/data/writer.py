"""Write EpisodeRecords as a LeRobot v3.0 dataset, one committed episode at a time.

Resumable: reopening a root continues after the last committed episode; the leftovers of an
episode interrupted mid-write are found, reported and overwritten.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from worldmodel.data import lerobot_format as fmt
from worldmodel.data.episode import EpisodeRecord
from worldmodel.data.video import write_mp4
from worldmodel.errors import ContractError
from worldmodel.types import CameraSpec

log = logging.getLogger(__name__)


def _feature_stats(values: np.ndarray) -> dict[str, list[float] | list[int]]:
    values = values.astype(np.float64)
    return {
        "min": values.min(0).tolist(),
        "max": values.max(0).tolist(),
        "mean": values.mean(0).tolist(),
        "std": values.std(0).tolist(),
        "count": [len(values)],
    }


def _merge_stats(parts: list[dict[str, list]]) -> dict[str, list]:
    """Combine per-episode statistics with the parallel-variance formula."""
    counts = np.array([part["count"][0] for part in parts], np.float64)
    means = np.array([part["mean"] for part in parts])
    variances = np.array([part["std"] for part in parts]) ** 2
    total = counts.sum()
    mean = (counts[:, None] * means).sum(0) / total
    variance = (counts[:, None] * (variances + (means - mean) ** 2)).sum(0) / total
    return {
        "min": np.min([part["min"] for part in parts], 0).tolist(),
        "max": np.max([part["max"] for part in parts], 0).tolist(),
        "mean": mean.tolist(),
        "std": np.sqrt(variance).tolist(),
        "count": [int(total)],
    }


def _camera_geometry(camera: CameraSpec) -> dict[str, Any]:
    return {
        "width": camera.width,
        "height": camera.height,
        "intrinsics": None if camera.intrinsics is None else camera.intrinsics.tolist(),
        "extrinsics": None if camera.extrinsics is None else camera.extrinsics.tolist(),
        "mounted_on": camera.mounted_on,
    }


class DatasetWriter:
    """Appends episodes to a LeRobot v3.0 dataset folder.

    >>> writer = DatasetWriter(Path("data/tabletop"), robot_type="wallwm-tabletop")
    >>> writer.write(record)          # commits one episode
    >>> writer.finalize()             # rewrites info.json and stats.json
    """

    def __init__(self, root: Path, robot_type: str = "wallwm-tabletop", crf: int = 18) -> None:
        self.root = Path(root)
        self.robot_type = robot_type
        self.crf = crf
        self.root.mkdir(parents=True, exist_ok=True)
        self._tasks = self._read_tasks()
        self.committed = self._committed_episodes()
        self.discarded = self._discard_leftovers()

    # ---- state on disk -------------------------------------------------------------------------
    def _read_tasks(self) -> dict[str, int]:
        path = self.root / fmt.TASKS_PATH
        if not path.exists():
            return {}
        table = pq.read_table(path).to_pydict()
        return dict(zip(table["task"], table["task_index"], strict=True))

    def _committed_episodes(self) -> list[int]:
        rows = sorted((self.root / "meta" / "episodes").glob("chunk-*/file-*.parquet"))
        indices = sorted(
            int(pq.read_table(path, columns=["episode_index"])["episode_index"][0].as_py())
            for path in rows
        )
        if indices != list(range(len(indices))):
            raise ContractError(
                f"dataset {self.root} has committed episodes {indices[:10]}...; expected a "
                "contiguous range from 0. Move the folder aside and regenerate."
            )
        return indices

    def _discard_leftovers(self) -> list[Path]:
        """Remove files of episodes that were never committed (an interrupted write)."""
        next_index = len(self.committed)
        leftovers: list[Path] = []
        for path in sorted(self.root.rglob("*")):
            if not path.is_file() or path.parts[-3] == "episodes" or path.suffix == ".json":
                continue
            if ".partial" in path.name:
                leftovers.append(path)
                continue
            if path.parent.name.startswith("chunk-") and path.stem.startswith("file-"):
                chunk = int(path.parent.name.split("-")[1])
                index = chunk * fmt.CHUNKS_SIZE + int(path.stem.split("-")[1])
                if index >= next_index:
                    leftovers.append(path)
        for path in leftovers:
            log.warning("discarding %s: left by an interrupted episode write", path)
            path.unlink()
        return leftovers

    @property
    def num_episodes(self) -> int:
        return len(self.committed)

    # ---- writing -------------------------------------------------------------------------------
    def _task_index(self, task: str) -> int:
        if task not in self._tasks:
            self._tasks[task] = len(self._tasks)
            names = sorted(self._tasks, key=self._tasks.__getitem__)
            table = pa.table({"task_index": [self._tasks[n] for n in names], "task": names})
            fmt.atomic_write_parquet(self.root / fmt.TASKS_PATH, table)
        return self._tasks[task]

    def write(self, record: EpisodeRecord) -> int:
        """Write and commit one episode; returns its index."""
        index = self.num_episodes
        location = fmt.episode_location(index)
        steps = record.length
        start = self._total_frames()
        task_index = self._task_index(record.task)

        for camera in record.cameras:
            path = self.root / fmt.VIDEO_PATH.format(
                video_key=fmt.video_key(camera.name), **location
            )
            temporary = path.with_name(path.name + ".partial.mp4")
            write_mp4(temporary, record.frames[camera.name], record.fps, self.crf)
            temporary.replace(path)

        frame_table = pa.table(
            {
                fmt.STATE_KEY: pa.array(
                    record.proprio.astype(np.float32).tolist(), pa.list_(pa.float32())
                ),
                fmt.ACTION_KEY: pa.array(
                    record.actions.astype(np.float32).tolist(), pa.list_(pa.float32())
                ),
                "timestamp": pa.array(np.arange(steps, dtype=np.float32) / record.fps),
                "frame_index": pa.array(np.arange(steps, dtype=np.int64)),
                "episode_index": pa.array(np.full(steps, index, np.int64)),
                "index": pa.array(np.arange(start, start + steps, dtype=np.int64)),
                "task_index": pa.array(np.full(steps, task_index, np.int64)),
            }
        )
        fmt.atomic_write_parquet(self.root / fmt.DATA_PATH.format(**location), frame_table)

        events = record.annotations
        event_table = pa.table(
            {
                "episode_index": pa.array([index] * len(events), pa.int64()),
                "level": [event.level for event in events],
                "caption": [event.caption for event in events],
                "start": pa.array([event.start for event in events], pa.int64()),
                "end": pa.array([event.end for event in events], pa.int64()),
                "skill": pa.array([event.skill for event in events], pa.string()),
                "arguments": [json.dumps(event.arguments, sort_keys=True) for event in events],
            }
        )
        fmt.atomic_write_parquet(self.root / fmt.EVENTS_PATH.format(**location), event_table)

        row: dict[str, Any] = {
            "episode_index": index,
            "tasks": [record.task],
            "length": steps,
            "dataset_from_index": start,
            "dataset_to_index": start + steps,
            "data/chunk_index": location["chunk_index"],
            "data/file_index": location["file_index"],
            "meta/episodes/chunk_index": location["chunk_index"],
            "meta/episodes/file_index": location["file_index"],
            "wallwm/metadata": json.dumps(record.metadata, sort_keys=True, default=str),
            "wallwm/cameras": json.dumps({c.name: _camera_geometry(c) for c in record.cameras}),
            "wallwm/fps": record.fps,
        }
        for camera in record.cameras:
            key = fmt.video_key(camera.name)
            row[f"videos/{key}/chunk_index"] = location["chunk_index"]
            row[f"videos/{key}/file_index"] = location["file_index"]
            row[f"videos/{key}/from_timestamp"] = 0.0
            row[f"videos/{key}/to_timestamp"] = steps / record.fps
        for key, values in ((fmt.STATE_KEY, record.proprio), (fmt.ACTION_KEY, record.actions)):
            for stat, value in _feature_stats(values).items():
                row[f"stats/{key}/{stat}"] = value
        # The episode row is written last: it is what commits the episode.
        fmt.atomic_write_parquet(
            self.root / fmt.EPISODES_PATH.format(**location), pa.Table.from_pylist([row])
        )
        self.committed.append(index)
        if index == 0:
            self._write_info(record)
        return index

    def _total_frames(self) -> int:
        if not self.committed:
            return 0
        last = fmt.episode_location(self.committed[-1])
        row = pq.read_table(self.root / fmt.EPISODES_PATH.format(**last)).to_pylist()[0]
        return int(row["dataset_to_index"])

    def _write_info(self, record: EpisodeRecord) -> None:
        features: dict[str, Any] = {}
        for camera in record.cameras:
            features[fmt.video_key(camera.name)] = {
                "dtype": "video",
                "shape": [camera.height, camera.width, 3],
                "names": ["height", "width", "channels"],
                "info": {
                    "video.height": camera.height,
                    "video.width": camera.width,
                    "video.codec": "h264",
                    "video.pix_fmt": "yuv420p",
                    "video.is_depth_map": False,
                    "video.fps": record.fps,
                    "video.channels": 3,
                    "has_audio": False,
                },
            }
        features[fmt.STATE_KEY] = {
            "dtype": "float32",
            "shape": [record.proprio.shape[1]],
            "names": None,
        }
        features[fmt.ACTION_KEY] = {
            "dtype": "float32",
            "shape": [record.actions.shape[1]],
            "names": None,
        }
        for name, dtype in (
            ("timestamp", "float32"),
            ("frame_index", "int64"),
            ("episode_index", "int64"),
            ("index", "int64"),
            ("task_index", "int64"),
        ):
            features[name] = {"dtype": dtype, "shape": [1], "names": None}
        info = {
            "codebase_version": fmt.CODEBASE_VERSION,
            "robot_type": self.robot_type,
            "total_episodes": 0,
            "total_frames": 0,
            "total_tasks": 0,
            "chunks_size": fmt.CHUNKS_SIZE,
            "fps": record.fps,
            "splits": {},
            "data_path": fmt.DATA_PATH,
            "video_path": fmt.VIDEO_PATH,
            "features": features,
        }
        fmt.atomic_write_json(self.root / fmt.INFO_PATH, info)

    def finalize(self) -> None:
        """Rewrite the totals in info.json and the dataset statistics in stats.json."""
        if not self.committed:
            return
        info_path = self.root / fmt.INFO_PATH
        info = json.loads(info_path.read_text())
        rows = [
            pq.read_table(
                self.root / fmt.EPISODES_PATH.format(**fmt.episode_location(i))
            ).to_pylist()[0]
            for i in self.committed
        ]
        info["total_episodes"] = len(rows)
        info["total_frames"] = int(rows[-1]["dataset_to_index"])
        info["total_tasks"] = len(self._tasks)
        info["splits"] = {"train": f"0:{len(rows)}"}
        fmt.atomic_write_json(info_path, info)
        stats = {}
        for key in (fmt.STATE_KEY, fmt.ACTION_KEY):
            parts = [
                {
                    stat: row[f"stats/{key}/{stat}"]
                    for stat in ("min", "max", "mean", "std", "count")
                }
                for row in rows
            ]
            stats[key] = _merge_stats(parts)
        fmt.atomic_write_json(self.root / fmt.STATS_PATH, stats)
