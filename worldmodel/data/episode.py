"""One recorded episode in memory, with its event annotations at four caption levels.

Frame t holds the observation at control step t; action t is the target sent right after it.
Annotations are frame ranges [start, end) with a caption at one of the paper's four levels.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from worldmodel.errors import ContractError
from worldmodel.types import CameraSpec, EventTarget

CaptionLevel = Literal["task", "subtask", "action", "segment"]
CAPTION_LEVELS: tuple[CaptionLevel, ...] = ("task", "subtask", "action", "segment")


@dataclass(frozen=True)
class EventAnnotation:
    """A captioned frame range [start, end) of an episode; `targets`: where the event's object
    and destination are in each camera at frame `start` (empty when the data has none)."""

    level: CaptionLevel
    caption: str
    start: int
    end: int
    skill: str | None = None
    arguments: dict[str, str] = field(default_factory=dict)
    targets: tuple[EventTarget, ...] = ()

    def __post_init__(self) -> None:
        if self.level not in CAPTION_LEVELS:
            raise ContractError(f"caption level {self.level!r}; expected one of {CAPTION_LEVELS}")
        if not 0 <= self.start < self.end:
            raise ContractError(
                f"event {self.caption!r} covers [{self.start}, {self.end}); "
                "expected 0 <= start < end"
            )

    @property
    def length(self) -> int:
        return self.end - self.start


@dataclass
class EpisodeRecord:
    """Everything the dataset writer needs for one episode."""

    task: str
    cameras: tuple[CameraSpec, ...]
    frames: dict[str, np.ndarray]  # camera -> uint8 (T, H, W, 3)
    proprio: np.ndarray  # float32 (T, P)
    actions: np.ndarray  # float32 (T, A)
    annotations: list[EventAnnotation]
    fps: int
    metadata: dict[str, Any] = field(default_factory=dict)  # seed, task id, faults, recovery...
    state_names: tuple[str, ...] | None = None  # one per proprio value ("arm0.x", ...)
    action_names: tuple[str, ...] | None = None  # one per action value

    def __post_init__(self) -> None:
        steps = len(self.actions)
        if steps < 1:
            raise ContractError("episode has no steps")
        if self.proprio.shape[0] != steps:
            raise ContractError(
                f"episode proprio has {self.proprio.shape[0]} steps; expected {steps} (actions)"
            )
        for camera in self.cameras:
            clip = self.frames.get(camera.name)
            if clip is None:
                raise ContractError(f"episode lacks frames of camera {camera.name!r}")
            if clip.shape != (steps, *camera.image_shape) or clip.dtype != np.uint8:
                raise ContractError(
                    f"episode frames of camera {camera.name!r} are {clip.dtype} {clip.shape}; "
                    f"expected uint8 {(steps, *camera.image_shape)}"
                )
        for annotation in self.annotations:
            if annotation.end > steps:
                raise ContractError(
                    f"event {annotation.caption!r} ends at {annotation.end}, past the "
                    f"episode's {steps} steps"
                )

    @property
    def length(self) -> int:
        return len(self.actions)
