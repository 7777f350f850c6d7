"""Write EpisodeRecords as a LeRobot v3.0 dataset, one committed episode at a time.

Every file is what LeRobot 0.4 writes for the same episode (see lerobot_format.py for the layout
and for where our extras go), so LeRobot's loader, recorder and dataset tools work on it.
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
from worldmodel.data import stats as feature_stats
from worldmodel.data.episode import EpisodeRecord
from worldmodel.data.video import write_mp4
from worldmodel.errors import ContractError
from worldmodel.types import CameraSpec

log = logging.getLogger(__name__)


def _camera_geometry(camera: CameraSpec) -> dict[str, Any]:
    return {
        "intrinsics": None if camera.intrinsics is None else camera.intrinsics.tolist(),
        "extrinsics": None if camera.extrinsics is None else camera.extrinsics.tolist(),
        "mounted_on": camera.mounted_on,
    }


def _names(names: tuple[str, ...] | None, key: str, width: int) -> list[str]:
    if names is None:
        return [f"{key}.{i}" for i in range(width)]
    if len(names) != width:
        raise ContractError(f"{len(names)} names for {key!r}; its vectors have {width} values")
    return list(names)


def episode_features(record: EpisodeRecord) -> dict[str, dict[str, Any]]:
    """info.json features of a dataset of episodes like `record`, in LeRobot's order (declared
    features, then the index columns)."""
    features: dict[str, dict[str, Any]] = {}
    for camera in record.cameras:
        features[fmt.video_key(camera.name)] = {
            "dtype": "video",
            "shape": [camera.height, camera.width, 3],
            "names": ["height", "width", "channels"],
            fmt.CAMERA_GEOMETRY_KEY: _camera_geometry(camera),
        }
    for key, values, names in (
        (fmt.STATE_KEY, record.proprio, record.state_names),
        (fmt.ACTION_KEY, record.actions, record.action_names),
    ):
        width = values.shape[1]
        features[key] = {"dtype": "float32", "shape": [width], "names": _names(names, key, width)}
    for key in (fmt.EVENTS_KEY, fmt.EPISODE_KEY):
        features[key] = {"dtype": "string", "shape": [1], "names": None}
    return features | {k: dict(v) for k, v in fmt.INDEX_FEATURES.items()}


def event_column(record: EpisodeRecord) -> list[str]:
    """Per frame, the JSON list of the events that start there ("" where none does). An event
    with targets carries them as a list of EventTarget dicts under "targets"; one without has no
    such key, so a dataset without targets is written exactly as before."""
    starting: list[list[dict[str, Any]]] = [[] for _ in range(record.length)]
    for event in record.annotations:
        entry = {
            "level": event.level,
            "caption": event.caption,
            "end": event.end,
            "skill": event.skill,
            "arguments": event.arguments,
        }
        if event.targets:
            entry["targets"] = [target.to_dict() for target in event.targets]
        starting[event.start].append(entry)
    return [json.dumps(events, sort_keys=True) if events else "" for events in starting]


class DatasetWriter:
    """Appends episodes to a LeRobot v3.0 dataset folder.

    >>> writer = DatasetWriter(Path("data/tabletop"), robot_type="wallwm-tabletop")
    >>> writer.write(record)          # commits one episode
    >>> writer.finalize()             # recomputes info.json totals and stats.json from the rows
    """

    def __init__(
        self,
        root: Path,
        robot_type: str = "wallwm-tabletop",
        crf: int = 18,
        keyframe_interval: int = fmt.KEYFRAME_INTERVAL,
    ) -> None:
        self.root = Path(root)
        self.robot_type = robot_type
        self.crf = crf
        self.keyframe_interval = keyframe_interval
        self.root.mkdir(parents=True, exist_ok=True)
        self._tasks = fmt.read_tasks(self.root)
        self.committed = self._committed_episodes()
        self.discarded = self._discard_leftovers()

    # ---- state on disk -------------------------------------------------------------------------
    def _committed_episodes(self) -> list[int]:
        rows = sorted((self.root / "meta" / "episodes").glob("chunk-*/file-*.parquet"))
        indices = sorted(
            int(value)
            for path in rows
            for value in pq.read_table(path, columns=["episode_index"])["episode_index"].to_pylist()
        )
        if indices != list(range(len(indices))):
            raise ContractError(
                f"dataset {self.root} has committed episodes {indices[:10]}...; expected a "
                "contiguous range from 0. Move the folder aside and regenerate."
            )
        if fmt.legacy_layout(self.root):
            raise ContractError(
                f"dataset {self.root} has the earlier wallwm layout; run `wallwm data upgrade "
                f"{self.root}` before adding episodes to it"
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
            fmt.atomic_write_parquet(self.root / fmt.TASKS_PATH, fmt.tasks_table(self._tasks))
        return self._tasks[task]

    def _features(self, record: EpisodeRecord) -> dict[str, dict[str, Any]]:
        """The dataset's features; a record that does not fit them is refused."""
        features = episode_features(record)
        info_path = self.root / fmt.INFO_PATH
        if not self.committed or not info_path.exists():
            return features
        stored = json.loads(info_path.read_text())["features"]
        for key, feature in features.items():
            known = stored.get(key, {})
            if [known.get("dtype"), known.get("shape")] != [feature["dtype"], feature["shape"]]:
                raise ContractError(
                    f"episode feature {key!r} is {feature['dtype']} {feature['shape']}; the "
                    f"dataset {self.root} has {known.get('dtype')} {known.get('shape')}"
                )
        return stored

    def write(self, record: EpisodeRecord) -> int:
        """Write and commit one episode; returns its index."""
        features = self._features(record)
        index = self.num_episodes
        location = fmt.episode_location(index)
        steps = record.length
        start = self._total_frames()
        task_index = self._task_index(record.task)

        videos: dict[str, dict[str, Any]] = {}
        episode_stats: dict[str, dict[str, np.ndarray]] = {}
        for camera in record.cameras:
            key = fmt.video_key(camera.name)
            path = self.root / fmt.VIDEO_PATH.format(video_key=key, **location)
            temporary = path.with_name(path.name + ".partial.mp4")
            write_mp4(
                temporary, record.frames[camera.name], record.fps, self.crf, self.keyframe_interval
            )
            temporary.replace(path)
            videos[key] = {
                f"videos/{key}/chunk_index": location["chunk_index"],
                f"videos/{key}/file_index": location["file_index"],
                f"videos/{key}/from_timestamp": 0.0,
                f"videos/{key}/to_timestamp": fmt.video_duration(path),
            }
            if index == 0:
                features[key]["info"] = fmt.video_info(path)

        columns: dict[str, Any] = {
            fmt.STATE_KEY: record.proprio.astype(np.float32),
            fmt.ACTION_KEY: record.actions.astype(np.float32),
            fmt.EVENTS_KEY: event_column(record),
            fmt.EPISODE_KEY: [json.dumps(record.metadata, sort_keys=True, default=str)]
            + [""] * (steps - 1),
            "timestamp": np.arange(steps, dtype=np.float32) / np.float32(record.fps),
            "frame_index": np.arange(steps, dtype=np.int64),
            "episode_index": np.full(steps, index, np.int64),
            "index": np.arange(start, start + steps, dtype=np.int64),
            "task_index": np.full(steps, task_index, np.int64),
        }
        schema = fmt.data_schema(features)
        arrays = []
        for field in schema:
            values = columns[field.name]
            if pa.types.is_fixed_size_list(field.type):
                flat = pa.array(values.reshape(-1), field.type.value_type)
                arrays.append(pa.FixedSizeListArray.from_arrays(flat, type=field.type))
            else:
                arrays.append(pa.array(values, field.type))
        table = pa.Table.from_arrays(arrays, schema=schema)
        fmt.atomic_write_parquet(self.root / fmt.DATA_PATH.format(**location), table)

        for key, feature in features.items():
            if feature["dtype"] == "video":
                camera = key.removeprefix("observation.images.")
                episode_stats[key] = feature_stats.image_stats(record.frames[camera])
            elif key == "timestamp":  # LeRobot's stats see frame_index / fps in float64
                episode_stats[key] = feature_stats.numeric_stats(np.arange(steps) / record.fps)
            elif feature["dtype"] != "string":
                episode_stats[key] = feature_stats.numeric_stats(columns[key])

        row: dict[str, Any] = {
            "episode_index": index,
            "tasks": [record.task],
            "length": steps,
            "data/chunk_index": location["chunk_index"],
            "data/file_index": location["file_index"],
            "dataset_from_index": start,
            "dataset_to_index": start + steps,
        }
        for key in features:
            row |= videos.get(key, {})
        for key, values in episode_stats.items():
            for stat, value in feature_stats.to_lists(values).items():
                row[f"stats/{key}/{stat}"] = value
        row["meta/episodes/chunk_index"] = location["chunk_index"]
        row["meta/episodes/file_index"] = location["file_index"]
        if index == 0:
            self._write_info(record.fps, features)
        # The episode row is written last: it is what commits the episode.
        fmt.atomic_write_parquet(
            self.root / fmt.EPISODES_PATH.format(**location), pa.Table.from_pylist([row])
        )
        self.committed.append(index)
        self._update_totals(episode_stats, steps)
        return index

    def _total_frames(self) -> int:
        if not self.committed:
            return 0
        last = fmt.episode_location(self.committed[-1])
        path = self.root / fmt.EPISODES_PATH.format(**last)
        return int(pq.read_table(path, columns=["dataset_to_index"])[0][-1].as_py())

    def _write_info(self, fps: int, features: dict[str, dict[str, Any]]) -> None:
        info = {
            "codebase_version": fmt.CODEBASE_VERSION,
            "robot_type": self.robot_type,
            "total_episodes": 0,
            "total_frames": 0,
            "total_tasks": 0,
            "chunks_size": fmt.CHUNKS_SIZE,
            "data_files_size_in_mb": fmt.DATA_FILES_SIZE_IN_MB,
            "video_files_size_in_mb": fmt.VIDEO_FILES_SIZE_IN_MB,
            "fps": fps,
            "splits": {},
            "data_path": fmt.DATA_PATH,
            "video_path": fmt.VIDEO_PATH,
            "features": features,
        }
        fmt.atomic_write_json(self.root / fmt.INFO_PATH, info)

    def _update_totals(self, episode_stats: dict[str, dict[str, np.ndarray]], steps: int) -> None:
        """What LeRobot's save_episode does after each episode: totals and running stats."""
        info_path = self.root / fmt.INFO_PATH
        info = json.loads(info_path.read_text())
        info["total_episodes"] = len(self.committed)
        info["total_frames"] = int(info["total_frames"]) + steps
        info["total_tasks"] = len(self._tasks)
        info["splits"] = {"train": f"0:{len(self.committed)}"}
        fmt.atomic_write_json(info_path, info)
        stats_path = self.root / fmt.STATS_PATH
        merged = episode_stats
        if len(self.committed) > 1 and stats_path.exists():
            known = json.loads(stats_path.read_text())
            merged = {
                key: feature_stats.aggregate([known[key], value]) if key in known else value
                for key, value in episode_stats.items()
            }
        fmt.atomic_write_json(
            stats_path, {key: feature_stats.to_lists(value) for key, value in merged.items()}
        )

    def finalize(self) -> None:
        """Recompute the totals in info.json and stats.json from the committed episode rows (the
        authority after an interrupted run)."""
        if not self.committed:
            return
        info_path = self.root / fmt.INFO_PATH
        info = json.loads(info_path.read_text())
        rows = []
        for i in self.committed:
            path = self.root / fmt.EPISODES_PATH.format(**fmt.episode_location(i))
            rows.append(pq.read_table(path).to_pylist()[0])
        info["total_episodes"] = len(rows)
        info["total_frames"] = int(rows[-1]["dataset_to_index"])
        info["total_tasks"] = len(self._tasks)
        info["splits"] = {"train": f"0:{len(rows)}"}
        fmt.atomic_write_json(info_path, info)
        stats = {}
        for key, feature in info["features"].items():
            if feature["dtype"] == "string":
                continue
            parts = [
                {stat: row[f"stats/{key}/{stat}"] for stat in feature_stats.STAT_KEYS}
                for row in rows
            ]
            stats[key] = feature_stats.to_lists(feature_stats.aggregate(parts))
        fmt.atomic_write_json(self.root / fmt.STATS_PATH, stats)
