"""Does a dataset folder follow the LeRobot v3.0 layout as LeRobot 0.4 writes it?

`layout_problems(root)` checks the metadata and file schemas (no video is decoded) against the
rules of lerobot_format.py and returns one line per field that is off, naming it; `wallwm data
check` prints them. Each rule is one LeRobot relies on: the task text as the tasks.parquet index
(item["task"], get_task_index, appends), the file size limits (appends), names per dimension,
statistics of every feature with quantiles (normalisation), fixed-size vector columns, and
episode rows that all have LeRobot's columns and no others (an appended row must match them).
Vector columns may be plain lists: LeRobot's recorder writes fixed-size lists, but its
aggregate_datasets writes plain ones, and its loader reads both.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from worldmodel.data import lerobot_format as fmt
from worldmodel.data import stats as feature_stats

UPGRADE_HINT = "`wallwm data upgrade {root}` rewrites it in the current layout"


def _info_problems(info: dict[str, Any]) -> list[str]:
    problems = [f"meta/info.json: key {k!r} is missing" for k in fmt.INFO_KEYS if k not in info]
    if info.get("codebase_version") != fmt.CODEBASE_VERSION:
        problems.append(
            f"meta/info.json codebase_version: {info.get('codebase_version')!r}; expected "
            f"{fmt.CODEBASE_VERSION!r}"
        )
    features = info.get("features", {})
    for key, expected in fmt.INDEX_FEATURES.items():
        found = features.get(key)
        if found is None or [found.get("dtype"), list(found.get("shape", []))] != [
            expected["dtype"],
            expected["shape"],
        ]:
            problems.append(f"feature {key!r}: {found}; LeRobot expects {expected}")
    for key, feature in features.items():
        shape = list(feature.get("shape", []))
        names = feature.get("names")
        if feature.get("dtype") == "video":
            if names != ["height", "width", "channels"] or len(shape) != 3:
                problems.append(f"feature {key!r}: shape {shape} names {names}; expected (H, W, 3)")
            if "info" not in feature:
                problems.append(f"feature {key!r}: no video 'info' (codec, pix_fmt, fps)")
        elif (
            len(shape) == 1
            and shape != [1]
            and (not isinstance(names, list) or len(names) != shape[0])
        ):
            problems.append(
                f"feature {key!r}: names {names}; expected one name per dimension ({shape[0]})"
            )
    return problems


def _tasks_problems(root: Path, info: dict[str, Any]) -> list[str]:
    path = root / fmt.TASKS_PATH
    if not path.exists():
        return [f"{fmt.TASKS_PATH} is missing"]
    schema = pq.read_schema(path)
    pandas = json.loads((schema.metadata or {}).get(b"pandas", b"{}"))
    index = pandas.get("index_columns", [])
    if "task" in schema.names or len(index) != 1 or index[0] not in schema.names:
        return [
            f"{fmt.TASKS_PATH}: columns {schema.names} with a plain row index; LeRobot keeps the "
            "task text as the index (item['task'] would be a number)"
        ]
    tasks = fmt.read_tasks(root)
    problems = []
    if sorted(tasks.values()) != list(range(len(tasks))):
        problems.append(f"{fmt.TASKS_PATH}: task_index {sorted(tasks.values())}; expected 0..n-1")
    if info.get("total_tasks") != len(tasks):
        problems.append(
            f"meta/info.json total_tasks: {info.get('total_tasks')}; {len(tasks)} tasks"
        )
    return problems


def _stats_problems(root: Path, info: dict[str, Any]) -> list[str]:
    path = root / fmt.STATS_PATH
    if not path.exists():
        return [f"{fmt.STATS_PATH} is missing (the dataset was not finalized)"]
    stats = json.loads(path.read_text())
    problems = []
    for key, feature in info.get("features", {}).items():
        if feature.get("dtype") == "string":
            continue
        found = stats.get(key)
        if found is None:
            problems.append(f"{fmt.STATS_PATH}: feature {key!r} has no statistics")
            continue
        missing = [s for s in feature_stats.STAT_KEYS if s not in found]
        if missing:
            problems.append(f"{fmt.STATS_PATH} {key!r}: {', '.join(missing)} missing")
            continue
        shape = [3, 1, 1] if feature["dtype"] == "video" else list(feature["shape"])
        wrong = [s for s in feature_stats.STAT_KEYS if s != "count" and _shape(found[s]) != shape]
        if wrong:
            problems.append(
                f"{fmt.STATS_PATH} {key!r}: {wrong[0]} has shape {_shape(found[wrong[0]])}; "
                f"expected {shape}"
            )
    return problems


def _shape(value: Any) -> list[int]:
    shape = []
    while isinstance(value, list):
        shape.append(len(value))
        value = value[0] if value else None
    return shape


def _data_problems(root: Path, info: dict[str, Any], rows: list[dict[str, Any]]) -> list[str]:
    expected = fmt.data_schema(info.get("features", {}))
    paths = sorted({(r["data/chunk_index"], r["data/file_index"]) for r in rows})
    problems = []
    for chunk, file in paths:
        path = root / info.get("data_path", fmt.DATA_PATH).format(
            chunk_index=chunk, file_index=file
        )
        if not path.exists():
            continue  # reported per episode by the reader
        schema = pq.read_schema(path)
        if schema.names != expected.names:
            return [
                f"{path.relative_to(root)}: columns {schema.names}; info.json features give "
                f"{expected.names}"
            ]
        for field in expected:
            found = schema.field(field.name).type
            if not _column_fits(field.type, found):
                problems.append(
                    f"{path.relative_to(root)} {field.name!r}: {found}; info.json gives "
                    f"{field.type}"
                )
        if problems:
            return problems
    return problems


def _column_fits(expected: pa.DataType, found: pa.DataType) -> bool:
    """A vector column fits as a fixed-size list of its length or a plain list of its type."""
    if not pa.types.is_fixed_size_list(expected):
        return found == expected or (
            pa.types.is_string(expected) and pa.types.is_large_string(found)
        )
    if pa.types.is_fixed_size_list(found):
        return found.list_size == expected.list_size and found.value_type == expected.value_type
    return pa.types.is_list(found) and found.value_type == expected.value_type


def _episode_problems(root: Path, info: dict[str, Any], rows: list[dict[str, Any]]) -> list[str]:
    features = info.get("features", {})
    required = ["episode_index", "tasks", "length", "data/chunk_index", "data/file_index"]
    required += ["dataset_from_index", "dataset_to_index"]
    for key, feature in features.items():
        if feature.get("dtype") == "video":
            required += [
                f"videos/{key}/{c}"
                for c in ("chunk_index", "file_index", "from_timestamp", "to_timestamp")
            ]
    for key, feature in features.items():
        if feature.get("dtype") != "string":
            required += [f"stats/{key}/{s}" for s in feature_stats.STAT_KEYS]
    required += ["meta/episodes/chunk_index", "meta/episodes/file_index"]
    problems = []
    names: set[tuple[str, ...]] = set()
    for path in sorted((root / "meta" / "episodes").glob("chunk-*/file-*.parquet")):
        names.add(tuple(pq.read_schema(path).names))
    for found in sorted(names):
        missing = [c for c in required if c not in found]
        extra = [c for c in found if c not in required]
        if missing:
            problems.append(
                f"meta/episodes: {len(missing)} columns missing: {', '.join(missing[:4])}"
            )
        if extra:
            problems.append(
                f"meta/episodes: extra columns {extra[:3]}: an episode LeRobot appends lacks "
                "them and the dataset no longer opens"
            )
    if len(names) > 1 and not problems:
        problems.append(
            "meta/episodes: files with different columns (LeRobot cannot open them together)"
        )
    if info.get("total_episodes") != len(rows):
        problems.append(
            f"meta/info.json total_episodes: {info.get('total_episodes')}; {len(rows)} episode rows"
        )
    frames = sum(int(r["length"]) for r in rows)
    if info.get("total_frames") != frames:
        problems.append(
            f"meta/info.json total_frames: {info.get('total_frames')}; the episodes have {frames}"
        )
    return problems


def layout_problems(root: Path) -> list[str]:
    """One line per field of `root` that is not what LeRobot 0.4 writes (empty: conformant)."""
    root = Path(root)
    info = json.loads((root / fmt.INFO_PATH).read_text())
    rows: list[dict[str, Any]] = []
    for path in sorted((root / "meta" / "episodes").glob("chunk-*/file-*.parquet")):
        rows.extend(
            pq.read_table(
                path, columns=["length", "data/chunk_index", "data/file_index"]
            ).to_pylist()
        )
    return (
        _info_problems(info)
        + _tasks_problems(root, info)
        + _stats_problems(root, info)
        + _data_problems(root, info, rows)
        + _episode_problems(root, info, rows)
    )


def keyframe_interval(path: Path) -> float:
    """Mean frames between keyframes of an mp4 (what a random access may have to decode)."""
    import av

    with av.open(str(path)) as container:
        flags = [p.is_keyframe for p in container.demux(video=0) if p.size]
    return len(flags) / max(1, sum(flags))
