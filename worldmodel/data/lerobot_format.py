"""The LeRobot v3.0 dataset layout as LeRobot 0.4 writes it (without depending on lerobot).

```
root/
  meta/info.json                                 features (shape, names per dimension), fps,
                                                 totals, path templates, file size limits
  meta/tasks.parquet                             the task text as the index, column task_index
  meta/stats.json                                every non-string feature: min/max/mean/std/
                                                 count and quantiles q01..q99
  meta/episodes/chunk-000/file-000.parquet       one row per episode (+ per-episode stats)
  data/chunk-000/file-000.parquet                one row per frame; vectors as fixed-size lists
  videos/observation.images.<camera>/chunk-000/file-000.mp4
```
We write one episode per data/video file (file index = episode index within its chunk), which the
v3 layout allows; its readers find files through the episode rows, never by guessing names.
An episode is committed by its row in meta/episodes, written last; data and video files without
such a row are the leftovers of an interrupted write.

Our extras travel where LeRobot's tools carry them (read, append, delete_episodes,
aggregate_datasets): the caption events and the episode metadata are string features of the data
rows (`wallwm.events` on the frame an event starts, `wallwm.episode` on frame 0), and camera
geometry is a `wallwm.camera` entry of each camera's feature in info.json. Datasets of the
earlier layout kept them in meta/events/ and episode-row columns; `wallwm data upgrade` converts.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

CODEBASE_VERSION = "v3.0"
CHUNKS_SIZE = 1000  # files per chunk folder, LeRobot's DEFAULT_CHUNK_SIZE
DATA_FILES_SIZE_IN_MB = 100  # LeRobot's DEFAULT_DATA_FILE_SIZE_IN_MB (where appends roll over)
VIDEO_FILES_SIZE_IN_MB = 200  # LeRobot's DEFAULT_VIDEO_FILE_SIZE_IN_MB
# A keyframe every this many frames: a random item decodes at most this many frames per camera.
# LeRobot encodes g=2; benchmarks/RESULTS.md ("Dataset random access") measures the choice.
KEYFRAME_INTERVAL = 2
CHUNK_FILE = "chunk-{chunk_index:03d}/file-{file_index:03d}"
DATA_PATH = "data/" + CHUNK_FILE + ".parquet"
VIDEO_PATH = "videos/{video_key}/" + CHUNK_FILE + ".mp4"
EPISODES_PATH = "meta/episodes/" + CHUNK_FILE + ".parquet"
INFO_PATH = "meta/info.json"
TASKS_PATH = "meta/tasks.parquet"
STATS_PATH = "meta/stats.json"

STATE_KEY = "observation.state"
ACTION_KEY = "action"
EVENTS_KEY = "wallwm.events"  # string feature: JSON list of the events starting at this frame
EPISODE_KEY = "wallwm.episode"  # string feature: JSON episode metadata on frame 0, else ""
CAMERA_GEOMETRY_KEY = "wallwm.camera"  # in a camera's info.json feature: intrinsics etc.

# LeRobot's DEFAULT_FEATURES, in its order: every dataset ends with these columns.
INDEX_FEATURES = {
    "timestamp": {"dtype": "float32", "shape": [1], "names": None},
    "frame_index": {"dtype": "int64", "shape": [1], "names": None},
    "episode_index": {"dtype": "int64", "shape": [1], "names": None},
    "index": {"dtype": "int64", "shape": [1], "names": None},
    "task_index": {"dtype": "int64", "shape": [1], "names": None},
}
# info.json keys in the order LeRobot's create_empty_dataset_info writes them
INFO_KEYS = (
    "codebase_version",
    "robot_type",
    "total_episodes",
    "total_frames",
    "total_tasks",
    "chunks_size",
    "data_files_size_in_mb",
    "video_files_size_in_mb",
    "fps",
    "splits",
    "data_path",
    "video_path",
    "features",
)


def video_key(camera: str) -> str:
    return f"observation.images.{camera}"


def episode_location(episode_index: int) -> dict[str, int]:
    return {"chunk_index": episode_index // CHUNKS_SIZE, "file_index": episode_index % CHUNKS_SIZE}


def legacy_layout(root: Path) -> bool:
    """Whether `root` was written by wallwm's earlier writer (meta/events/, tasks as a column)."""
    return (root / "meta" / "events").is_dir()


def arrow_type(feature: dict[str, Any]) -> pa.DataType:
    """The parquet column type LeRobot (through HF datasets) gives a non-video feature."""
    dtype = pa.string() if feature["dtype"] == "string" else pa.from_numpy_dtype(feature["dtype"])
    shape = list(feature["shape"])
    if shape == [1]:
        return dtype
    if len(shape) == 1:
        return pa.list_(pa.field("element", dtype), shape[0])  # fixed-size, as HF datasets
    raise ValueError(f"feature shape {shape} is not supported here")


def hf_feature(feature: dict[str, Any]) -> dict[str, Any]:
    """The HF `datasets` description of a non-video feature (datasets 4: List with a length)."""
    value = {"dtype": feature["dtype"], "_type": "Value"}
    if list(feature["shape"]) == [1]:
        return value
    return {"feature": value, "length": feature["shape"][0], "_type": "List"}


def data_schema(features: dict[str, dict[str, Any]]) -> pa.Schema:
    """Schema of the data parquet files: every non-video feature in info.json order, with the
    `huggingface` metadata LeRobot's files carry (HF datasets reads the types from it)."""
    columns = {k: f for k, f in features.items() if f["dtype"] not in ("video", "image")}
    metadata = {"info": {"features": {k: hf_feature(f) for k, f in columns.items()}}}
    return pa.schema(
        [pa.field(k, arrow_type(f)) for k, f in columns.items()],
        metadata={"huggingface": json.dumps(metadata)},
    )


def read_tasks(root: Path) -> dict[str, int]:
    """task text -> task_index, from either layout (LeRobot keeps the text as the index)."""
    path = root / TASKS_PATH
    if not path.exists():
        return {}
    table = pq.read_table(path).to_pydict()
    if "task" in table:  # the earlier layout: a plain column
        return dict(zip(table["task"], table["task_index"], strict=True))
    index = next((c for c in table if c != "task_index"), None)
    if index is None:
        return {}
    return dict(zip(table[index], table["task_index"], strict=True))


def tasks_table(tasks: dict[str, int]) -> pa.Table:
    """meta/tasks.parquet as pandas 3 writes `DataFrame({"task_index": ...}, index=texts)`, which
    is how LeRobot writes and reads it: the text is the index (column `__index_level_0__`, made
    the index by the `pandas` schema metadata)."""
    names = sorted(tasks, key=tasks.__getitem__)
    pandas_metadata = {
        "index_columns": ["__index_level_0__"],
        "column_indexes": [
            {
                "name": None,
                "field_name": None,
                "pandas_type": "unicode",
                "numpy_type": "str",
                "metadata": {"encoding": "UTF-8"},
            }
        ],
        "columns": [
            {
                "name": "task_index",
                "field_name": "task_index",
                "pandas_type": "int64",
                "numpy_type": "int64",
                "metadata": None,
            },
            {
                "name": None,
                "field_name": "__index_level_0__",
                "pandas_type": "object",
                "numpy_type": "str",
                "metadata": None,
            },
        ],
        "attributes": {},
        "creator": {"library": "pyarrow", "version": pa.__version__},
        "pandas_version": "3.1.1",
    }
    schema = pa.schema(
        [("task_index", pa.int64()), ("__index_level_0__", pa.large_string())],
        metadata={"pandas": json.dumps(pandas_metadata)},
    )
    return pa.table({"task_index": [tasks[n] for n in names], "__index_level_0__": names}, schema)


def atomic_write_bytes(path: Path, payload: bytes) -> None:
    """Write via a temporary file and rename, so readers never see half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".partial")
    temporary.write_bytes(payload)
    os.replace(temporary, path)


def atomic_write_json(path: Path, value: Any) -> None:
    atomic_write_bytes(path, (json.dumps(value, indent=4, ensure_ascii=False) + "\n").encode())


def atomic_write_parquet(path: Path, table: pa.Table) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".partial")
    pq.write_table(table, temporary, compression="snappy", use_dictionary=True)
    os.replace(temporary, path)


def video_info(path: Path) -> dict[str, Any]:
    """The `info` of a camera feature, as LeRobot's get_video_info reads it from the mp4."""
    import av

    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        info = {
            "video.height": stream.height,
            "video.width": stream.width,
            "video.codec": stream.codec.canonical_name,
            "video.pix_fmt": stream.pix_fmt,
            "video.is_depth_map": False,
            "video.fps": int(stream.base_rate),
            "video.channels": 3,
        }
        info["has_audio"] = bool(container.streams.audio)
    return info


def video_duration(path: Path) -> float:
    """Seconds of an mp4, as LeRobot's get_video_duration_in_s reads it (to_timestamp)."""
    import av

    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        if stream.duration is not None:
            return float(stream.duration * stream.time_base)
        return float(container.duration / av.time_base)
