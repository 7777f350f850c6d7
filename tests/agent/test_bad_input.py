"""Every bad input a user can type, through the real `wallwm` process: one line `wallwm: error:
...` saying what was wrong and what is expected, exit status 2, and nothing written."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
TASK = "put the red block in the bowl"
FAST = ["--resolution", "64", "--executor", "oracle", "--planner", "embedded"]
RECORDED = "20260101-000000-put-the-red-block"  # a run recorded by hand in the fixture below


def wallwm(cwd: Path, *args: str | bytes) -> subprocess.CompletedProcess:
    environment = {**os.environ, "PYTHONPATH": str(REPO), "MUJOCO_GL": "egl"}
    return subprocess.run(
        [sys.executable, "-m", "agent.cli.main", *args],
        cwd=cwd,
        env=environment,
        capture_output=True,
        timeout=120,
    )


# Scene files the fixture writes, each wrong in one way (red_only.yaml: for a task needing blue).
SCENES = {
    "unknown.yaml": "objects: [red_block, purple_block, bowl]\n",
    "spelling.yaml": 'relations: ["in(red_block,bowl)"]\n',
    "absent.yaml": 'objects: [red_block, bowl]\nrelations: ["on(red_block, plate)"]\n',
    "twice.yaml": 'relations: ["in(red_block, bowl)", "on(red_block, plate)"]\n',
    "crowded.yaml": "relations:\n"
    + "".join(f"- in({colour}_block, bowl)\n" for colour in ("red", "blue", "green")),
    "unquoted.yaml": "relations: [in(red_block, bowl)]\n",
    "red_only.yaml": "objects: [red_block, bowl, plate]\n",
    "closed.yaml": 'relations: ["in(red_block, drawer)", "closed(drawer)"]\n',
    "broken.yaml": "objects: [red_block\n",
}


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    """A folder with a recorded run to resume, a corrupt checkpoint, a broken skill file and
    broken scene files."""
    episode = tmp_path / "runs" / RECORDED
    episode.mkdir(parents=True)
    spec = {"instruction": TASK, "seed": 0, "executor": "oracle", "resolution": 64}
    (episode / "episode.json").write_text(json.dumps({"thread_id": RECORDED, "spec": spec}))
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "config.json").write_text("{not json")
    (tmp_path / "broken" / "video_tower.safetensors").write_bytes(b"\0" * 64)
    (tmp_path / "wave.md").write_text("---\nname: [wave\n---\nWave.\n")
    for name, text in SCENES.items():
        (tmp_path / name).write_text(text)
    return tmp_path


CASES = {
    "empty instruction": (["run", "", *FAST], "the instruction is empty"),
    "blank instruction": (["run", "   ", *FAST], "the instruction is empty"),
    "10,000 characters": (["run", "put it there. " * 715, *FAST], "at most 1000 are accepted"),
    "bytes that are not UTF-8": (["run", b"put the red \xff\xfe block", *FAST], "UTF-8"),
    "a control character": (["run", "put the red\x07 block in the bowl", *FAST], "control"),
    "negative seed": (["run", TASK, "--seed", "-1", *FAST], "the seed is -1"),
    "seed past 32 bits": (["run", TASK, "--seed", str(2**32), *FAST], "expected a whole number"),
    "seed not a number": (["run", TASK, "--seed", "x", *FAST], "invalid int value: 'x'"),
    "no such checkpoint": (["run", TASK, *FAST, "--executor", "/nonexistent"], "/nonexistent"),
    "corrupt checkpoint": (["run", TASK, *FAST, "--executor", "broken"], "broken/config.json"),
    "no event budget": (["run", TASK, *FAST, "--max-events", "0"], "--max-events is 0"),
    "zero VLM timeout": (["run", TASK, *FAST, "--vlm-timeout", "0"], "--vlm-timeout is 0.0"),
    "unknown task": (["run", "--task", "bowl_red_bleu"], "invalid choice: 'bowl_red_bleu'"),
    "unknown fault": (["run", TASK, "--fault", "gremlins"], "invalid choice: 'gremlins'"),
    "odd resolution": (["run", TASK, "--resolution", "65"], "not an even number of pixels"),
    "nothing to do": (["run", *FAST], "give an instruction, --task NAME, or --resume ID"),
    "resume of no run": (["run", "--resume", "20990101-nothing"], "is not a recorded episode"),
    "resume with a new seed": (
        ["run", "--resume", RECORDED, "--seed", "3"],
        "seed cannot change when a run resumes",
    ),
    "resume with a new task": (
        ["run", "--resume", RECORDED, "stack the blocks"],
        "instruction cannot change when a run resumes",
    ),
    "broken skill file": (["skills", "check", "wave.md"], "1 of 1 skill file(s) failed"),
    "no scene file": (["run", TASK, *FAST, "--scene", "none.yaml"], "cannot read scene file"),
    "scene not YAML": (["run", TASK, *FAST, "--scene", "broken.yaml"], "is not valid YAML"),
    "scene object unknown": (
        ["run", TASK, *FAST, "--scene", "unknown.yaml"],
        "unknown object 'purple_block'",
    ),
    "scene relation misspelt": (
        ["run", TASK, *FAST, "--scene", "spelling.yaml"],
        "'in(red_block,bowl)' is not spelt name(a, b)",
    ),
    "scene relation on an absent object": (
        ["run", TASK, *FAST, "--scene", "absent.yaml"],
        "names plate, which is not in the scene's objects",
    ),
    "scene block in two places": (
        ["run", TASK, *FAST, "--scene", "twice.yaml"],
        "red_block is placed twice",
    ),
    "scene bowl overfull": (["run", TASK, *FAST, "--scene", "crowded.yaml"], "it holds 2"),
    "scene relation unquoted": (
        ["run", TASK, *FAST, "--scene", "unquoted.yaml"],
        "is cut at a comma: quote each relation",
    ),
    "scene block in a closed drawer": (
        ["run", TASK, *FAST, "--scene", "closed.yaml"],
        "in(red_block, drawer) with closed(drawer)",
    ),
    "scene without the task's objects": (
        ["run", "--task", "bowl_red_blue", *FAST, "--scene", "red_only.yaml"],
        "task bowl_red_blue needs blue_block, which the scene leaves out",
    ),
    "eval with a broken scene": (["eval", "--scene", "twice.yaml"], "red_block is placed twice"),
    "eval fault misspelt in a pair": (
        ["eval", "--faults", "none,grasp_slip+extrenal_push"],
        "unknown fault 'extrenal_push' (did you mean external_push?)",
    ),
    "eval fault with an unknown trigger": (
        ["eval", "--faults", "external_push@first"],
        "the only trigger is @last",
    ),
    "eval grasp fault in the last event": (
        ["eval", "--faults", "grasp_slip@last"],
        "grasp_slip@last cannot be injected: nothing is grasped once the goal holds",
    ),
    "eval fault twice in one episode": (
        ["eval", "--faults", "camera_dropout+camera_dropout"],
        "names the same fault twice",
    ),
    "eval-model of an unknown family": (
        ["eval-model", "--families", "stacking,stacks"],
        "unknown task family 'stacks'",
    ),
    "data with a broken scene": (
        ["data", "generate", "--out", "data", "--episodes", "1", "--scene", "closed.yaml"],
        "with closed(drawer)",
    ),
    "resume with a scene": (
        ["run", "--resume", RECORDED, "--scene", "absent.yaml"],
        "scene cannot change when a run resumes",
    ),
    "replay of no run": (["replay", "runs/20990101-nothing"], "is not a recorded episode"),
    "unknown command": (["fly"], "invalid choice: 'fly'"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input_is_one_line_exit_2_and_writes_nothing(workdir: Path, case: str):
    args, expected = CASES[case]
    before = sorted(str(path) for path in workdir.rglob("*"))
    result = wallwm(workdir, *args)
    err = result.stderr.decode()
    assert result.returncode == 2, err
    assert err.startswith("wallwm: error: ") and err.count("\n") == 1, err
    assert expected in err
    assert sorted(str(path) for path in workdir.rglob("*")) == before  # nothing written
