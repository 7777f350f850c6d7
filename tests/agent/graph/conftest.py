"""Fixtures of the agent-loop tests: real sessions (MuJoCo at 64x64, the simulator oracle, the
embedded planner with perception and the goal reader, the SQLite checkpointer) built cheaply.

torch runs on one thread while these tests run: on two shared cores its thread pool
oversubscribes and SSIM slows down tenfold.
"""

from __future__ import annotations

import os

os.environ.setdefault("MUJOCO_GL", "egl")

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import torch

from agent.envs.tabletop.tasks import get_task, paraphrase
from agent.graph.runner import TaskRunner
from agent.graph.state import AgentState
from agent.run_spec import RunSpec
from agent.session import Session, open_session

RESOLUTION = 64  # SimConfig accepts any size; 64x64 keeps rendering and SSIM cheap


@pytest.fixture(autouse=True)
def one_thread() -> Iterator[None]:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def task_spec(task: str, seed: int = 0, **overrides: object) -> RunSpec:
    """The RunSpec `wallwm run --task TASK` builds, at the tests' resolution, oracle + embedded."""
    values: dict[str, object] = {
        "instruction": paraphrase(get_task(task), seed),
        "task": task,
        "seed": seed,
        "executor": "oracle",
        "planner": "embedded",
        "resolution": RESOLUTION,
    }
    values.update(overrides)
    return RunSpec(**values)  # type: ignore[arg-type]


def run_to_end(session: Session) -> tuple[TaskRunner, AgentState]:
    """Start (or continue) the session's task the way `wallwm run` does, without a person."""
    runner = session.runner
    runner.restore_robot(session.spec.seed)
    return runner, runner.run(session.spec.instruction, session.spec.human, None)


@pytest.fixture
def sessions(tmp_path: Path) -> Iterator[Callable[..., Session]]:
    """Open sessions in a temporary runs folder; all are closed at the end of the test."""
    opened: list[Session] = []

    def open_one(spec: RunSpec, thread_id: str = "task", **kwargs: object) -> Session:
        session = open_session(spec, tmp_path / "runs", thread_id=thread_id, **kwargs)  # type: ignore[arg-type]
        opened.append(session)
        return session

    yield open_one
    for session in opened:
        session.close()
