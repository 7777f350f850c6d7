"""Datasets round-trip through the LeRobot v3 layout, resume after a crash and refuse bad data."""

import json
import subprocess
import sys
import textwrap

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from worldmodel.data.conformance import keyframe_interval, layout_problems
from worldmodel.data.reader import DatasetError, DatasetReader
from worldmodel.data.stats import STAT_KEYS
from worldmodel.data.writer import DatasetWriter


def write_dataset(root, factory, episodes=3):
    writer = DatasetWriter(root)
    for seed in range(episodes):
        writer.write(factory(seed, steps=20 + seed))
    writer.finalize()
    return writer


def test_round_trip_keeps_arrays_events_and_geometry(tmp_path, episode_factory):
    write_dataset(tmp_path, episode_factory)
    reader = DatasetReader(tmp_path)
    assert len(reader) == 3 and reader.fps == 10
    assert reader.camera_names == ["front", "wrist"]
    original = episode_factory(1, steps=21)
    loaded = reader.load(1)
    np.testing.assert_array_equal(loaded.actions, original.actions)
    np.testing.assert_array_equal(loaded.proprio, original.proprio)
    assert loaded.frames["front"].shape == (21, 32, 32, 3)
    # H.264 is lossy; the synthetic frames survive within a few grey levels on average.
    error = np.abs(loaded.frames["front"].astype(int) - original.frames["front"].astype(int))
    assert error.mean() < 4.0
    assert sorted(loaded.events, key=str) == sorted(original.annotations, key=str)
    place = next(e for e in loaded.events if e.skill == "place")
    assert place.arguments == {"object": "red_block", "target": "bowl"}
    front = reader.cameras()[0]
    np.testing.assert_allclose(front.intrinsics, original.cameras[0].intrinsics)
    assert reader.cameras()[1].mounted_on == "arm0"
    assert reader.level_counts() == {"task": 3, "subtask": 6, "action": 6, "segment": 0}


def test_info_and_stats_are_lerobot_v3(tmp_path, episode_factory):
    write_dataset(tmp_path, episode_factory)
    info = json.loads((tmp_path / "meta/info.json").read_text())
    assert info["codebase_version"] == "v3.0"
    assert info["total_episodes"] == 3 and info["total_frames"] == 20 + 21 + 22
    assert (info["data_files_size_in_mb"], info["video_files_size_in_mb"]) == (100, 200)
    assert info["features"]["observation.images.front"]["dtype"] == "video"
    assert info["features"]["observation.images.front"]["info"]["video.codec"] == "h264"
    assert info["features"]["action"]["names"] == [f"action.{i}" for i in range(7)]
    stats = DatasetReader(tmp_path).stats
    actions = np.concatenate([episode_factory(s, steps=20 + s).actions for s in range(3)])
    np.testing.assert_allclose(stats["action"]["mean"], actions.mean(0), atol=1e-5)
    np.testing.assert_allclose(stats["action"]["std"], actions.std(0), atol=1e-5)
    # every feature but the strings, cameras per channel in [0, 1], quantiles included
    numeric = [k for k, f in info["features"].items() if f["dtype"] != "string"]
    assert sorted(stats) == sorted(numeric)
    assert all(set(stats[k]) == set(STAT_KEYS) for k in stats)
    assert stats["observation.images.front"]["q99"].shape == (3, 1, 1)
    assert stats["frame_index"]["max"].tolist() == [21]
    # quantiles within a histogram bin of numpy's (weighted over the three episodes)
    spread = actions.max(0) - actions.min(0)
    np.testing.assert_allclose(
        stats["action"]["q50"], np.median(actions, 0), atol=0.1 * spread.max()
    )


def test_tasks_data_and_episode_rows_are_what_lerobot_writes(tmp_path, episode_factory):
    writer = DatasetWriter(tmp_path)
    writer.write(episode_factory(0, steps=12, task="put the red block in the bowl"))
    writer.write(episode_factory(1, steps=13, task="stack green on blue"))
    writer.finalize()
    tasks = pq.read_table(tmp_path / "meta/tasks.parquet")
    pandas = json.loads(tasks.schema.metadata[b"pandas"])
    assert pandas["index_columns"] == ["__index_level_0__"]  # pandas reads the text as the index
    assert tasks.to_pydict() == {
        "task_index": [0, 1],
        "__index_level_0__": ["put the red block in the bowl", "stack green on blue"],
    }
    data = pq.read_table(tmp_path / "data/chunk-000/file-001.parquet")
    assert data.schema.field("action").type == pa.list_(pa.field("element", pa.float32()), 7)
    assert b"huggingface" in data.schema.metadata
    assert data.column_names[-5:] == [
        "timestamp",
        "frame_index",
        "episode_index",
        "index",
        "task_index",
    ]
    assert data["task_index"].to_pylist() == [1] * 13
    starting = [json.loads(v) if v else [] for v in data["wallwm.events"].to_pylist()]
    assert [e["caption"] for e in starting[0]] == [
        "stack green on blue",
        "establish grasp",
        "grasp the red block",
    ]
    assert json.loads(data["wallwm.episode"][0].as_py()) == {"seed": 1}
    first, second = (
        pq.read_schema(tmp_path / f"meta/episodes/chunk-000/file-00{i}.parquet") for i in (0, 1)
    )
    assert first.names == second.names and "wallwm/metadata" not in first.names
    assert first.names[:3] == ["episode_index", "tasks", "length"]
    assert first.names[-2:] == ["meta/episodes/chunk_index", "meta/episodes/file_index"]
    assert layout_problems(tmp_path) == []


def test_keyframes_every_interval(tmp_path, episode_factory):
    writer = DatasetWriter(tmp_path)
    writer.write(episode_factory(0, steps=20))
    mp4 = tmp_path / "videos/observation.images.front/chunk-000/file-000.mp4"
    assert keyframe_interval(mp4) == 2.0
    DatasetWriter(tmp_path / "sparse", keyframe_interval=10).write(episode_factory(0, steps=20))
    assert keyframe_interval(next((tmp_path / "sparse").rglob("*front*/*/*.mp4"))) == 10.0


def test_layout_problems_name_the_field(tmp_path, episode_factory):
    write_dataset(tmp_path, episode_factory)
    stats = json.loads((tmp_path / "meta/stats.json").read_text())
    del stats["action"]["q01"]
    (tmp_path / "meta/stats.json").write_text(json.dumps(stats))
    info = json.loads((tmp_path / "meta/info.json").read_text())
    del info["data_files_size_in_mb"]
    info["features"]["observation.state"]["names"] = None
    (tmp_path / "meta/info.json").write_text(json.dumps(info))
    problems = "\n".join(layout_problems(tmp_path))
    assert "'data_files_size_in_mb' is missing" in problems
    assert "'observation.state': names None" in problems
    assert "'action': q01 missing" in problems


def test_interrupted_write_is_discarded_and_generation_resumes(tmp_path, episode_factory):
    writer = DatasetWriter(tmp_path)
    writer.write(episode_factory(0))
    writer.write(episode_factory(1))
    # Simulate a crash after the data file of episode 2 but before its commit row.
    episode_row = tmp_path / "meta/episodes/chunk-000/file-002.parquet"
    writer.write(episode_factory(2))
    episode_row.unlink()
    (tmp_path / "videos/observation.images.front/chunk-000/file-003.mp4.partial.mp4").write_bytes(
        b"x"
    )
    resumed = DatasetWriter(tmp_path)
    assert resumed.num_episodes == 2
    assert {p.name for p in resumed.discarded} >= {"file-002.parquet", "file-003.mp4.partial.mp4"}
    assert not (tmp_path / "data/chunk-000/file-002.parquet").exists()
    resumed.write(episode_factory(5))
    resumed.finalize()
    reader = DatasetReader(tmp_path)
    assert len(reader) == 3
    assert reader.load(2).metadata == {"seed": 5}


def test_missing_camera_stream_names_episode_and_field(tmp_path, episode_factory):
    write_dataset(tmp_path, episode_factory)
    (tmp_path / "videos/observation.images.wrist/chunk-000/file-001.mp4").unlink()
    reader = DatasetReader(tmp_path)
    reader.load(0)
    with pytest.raises(DatasetError, match=r"episode 1 .*'observation\.images\.wrist'.*missing"):
        reader.load(1)


def test_length_mismatch_and_nan_are_refused(tmp_path, episode_factory):
    write_dataset(tmp_path, episode_factory)
    path = tmp_path / "data/chunk-000/file-000.parquet"
    table = pq.read_table(path)
    pq.write_table(table.slice(0, 15), path)
    with pytest.raises(DatasetError, match=r"episode 0 .*'observation.state' has 15 rows.*20"):
        DatasetReader(tmp_path).load(0)
    path = tmp_path / "data/chunk-000/file-001.parquet"
    rows = pq.read_table(path).to_pydict()
    rows["action"][7][3] = float("nan")
    pq.write_table(pa.table(rows, schema=pq.read_schema(path)), path)
    with pytest.raises(DatasetError, match=r"episode 1 .*'action' has NaN .* frame 7"):
        DatasetReader(tmp_path).load(1)


def test_not_a_dataset_says_how_to_make_one(tmp_path):
    with pytest.raises(DatasetError, match="wallwm data generate"):
        DatasetReader(tmp_path)


def test_plain_pyarrow_and_av_read_our_dataset(tmp_path, episode_factory):
    """A script that knows nothing of our code reads the dataset through the layout alone."""
    write_dataset(tmp_path, episode_factory)
    script = textwrap.dedent(
        """
        import json, sys, pathlib
        import av, pyarrow.parquet as pq
        root = pathlib.Path(sys.argv[1])
        info = json.loads((root / "meta/info.json").read_text())
        episodes = pq.read_table(root / "meta/episodes/chunk-000/file-001.parquet").to_pylist()[0]
        data = pq.read_table(root / info["data_path"].format(
            chunk_index=episodes["data/chunk_index"], file_index=episodes["data/file_index"]))
        key = "observation.images.front"
        video = root / info["video_path"].format(video_key=key,
            chunk_index=episodes[f"videos/{key}/chunk_index"],
            file_index=episodes[f"videos/{key}/file_index"])
        with av.open(str(video)) as container:
            frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
        print(data.num_rows, len(frames), frames[0].shape, len(data["action"][0]))
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path)], capture_output=True, text=True, check=True
    ).stdout.split()
    assert out == ["21", "21", "(32,", "32,", "3)", "7"]
