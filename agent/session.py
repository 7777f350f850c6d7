"""Assemble one task run from its RunSpec: robot, executor, planner, verifier, store, graph.

The RunSpec (agent/run_spec.py) is saved in the episode's episode.json, so `wallwm run --resume
ID` rebuilds the same pieces and continues the LangGraph thread of the same id.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from langgraph.checkpoint.sqlite import SqliteSaver

from agent.envs.registry import load_environment
from agent.envs.robot import Robot
from agent.episode import EpisodeStore
from agent.execution import registry as executors
from agent.goals import ClarificationError, Goal
from agent.graph.context import AgentContext, Budgets, NullReporter, Reporter
from agent.graph.graph import build_graph, sqlite_checkpointer
from agent.graph.runner import TaskRunner
from agent.planning.base import Planner
from agent.planning.embedded import GoalPlanner
from agent.planning.goal_monitor import GoalMonitor
from agent.planning.memory import SceneMemory
from agent.planning.registry import build_planner as build_registered
from agent.planning.registry import resolve
from agent.planning.vlm_settings import VLMSettings
from agent.run_spec import RunSpec, check_instruction
from agent.skills import SkillCatalogue
from agent.verify.calibration import Thresholds, shipped_calibration
from agent.verify.detectors import DetectorCalibration, Detectors, detectors_file
from agent.verify.verifier import Verifier
from worldmodel.locate import find_checkpoints
from worldmodel.types import EventExecutor

CHECKPOINTS_FILE = "checkpoints.sqlite"


def episode_id(instruction: str, now: dt.datetime | None = None) -> str:
    """A readable, sortable id: 20261121-052031-put-the-red-block."""
    stamp = (now or dt.datetime.now()).strftime("%Y%m%d-%H%M%S")
    slug = "-".join(re.findall(r"[a-z0-9]+", instruction.lower())[:5]) or "task"
    return f"{stamp}-{slug}"


def fresh_episode_id(runs_dir: Path, instruction: str) -> str:
    """An id no earlier run in runs_dir has: two runs of one instruction started within the same
    second must not share an episode folder and a checkpoint thread (the second would continue
    the first)."""
    base = episode_id(instruction)
    candidate, number = base, 1
    while (runs_dir / candidate).exists():
        number += 1
        candidate = f"{base}-{number}"
    return candidate


def build_executor(spec: RunSpec, robot: Robot) -> EventExecutor:
    """The executor the spec names (agent/execution/registry.py), or its learned checkpoint.
    A learned one draws `spec.action_draws` extra action sequences per event; others ignore it
    (the oracle's actions are exact: they have no spread to score)."""
    shipped = {path.name for path in find_checkpoints()}
    executor = executors.build_executor(executors.resolve(spec.executor, shipped), robot)
    if spec.action_draws and hasattr(executor, "action_draws"):
        executor.action_draws = spec.action_draws
    return executor


def build_planner(spec: RunSpec, skills: SkillCatalogue, memory: SceneMemory) -> Planner:
    """The planner the spec names (agent/planning/registry.py); `auto` is the VLM when one is
    configured (flags or environment), else the embedded planner."""
    settings = VLMSettings.resolve(
        spec.vlm_url, spec.vlm_model, timeout_s=spec.vlm_timeout_s, retries=spec.vlm_retries
    )
    return build_registered(resolve(spec.planner, settings.configured), spec, skills, memory)


def fallback_planner(
    planner: Planner, goal: Goal, skills: SkillCatalogue, memory: SceneMemory, replan: bool
) -> Planner | None:
    """What plans when a served planner stops answering: the embedded planner, on the goal the
    run already read (the same relations are judged at the end); None behind the embedded one."""
    if planner.name == GoalPlanner.name:
        return None
    fallback = GoalPlanner(skills, memory, replan=replan)
    fallback.goal = goal
    return fallback


# Asks a person a question before the run starts; returns their answer (agent/cli/run.py).
Ask = Callable[[dict[str, Any]], str]


def read_run_goal(
    spec: RunSpec, planner: Planner, robot: Robot, memory: SceneMemory, ask: Ask | None
) -> tuple[RunSpec, Goal]:
    """The run's goal, read by its planner in the scene the cameras show at the start (the
    seed's layout, the same on every resume), and the spec with the person's clarification.

    An object the scene lacks is refused (MissingObjectError). An instruction no one can read
    (ClarificationError) is asked back: to the person under --human, whose answer is read in its
    place and kept in the spec (a resume reads the same); otherwise the error carries the
    question to the command line."""
    observation = robot.reset(spec.seed)
    scene = memory.scene(observation)
    while True:
        try:
            return spec, planner.understand(spec.understood, observation, scene)
        except ClarificationError as exc:
            if not spec.human_mode or ask is None:
                raise
            payload = {"instruction": spec.understood, "question": exc.question}
            answer = check_instruction(ask(payload))
            spec = dataclasses.replace(spec, clarification=answer)


def calibration_path(spec: RunSpec, executor: EventExecutor) -> Path | None:
    """The run's calibration, else the one shipped with a learned executor's checkpoint."""
    path = Path(spec.calibration) if spec.calibration else None
    return path or shipped_calibration(getattr(executor, "folder", None))


def build_verifier(spec: RunSpec, executor: EventExecutor) -> Verifier:
    # A learned executor can encode observations with its VAE (the latent measure needs that).
    encoder = executor if hasattr(executor, "encode_observed") else None
    path = calibration_path(spec, executor)
    if path is not None:
        thresholds = Thresholds.load(path, model=executor.name)
        return Verifier(thresholds, encoder=encoder)
    return Verifier(measure=spec.measure, encoder=encoder)


def build_detectors(spec: RunSpec, executor: EventExecutor, verifier: Verifier) -> Detectors:
    """The detectors recorded beside the verdict; the action and combined ones need the
    thresholds `wallwm calibrate` writes beside the divergence ones for a learned executor."""
    path = calibration_path(spec, executor)
    extra = detectors_file(path) if path is not None else None
    calibration = None
    if extra is not None and extra.is_file():
        calibration = DetectorCalibration.load(extra, model=executor.name)
    return Detectors(calibration, verifier.window)


def close_executor(executor: EventExecutor | None) -> None:
    close = getattr(executor, "close", None)
    if close is not None:
        close()


@dataclass
class Session:
    runner: TaskRunner
    spec: RunSpec
    robot: Robot  # the environment's: the tabletop simulator, or a real robot
    thread_id: str
    goal: Goal  # what must hold at the end, judged from the cameras

    def run(self, ask: Ask | None = None) -> dict[str, Any]:
        """Run (or, for a resumed session, continue) the task to its end; returns the final
        state (`status`, `history`, ...). `ask` answers human takeovers; without it a takeover
        stops the run with TakeoverPending, to be resumed."""
        self.runner.restore_robot(self.spec.seed)
        return dict(
            self.runner.run(self.spec.understood, self.spec.human_mode, ask, self.spec.recovery)
        )

    @property
    def metrics(self) -> dict[str, Any]:
        """The episode's metrics.json once the run has finished (goal, goal_met, events, ...)."""
        return self.runner.context.store.metrics or {}

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        close_executor(self.runner.context.executor)
        self.robot.close()
        checkpointer = self.runner.graph.checkpointer
        if isinstance(checkpointer, SqliteSaver):
            checkpointer.conn.close()


def open_session(
    spec: RunSpec,
    runs_dir: Path,
    thread_id: str | None = None,
    reporter: Reporter | None = None,
    ask: Ask | None = None,
) -> Session:
    """Build (or, with the id of an earlier run, rebuild) a run's pieces; nothing runs yet.
    A resumed run's episode.json takes the spec it continues with (changed settings included)."""
    thread_id = thread_id or fresh_episode_id(runs_dir, spec.instruction)
    # Everything that can refuse the spec comes before the episode folder is made, the quick
    # checks (skill files, the checkpoint) before the planner loads its text model.
    skills = SkillCatalogue.load(spec.skills_dirs)
    environment = load_environment(spec.environment)
    robot = environment.build(spec)
    executor: EventExecutor | None = None
    try:
        executor = build_executor(spec, robot)
        verifier = build_verifier(spec, executor)
        detectors = build_detectors(spec, executor, verifier)
        memory = SceneMemory()  # the scene as the planner and the goal's judge see it
        planner = build_planner(spec, skills, memory)
        spec, goal = read_run_goal(spec, planner, robot, memory, ask)
    except BaseException:
        close_executor(executor)
        robot.close()
        raise
    store = EpisodeStore(runs_dir / thread_id)
    # A new run's header, or a resumed run's with the settings it changed.
    store.update_header({"thread_id": thread_id, "spec": spec.to_dict()})
    context = AgentContext(
        robot=robot,
        executor=executor,
        planner=planner,
        verifier=verifier,
        detectors=detectors,
        skills=skills,
        store=store,
        seed=spec.seed,
        budgets=Budgets(spec.max_events, spec.max_retries, spec.wall_time_s),
        reporter=reporter or NullReporter(),
        fallback_planner=fallback_planner(planner, goal, skills, memory, spec.recovery),
    )
    truth = getattr(environment, "true_relations", None)  # a simulator's own view
    context.monitor = GoalMonitor(
        goal,
        lambda: context.workspace.observation,
        memory,
        (lambda: truth(robot)) if truth is not None else None,
    )
    graph = build_graph(sqlite_checkpointer(runs_dir / CHECKPOINTS_FILE))
    return Session(TaskRunner(graph, context, thread_id), spec, robot, thread_id, goal)
