"""Read a LeRobot v3.0 dataset (ours or anyone's) and check every episode before it is used.

A missing camera stream, a length mismatch between video and actions, or NaN in actions or state
raises DatasetError naming the episode and the field: bad data never trains silently.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq

from worldmodel.data import lerobot_format as fmt
from worldmodel.data.episode import CAPTION_LEVELS, EventAnnotation
from worldmodel.data.video import read_mp4
from worldmodel.errors import WallwmError
from worldmodel.types import CameraSpec, EventTarget


class DatasetError(WallwmError):
    """A dataset on disk is missing, incomplete or inconsistent."""


@dataclass(frozen=True)
class LoadedEpisode:
    """One episode decoded into memory."""

    index: int
    task: str
    frames: dict[str, np.ndarray]  # camera -> uint8 (T, H, W, 3)
    proprio: np.ndarray  # float32 (T, P)
    actions: np.ndarray  # float32 (T, A)
    events: list[EventAnnotation]
    metadata: dict[str, Any]

    @property
    def length(self) -> int:
        return len(self.actions)


class DatasetReader:
    """Random access to the committed episodes of a LeRobot v3.0 dataset folder."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        info_path = self.root / fmt.INFO_PATH
        if not info_path.exists():
            raise DatasetError(
                f"{self.root} is not a dataset: {fmt.INFO_PATH} is missing "
                "(generate one with `wallwm data generate`)"
            )
        self.info: dict[str, Any] = json.loads(info_path.read_text())
        version = self.info.get("codebase_version")
        if version != fmt.CODEBASE_VERSION:
            raise DatasetError(
                f"{self.root} has LeRobot format {version}; expected {fmt.CODEBASE_VERSION}"
            )
        self.episodes = self._read_episode_rows()
        self.camera_names = [
            key.removeprefix("observation.images.")
            for key, feature in self.info["features"].items()
            if feature.get("dtype") == "video"
        ]

    def _read_episode_rows(self) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = []
        for path in sorted((self.root / "meta" / "episodes").glob("chunk-*/file-*.parquet")):
            rows.extend(pq.read_table(path).to_pylist())
        rows.sort(key=lambda row: row["episode_index"])
        if not rows:
            raise DatasetError(f"{self.root} has no committed episodes")
        return rows

    @property
    def fps(self) -> int:
        return int(self.info["fps"])

    def __len__(self) -> int:
        return len(self.episodes)

    @cached_property
    def stats(self) -> dict[str, dict[str, np.ndarray]]:
        """Normalisation statistics (meta/stats.json), as float32 arrays."""
        path = self.root / fmt.STATS_PATH
        if not path.exists():
            raise DatasetError(f"{path} is missing: the dataset was not finalized")
        raw = json.loads(path.read_text())
        return {
            key: {stat: np.asarray(value, np.float32) for stat, value in values.items()}
            for key, values in raw.items()
        }

    @property
    def legacy(self) -> bool:
        """Written by wallwm's earlier writer (see `wallwm data upgrade`)."""
        return fmt.legacy_layout(self.root)

    @cached_property
    def _extras(self) -> tuple[dict[int, list[EventAnnotation]], dict[int, dict[str, Any]]]:
        """(events, metadata) per episode index: from the string features of the data rows, or
        from meta/events/ and the episode rows in the earlier layout."""
        events: dict[int, list[EventAnnotation]] = {
            row["episode_index"]: [] for row in self.episodes
        }
        metadata: dict[int, dict[str, Any]] = {index: {} for index in events}
        if fmt.EVENTS_KEY not in self.info["features"]:  # the earlier layout, or not ours
            for row in self.episodes:
                metadata[row["episode_index"]] = json.loads(row.get("wallwm/metadata") or "{}")
            for path in sorted((self.root / "meta" / "events").glob("chunk-*/file-*.parquet")):
                for row in pq.read_table(path).to_pylist():
                    if row["episode_index"] in events:  # else: leftovers of an uncommitted one
                        events[row["episode_index"]].append(
                            EventAnnotation(
                                level=row["level"],
                                caption=row["caption"],
                                start=row["start"],
                                end=row["end"],
                                skill=row["skill"],
                                arguments=json.loads(row["arguments"]),
                            )
                        )
            return events, metadata
        columns = ["episode_index", "frame_index", fmt.EVENTS_KEY, fmt.EPISODE_KEY]
        for path in sorted({self._data_path(row) for row in self.episodes}):
            if not path.exists():
                continue  # load_low_dim names the missing file
            table = pq.read_table(path, columns=columns).to_pydict()
            for episode, frame, starting, about in zip(*table.values(), strict=True):
                if episode not in events:
                    continue
                if frame == 0 and about:
                    metadata[episode] = json.loads(about)
                for event in json.loads(starting) if starting else []:
                    events[episode].append(
                        EventAnnotation(
                            level=event["level"],
                            caption=event["caption"],
                            start=frame,
                            end=event["end"],
                            skill=event["skill"],
                            arguments=event["arguments"],
                            targets=tuple(
                                EventTarget.from_dict(t) for t in event.get("targets", ())
                            ),
                        )
                    )
        for found in events.values():  # by start, then level from task down: a stable order
            found.sort(key=lambda e: (e.start, CAPTION_LEVELS.index(e.level), e.end))
        return events, metadata

    @property
    def events(self) -> dict[int, list[EventAnnotation]]:
        """Captioned frame ranges per episode (empty lists for datasets without them)."""
        return self._extras[0]

    def cameras(self) -> tuple[CameraSpec, ...]:
        """Camera specs, with the geometry our writer stores (absent for foreign datasets)."""
        legacy = json.loads(self.episodes[0].get("wallwm/cameras") or "{}")
        specs = []
        for name in self.camera_names:
            feature = self.info["features"][fmt.video_key(name)]
            known = feature.get(fmt.CAMERA_GEOMETRY_KEY) or legacy.get(name, {})
            specs.append(
                CameraSpec(
                    name=name,
                    width=int(feature["shape"][1]),
                    height=int(feature["shape"][0]),
                    intrinsics=None
                    if known.get("intrinsics") is None
                    else np.array(known["intrinsics"]),
                    extrinsics=None
                    if known.get("extrinsics") is None
                    else np.array(known["extrinsics"]),
                    mounted_on=known.get("mounted_on"),
                )
            )
        return tuple(specs)

    def metadata(self, position: int) -> dict[str, Any]:
        """The wallwm metadata of episode number `position` (empty for datasets without it)."""
        return self._extras[1][self.episodes[position]["episode_index"]]

    def _data_path(self, row: dict[str, Any]) -> Path:
        return self.root / self.info["data_path"].format(
            chunk_index=row["data/chunk_index"], file_index=row["data/file_index"]
        )

    def load_low_dim(self, position: int) -> tuple[np.ndarray, np.ndarray]:
        """(proprio (T, P), actions (T, A)) of episode number `position`, checked; no video."""
        row = self.episodes[position]
        index = int(row["episode_index"])
        where = f"episode {index} of {self.root}"
        data_path = self._data_path(row)
        if not data_path.exists():
            raise DatasetError(f"{where}: data file {data_path} is missing")
        names = pq.read_schema(data_path).names
        table = pq.read_table(
            data_path,
            columns=[k for k in (fmt.STATE_KEY, fmt.ACTION_KEY, "episode_index") if k in names],
        )
        if "episode_index" in table.column_names:
            mask = np.asarray(table["episode_index"]) == index
            table = table.filter(mask)
        for key in (fmt.STATE_KEY, fmt.ACTION_KEY):
            if key not in table.column_names:
                raise DatasetError(f"{where}: field {key!r} is missing from {data_path.name}")
        proprio = np.asarray(table[fmt.STATE_KEY].to_pylist(), np.float32)
        actions = np.asarray(table[fmt.ACTION_KEY].to_pylist(), np.float32)
        length = int(row["length"])
        for key, values in ((fmt.STATE_KEY, proprio), (fmt.ACTION_KEY, actions)):
            if len(values) != length:
                raise DatasetError(
                    f"{where}: field {key!r} has {len(values)} rows; the episode length is {length}"
                )
            if not np.all(np.isfinite(values)):
                step = int(np.argwhere(~np.isfinite(values))[0][0])
                raise DatasetError(f"{where}: field {key!r} has NaN or infinity at frame {step}")
        for event in self.events[index]:
            if event.end > length:
                raise DatasetError(
                    f"{where}: event {event.caption!r} ends at frame {event.end} > length {length}"
                )
        return proprio, actions

    def load(
        self, position: int, low_dim: tuple[np.ndarray, np.ndarray] | None = None
    ) -> LoadedEpisode:
        """Decode episode number `position` (0-based) and check it; raises DatasetError.
        `low_dim`: its (proprio, actions) from an earlier load_low_dim, not read again."""
        row = self.episodes[position]
        index = int(row["episode_index"])
        where = f"episode {index} of {self.root}"
        proprio, actions = low_dim if low_dim is not None else self.load_low_dim(position)
        length = len(actions)
        frames: dict[str, np.ndarray] = {}
        for camera in self.camera_names:
            key = fmt.video_key(camera)
            chunk = row.get(f"videos/{key}/chunk_index")
            if chunk is None:
                raise DatasetError(f"{where}: camera stream {key!r} is not listed")
            path = self.root / self.info["video_path"].format(
                video_key=key, chunk_index=chunk, file_index=row[f"videos/{key}/file_index"]
            )
            if not path.exists():
                raise DatasetError(f"{where}: camera stream {key!r} file {path} is missing")
            clip = read_mp4(path)
            first = round(float(row[f"videos/{key}/from_timestamp"]) * self.fps)
            clip = clip[first : first + length]
            if len(clip) != length:
                raise DatasetError(
                    f"{where}: camera stream {key!r} has {len(clip)} frames; the actions have "
                    f"{length}"
                )
            frames[camera] = clip
        return LoadedEpisode(
            index=index,
            task=(row.get("tasks") or [""])[0],
            frames=frames,
            proprio=proprio,
            actions=actions,
            events=self.events[index],
            metadata=self.metadata(position),
        )

    def level_counts(self) -> dict[str, int]:
        """How many events each caption level has, for reports."""
        counts = dict.fromkeys(CAPTION_LEVELS, 0)
        for events in self.events.values():
            for event in events:
                counts[event.level] += 1
        return counts
