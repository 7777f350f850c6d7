"""The LeRobot v3.0 dataset layout as we write and read it (without depending on lerobot).

```
root/
  meta/info.json                                     features, fps, totals, path templates
  meta/tasks.parquet                                 task_index, task
  meta/stats.json                                    per-feature min/max/mean/std/count
  meta/episodes/chunk-000/file-000.parquet           one row per episode (+ per-episode stats)
  meta/events/chunk-000/file-000.parquet             wallwm extension: captioned frame ranges
  data/chunk-000/file-000.parquet                    one row per frame
  videos/observation.images.<camera>/chunk-000/file-000.mp4
```
We write one episode per data/video file (file index = episode index within its chunk), which the
v3 layout allows; its readers find files through the episode rows, never by guessing names.
An episode is committed by its row in meta/episodes, written last; data and video files without
such a row are the leftovers of an interrupted write.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

CODEBASE_VERSION = "v3.0"
CHUNKS_SIZE = 1000  # files per chunk folder, LeRobot's default
CHUNK_FILE = "chunk-{chunk_index:03d}/file-{file_index:03d}"
DATA_PATH = "data/" + CHUNK_FILE + ".parquet"
VIDEO_PATH = "videos/{video_key}/" + CHUNK_FILE + ".mp4"
EPISODES_PATH = "meta/episodes/" + CHUNK_FILE + ".parquet"
EVENTS_PATH = "meta/events/" + CHUNK_FILE + ".parquet"
INFO_PATH = "meta/info.json"
TASKS_PATH = "meta/tasks.parquet"
STATS_PATH = "meta/stats.json"

STATE_KEY = "observation.state"
ACTION_KEY = "action"


def video_key(camera: str) -> str:
    return f"observation.images.{camera}"


def episode_location(episode_index: int) -> dict[str, int]:
    return {"chunk_index": episode_index // CHUNKS_SIZE, "file_index": episode_index % CHUNKS_SIZE}


def atomic_write_bytes(path: Path, payload: bytes) -> None:
    """Write via a temporary file and rename, so readers never see half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".partial")
    temporary.write_bytes(payload)
    os.replace(temporary, path)


def atomic_write_json(path: Path, value: Any) -> None:
    atomic_write_bytes(path, (json.dumps(value, indent=2) + "\n").encode())


def atomic_write_parquet(path: Path, table: pa.Table) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".partial")
    pq.write_table(table, temporary)
    os.replace(temporary, path)
