"""`wallwm run` as a user runs it: a real process killed mid-task resumes with every event
recorded exactly once; bad input gets a clear message and the documented exit status."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from agent.cli.main import main
from tests.agent.vlm_servers import free_port

REPO = Path(__file__).resolve().parents[2]
FAST = ["--resolution", "64", "--executor", "oracle", "--planner", "embedded", "--json"]


def wallwm(*args: str) -> list[str]:
    return [sys.executable, "-m", "agent.cli.main", *args]


def environment() -> dict[str, str]:
    # One torch thread: on two shared cores a thread pool oversubscribes (see graph/conftest.py).
    return {**os.environ, "PYTHONPATH": str(REPO), "MUJOCO_GL": "egl", "OMP_NUM_THREADS": "1"}


def run_cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        wallwm(*args), cwd=REPO, env=environment(), capture_output=True, text=True, timeout=timeout
    )


def events_file(runs: Path) -> Path | None:
    found = list(runs.glob("*/events.jsonl"))
    return found[0] if found else None


@pytest.mark.slow  # two process starts (imports + MiniLM) and a 7-event task: about 35 s
def test_a_killed_run_resumes_without_losing_or_repeating_events(tmp_path):
    runs = tmp_path / "runs"
    process = subprocess.Popen(
        wallwm("run", "--task", "push_then_bowl", "--runs-dir", str(runs), *FAST),
        cwd=REPO,
        env=environment(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 120
    recorded: list[str] = []
    while time.monotonic() < deadline and process.poll() is None:
        path = events_file(runs)
        recorded = path.read_text().splitlines() if path else []
        if len(recorded) >= 3:
            # Kill at once, inside the fourth event: a fixed wait here let a fast machine
            # finish all seven events before the kill.
            process.send_signal(signal.SIGKILL)
            break
        time.sleep(0.02)
    assert len(recorded) >= 3, f"never reached a third event: {process.communicate()[1]!r}"
    process.wait()
    path = events_file(runs)
    assert path is not None
    before = path.read_text().splitlines()
    assert len(before) >= 3 and before[: len(recorded)] == recorded
    assert not (path.parent / "metrics.json").exists()

    resumed = run_cli("run", "--resume", path.parent.name, "--runs-dir", str(runs), "--json")
    assert resumed.returncode == 0, resumed.stderr
    result = json.loads(resumed.stdout.splitlines()[-1])
    assert result["event"] == "result" and result["status"] == "success"
    assert result["progress"] == 100.0 and result["events"] == 7

    after = [json.loads(line) for line in path.read_text().splitlines()]
    assert path.read_text().splitlines()[: len(before)] == before  # nothing rewritten
    assert [event["index"] for event in after] == list(range(7))  # contiguous, none lost
    keys = [event["key"] for event in after]
    assert len(set(keys)) == len(keys) == 7  # none repeated
    captions = [event["plan"]["next_event"] for event in after]
    assert captions == [
        "push the yellow block toward the plate",
        "reach the red block",
        "grasp the red block",
        "lift the red block",
        "move the red block above the bowl",
        "place the red block in the bowl",
        "release the red block",
    ]
    # The resumed process verifies the events it ran itself, plus the last recorded one when the
    # kill fell between its line in events.jsonl and verify's checkpoint (its append is skipped).
    reported = [
        line["key"]
        for line in map(json.loads, resumed.stdout.splitlines())
        if line["event"] == "verify"
    ]
    assert reported in (keys[len(before) :], keys[len(before) - 1 :])


def test_help_documents_the_exit_status(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["run", "--help"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    for line in ("Exit status:", "0  the task succeeded", "2  bad input", "3  the run waits"):
        assert line in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--resume", "20990101-000000-nothing"], "is not a recorded episode (no episode.json)"),
        ([], "give an instruction, --task NAME, or --resume ID"),
        (["juggle the moon"], "I do not know the word 'juggle'"),
    ],
)
def test_bad_input_is_refused_with_exit_status_2(tmp_path, monkeypatch, capsys, args, message):
    assert main(["run", *args, "--runs-dir", str(tmp_path / "runs"), *FAST]) == 2
    assert message in capsys.readouterr().err
    assert not list((tmp_path / "runs").glob("*/episode.json"))  # no half-made episode


def test_an_unknown_task_is_refused_by_the_parser(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["run", "--task", "bowl_red_bleu", *FAST])
    assert exit_.value.code == 2
    assert "invalid choice: 'bowl_red_bleu'" in capsys.readouterr().err


def test_human_mode_in_a_terminal_reads_answers_and_waits_when_input_ends(
    tmp_path, monkeypatch, capsys
):
    runs = tmp_path / "runs"
    args = ["run", "--task", "push_then_bowl", "--human", "--runs-dir", str(runs), *FAST[:-1]]
    monkeypatch.setattr(sys, "stdin", io.StringIO("push the yellow block toward the plate\n"))
    assert main(args) == 3  # the second question finds standard input closed
    err = capsys.readouterr().err
    assert "takeover" in err and "no answer on standard input" in err
    (episode,) = runs.glob("*/episode.json")
    assert len(episode.parent.joinpath("events.jsonl").read_text().splitlines()) == 1

    monkeypatch.setattr(sys, "stdin", io.StringIO("fly away\nend\n"))
    resume = ["run", "--resume", episode.parent.name, "--runs-dir", str(runs)]
    assert main(resume) == 1  # ended by the person before the task was done
    err = capsys.readouterr().err
    assert "could not read 'fly away'" in err and "failed: progress" in err


@pytest.mark.parametrize("value", ["7", "0", "2048", "big"])
def test_a_bad_resolution_is_refused_by_the_parser(capsys, value):
    with pytest.raises(SystemExit) as exit_:
        main(["run", "--task", "push_then_bowl", "--resolution", value])
    assert exit_.value.code == 2
    assert "is not an even number of pixels in 16..1024" in capsys.readouterr().err


def test_a_stopped_run_ends_its_json_output_with_the_error(tmp_path, monkeypatch, capsys):
    url = f"http://127.0.0.1:{free_port()}/v1"  # nothing listens: the VLM is down
    args = ["run", "--task", "push_then_bowl", "--runs-dir", str(tmp_path / "runs"), *FAST]
    args[args.index("embedded")] = "vlm"
    assert main([*args, "--vlm-url", url, "--vlm-model", "m"]) == 1
    captured = capsys.readouterr()
    last = json.loads(captured.out.splitlines()[-1])
    assert last["event"] == "stopped" and last["error"] == "VLMUnavailableError"
    assert f"wallwm run --resume {last['episode']}" in captured.err


def test_a_run_that_lost_its_vlm_finishes_offline_on_resume(tmp_path, monkeypatch, capsys):
    runs = tmp_path / "runs"
    url = f"http://127.0.0.1:{free_port()}/v1"  # nothing listens: the VLM is gone
    fast = [*FAST[:4], "--planner", "vlm", "--json", "--vlm-url", url, "--vlm-model", "m"]
    started = ["run", "--task", "push_then_bowl", "--runs-dir", str(runs), *fast]
    assert main([*started, "--vlm-timeout", "2", "--vlm-retries", "1"]) == 1
    (episode,) = (path.parent for path in runs.glob("*/episode.json"))
    spec = json.loads((episode / "episode.json").read_text())["spec"]
    assert (spec["vlm_timeout_s"], spec["vlm_retries"]) == (2.0, 1)
    first = json.loads((episode / "segments.json").read_text())
    capsys.readouterr()

    resume = ["run", "--resume", episode.name, "--runs-dir", str(runs), "--json"]
    assert main([*resume, "--planner", "embedded", "--max-events", "12"]) == 0
    result = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert result["status"] == "success" and result["planner"] == "embedded"
    spec = json.loads((episode / "episode.json").read_text())["spec"]
    assert (spec["planner"], spec["max_events"], spec["seed"]) == ("embedded", 12, 0)
    segments = json.loads((episode / "segments.json").read_text())
    assert len(segments) == 2 and segments[0] == first[0] >= 0.5  # a 0.5 s retry backoff
    # Both runs count. The result's time is taken at the finish and segments.json is written once
    # more as the run closes, so under load the two differ by a fraction of a second.
    assert result["wall_time_s"] == pytest.approx(sum(segments), abs=0.2)


def test_resume_refuses_a_setting_that_cannot_change(tmp_path, monkeypatch, capsys):
    runs = tmp_path / "runs"
    args = ["run", "--task", "push_then_bowl", "--runs-dir", str(runs), *FAST, "--max-events", "1"]
    assert main(args) == 1  # the event budget stops it after one event
    (episode,) = (path.parent for path in runs.glob("*/episode.json"))
    header = (episode / "episode.json").read_text()
    capsys.readouterr()
    resume = ["run", "--resume", episode.name, "--runs-dir", str(runs)]
    assert main([*resume, "--fault", "grasp_slip", "--executor", "tiny"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("wallwm: error: executor, faults cannot change when a run resumes")
    assert (episode / "episode.json").read_text() == header  # nothing rewritten
