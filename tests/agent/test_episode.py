"""Episodes are append-only, survive a crash mid-write and reopen where they stopped."""

import numpy as np
import pytest

from agent.episode import EpisodeStore, EpisodeStoreError


def clip(value, steps=5):
    frames = np.full((steps, 16, 16, 3), value, np.uint8)
    frames[:, 4:8, 4:8] = 255
    return frames


def test_events_media_and_metrics_round_trip(tmp_path):
    store = EpisodeStore(tmp_path)
    store.write_header({"instruction": "put the red block in the bowl", "seed": 3})
    index = store.append_event(
        {"event": "grasp the red block", "diverged": False, "score": np.float32(0.25)},
        observed={"front": clip(60)},
        predicted={"front": clip(62)},
        arrays={"actions": np.ones((5, 7), np.float32)},
    )
    store.finish({"success": True, "events": 1})
    reopened = EpisodeStore.open_existing(tmp_path)
    assert index == 0 and len(reopened.events) == 1
    assert reopened.events[0].record["score"] == 0.25
    assert reopened.header["seed"] == 3 and reopened.metrics == {"success": True, "events": 1}
    assert reopened.frames(0)["front"].shape == (5, 16, 16, 3)
    assert abs(int(reopened.frames(0, "predicted")["front"][0, 0, 0, 0]) - 62) <= 2
    np.testing.assert_array_equal(reopened.prediction_arrays(0)["actions"], np.ones((5, 7)))


def test_torn_last_line_is_dropped_and_recording_continues(tmp_path):
    store = EpisodeStore(tmp_path)
    store.write_header({"instruction": "x"})
    store.append_event({"event": "reach"})
    store.append_event({"event": "grasp"})
    with (tmp_path / "events.jsonl").open("a") as handle:
        handle.write('{"index": 2, "event": "li')  # the process died here
    resumed = EpisodeStore(tmp_path)
    assert [e.record["event"] for e in resumed.events] == ["reach", "grasp"]
    assert resumed.append_event({"event": "lift"}) == 2
    assert [e.record["event"] for e in EpisodeStore(tmp_path).events] == ["reach", "grasp", "lift"]


def test_header_is_written_once(tmp_path):
    store = EpisodeStore(tmp_path)
    store.write_header({"seed": 1})
    store.write_header({"seed": 2})
    assert store.header == {"seed": 1}


def test_not_an_episode(tmp_path):
    with pytest.raises(EpisodeStoreError, match="not a recorded episode"):
        EpisodeStore.open_existing(tmp_path / "nothing")
