"""Datasets of the earlier wallwm layout stay readable, are reported, and upgrade in place.

`legacy_dataset/` was written by the writer of commit 009d2af (two episodes of the synthetic
factory in conftest.py: 12 and 13 steps, two tasks).
"""

import shutil
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from worldmodel.data.conformance import layout_problems
from worldmodel.data.reader import DatasetError, DatasetReader
from worldmodel.data.upgrade import upgrade
from worldmodel.data.writer import DatasetWriter
from worldmodel.errors import ContractError

LEGACY = Path(__file__).parent / "legacy_dataset"


@pytest.fixture
def legacy(tmp_path):
    root = tmp_path / "old"
    shutil.copytree(LEGACY, root)
    return root


def test_the_reader_reads_the_earlier_layout(legacy, episode_factory):
    reader = DatasetReader(legacy)
    assert reader.legacy and len(reader) == 2
    episode = reader.load(1)
    original = episode_factory(1, steps=13, task="stack green on blue")
    np.testing.assert_array_equal(episode.actions, original.actions)
    assert episode.task == "stack green on blue" and episode.metadata == {"seed": 1}
    assert [e.caption for e in episode.events] == [e.caption for e in original.annotations]
    assert reader.cameras()[1].mounted_on == "arm0"
    problems = "\n".join(layout_problems(legacy))
    assert "meta/tasks.parquet: columns ['task_index', 'task'] with a plain row index" in problems
    assert "'data_files_size_in_mb' is missing" in problems
    assert "extra columns ['wallwm/metadata', 'wallwm/cameras', 'wallwm/fps']" in problems


def test_upgrade_keeps_every_episode_and_conforms(legacy):
    before = DatasetReader(legacy)
    episodes = [before.load(i) for i in range(len(before))]
    cameras = before.cameras()
    assert upgrade(legacy, action_names=tuple("xyzrpwg")) == 2
    after = DatasetReader(legacy)
    assert not after.legacy and layout_problems(legacy) == []
    assert not legacy.with_name("old.upgrading").exists()
    assert not legacy.with_name("old.before-upgrade").exists()
    assert after.info["features"]["action"]["names"] == list("xyzrpwg")
    for old, new in zip(episodes, (after.load(i) for i in range(2)), strict=True):
        assert (new.task, new.metadata) == (old.task, old.metadata)
        assert sorted(new.events, key=str) == sorted(old.events, key=str)
        np.testing.assert_array_equal(new.proprio, old.proprio)
        difference = np.abs(new.frames["front"].astype(int) - old.frames["front"].astype(int))
        assert difference.mean() < 2.0  # one more H.264 generation
    np.testing.assert_allclose(after.cameras()[0].intrinsics, cameras[0].intrinsics)
    with pytest.raises(DatasetError, match="already in the current layout"):
        upgrade(legacy)


def test_a_failed_upgrade_leaves_the_original_as_it_was(legacy):
    path = legacy / "data/chunk-000/file-001.parquet"
    rows = pq.read_table(path)
    pq.write_table(rows.slice(0, 5), path)
    files = {p: p.read_bytes() for p in legacy.rglob("*") if p.is_file()}
    with pytest.raises(DatasetError, match="episode 1"):
        upgrade(legacy)
    assert {p: p.read_bytes() for p in legacy.rglob("*") if p.is_file()} == files
    assert not legacy.with_name("old.upgrading").exists()


def test_the_writer_refuses_to_append_to_the_earlier_layout(legacy, episode_factory):
    with pytest.raises(ContractError, match="wallwm data upgrade"):
        DatasetWriter(legacy).write(episode_factory(5))
