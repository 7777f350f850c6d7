"""Event-aligned training samples from a dataset: the unit WALL-WM learns from.

A sample is one captioned event: its caption (at a caption level chosen per sample, dropped with a
probability that grows with the event's length), the keyframe of every camera at the event's
start, the proprio state there, the event's video clip and its actions, normalised with the
dataset's statistics, and the event's targets where the data has them (dropped on a share of
samples, so that a model trained on them still works without). Quasi-static stretches (the robot
barely moving) are pruned.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from worldmodel.action_frame import anchor_for, to_relative
from worldmodel.data import lerobot_format as fmt
from worldmodel.data.episode import CAPTION_LEVELS, CaptionLevel, EventAnnotation
from worldmodel.data.reader import DatasetReader, LoadedEpisode
from worldmodel.data.video import resize_frames
from worldmodel.errors import ContractError
from worldmodel.marks import target_points
from worldmodel.types import EventTarget


@dataclass(frozen=True)
class EventLoaderConfig:
    """How events are turned into samples. Values the paper does not give are our choices."""

    # Relative weight of each caption level when a sample's level is drawn (paper: four levels;
    # mixing weights unknown). Levels absent from a dataset are skipped.
    level_weights: dict[str, float] = field(
        default_factory=lambda: {"task": 0.1, "subtask": 0.2, "action": 0.6, "segment": 0.1}
    )
    # Caption dropout grows with event length (paper: "grows with event length"; rates unknown):
    # p = min(dropout_max, dropout_base + dropout_per_step * length).
    dropout_base: float = 0.05
    dropout_per_step: float = 0.002
    dropout_max: float = 0.3
    # Quasi-static pruning (paper: "quasi-static frames are pruned"; criterion unknown): a step
    # whose proprio and action change by less than static_threshold (L2) is static; of each run
    # of static steps only the first keep_static are kept.
    prune_static: bool = True
    static_threshold: float = 1e-3
    keep_static: int = 2
    max_length: int = 64  # longer events are cropped to a random window of this many steps
    # Crop windows start on a grid of this many steps, so a model-side cache of encoded clips
    # (e.g. VAE latents keyed by window) stays bounded; 1 = any start.
    crop_stride: int = 1
    min_length: int = 2
    # Frames are resized to (height, width) when an episode is loaded (the model's resolution),
    # which also bounds the memory of the decoded-episode cache; None keeps the stored size.
    image_size: tuple[int, int] | None = None
    # Action components given relative to the proprio at the sample's first step (the model
    # config's relative_action_dims); their statistics are those of the relative values.
    relative_action_dims: tuple[int, ...] = ()
    # ... and x, y, z from the event's target where its sample keeps one (anchored actions).
    anchor_actions: bool = False
    anchor_keep_height: tuple[str, ...] = ()  # skills whose z stays from the start
    anchor_in_place: tuple[str, ...] = ()  # skills whose origin stays the start
    # Share of samples whose targets are dropped (our choice): a request without targets, a
    # person's event say, must still work, and the model learns that case from these.
    target_dropout: float = 0.2
    # A window of a longer event (the fixed-chunk baseline's windows of whole episodes) takes the
    # targets and skill of the action-level event its first step lies in, so the baseline gets
    # the same grounding as the event model; off: only a window at its event's start keeps the
    # event's own targets.
    window_targets: bool = False

    def __post_init__(self) -> None:
        unknown = set(self.level_weights) - set(CAPTION_LEVELS)
        if unknown:
            raise ContractError(f"unknown caption levels {sorted(unknown)}; use {CAPTION_LEVELS}")
        if not 0 <= self.dropout_base <= self.dropout_max <= 1:
            raise ContractError("expected 0 <= dropout_base <= dropout_max <= 1")
        if self.crop_stride < 1:
            raise ContractError(f"crop_stride {self.crop_stride}; expected >= 1")
        if not 0 <= self.target_dropout <= 1:
            raise ContractError(f"target_dropout {self.target_dropout}; expected 0..1")

    def dropout_probability(self, length: int) -> float:
        return min(self.dropout_max, self.dropout_base + self.dropout_per_step * length)


@dataclass(frozen=True)
class Normalizer:
    """Mean/std normalisation of one feature; travels with the checkpoint, not the config."""

    mean: np.ndarray
    std: np.ndarray

    @classmethod
    def from_stats(cls, stats: dict[str, np.ndarray], floor: float = 1e-3) -> Normalizer:
        return cls(
            np.asarray(stats["mean"], np.float32),
            np.maximum(stats["std"], floor).astype(np.float32),
        )

    def normalize(self, values: np.ndarray) -> np.ndarray:
        return ((values - self.mean) / self.std).astype(np.float32)

    def unnormalize(self, values: np.ndarray) -> np.ndarray:
        return (values * self.std + self.mean).astype(np.float32)

    def to_dict(self) -> dict[str, list[float]]:
        return {"mean": self.mean.tolist(), "std": self.std.tolist()}

    @classmethod
    def from_dict(cls, values: dict[str, list[float]]) -> Normalizer:
        return cls(np.asarray(values["mean"], np.float32), np.asarray(values["std"], np.float32))


@dataclass(frozen=True)
class EventSample:
    """One training event. `clip[c]` has length + 1 frames: clip[c][0] is the keyframe and
    clip[c][k + 1] the observation after action k."""

    caption: str  # "" when dropped (unconditional)
    level: CaptionLevel
    keyframes: dict[str, np.ndarray]  # camera -> uint8 (H, W, 3)
    proprio: np.ndarray  # float32 (P,), normalised
    clip: dict[str, np.ndarray]  # camera -> uint8 (T + 1, H, W, 3)
    actions: np.ndarray  # float32 (T, A), normalised
    episode_index: int
    start: int
    end: int
    # the episode frames the clip is made of (T + 1,), so that a sample drawn without its
    # frames (EventDataset.sample(frames=False)) can get them later (EventDataset.with_frames)
    clip_steps: np.ndarray = field(default_factory=lambda: np.zeros(0, int))
    # where the event's object and destination are at the keyframe; empty when the data has
    # none, when they were dropped, or when the window starts after the event does (the
    # targets were recorded at the event's first frame, and things move)
    targets: tuple[EventTarget, ...] = ()
    # the targets as the action tower's points (worldmodel/marks.py target_points): relative to
    # the gripper at the window's start; zeros where there are none
    points: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))
    # the skill of the action event the window belongs to (the skill input); None for a caption
    # level without one
    skill: str | None = None

    @property
    def length(self) -> int:
        return len(self.actions)


def static_steps_to_drop(
    proprio: np.ndarray, actions: np.ndarray, config: EventLoaderConfig
) -> np.ndarray:
    """Boolean (T,) mask of steps to prune: static steps beyond the first keep_static of a run."""
    motion = np.zeros(len(actions))
    motion[1:] = np.linalg.norm(np.diff(proprio, axis=0), axis=1) + np.linalg.norm(
        np.diff(actions, axis=0), axis=1
    )
    static = motion < config.static_threshold
    static[0] = False  # the first step of an event is always kept
    drop = np.zeros(len(actions), bool)
    run = 0
    for step, is_static in enumerate(static):
        run = run + 1 if is_static else 0
        drop[step] = run > config.keep_static
    return drop


class EventDataset:
    """Samples events from a dataset; decodes episodes once and keeps them in memory."""

    def __init__(self, reader: DatasetReader, config: EventLoaderConfig | None = None) -> None:
        self.reader = reader
        self.config = config or EventLoaderConfig()
        self._episodes: dict[int, LoadedEpisode] = {}
        self._low_dim: dict[int, tuple[np.ndarray, np.ndarray]] = {}  # proprio, actions
        self._position = {int(row["episode_index"]): p for p, row in enumerate(reader.episodes)}
        # (position of the episode in the reader, annotation) for every usable event
        self.events: list[tuple[int, EventAnnotation]] = [
            (position, event)
            for position, row in enumerate(reader.episodes)
            for event in reader.events[row["episode_index"]]
            if event.length >= self.config.min_length
        ]
        if not self.events:
            raise ContractError(
                f"dataset {reader.root} has no events of >= {self.config.min_length} steps"
            )
        self.state_norm = Normalizer.from_stats(reader.stats[fmt.STATE_KEY])
        if self.config.relative_action_dims:
            self.action_norm = Normalizer.from_stats(self._relative_action_stats())
        else:
            self.action_norm = Normalizer.from_stats(reader.stats[fmt.ACTION_KEY])
        levels = [event.level for _, event in self.events]
        weights = {level: self.config.level_weights.get(level, 0.0) for level in CAPTION_LEVELS}
        self.by_level = {
            level: [i for i, value in enumerate(levels) if value == level]
            for level in CAPTION_LEVELS
            if weights[level] > 0 and level in levels
        }
        if not self.by_level:
            raise ContractError("no event has a caption level with positive weight")
        total = sum(weights[level] for level in self.by_level)
        self.level_probabilities = {level: weights[level] / total for level in self.by_level}

    def __len__(self) -> int:
        return len(self.events)

    def _relative_actions(
        self,
        proprio: np.ndarray,
        actions: np.ndarray,
        targets: Sequence[EventTarget] = (),
        skill: str | None = None,
    ) -> np.ndarray:
        """An event's actions in the model's frame; proprio[0] is the pose at its start,
        `targets` the sample's and `skill` the event's (anchored actions)."""
        config = self.config
        anchor = anchor_for(config, targets, skill)
        return to_relative(actions, proprio[0], config.relative_action_dims, anchor)

    def _relative_action_stats(self) -> dict[str, np.ndarray]:
        """Mean and std of every usable event's actions relative to its start (no video read)."""
        parts = []
        for position, event in self.events:
            proprio, actions = self.low_dim(position)
            window = slice(event.start, event.end)
            parts.append(
                self._relative_actions(proprio[window], actions[window], event.targets, event.skill)
            )
        values = np.concatenate(parts)
        return {"mean": values.mean(0), "std": values.std(0)}

    def _action_event_at(self, position: int, step: int) -> EventAnnotation | None:
        """The action-level event of episode `position` that control step `step` lies in."""
        index = int(self.reader.episodes[position]["episode_index"])
        for event in self.reader.events[index]:
            if event.level == "action" and event.start <= step < event.end:
                return event
        return None

    def low_dim(self, position: int) -> tuple[np.ndarray, np.ndarray]:
        """(proprio (T, P), actions (T, A)) of an episode, read once, without its video."""
        if position not in self._low_dim:
            if position in self._episodes:
                episode = self._episodes[position]
                self._low_dim[position] = (episode.proprio, episode.actions)
            else:
                self._low_dim[position] = self.reader.load_low_dim(position)
        return self._low_dim[position]

    def episode(self, position: int) -> LoadedEpisode:
        if position not in self._episodes:
            episode = self.reader.load(position, self._low_dim.get(position))
            if self.config.image_size is not None:
                height, width = self.config.image_size
                frames = {k: resize_frames(v, height, width) for k, v in episode.frames.items()}
                episode = dataclasses.replace(episode, frames=frames)
            self._episodes[position] = episode
        return self._episodes[position]

    def draw_index(self, rng: np.random.Generator) -> int:
        """Pick a caption level by its weight, then an event of that level uniformly."""
        levels = list(self.level_probabilities)
        level = levels[rng.choice(len(levels), p=list(self.level_probabilities.values()))]
        return int(rng.choice(self.by_level[level]))

    def sample(self, index: int, rng: np.random.Generator, frames: bool = True) -> EventSample:
        """Build the sample of event `index` (cropping and dropout drawn from rng). frames=False
        leaves its keyframes and clip empty and decodes no video (a training stage whose
        windows are already encoded needs none); `with_frames` adds them. The draws from rng
        are the same either way."""
        position, event = self.events[index]
        proprio, actions = self.low_dim(position)
        config = self.config
        start, end = event.start, event.end
        if end - start > config.max_length:
            starts = np.arange(event.start, event.end - config.max_length + 1, config.crop_stride)
            start = int(rng.choice(starts))
            end = start + config.max_length
        steps = np.arange(start, end)
        if config.prune_static:
            keep = ~static_steps_to_drop(proprio[steps], actions[steps], config)
            steps = steps[keep]
        # Observation after action k is frame k + 1 (the episode's last frame is repeated).
        clip_steps = np.concatenate([[start], np.minimum(steps + 1, len(actions) - 1)])
        caption = event.caption
        if rng.random() < config.dropout_probability(len(steps)):
            caption = ""
        targets, skill = (event.targets if start == event.start else ()), event.skill
        if config.window_targets and event.level != "action":
            inner = self._action_event_at(position, start)
            if inner is not None:
                targets, skill = inner.targets, inner.skill
        # drawn only for events with targets: data without them samples exactly as before
        if targets and rng.random() < config.target_dropout:
            targets = ()
        sample = EventSample(
            caption=caption,
            level=event.level,
            keyframes={},
            proprio=self.state_norm.normalize(proprio[start]),
            clip={},
            actions=self.action_norm.normalize(
                self._relative_actions(proprio[[start]], actions[steps], targets, skill)
            ),
            episode_index=int(self.reader.episodes[position]["episode_index"]),
            start=start,
            end=end,
            clip_steps=clip_steps,
            targets=targets,
            points=target_points(targets, proprio[start]),
            skill=skill,
        )
        return self.with_frames(sample) if frames else sample

    def with_frames(self, sample: EventSample) -> EventSample:
        """The sample with its keyframes and clip, decoding its episode if not yet decoded."""
        episode = self.episode(self._position[sample.episode_index])
        return dataclasses.replace(
            sample,
            keyframes={name: clip[sample.start] for name, clip in episode.frames.items()},
            clip={name: clip[sample.clip_steps] for name, clip in episode.frames.items()},
        )

    def event_actions(self, index: int) -> np.ndarray:
        """The normalised actions of an event, uncropped and unpruned (for clustering: from its
        start, anchored or not, so the sampler's clusters are the motions' shapes)."""
        position, event = self.events[index]
        proprio, actions = self.low_dim(position)
        window = slice(event.start, event.end)
        return self.action_norm.normalize(self._relative_actions(proprio[window], actions[window]))

    def event_caption(self, index: int) -> str:
        return self.events[index][1].caption
