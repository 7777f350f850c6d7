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


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    """A folder with a recorded run to resume, a corrupt checkpoint and a broken skill file."""
    episode = tmp_path / "runs" / RECORDED
    episode.mkdir(parents=True)
    spec = {"instruction": TASK, "seed": 0, "executor": "oracle", "resolution": 64}
    (episode / "episode.json").write_text(json.dumps({"thread_id": RECORDED, "spec": spec}))
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "config.json").write_text("{not json")
    (tmp_path / "broken" / "video_tower.safetensors").write_bytes(b"\0" * 64)
    (tmp_path / "wave.md").write_text("---\nname: [wave\n---\nWave.\n")
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
