"""`wallwm replay` on a real recorded episode: the timeline joins each event with its verdict per
camera and the recovery decided after it; the video tiles predicted | observed per camera."""

from __future__ import annotations

import json

import numpy as np
import pytest

from agent.cli.main import main
from agent.episode import EpisodeStore
from agent.studies.episode_video import CAMERA_WIDTH, MARKER_RADIUS
from tests.agent.graph.conftest import RESOLUTION, run_to_end, task_spec
from worldmodel.data.video import read_mp4


@pytest.fixture
def slipped_episode(sessions):
    """push_then_bowl with a grasp slip (seed 2): nine events, the lift diverges, a regrasp."""
    runner, final = run_to_end(
        sessions(task_spec("push_then_bowl", seed=2, faults=("grasp_slip",)))
    )
    assert final["status"] == "success"
    return runner.context.store.root


def test_timeline_as_json(slipped_episode, capsys):
    assert main(["replay", str(slipped_episode), "--json"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    rows, metrics = lines[:-1], lines[-1]["metrics"]
    assert [row["index"] for row in rows] == list(range(metrics["events"])) and len(rows) == 9
    diverged = [row for row in rows if row["verdict"] != "ok"]
    assert len(diverged) == metrics["failed_events"] == 1
    lift = diverged[0]
    assert lift["event"] == "lift the red block" and lift["attempt"] == 0
    assert lift["cameras"]["wrist"]["diverged"] and lift["cameras"]["wrist"]["score"] > 0.5
    assert lift["recovery"] == {
        "strategy": "regrasp",
        "queued": ["regrasp the red block", "lift the red block"],
    }
    assert [row["attempt"] for row in rows[4:6]] == [1, 1]  # the regrasp and the retried lift
    assert all(row["recovery"] is None for row in rows if row is not lift)


def test_timeline_table_and_video(slipped_episode, tmp_path, capsys):
    out = tmp_path / "replay.mp4"
    assert main(["replay", str(slipped_episode), "--video", str(out)]) == 0
    captured = capsys.readouterr()
    assert "wrist div/thr" in captured.out and "diverged: missed_grasp" in captured.out
    assert "regrasp -> regrasp the red block; lift the red block" in captured.out
    assert "success: progress 100%" in captured.out and f"wrote {out}" in captured.err

    store = EpisodeStore.open_existing(slipped_episode)
    lengths = [
        max(len(c) for c in store.frames(e.index, "predicted").values()) for e in store.events
    ]
    video = read_mp4(out)
    # Two 12-pixel strips (the event and its targets; "predicted", "observed"), then front, side,
    # wrist rows (2-pixel gaps), each named in a strip on its left; predicted | observed columns.
    top, left = 24, CAMERA_WIDTH
    assert video.shape == (sum(lengths), top + 3 * RESOLUTION + 4, left + 2 * RESOLUTION + 2, 3)
    # The slipped lift (event 3): the wrist row's halves differ; an ok event's halves agree.
    wrist = slice(top + 2 * RESOLUTION + 4, top + 3 * RESOLUTION + 4)
    start = sum(lengths[:3])

    def halves_differ(frame: int) -> float:
        tile = video[frame, wrist, left:].astype(np.int16)
        return float(np.abs(tile[:, :RESOLUTION] - tile[:, RESOLUTION + 2 :]).mean())

    # (an ok event's halves still differ by 3.6-3.7 grey levels: mp4 noise and the marks; the
    # slipped lift's by about 47)
    assert halves_differ(start + lengths[3] - 1) > 5 * (halves_differ(lengths[0] - 1) + 1)
    # The first event's object is ringed where its target point says, in both columns.
    first = store.events[0].record["plan"]
    point = next(p for p in first["targets"][0]["points"] if p["camera"] == "front")
    row = top + int(point["y"] * RESOLUTION)
    # The ring's right edge: the pixel whose centre lies MARKER_RADIUS - 0.75 to + 0.25 right
    # of the point (episode_video._marker).
    edge = int(point["x"] * RESOLUTION + MARKER_RADIUS - 0.25)
    for column in (left, left + RESOLUTION + 2):
        ring = video[0, row - 6 : row + 7, column + edge]
        cyan = (ring[:, 1] > 150) & (ring[:, 2] > 150) & (ring[:, 0] < 110)
        assert cyan.any(), ring


def test_not_an_episode(tmp_path, capsys):
    assert main(["replay", str(tmp_path)]) == 2
    assert "is not a recorded episode" in capsys.readouterr().err
