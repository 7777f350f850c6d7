"""The runtime context: the clients the nodes use, and the live workspace beside the state.

Nodes do I/O only through these clients. The workspace holds what is too large or too live for
the checkpointed state: the current observation and the last execution's frames (both also
recoverable: the observation by replaying the recorded executions on a fresh simulator, the
frames from the episode store).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from agent.envs.robot import Robot
from agent.episode import EpisodeStore
from agent.planning.base import Planner
from agent.skills import SkillCatalogue
from agent.verify.detectors import Detectors
from agent.verify.physical import SceneShift
from agent.verify.verifier import Verifier
from worldmodel.types import EventExecutor, Observation


@dataclass(frozen=True)
class Budgets:
    """When the agent stops trying: events executed, retries of one event, wall time."""

    max_events: int = 30  # attempted events, executed or refused
    max_retries: int = 3  # per event, on top of each skill's own retry_limit (the smaller wins)
    wall_time_s: float = 900.0


class TaskMonitor(Protocol):
    """Whether the task is done: a run's goal judged from the cameras
    (agent/planning/goal_monitor.py); a test may judge by anything else."""

    def success(self) -> bool: ...

    def progress(self) -> float: ...

    def details(self) -> dict[str, Any]:
        """Extra fields for metrics.json (the goal, the relations at the end)."""
        ...


class Reporter(Protocol):
    """Live progress: the CLI's rich display, JSON lines, or nothing."""

    def event(self, kind: str, **fields: Any) -> None: ...


class NullReporter:
    def event(self, kind: str, **fields: Any) -> None:
        return None


@dataclass
class Execution:
    """One execution's arrays, kept in memory until verified (and in the store for resume)."""

    key: str
    skill: str
    predicted: dict[str, np.ndarray]  # camera -> uint8 (T, H, W, 3)
    observed: dict[str, np.ndarray]  # camera -> uint8 (T', H, W, 3), T' <= T
    actions: np.ndarray  # float32 (T', A): what was sent to the robot
    predicted_actions: np.ndarray  # float32 (T, A)
    # For the latent measure: the images the event started from, the predicted latents and the
    # latent frame of each step (empty when the executor predicts frames only).
    keyframes: dict[str, np.ndarray] = field(default_factory=dict)  # camera -> (H, W, 3)
    latents: dict[str, np.ndarray] = field(default_factory=dict)  # camera -> (F, C, h, w)
    latent_index: np.ndarray | None = None  # int (T,)
    # The executor's per-step spread of K sampled action sequences (T,); None without draws.
    action_spread: np.ndarray | None = None
    # What the robot measured after each action (T', P), and the scene check's result (the
    # untouched block that moved most): the grip and scene detectors (agent/verify/physical.py).
    proprio: np.ndarray | None = None
    shift: SceneShift | None = None


@dataclass
class Workspace:
    """Live, unpersisted data of this process."""

    observation: Observation | None = None
    executions: dict[str, Execution] = field(default_factory=dict)
    started: float = field(default_factory=time.monotonic)
    elapsed_before: float = 0.0  # wall time of earlier runs of this task (on resume)
    segment: int = 0  # this run's number among the runs of the task (0, then one per resume)
    seconds_outside_graph: float = 0.0  # time in planner, model, robot and recorder calls

    def segment_elapsed(self) -> float:
        return time.monotonic() - self.started

    def elapsed(self) -> float:
        return self.elapsed_before + self.segment_elapsed()


@dataclass
class AgentContext:
    robot: Robot
    executor: EventExecutor
    planner: Planner
    verifier: Verifier
    skills: SkillCatalogue
    store: EpisodeStore
    seed: int = 0
    budgets: Budgets = field(default_factory=Budgets)
    monitor: TaskMonitor | None = None
    reporter: Reporter = field(default_factory=NullReporter)
    workspace: Workspace = field(default_factory=Workspace)
    # The detectors recorded beside the verdict (action consistency, combined); None: the
    # divergence detector alone.
    detectors: Detectors | None = None
    # Settings of this process's run, not of the task: a resumed run may change them.
    human_mode: bool = False  # a person gives every event (Event Mode driven by a human)
    recovery: bool = True  # False: divergences are recorded but not acted on (a study's baseline)
    # Plans the rest of the run when the planner's service stops answering, with recovery on
    # (the embedded planner behind a served VLM); None: that error stops the run (resumable).
    fallback_planner: Planner | None = None
