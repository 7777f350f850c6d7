"""Kill `wallwm run` with SIGKILL at random points and resume it: is any event lost or repeated?

Usage:
    PYTHONPATH=. python benchmarks/kill_resume.py         # 20 kills, push_then_bowl, records
    PYTHONPATH=. python benchmarks/kill_resume.py --trials 5 --no-record

A reference run goes uninterrupted first. Each trial starts the same run, kills it (SIGKILL: no
handler runs) at a time drawn uniformly between the moment its episode folder appears and the
moment the reference recorded its last event, then resumes it with `wallwm run --resume ID` to
the end. A trial passes when the resumed episode has exactly the reference's events, in order,
each once (contiguous indices, distinct keys), every line recorded before the kill kept as it
was, and the task succeeds. A run that finished before its kill time is started again with a new
draw.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from benchmarks.record import markdown_table, record

REPO = Path(__file__).resolve().parents[1]
FAST = ["--resolution", "64", "--executor", "oracle", "--planner", "embedded", "--json"]


@dataclass
class Trial:
    kill_after_s: float
    events_at_kill: int
    events_after: int
    lost: int
    repeated: int
    rewritten: bool
    success: bool

    @property
    def passed(self) -> bool:
        return self.lost == 0 and self.repeated == 0 and not self.rewritten and self.success


def environment() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO), "MUJOCO_GL": "egl", "OMP_NUM_THREADS": "1"}


def start(runs: Path, task: str, seed: int) -> subprocess.Popen:
    command = [sys.executable, "-m", "agent.cli.main", "run", "--task", task, "--seed", str(seed)]
    return subprocess.Popen(
        [*command, "--runs-dir", str(runs), *FAST],
        cwd=REPO,
        env=environment(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def wait_for_episode(runs: Path, process: subprocess.Popen, timeout: float = 300) -> Path:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = list(runs.glob("*/episode.json"))
        if found:
            return found[0].parent
        if process.poll() is not None:
            raise RuntimeError(f"wallwm run exited early: {process.communicate()[1]!r}")
        time.sleep(0.01)
    raise RuntimeError("no episode folder appeared")


def recorded(episode: Path) -> list[str]:
    path = episode / "events.jsonl"
    return path.read_text().splitlines() if path.exists() else []


def reference(task: str, seed: int) -> tuple[list[str], float]:
    """The captions of an uninterrupted run, and how long after its episode folder appears its
    last event is recorded (the span the kill times are drawn from)."""
    with tempfile.TemporaryDirectory() as folder:
        runs = Path(folder)
        process = start(runs, task, seed)
        episode = wait_for_episode(runs, process)
        began, last_change, count = time.monotonic(), 0.0, 0
        while process.poll() is None:
            now = len(recorded(episode))
            if now != count:
                count, last_change = now, time.monotonic() - began
            time.sleep(0.005)
        _, err = process.communicate()
        if process.returncode != 0:
            raise RuntimeError(f"the reference run failed: {err.decode()[-500:]}")
        return [json.loads(line)["plan"]["next_event"] for line in recorded(episode)], last_change


def trial(task: str, seed: int, captions: list[str], kill_after: float) -> Trial | None:
    """One kill and resume; None when the run finished before the kill time."""
    with tempfile.TemporaryDirectory() as folder:
        runs = Path(folder)
        process = start(runs, task, seed)
        episode = wait_for_episode(runs, process)
        deadline = time.monotonic() + kill_after
        while time.monotonic() < deadline and process.poll() is None:
            time.sleep(0.005)
        if process.poll() is not None:
            process.communicate()
            return None
        before = recorded(episode)
        process.send_signal(signal.SIGKILL)
        process.wait()
        process.communicate()
        resume = ["run", "--resume", episode.name, "--runs-dir", str(runs), "--json"]
        resumed = subprocess.run(
            [sys.executable, "-m", "agent.cli.main", *resume],
            cwd=REPO,
            env=environment(),
            capture_output=True,
            text=True,
            timeout=600,
        )
        lines = recorded(episode)
        events = [json.loads(line) for line in lines]
        keys = {event["key"] for event in events}
        result = json.loads(resumed.stdout.splitlines()[-1]) if resumed.stdout else {}
        in_order = [event["plan"]["next_event"] for event in events] == captions and [
            event["index"] for event in events
        ] == list(range(len(events)))
        return Trial(
            kill_after_s=kill_after,
            events_at_kill=len(before),
            events_after=len(events),
            lost=max(0, len(captions) - len(keys)),
            repeated=len(events) - len(keys),
            rewritten=lines[: len(before)] != before or not in_order,
            success=resumed.returncode == 0 and result.get("status") == "success",
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=20, help="kills (each then resumed)")
    parser.add_argument("--task", default="push_then_bowl")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--draw-seed", type=int, default=0, help="seed of the kill times")
    parser.add_argument("--no-record", action="store_true", help="print, leave RESULTS.md")
    args = parser.parse_args()

    captions, length = reference(args.task, args.seed)
    print(f"reference: {len(captions)} events, the last {length:.1f} s after the folder appears")
    draws = random.Random(args.draw_seed)
    trials: list[Trial] = []
    while len(trials) < args.trials:
        result = trial(args.task, args.seed, captions, draws.uniform(0.0, length))
        if result is None:
            continue
        trials.append(result)
        print(
            f"kill {len(trials):2d} at {result.kill_after_s:5.2f} s, {result.events_at_kill} "
            f"events recorded -> {result.events_after} after resume, "
            f"{'ok' if result.passed else 'FAILED'}",
            flush=True,
        )
    passed = sum(t.passed for t in trials)
    at_kill = sorted(t.events_at_kill for t in trials)
    table = markdown_table(
        [
            "task",
            "kills",
            "passed",
            "events lost",
            "events repeated",
            "records rewritten",
            "resumed to success",
            "events recorded at the kills",
        ],
        [
            [
                args.task,
                len(trials),
                f"{passed} of {len(trials)}",
                sum(t.lost for t in trials),
                sum(t.repeated for t in trials),
                sum(t.rewritten for t in trials),
                sum(t.success for t in trials),
                ", ".join(map(str, at_kill)),
            ]
        ],
    )
    notes = (
        f"Reference: {len(captions)} events, the last recorded {length:.1f} s after the episode "
        "folder appears; kill times drawn uniformly over that span (oracle executor, embedded "
        "planner, 64 px)."
    )
    record("Kill and resume (SIGKILL at random points)", table, notes, print_only=args.no_record)
    sys.exit(0 if passed == len(trials) else 1)


if __name__ == "__main__":
    main()
