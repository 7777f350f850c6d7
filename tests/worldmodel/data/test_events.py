"""Event samples: alignment, normalisation, caption levels and dropout, static pruning."""

import numpy as np
import pytest

from worldmodel.data.events import (
    EventDataset,
    EventLoaderConfig,
    Normalizer,
    static_steps_to_drop,
)
from worldmodel.data.reader import DatasetReader
from worldmodel.data.writer import DatasetWriter
from worldmodel.errors import ContractError


@pytest.fixture
def dataset(tmp_path, episode_factory):
    writer = DatasetWriter(tmp_path)
    for seed in range(2):
        writer.write(episode_factory(seed, steps=20))
    writer.finalize()
    return DatasetReader(tmp_path)


def test_sample_aligns_keyframe_clip_and_actions(dataset):
    config = EventLoaderConfig(
        level_weights={"action": 1.0}, dropout_base=0.0, dropout_max=0.0, prune_static=False
    )
    events = EventDataset(dataset, config)
    assert len(events.by_level) == 1 and len(events.by_level["action"]) == 4
    index = next(i for i, (_, e) in enumerate(events.events) if e.caption.startswith("place"))
    sample = events.sample(index, np.random.default_rng(0))
    episode = dataset.load(0)
    assert (sample.start, sample.end, sample.length) == (10, 20, 10)
    assert sample.caption == "place the red block in the bowl"
    np.testing.assert_array_equal(sample.keyframes["front"], episode.frames["front"][10])
    np.testing.assert_array_equal(sample.clip["front"][0], episode.frames["front"][10])
    np.testing.assert_array_equal(sample.clip["front"][3], episode.frames["front"][13])
    assert len(sample.clip["wrist"]) == sample.length + 1
    # The last action's outcome lies past the episode: its last frame stands in.
    np.testing.assert_array_equal(sample.clip["front"][-1], episode.frames["front"][19])
    np.testing.assert_allclose(
        events.action_norm.unnormalize(sample.actions), episode.actions[10:20], atol=1e-5
    )


def test_normalised_actions_have_unit_scale(dataset):
    events = EventDataset(dataset, EventLoaderConfig(prune_static=False))
    actions = np.concatenate([events.event_actions(i) for i in events.by_level["task"]])
    np.testing.assert_allclose(actions.mean(0), 0, atol=1e-4)
    np.testing.assert_allclose(actions.std(0), 1, atol=1e-3)


def test_relative_actions_are_taken_from_the_window_start(dataset):
    dims = (0, 1, 2, 5)
    config = EventLoaderConfig(
        level_weights={"action": 1.0}, prune_static=False, relative_action_dims=dims
    )
    events = EventDataset(dataset, config)
    index = next(i for i, (_, e) in enumerate(events.events) if e.caption.startswith("place"))
    sample = events.sample(index, np.random.default_rng(0))
    episode = dataset.load(0)
    relative = events.action_norm.unnormalize(sample.actions)
    expected = episode.actions[10:20].copy()
    expected[:, dims] -= episode.proprio[10, dims]
    np.testing.assert_allclose(relative, expected, atol=1e-5)
    # The statistics are those of the relative values: every event's actions have unit scale.
    actions = np.concatenate([events.event_actions(i) for i in range(len(events))])
    np.testing.assert_allclose(actions.mean(0), 0, atol=1e-4)
    np.testing.assert_allclose(actions.std(0), 1, atol=1e-3)


def test_levels_are_drawn_by_weight(dataset):
    events = EventDataset(dataset, EventLoaderConfig(level_weights={"task": 0.25, "action": 0.75}))
    rng = np.random.default_rng(0)
    levels = [events.events[events.draw_index(rng)][1].level for _ in range(2000)]
    assert levels.count("task") / 2000 == pytest.approx(0.25, abs=0.03)
    assert set(levels) == {"task", "action"}


def test_caption_dropout_grows_with_length(dataset):
    config = EventLoaderConfig(dropout_base=0.1, dropout_per_step=0.02, dropout_max=0.5)
    assert config.dropout_probability(5) == pytest.approx(0.2)
    assert config.dropout_probability(100) == 0.5
    events = EventDataset(
        dataset,
        EventLoaderConfig(
            level_weights={"task": 1.0}, dropout_base=0.5, dropout_max=0.5, prune_static=False
        ),
    )
    rng = np.random.default_rng(1)
    dropped = sum(events.sample(0, rng).caption == "" for _ in range(400))
    assert 160 < dropped < 240


def test_static_steps_are_pruned_after_keep_static():
    proprio = np.zeros((10, 3), np.float32)
    actions = np.zeros((10, 7), np.float32)
    proprio[:, 0] = np.minimum(np.arange(10), 3) * 0.1  # moving, then still from step 4 on
    drop = static_steps_to_drop(proprio, actions, EventLoaderConfig(keep_static=2))
    assert drop.tolist() == [False] * 6 + [True] * 4


def test_long_events_are_cropped(dataset):
    events = EventDataset(
        dataset, EventLoaderConfig(level_weights={"task": 1.0}, max_length=8, prune_static=False)
    )
    sample = events.sample(0, np.random.default_rng(3))
    assert sample.length == 8 and sample.end - sample.start == 8


def test_normalizer_round_trip_and_bad_levels():
    norm = Normalizer.from_stats({"mean": np.array([1.0, 2.0]), "std": np.array([2.0, 0.0])})
    values = np.array([[3.0, 2.5]], np.float32)
    np.testing.assert_allclose(norm.unnormalize(norm.normalize(values)), values, atol=1e-6)
    np.testing.assert_allclose(Normalizer.from_dict(norm.to_dict()).std, [2.0, 1e-3])
    with pytest.raises(ContractError, match="unknown caption levels"):
        EventLoaderConfig(level_weights={"sentence": 1.0})


def test_a_sample_without_frames_decodes_no_video_and_gets_the_same_frames_later(
    dataset, monkeypatch
):
    config = EventLoaderConfig(max_length=6, crop_stride=2, dropout_base=0.5, dropout_max=0.5)
    events = EventDataset(dataset, config)
    with_video = [events.sample(i, np.random.default_rng(i)) for i in range(len(events))]
    fresh = EventDataset(dataset, config)

    def no_video(position, low_dim=None):
        raise AssertionError("video decoded")

    monkeypatch.setattr(fresh.reader, "load", no_video)
    bare = [fresh.sample(i, np.random.default_rng(i), frames=False) for i in range(len(events))]
    assert all(not s.clip and not s.keyframes for s in bare)
    assert len(fresh.event_actions(0)) == events.events[0][1].length  # actions, no video
    monkeypatch.undo()
    # Decoding later reads each episode's low-dim data no second time.
    reads = []
    read_low_dim = fresh.reader.load_low_dim
    monkeypatch.setattr(fresh.reader, "load_low_dim", lambda p: reads.append(p) or read_low_dim(p))
    for full, partial in zip(with_video, bare, strict=True):
        # the same draws (crop, caption dropout), so the same window and caption
        assert (partial.start, partial.end, partial.caption) == (full.start, full.end, full.caption)
        np.testing.assert_array_equal(partial.actions, full.actions)
        later = fresh.with_frames(partial)
        for camera in full.clip:
            np.testing.assert_array_equal(later.clip[camera], full.clip[camera])
            np.testing.assert_array_equal(later.keyframes[camera], full.keyframes[camera])
    assert reads == []
