"""Event-segmented episodes: frames per camera, proprio, actions, and captions on four levels.

Alignment: `actions[t]` is applied at control step t; `frames[cam][t]` and `proprio[t]` are what
was observed *before* action t, and index T (= len(actions)) is the final observation. A caption
span [start, end) covers actions start..end-1, i.e. the clip frames[start..end].

Levels (the WALL-WM paper's caption levels): "task" (the instruction), "subtask" (e.g. "put
the red block in the bowl"), "action" (one skill call, e.g. "grasp the red block") and
"segment" (one motion phase inside a skill, e.g. "lower the gripper to the red block").
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from worldmodel.types import CameraSpec, EventTarget

LEVELS: tuple[str, ...] = ("task", "subtask", "action", "segment")


@dataclass(frozen=True)
class CaptionSpan:
    level: str  # one of LEVELS
    text: str
    start: int  # first action index
    end: int  # one past the last action index


@dataclass(frozen=True)
class EventRecord:
    """One action-level event as executed: skill, arguments, its action range and where its
    object and destination were when it began (from simulator state)."""

    skill: str
    arguments: dict[str, str]
    caption: str
    subtask: int
    start: int
    end: int
    recovery: bool = False
    targets: tuple[EventTarget, ...] = ()

    def to_dict(self) -> dict:
        return {**asdict(self), "targets": [target.to_dict() for target in self.targets]}

    @classmethod
    def from_dict(cls, data: dict) -> EventRecord:
        targets = tuple(EventTarget.from_dict(t) for t in data.get("targets", ()))
        return cls(**{**data, "targets": targets})


@dataclass
class Episode:
    task: str
    family: str
    instruction: str
    seed: int
    cameras: tuple[CameraSpec, ...]
    frames: dict[str, np.ndarray]  # name -> uint8 (T+1, H, W, 3); empty when not rendered
    proprio: np.ndarray  # float32 (T+1, P)
    actions: np.ndarray  # float32 (T, A)
    captions: list[CaptionSpan] = field(default_factory=list)
    events: list[EventRecord] = field(default_factory=list)
    success: bool = False
    progress: float = 0.0
    faults: list[dict] = field(default_factory=list)
    wrist_poses: np.ndarray | None = None  # float64 (T+1, 4, 4)

    @property
    def steps(self) -> int:
        return int(self.actions.shape[0])

    def spans(self, level: str) -> list[CaptionSpan]:
        return [span for span in self.captions if span.level == level]

    def metadata(self) -> dict:
        return {
            "task": self.task,
            "family": self.family,
            "instruction": self.instruction,
            "seed": self.seed,
            "steps": self.steps,
            "success": self.success,
            "progress": self.progress,
            "cameras": [
                {
                    "name": c.name,
                    "width": c.width,
                    "height": c.height,
                    "intrinsics": None if c.intrinsics is None else c.intrinsics.tolist(),
                    "extrinsics": None if c.extrinsics is None else c.extrinsics.tolist(),
                    "mounted_on": c.mounted_on,
                }
                for c in self.cameras
            ],
            "captions": [asdict(span) for span in self.captions],
            "events": [event.to_dict() for event in self.events],
            "faults": self.faults,
        }

    def save(self, folder: str | Path) -> Path:
        """Write episode.json (metadata, captions, events, fault log) and arrays.npz."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "episode.json").write_text(json.dumps(self.metadata(), indent=1))
        arrays = {"actions": self.actions, "proprio": self.proprio}
        arrays.update({f"frames_{name}": clip for name, clip in self.frames.items()})
        if self.wrist_poses is not None:
            arrays["wrist_poses"] = self.wrist_poses
        np.savez_compressed(folder / "arrays.npz", **arrays)
        return folder

    @classmethod
    def load(cls, folder: str | Path) -> Episode:
        folder = Path(folder)
        meta = json.loads((folder / "episode.json").read_text())
        with np.load(folder / "arrays.npz") as arrays:
            frames = {k[7:]: arrays[k] for k in arrays.files if k.startswith("frames_")}
            actions, proprio = arrays["actions"], arrays["proprio"]
            wrist = arrays["wrist_poses"] if "wrist_poses" in arrays.files else None
        cameras = tuple(
            CameraSpec(
                name=c["name"],
                width=c["width"],
                height=c["height"],
                intrinsics=None if c["intrinsics"] is None else np.array(c["intrinsics"]),
                extrinsics=None if c["extrinsics"] is None else np.array(c["extrinsics"]),
                mounted_on=c["mounted_on"],
            )
            for c in meta["cameras"]
        )
        return cls(
            task=meta["task"],
            family=meta["family"],
            instruction=meta["instruction"],
            seed=meta["seed"],
            cameras=cameras,
            frames=frames,
            proprio=proprio,
            actions=actions,
            captions=[CaptionSpan(**span) for span in meta["captions"]],
            events=[EventRecord.from_dict(event) for event in meta["events"]],
            success=meta["success"],
            progress=meta["progress"],
            faults=meta["faults"],
            wrist_poses=wrist,
        )
