"""Batch sources for the training stages: VAE clips, and encoded event batches for the towers.

Event batches come from `EventDataset` (caption level per sample, caption dropout, quasi-static
pruning, normalisation) drawn through `BalancedSampler` within the chosen caption level. The
frozen VAE encodes each event window once and the latents are cached (windows start on the
loader's crop grid, so the cache stays bounded); captions are embedded once with the frozen text
encoder. Events of different lengths in one batch are padded: actions with a False `valid` mask,
latents by repeating their last frame. Packed batches (`PackedEventBatches`) instead lay several
events one after the other in each row, up to a capacity of latent frames, and pad only the end.
For a model with mark channels (`mark_sigma` set) each event's targets are drawn as heatmaps at
the latent resolution (worldmodel/marks.py); an event without targets gets zeros.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from worldmodel.action_tower import state_input
from worldmodel.config import ActionTowerConfig
from worldmodel.data.balance import BalancedSampler
from worldmodel.data.events import EventDataset, EventSample
from worldmodel.data.packing import PackedLayout
from worldmodel.errors import ContractError
from worldmodel.flow import TrainingBatch
from worldmodel.marks import render_marks
from worldmodel.text import TextEncoder
from worldmodel.training.latent_store import LatentStore, window_key
from worldmodel.vae import VideoVAE, pad_clip


class CaptionBank:
    """Every caption of a dataset embedded once; the empty (dropped) caption is all zeros."""

    def __init__(self, captions: list[str], encoder: TextEncoder, batch: int = 64) -> None:
        unique = sorted({c for c in captions if c.strip()})
        self.embeddings: dict[str, torch.Tensor] = {}
        for first in range(0, len(unique), batch):
            chunk = unique[first : first + batch]
            encoded = encoder.encode(chunk).cpu()  # (b, L, D)
            self.embeddings.update(zip(chunk, encoded, strict=True))
        example = next(iter(self.embeddings.values()))
        self.empty = torch.zeros_like(example)  # (L, D)

    def __getitem__(self, caption: str) -> torch.Tensor:
        return self.embeddings.get(caption, self.empty) if caption else self.empty

    def mean_embeddings(self, captions: list[str]) -> np.ndarray:
        """(N, D) one vector per caption (mean over tokens), for clustering."""
        return torch.stack([self[c].mean(0) for c in captions]).numpy()


# An action tower whose state input is the proprio alone (no points, skill or hidden part).
PROPRIO_ONLY = ActionTowerConfig()


@dataclass(frozen=True)
class Focus:
    """Draw this share of a tower stage's events from one skill (action-level events whose skill
    is `skill`, cluster-balanced among them), or from several joined by '+' ("reach+move"); the
    rest are drawn as usual. Why: a skill that is a small part of the data is a small part of the
    loss (reach is 5% of tabletop600's events), so what only it teaches, such as which block a
    colour word names, is learned last."""

    skill: str
    share: float

    @property
    def skills(self) -> set[str]:
        return {name.strip() for name in self.skill.split("+")}

    def __post_init__(self) -> None:
        if not 0 < self.share <= 1:
            raise ContractError(f"focus share {self.share}; expected 0 < share <= 1")

    @classmethod
    def parse(cls, text: str) -> Focus:
        """'reach=0.5' -> Focus('reach', 0.5)."""
        skill, separator, share = text.partition("=")
        try:
            value = float(share)
        except ValueError:
            value = None
        if not separator or not skill.strip() or value is None:
            raise ContractError(f"focus {text!r}; expected SKILL=SHARE, such as reach=0.5")
        return cls(skill.strip(), value)


def encode_window(vae: VideoVAE, sample: EventSample, temporal_stride: int) -> torch.Tensor:
    """(V, C, F, h, w) float16 latents of a sample's clip, cameras in the dataset's order (as
    the executor sees them)."""
    clips = np.stack([pad_clip(sample.clip[n], temporal_stride) for n in sample.clip])[None]
    return vae.encode(clips)[0].to(torch.float16)


@dataclass
class VAEBatches:
    """Random clips of `frames` frames from random cameras of random episodes, in [-1, 1]."""

    dataset: EventDataset
    batch: int
    frames: int  # 1 + 4k for the Wan VAE

    def __call__(self, step: int, rng: np.random.Generator) -> torch.Tensor:
        clips = []
        for _ in range(self.batch):
            episode = self.dataset.episode(int(rng.integers(len(self.dataset.reader))))
            cameras = sorted(episode.frames)
            video = episode.frames[cameras[int(rng.integers(len(cameras)))]]
            start = int(rng.integers(max(1, len(video) - self.frames + 1)))
            clip = video[start : start + self.frames]
            if len(clip) < self.frames:
                clip = np.concatenate([clip, np.repeat(clip[-1:], self.frames - len(clip), 0)])
            clips.append(clip)
        x = torch.from_numpy(np.stack(clips)).permute(0, 4, 1, 2, 3)  # (B, 3, T, H, W)
        return x.float() / 127.5 - 1.0


class EventBatches:
    """Encoded, padded event batches for video and action training (a TrainingLoop batch_fn)."""

    def __init__(
        self,
        dataset: EventDataset,
        vae: VideoVAE,
        captions: CaptionBank,
        batch: int,
        temporal_stride: int,
        balanced: bool = True,
        cache: dict[tuple, torch.Tensor] | None = None,
        store: LatentStore | None = None,
        focus: Focus | None = None,
        mark_sigma: float | None = None,
        action: ActionTowerConfig = PROPRIO_ONLY,
    ) -> None:
        self.dataset = dataset
        self.mark_sigma = mark_sigma  # None: the model takes no marks
        # the action tower whose state input the batches give (target points, skill, hidden
        # proprio)
        self.action = action
        self.vae = vae
        self.captions = captions
        self.batch = batch
        self.stride = temporal_stride
        # encoded windows; a caller may pass another source's dict to share it (same VAE only)
        self.cache: dict[tuple, torch.Tensor] = {} if cache is None else cache
        self.store = store  # on disk, for later commands: read before encoding, written after
        self.balanced = balanced
        self.sampler: BalancedSampler | None = None
        self.focus = focus
        self.focus_members = np.zeros(0, int)
        if focus is not None:
            skills = [event.skill for _, event in dataset.events]
            self.focus_members = np.flatnonzero([skill in focus.skills for skill in skills])
            if not len(self.focus_members):
                known = sorted({skill for skill in skills if skill})
                raise ContractError(
                    f"focus on {focus.skill!r}: dataset {dataset.reader.root} has no event of "
                    f"that skill; its skills are {known}"
                )

    def fit_sampler(self) -> BalancedSampler:
        """Cluster every event (reads every episode's actions, no video): done at the first
        draw, so a run that only exports never pays for it."""
        if self.sampler is None:
            indices = range(len(self.dataset))
            self.sampler = BalancedSampler.fit(
                self.captions.mean_embeddings([self.dataset.event_caption(i) for i in indices]),
                [self.dataset.event_actions(i) for i in indices],
            )
        return self.sampler

    def draw(self, rng: np.random.Generator) -> int:
        """An event of the focus skill with the focus share; otherwise a caption level by its
        weight, then an event of that level. Cluster-balanced within either."""
        if self.focus is not None and rng.random() < self.focus.share:
            return self._pick(self.focus_members, rng)
        if not self.balanced:
            return self.dataset.draw_index(rng)
        probabilities = self.dataset.level_probabilities
        levels = list(probabilities)
        level = levels[rng.choice(len(levels), p=list(probabilities.values()))]
        return self._pick(np.asarray(self.dataset.by_level[level]), rng)

    def _pick(self, members: np.ndarray, rng: np.random.Generator) -> int:
        if not self.balanced:
            return int(rng.choice(members))
        weights = self.fit_sampler().probabilities[members]
        return int(rng.choice(members, p=weights / weights.sum()))

    def latents(self, sample: EventSample) -> torch.Tensor:
        """(V, C, F, h, w) latents of the sample's clip, encoded once per window (a sample drawn
        without its frames gets them only when its window must be encoded)."""
        key = window_key(sample)
        if key not in self.cache:
            stored = self.store.load(key) if self.store is not None else None
            if stored is None:
                if not sample.clip:
                    sample = self.dataset.with_frames(sample)
                stored = encode_window(self.vae, sample, self.stride)
                if self.store is not None:
                    self.store.save(key, stored)
            self.cache[key] = stored
        return self.cache[key].float()

    def marks(self, sample: EventSample, size: tuple[int, int]) -> torch.Tensor:
        """(V, M, h, w) heatmaps of the sample's targets, cameras in the dataset's order."""
        if self.mark_sigma is None:
            raise ContractError("these batches take no marks (mark_sigma None)")
        cameras = self.dataset.reader.camera_names
        return torch.from_numpy(render_marks(sample.targets, cameras, size, self.mark_sigma))

    def state(self, sample: EventSample) -> torch.Tensor:
        """(P,) the normalised proprio, then the target points and the skill one-hot for a
        model that takes them (action_tower.state_input)."""
        return torch.from_numpy(
            state_input(sample.proprio, sample.points, sample.skill, self.action)
        )

    def __call__(self, step: int, rng: np.random.Generator) -> TrainingBatch:
        samples = [
            self.dataset.sample(self.draw(rng), rng, frames=False) for _ in range(self.batch)
        ]
        latents = [self.latents(s) for s in samples]
        frames = max(x.shape[2] for x in latents)
        latents = [
            torch.cat([x, x[:, :, -1:].expand(-1, -1, frames - x.shape[2], -1, -1)], dim=2)
            for x in latents
        ]
        steps = max(s.length for s in samples)
        actions = torch.zeros(self.batch, steps, samples[0].actions.shape[1])
        valid = torch.zeros(self.batch, steps, dtype=torch.bool)
        for row, sample in enumerate(samples):
            actions[row, : sample.length] = torch.from_numpy(sample.actions)
            valid[row, : sample.length] = True
        marks = None
        if self.mark_sigma is not None:
            size = tuple(latents[0].shape[-2:])
            marks = torch.stack([self.marks(s, size) for s in samples])  # (B, V, M, h, w)
        return TrainingBatch(
            latents=torch.stack(latents),  # (B, V, C, F, h, w)
            text=torch.stack([self.captions[s.caption] for s in samples]),  # (B, L, D)
            state=torch.stack([self.state(s) for s in samples]),  # (B, P)
            actions=actions,  # (B, T, A)
            valid=valid,  # (B, T)
            marks=marks,
        )


class PackedEventBatches(EventBatches):
    """Rows of several events, one after the other, filled up to `capacity` latent frames.

    Events are drawn as for `EventBatches`; an event that does not fit in the current row starts
    the next one (kept for the next batch if it was the last row), so no draw is thrown away and
    long events are not favoured. Text and state carry one entry per event slot of a row.
    The carried event is not part of train_state.pt: a resumed packed run draws its first row
    afresh, so unlike one event per row it does not continue bit for bit.
    """

    def __init__(
        self,
        dataset: EventDataset,
        vae: VideoVAE,
        captions: CaptionBank,
        rows: int,
        temporal_stride: int,
        capacity: int,
        balanced: bool = True,
        cache: dict[tuple, torch.Tensor] | None = None,
        store: LatentStore | None = None,
        focus: Focus | None = None,
        mark_sigma: float | None = None,
        action: ActionTowerConfig = PROPRIO_ONLY,
    ) -> None:
        super().__init__(
            dataset,
            vae,
            captions,
            rows,
            temporal_stride,
            balanced,
            cache,
            store,
            focus,
            mark_sigma,
            action,
        )
        self.capacity = capacity
        self.carried: EventSample | None = None  # drawn, but did not fit in the last row

    def _next(self, rng: np.random.Generator) -> EventSample:
        sample, self.carried = self.carried, None
        if sample is None:
            sample = self.dataset.sample(self.draw(rng), rng, frames=False)
        return sample

    def _row(self, rng: np.random.Generator) -> list[tuple[EventSample, torch.Tensor]]:
        row: list[tuple[EventSample, torch.Tensor]] = []
        frames = 0
        while True:
            sample = self._next(rng)
            latents = self.latents(sample)
            if latents.shape[2] > self.capacity:
                raise ContractError(
                    f"an event of episode {sample.episode_index} has {latents.shape[2]} latent "
                    f"frames, more than the packing capacity {self.capacity}; raise --pack"
                )
            if frames + latents.shape[2] > self.capacity:
                self.carried = sample
                return row
            row.append((sample, latents))
            frames += latents.shape[2]

    def __call__(self, step: int, rng: np.random.Generator) -> TrainingBatch:
        rows = [self._row(rng) for _ in range(self.batch)]
        frames = [[x.shape[2] for _, x in row] for row in rows]
        steps = [[s.length for s, _ in row] for row in rows]
        total_frames, total_steps = max(map(sum, frames)), max(map(sum, steps))
        events = max(map(len, rows))
        layout = PackedLayout.from_lengths(frames, steps, total_frames, total_steps)
        first = rows[0][0]
        views, channels, _, height, width = first[1].shape
        latents = torch.zeros(self.batch, views, channels, total_frames, height, width)
        actions = torch.zeros(self.batch, total_steps, first[0].actions.shape[1])
        text = torch.zeros(self.batch, events, *self.captions.empty.shape)
        state = torch.zeros(self.batch, events, self.state(first[0]).shape[0])
        marks = None
        if self.mark_sigma is not None:
            marks = torch.zeros(self.batch, events, *self.marks(first[0], (height, width)).shape)
        for b, row in enumerate(rows):
            frame = step_at = 0
            for e, (sample, x) in enumerate(row):
                if marks is not None:
                    marks[b, e] = self.marks(sample, (height, width))
                latents[b, :, :, frame : frame + x.shape[2]] = x
                actions[b, step_at : step_at + sample.length] = torch.from_numpy(sample.actions)
                text[b, e] = self.captions[sample.caption]
                state[b, e] = self.state(sample)
                frame += x.shape[2]
                step_at += sample.length
        return TrainingBatch(
            latents=latents,  # (B, V, C, F, h, w), F = the longest row
            text=text,  # (B, E, L, D)
            state=state,  # (B, E, P)
            actions=actions,  # (B, T, A)
            valid=layout.step_event >= 0,  # (B, T)
            packing=layout,
            marks=marks,  # (B, E, V, M, h, w)
        )
