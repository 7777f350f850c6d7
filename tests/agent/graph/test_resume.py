"""Resuming a task after a crash at the worst moments: nothing recorded is lost or repeated, and
the simulator is restored (reset + replay) to exactly where the checkpoint left it.

The crash is a reporter that raises at a chosen point (a real process cannot be made to die at
an exact line on demand; test_run_cli.py kills a real `wallwm run` at a random moment)."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest

from tests.agent.graph.conftest import run_to_end, task_spec


class Crash(Exception):
    pass


class CrashingReporter:
    """Raises on the n-th report of `kind` (the nodes report after the store write, before the
    checkpoint: a crash there is the one that could duplicate an event)."""

    def __init__(self, kind: str, nth: int, field: str | None = None) -> None:
        self.kind, self.nth, self.field = kind, nth, field
        self.seen = 0

    def event(self, kind: str, **fields: Any) -> None:
        if kind == self.kind:
            self.seen += 1
            if self.seen == self.nth:
                raise Crash(f"crash at {kind} #{self.nth}")


def lines(session) -> list[dict]:
    path = session.runner.context.store.root / "events.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def assert_contiguous(events: list[dict], executions: list[str]) -> None:
    assert [event["index"] for event in events] == list(range(len(events)))
    keys = [event["key"] for event in events]
    assert len(set(keys)) == len(keys), f"duplicated events: {keys}"
    assert keys == executions  # every execution verified and recorded once, in order


@pytest.mark.parametrize(
    ("kind", "nth"),
    [
        ("verify", 3),  # after event 3 is stored, before verify's checkpoint: verify re-runs
        ("step", 60),  # mid-execution: the robot moved, nothing of the event is checkpointed
        ("plan", 4),  # after planning, before the plan is checkpointed
    ],
)
def test_a_crash_resumes_without_losing_or_repeating_events(sessions, kind, nth):
    spec = task_spec("push_then_bowl")
    first = sessions(spec, reporter=CrashingReporter(kind, nth))
    with pytest.raises(Crash):
        run_to_end(first)
    before = lines(first)
    assert before, "crash before anything was recorded: pick a later point"
    state = first.runner.state()
    first.close()

    second = sessions(spec)  # a new process would rebuild the same pieces from the RunSpec
    runner = second.runner
    replayed = runner.restore_robot(spec.seed)
    executed = sum(
        len(runner.context.store.load_execution(k)["actions"]) for k in state["executions"]
    )
    assert replayed == executed
    final = runner.run(spec.instruction, False, None)

    after = lines(second)
    assert after[: len(before)] == before  # nothing recorded was rewritten
    assert_contiguous(after, final["executions"])
    assert final["status"] == "success" and second.runner.context.store.metrics["progress"] == 100
    assert len(after) == 7  # push + one pick-and-place, exactly once each


def test_restore_replays_the_world_exactly(sessions):
    spec = task_spec("push_then_bowl", max_events=3)
    session = sessions(spec)
    run_to_end(session)
    live = session.runner.context.workspace.observation
    fresh = sessions(spec)
    fresh.runner.restore_robot(spec.seed)
    restored = fresh.runner.context.workspace.observation
    for camera in live.camera_names:
        np.testing.assert_array_equal(restored.images[camera], live.images[camera])
    np.testing.assert_array_equal(restored.proprio, live.proprio)


def test_recovery_decisions_are_recorded_once_and_survive_a_torn_line(tmp_path):
    from agent.episode import EpisodeStore

    store = EpisodeStore(tmp_path / "episode")
    decision = {"key": "e002-x002", "attempt": 1, "strategy": "regrasp", "evidence": {"ok": False}}
    store.append_recovery(decision)
    store.append_recovery(decision)  # a recover node re-run after a crash
    with (store.root / "recoveries.jsonl").open("a") as handle:
        handle.write('{"key": "e005-x0')  # a crash mid-write
    store.append_recovery({**decision, "key": "e006-x006"})
    assert [d["key"] for d in store.recoveries] == ["e002-x002", "e006-x006"]
