"""Append-only episode recording: what the agent did, saw and predicted, event by event.

```
runs/<episode_id>/
  episode.json                 instruction, task, seed, settings (written once, at the start)
  events.jsonl                 one line per finished event (plan, verification, progress)
  recoveries.jsonl             one line per recovery decision, with its evidence and the key of
                               the event it answers
  observed/<n>_<camera>.mp4    what each camera saw during event n
  predicted/<n>_<camera>.mp4   what the world model predicted for event n
  predictions/<n>.npz          predicted actions (and latents) of event n
  executions/<key>.npz         raw arrays of every execution (replayed to resume a simulator)
  segments.json                wall time of each run of the episode (a resume starts another)
  metrics.json                 the episode's outcome, written when it ends
```
Every file of event n is complete before its line is appended to events.jsonl, and that line is
written and fsynced in one call: a crash loses at most the event in flight, never one recorded
before. A torn last line (a crash mid-write) is detected and dropped on reopening.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from worldmodel.data.video import read_mp4, write_mp4
from worldmodel.errors import WallwmError

log = logging.getLogger(__name__)


class EpisodeStoreError(WallwmError):
    """An episode folder is missing or not an episode."""


@dataclass(frozen=True)
class RecordedEvent:
    index: int
    record: dict[str, Any]


class EpisodeStore:
    """One episode's folder. Opening an existing folder continues it (resume)."""

    def __init__(self, root: Path, fps: int = 10) -> None:
        """Nothing is created until something is written: opening an episode to read it (a
        replay, a refused resume) leaves the folder as it was."""
        self.root = Path(root)
        self.fps = fps
        self.events = self._read_events()

    def _folder(self, name: str = "") -> Path:
        """A folder of the episode (the episode's own by default), made on first write."""
        folder = self.root / name
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    # ---- reading -------------------------------------------------------------------------------
    @classmethod
    def open_existing(cls, root: Path) -> EpisodeStore:
        if not (Path(root) / "episode.json").exists():
            raise EpisodeStoreError(f"{root} is not a recorded episode (no episode.json)")
        return cls(root)

    def _read_events(self) -> list[RecordedEvent]:
        path = self.root / "events.jsonl"
        if not path.exists():
            return []
        events: list[RecordedEvent] = []
        lines = path.read_text().splitlines(keepends=True)
        for number, line in enumerate(lines):
            try:
                entry = json.loads(line)
            except json.JSONDecodeError:
                if number == len(lines) - 1:
                    log.warning("dropping a torn last line of %s (crash mid-write)", path)
                    path.write_text("".join(lines[:number]))
                    break
                raise EpisodeStoreError(f"{path} line {number + 1} is not JSON") from None
            events.append(RecordedEvent(entry["index"], entry))
        return events

    @property
    def header(self) -> dict[str, Any]:
        path = self.root / "episode.json"
        return json.loads(path.read_text()) if path.exists() else {}

    @property
    def metrics(self) -> dict[str, Any] | None:
        path = self.root / "metrics.json"
        return json.loads(path.read_text()) if path.exists() else None

    def frames(self, index: int, kind: str = "observed") -> dict[str, np.ndarray]:
        """The frames of event `index`, per camera; kind is "observed" or "predicted"."""
        prefix = f"{index:04d}_"
        return {
            path.stem.removeprefix(prefix): read_mp4(path)
            for path in sorted((self.root / kind).glob(f"{prefix}*.mp4"))
        }

    def find_event(self, key: str) -> int | None:
        """The index of the recorded event with this key, if any (appends are idempotent)."""
        return next((e.index for e in self.events if e.record.get("key") == key), None)

    def load_execution(self, key: str) -> dict[str, np.ndarray]:
        path = self.root / "executions" / f"{key}.npz"
        if not path.exists():
            raise EpisodeStoreError(f"execution {key} is not in {self.root}")
        with np.load(path) as archive:
            return dict(archive)

    def prediction_arrays(self, index: int) -> dict[str, np.ndarray]:
        with np.load(self.root / "predictions" / f"{index:04d}.npz") as archive:
            return dict(archive)

    # ---- writing -------------------------------------------------------------------------------
    def write_header(self, header: dict[str, Any]) -> None:
        """Write episode.json once; reopening a started episode keeps the original."""
        path = self.root / "episode.json"
        if not path.exists():
            self._folder()
            _atomic_write_text(path, json.dumps(header, indent=2, default=str) + "\n")

    def update_header(self, changes: dict[str, Any]) -> None:
        """Replace some keys of episode.json (a resumed run records the settings it changed)."""
        header = {**self.header, **changes}
        _atomic_write_text(
            self._folder() / "episode.json", json.dumps(header, indent=2, default=str) + "\n"
        )

    def segment_seconds(self) -> list[float]:
        """Wall time of each run of this episode so far, in order."""
        path = self.root / "segments.json"
        return json.loads(path.read_text()) if path.exists() else []

    def record_segment(self, index: int, seconds: float) -> None:
        """Set run number `index`'s wall time (rewritten as it grows: a killed run keeps the time
        up to its last record)."""
        segments = self.segment_seconds()
        segments = segments[:index] + [0.0] * (index - len(segments)) + [round(seconds, 3)]
        _atomic_write_text(self._folder() / "segments.json", json.dumps(segments) + "\n")

    def save_execution(self, key: str, arrays: dict[str, np.ndarray]) -> None:
        """Keep an execution's raw arrays (uncompressed: it sits on the control loop's path)
        until it is verified; also what a resumed run replays to restore a simulator."""
        path = self._folder("executions") / f"{key}.npz"
        temporary = path.with_name(path.stem + ".partial.npz")
        np.savez(temporary, **arrays)
        os.replace(temporary, path)

    def append_event(
        self,
        record: dict[str, Any],
        observed: dict[str, np.ndarray] | None = None,
        predicted: dict[str, np.ndarray] | None = None,
        arrays: dict[str, np.ndarray] | None = None,
    ) -> int:
        """Store one finished event: media first, then its line. Returns the event index.

        A record whose "key" is already stored is not written again (a node re-run after a
        crash between the store and the checkpoint must not duplicate the event)."""
        existing = self.find_event(record["key"]) if "key" in record else None
        if existing is not None:
            return existing
        index = len(self.events)
        for kind, clips in (("observed", observed), ("predicted", predicted)):
            for camera, clip in (clips or {}).items():
                if len(clip):
                    path = self._folder(kind) / f"{index:04d}_{camera}.mp4"
                    temporary = path.with_name(path.stem + ".partial.mp4")
                    write_mp4(temporary, _even(clip), self.fps)
                    os.replace(temporary, path)
        if arrays:
            path = self._folder("predictions") / f"{index:04d}.npz"
            temporary = path.with_name(path.stem + ".partial.npz")
            np.savez_compressed(temporary, **arrays)
            os.replace(temporary, path)
        entry = {"index": index, **record}
        _append_line(self._folder() / "events.jsonl", json.dumps(entry, default=_json_default))
        self.events.append(RecordedEvent(index, entry))
        return index

    @property
    def recoveries(self) -> list[dict[str, Any]]:
        """Every recorded recovery decision, in order."""
        return _read_jsonl(self.root / "recoveries.jsonl")

    def append_recovery(self, decision: dict[str, Any]) -> None:
        """Record one recovery decision; one already recorded (same "key" and "attempt": a node
        re-run after a crash) is not written again."""
        identity = (decision["key"], decision["attempt"])
        if any((d["key"], d["attempt"]) == identity for d in self.recoveries):
            return
        line = json.dumps(decision, default=_json_default)
        _append_line(self._folder() / "recoveries.jsonl", line)

    def finish(self, metrics: dict[str, Any]) -> None:
        _atomic_write_text(
            self._folder() / "metrics.json",
            json.dumps(metrics, indent=2, default=_json_default) + "\n",
        )


def _append_line(path: Path, line: str) -> None:
    """Append one line in one write, flushed and fsynced (a crash tears at most this line; a
    torn line left by an earlier crash is ended first, so it cannot swallow this one)."""
    torn = False
    if path.exists() and path.stat().st_size > 0:
        with path.open("rb") as handle:
            handle.seek(-1, os.SEEK_END)
            torn = handle.read(1) != b"\n"
    with path.open("a") as handle:
        handle.write(("\n" if torn else "") + line + "\n")
        handle.flush()
        os.fsync(handle.fileno())


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    """The complete lines of a JSONL file (a torn last line is skipped)."""
    if not path.exists():
        return []
    records = []
    for line in path.read_text().splitlines():
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            log.warning("skipping a torn line of %s (crash mid-write)", path)
    return records


def _even(clip: np.ndarray) -> np.ndarray:
    """Crop to even height and width (H.264 in yuv420p needs them)."""
    height, width = clip.shape[1] - clip.shape[1] % 2, clip.shape[2] - clip.shape[2] % 2
    return clip[:, :height, :width]


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if hasattr(value, "model_dump"):
        return value.model_dump()
    raise TypeError(f"cannot record a {type(value).__name__} in events.jsonl")


def _atomic_write_text(path: Path, text: str) -> None:
    temporary = path.with_name(path.name + ".partial")
    temporary.write_text(text)
    os.replace(temporary, path)
