"""Event targets in datasets: stored in the events column, read back, drawn into samples (and
dropped on a share of them); datasets without targets read and sample as before."""

import dataclasses
import json

import numpy as np
import pyarrow.parquet as pq

from worldmodel.data import lerobot_format as fmt
from worldmodel.data.conformance import layout_problems
from worldmodel.data.events import EventDataset, EventLoaderConfig
from worldmodel.data.reader import DatasetReader
from worldmodel.data.writer import DatasetWriter
from worldmodel.marks import render_marks
from worldmodel.types import EventTarget

RED = EventTarget("object", "red_block", {"front": (0.25, 0.75), "wrist": (0.5, 0.5)}, (0.1, 0, 0))
BOWL = EventTarget("destination", "bowl", {"front": (0.625, 0.375)}, (-0.1, 0.2, 0.008))


def with_targets(record):
    """The record with targets on its action-level events (as `wallwm data generate` makes)."""
    annotations = []
    for event in record.annotations:
        if event.level == "action":
            targets = (RED, BOWL) if event.skill == "place" else (RED,)
            event = dataclasses.replace(event, targets=targets)
        annotations.append(event)
    return dataclasses.replace(record, annotations=annotations)


def write(root, factory, targets: bool, episodes: int = 2, steps: int = 20):
    writer = DatasetWriter(root)
    for seed in range(episodes):
        record = factory(seed, steps=steps)
        writer.write(with_targets(record) if targets else record)
    writer.finalize()
    return DatasetReader(root)


def events_column(root) -> list[str]:
    path = root / fmt.DATA_PATH.format(chunk_index=0, file_index=0)
    return [value for value in pq.read_table(path)[fmt.EVENTS_KEY].to_pylist() if value]


def test_targets_round_trip_and_the_dataset_stays_conformant(tmp_path, episode_factory):
    reader = write(tmp_path, episode_factory, targets=True)
    assert layout_problems(tmp_path) == []
    original = with_targets(episode_factory(1, steps=20)).annotations
    assert sorted(reader.events[1], key=str) == sorted(original, key=str)
    place = next(e for e in reader.events[1] if e.skill == "place")
    assert place.targets == (RED, BOWL)
    assert next(e for e in reader.events[1] if e.level == "task").targets == ()


def test_a_dataset_without_targets_is_written_as_before_and_samples_none(tmp_path, episode_factory):
    reader = write(tmp_path, episode_factory, targets=False)
    assert all(
        "targets" not in event for value in events_column(tmp_path) for event in json.loads(value)
    )
    dataset = EventDataset(reader, EventLoaderConfig(level_weights={"action": 1.0}))
    rng = np.random.default_rng(0)
    samples = [dataset.sample(dataset.draw_index(rng), rng, frames=False) for _ in range(20)]
    assert all(sample.targets == () for sample in samples)
    assert not render_marks(samples[0].targets, reader.camera_names, (4, 4), 1.0).any()


def test_samples_carry_the_targets_and_drop_them_on_a_share_of_draws(tmp_path, episode_factory):
    reader = write(tmp_path, episode_factory, targets=True)
    config = EventLoaderConfig(level_weights={"action": 1.0}, prune_static=False)
    kept = EventDataset(reader, dataclasses.replace(config, target_dropout=0.0))
    rng = np.random.default_rng(0)
    for _ in range(10):
        index = kept.draw_index(rng)
        sample = kept.sample(index, rng, frames=False)
        assert sample.targets == kept.events[index][1].targets != ()
    dropping = EventDataset(reader, dataclasses.replace(config, target_dropout=0.3))
    draws = [dropping.sample(dropping.draw_index(rng), rng, frames=False) for _ in range(2000)]
    assert abs(np.mean([not sample.targets for sample in draws]) - 0.3) < 0.04


def test_a_window_that_starts_after_its_event_gets_no_targets(tmp_path, episode_factory):
    reader = write(tmp_path, episode_factory, targets=True, steps=40)
    config = EventLoaderConfig(
        level_weights={"action": 1.0}, max_length=8, crop_stride=4, target_dropout=0.0
    )
    dataset = EventDataset(reader, config)
    rng = np.random.default_rng(0)
    starts_late = []
    for _ in range(40):
        index = dataset.draw_index(rng)
        sample = dataset.sample(index, rng, frames=False)
        late = sample.start != dataset.events[index][1].start
        assert bool(sample.targets) != late
        starts_late.append(late)
    assert any(starts_late) and not all(starts_late)


def test_anchored_samples_take_positions_from_the_kept_target_else_from_the_start(
    tmp_path, episode_factory
):
    reader = write(tmp_path, episode_factory, targets=True)
    config = EventLoaderConfig(
        level_weights={"action": 1.0},
        prune_static=False,
        relative_action_dims=(0, 1, 2, 5),
        anchor_actions=True,
        target_dropout=0.5,
    )
    dataset = EventDataset(reader, config)
    rng = np.random.default_rng(0)
    seen = set()
    for _ in range(30):
        index = dataset.draw_index(rng)
        sample = dataset.sample(index, rng, frames=False)
        proprio, actions = dataset.low_dim(dataset._position[sample.episode_index])
        relative = dataset.action_norm.unnormalize(sample.actions)
        origin = proprio[sample.start, :3]
        if sample.targets:
            origin = np.asarray((BOWL if len(sample.targets) == 2 else RED).position)
        np.testing.assert_allclose(
            relative[:, :3], actions[sample.start : sample.end, :3] - origin, atol=1e-4
        )
        seen.add(len(sample.targets))
    assert seen == {0, 1, 2}  # start, object and destination anchors all drawn


def test_chunk_windows_take_the_targets_and_skill_of_the_action_event_they_start_in(
    tmp_path, episode_factory
):
    reader = write(tmp_path, episode_factory, targets=True, steps=40)
    config = EventLoaderConfig(
        level_weights={"task": 1.0},
        max_length=6,
        min_length=6,
        crop_stride=3,
        prune_static=False,
        target_dropout=0.0,
        relative_action_dims=(0, 1, 2, 5),
        anchor_actions=True,
        window_targets=True,
    )
    dataset = EventDataset(reader, config)
    rng = np.random.default_rng(0)
    skills = set()
    for _ in range(30):
        sample = dataset.sample(dataset.draw_index(rng), rng, frames=False)
        position = dataset._position[sample.episode_index]
        inner = dataset._action_event_at(position, sample.start)
        assert sample.targets == inner.targets != ()
        assert sample.skill == inner.skill  # the skill input's
        origin = np.asarray((BOWL if inner.skill == "place" else RED).position)
        _, actions = dataset.low_dim(position)
        relative = dataset.action_norm.unnormalize(sample.actions)
        np.testing.assert_allclose(
            relative[:, :3], actions[sample.start : sample.end, :3] - origin, atol=1e-4
        )
        skills.add(inner.skill)
    assert len(skills) > 1
    plain = EventDataset(reader, dataclasses.replace(config, window_targets=False))
    assert all(
        plain.sample(plain.draw_index(rng), rng, frames=False).targets == () for _ in range(10)
    )
