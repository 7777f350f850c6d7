"""`wallwm run --scene FILE` end to end: the scene is set up, the goal is read in it and met,
an object the scene lacks is refused, and a resumed run keeps the scene without its file."""

from __future__ import annotations

import io
import json
import shutil
import sys
from pathlib import Path

import pytest

from agent.cli.main import main

REPO = Path(__file__).resolve().parents[2]
RED_IN_BOWL = REPO / "scenes" / "red_in_bowl.yaml"
FAST = ["--executor", "oracle", "--planner", "embedded", "--json"]


def result(out: str) -> dict:
    return json.loads(out.splitlines()[-1])


@pytest.mark.slow  # one task of six events with the oracle: about 10 s
def test_the_block_in_the_bowl_goes_on_the_plate(tmp_path, capsys):
    runs = tmp_path / "runs"
    instruction = "put the block in the bowl on the plate"
    args = ["run", "--scene", str(RED_IN_BOWL), instruction, "--runs-dir", str(runs), *FAST]
    assert main(args) == 0
    final = result(capsys.readouterr().out)
    assert final["status"] == "success" and final["goal_met"] and final["goal_met_in_world"]
    assert final["goal"] == [["on(red_block, plate)"]]
    assert "on(red_block, plate)" in final["final_relations"]
    assert not any("green" in r or "yellow" in r for r in final["final_relations"])


def test_an_object_the_scene_lacks_is_refused(tmp_path, capsys):
    runs = tmp_path / "runs"
    instruction = "put the green block in the bowl"
    args = ["run", "--scene", str(RED_IN_BOWL), instruction, "--runs-dir", str(runs), *FAST]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith("wallwm: error: not in the scene: the green block; there is: ")
    assert "red_block" in err and "green_block" not in err.split("there is:")[1]
    assert not list(runs.glob("*/episode.json"))  # nothing moved, nothing recorded


@pytest.mark.slow  # three runs, two of them moving the robot: about 15 s
def test_a_resumed_run_keeps_its_scene_without_the_file(tmp_path, monkeypatch, capsys):
    runs = tmp_path / "runs"
    scene = tmp_path / "scene.yaml"
    shutil.copy(RED_IN_BOWL, scene)
    instruction = "put the block in the bowl on the plate"
    args = ["run", "--scene", str(scene), instruction, "--runs-dir", str(runs), *FAST[:-1]]
    # A person grasps the red block in the bowl, then leaves (standard input ends): the run
    # waits for them, and its recorded actions only replay into the same scene.
    monkeypatch.setattr(
        sys, "stdin", io.StringIO("reach object=red_block\ngrasp object=red_block\n")
    )
    assert main([*args, "--human"]) == 3
    (episode,) = (path.parent for path in runs.glob("*/episode.json"))
    recorded = json.loads((episode / "episode.json").read_text())["spec"]["scene"]
    assert recorded == {
        "objects": ["red_block", "blue_block", "bowl", "plate", "drawer"],
        "relations": ["in(red_block, bowl)"],
    }
    scene.unlink()
    capsys.readouterr()

    resume = ["run", "--resume", episode.name, "--runs-dir", str(runs)]
    assert main([*resume, "--scene", str(RED_IN_BOWL)]) == 2
    assert "scene cannot change when a run resumes" in capsys.readouterr().err
    # The person answers the waiting question, then the embedded planner finishes the task.
    monkeypatch.setattr(sys, "stdin", io.StringIO("lift object=red_block\n"))
    assert main([*resume, "--no-human"]) == 0
    final = json.loads((episode / "metrics.json").read_text())
    assert final["status"] == "success" and final["goal_met_in_world"]
    assert final["goal"] == [["on(red_block, plate)"]]
