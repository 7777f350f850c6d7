"""Closed-loop evaluation of a world-model executor driven by the expert's event sequence.

No planner: each task's action-level events come from its plan, in order. For every event the
simulator oracle first rolls the expert's routine out in a private copy of the world (its length
T, its actions the open-loop reference, its end state the goal), then the executor predicts the
event's actions from the live observation and they are executed. The event's length (`frames`)
is T by default (horizon "expert"), or what the agent loop asks for (horizon "skill": the skill
file's horizon from the hand to the request's targets, else its typical_frames): it never knows
the expert's T.

- Single-event mode: every event starts from the state the expert would have reached (after the
  model's attempt the world is restored and the expert's actions are replayed), so each skill is
  scored on its own.
- Whole-task mode: the model's events are chained, no restoring; success is the task's own test.
- Fault mode: single events with an injected fault (push, slip, camera freeze), to show how far
  predicted frames diverge from observed ones when the world does not do what was predicted.
- Chunk mode (`chunk`): the executor is run as a fixed-chunk policy, the paper's baseline: it is
  given the task instruction instead of the event caption and predicts `chunk` steps at a time,
  observing again after each chunk, until the event's T steps are done.

Open-loop action error: the mean xyz distance between the first prediction's actions and the
expert's, from the same start. For an event model the first prediction covers the whole event;
`prefix_error_m` compares every model over the first PREFIX_STEPS steps only, which a fixed-chunk
model's first prediction covers too.

Targets: every request carries the event's targets as the agent would give them, from perception
of the live observation ("perceived", the default), or the simulator's truth ("truth"), or none
("none", the caption alone); a model without mark channels and the oracle ignore them.

An event succeeds when its end state matches the expert rollout's: the gripper within
`tolerance_m` of where the expert's ended, the same object held (or none), and the event's object
within `tolerance_m` of where the expert left it. Captions can be replaced with held-out
paraphrases the training data never contained.
"""

from __future__ import annotations

import argparse
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from agent.envs.tabletop.datagen import EVAL_SEED_OFFSET
from agent.envs.tabletop.faults import FaultConfig, FaultInjector
from agent.envs.tabletop.oracle import SimulatorOracleExecutor
from agent.envs.tabletop.sim import SimConfig, TabletopSim
from agent.envs.tabletop.targets import true_targets
from agent.envs.tabletop.tasks import (
    FAMILIES,
    PlanStep,
    Task,
    display,
    get_task,
    relation,
    tasks_of,
)
from agent.execution.registry import EXECUTORS, build_executor
from agent.perception import perceive
from agent.perception.targets import as_event_targets, targets_for
from agent.planning.horizon import travel_frames
from agent.skills import SkillCatalogue
from agent.verify.measures import psnr, ssim
from worldmodel.data.reader import DatasetReader
from worldmodel.errors import ContractError
from worldmodel.types import EventExecutor, EventRequest, EventTarget, Observation

# Captions of the form the training data never uses (the data has PlanStep.caption only).
HELD_OUT_PARAPHRASES: dict[str, str] = {
    "reach": "move the gripper to {object}",
    "grasp": "close the fingers around {object}",
    "lift": "raise {object} off the table",
    "move": "carry {object} over to {target}",
    "place": "set {object} down {relation} {target}",
    "release": "let go of {object}",
    "push": "shove {object} toward {target}",
    "open": "pull {object} open",
    "close": "push {object} shut",
    "regrasp": "grab {object} again",
}
FAULTS = ("external_push", "grasp_slip", "camera_freeze")
# Builds an executor on a runner's own simulator (the registry's oracle and hold-still).
ExecutorFactory = Callable[[TabletopSim], EventExecutor]
TARGET_SOURCES = ("perceived", "truth", "none")
# How many control steps an event is given: the expert's own duration for this scene (which the
# agent never knows), or what the agent loop asks for from the skill file (its horizon from the
# hand to the targets' positions, else typical_frames).
HORIZONS = ("expert", "skill")
PREFIX_STEPS = 8  # steps over which event and fixed-chunk models are compared open loop


def paraphrase_caption(step: PlanStep) -> str:
    """A held-out paraphrase of the step's caption."""
    target = step.arguments.get("target", "")
    return HELD_OUT_PARAPHRASES[step.skill].format(
        object=display(step.arguments.get("object", "")),
        target=display(target) if target else "the target",
        relation=relation(target) if target else "on",
    )


@dataclass
class EventOutcome:
    skill: str
    success: bool
    action_error_m: float  # mean xyz distance of predicted vs expert actions (open loop)
    prefix_error_m: float  # the same over the first PREFIX_STEPS steps
    psnr: dict[str, float]  # camera -> mean over the event's steps
    ssim: dict[str, float]
    fault: bool = False  # a fault fired during the event
    chained: bool = False  # from a whole-task run (not restored to the expert's state)


@dataclass
class Report:
    events: list[EventOutcome] = field(default_factory=list)
    tasks: dict[str, list[bool]] = field(default_factory=lambda: defaultdict(list))


def event_targets(
    source: str, sim: TabletopSim, observation: Observation, arguments: dict[str, str]
) -> tuple[EventTarget, ...]:
    """The targets a request carries: perception of `observation` (what the agent gives), the
    simulator's truth, or none."""
    if source == "perceived":
        return as_event_targets(targets_for(perceive(observation), arguments))
    if source == "truth":
        return true_targets(sim, arguments)
    if source == "none":
        return ()
    raise ContractError(f"targets {source!r}; expected one of {TARGET_SOURCES}")


def _end_state(sim: TabletopSim, step: PlanStep) -> tuple[np.ndarray, str | None, np.ndarray]:
    obj = step.arguments.get("object")
    position = sim.object_pose(obj)[0] if obj else np.zeros(3)
    return sim.ee_pose(0)[0], sim.held_object(0), position


class EventRunner:
    """Runs events of the expert's plan with an executor in a live simulation."""

    def __init__(
        self,
        executor: EventExecutor | None,
        size: int = 128,
        fault: str | None = None,
        paraphrase: bool = False,
        tolerance_m: float = 0.03,
        chunk: int | None = None,
        targets: str = "perceived",
        build: ExecutorFactory | None = None,
        horizon: str = "expert",
    ) -> None:
        if targets not in TARGET_SOURCES:
            raise ContractError(f"targets {targets!r}; expected one of {TARGET_SOURCES}")
        if horizon not in HORIZONS:
            raise ContractError(f"horizon {horizon!r}; expected one of {HORIZONS}")
        faults = FaultInjector(FaultConfig(fault)) if fault else None
        self.sim = TabletopSim(SimConfig(width=size, height=size, clip_actions=True), faults=faults)
        self.oracle = SimulatorOracleExecutor(self.sim)
        # `build`: an executor of this runner's own world (hold-still); else the one given (a
        # learned model, shared); None: the oracle itself (the upper bound)
        self.executor = build(self.sim) if build is not None else (executor or self.oracle)
        self.paraphrase = paraphrase
        self.tolerance = tolerance_m
        self.chunk = chunk
        self.targets = targets  # TARGET_SOURCES
        # the agent loop's lengths (agent/planning/horizon.py); None: the expert's duration
        self.skills = SkillCatalogue.load() if horizon == "skill" else None
        self.instruction = ""  # the running task's instruction (the chunk policy's caption)

    def close(self) -> None:
        self.oracle.close()
        self.sim.close()

    def event(self, step: PlanStep, seed: int, restore: bool) -> EventOutcome:
        sim = self.sim
        observation = sim.observe()
        caption = paraphrase_caption(step) if self.paraphrase else step.caption
        expert = self.oracle.predict(
            EventRequest(caption, observation, 1, seed, step.skill, dict(step.arguments))
        )
        goal = _end_state(self.oracle.shadow, step)
        before = sim.get_state()
        fired = len(sim.faults.log) if sim.faults else 0
        arguments = dict(step.arguments)
        targets = event_targets(self.targets, sim, observation, arguments)  # the first request's
        steps = len(expert.actions)
        if self.skills is not None:
            skill = self.skills[step.skill]
            positions = {t.name: t.position for t in targets if t.position is not None}
            planned = travel_frames(skill, step.arguments, positions, observation.proprio)
            steps = skill.typical_frames if planned is None else planned
        # The longest event the executor answers in one request (a learned model's
        # action.max_steps): an expert routine longer than that is asked for in pieces.
        limit = getattr(self.executor, "max_steps", steps)
        if self.chunk:
            caption = self.instruction
        observed: dict[str, list[np.ndarray]] = defaultdict(list)
        predicted_actions: list[np.ndarray] = []
        predicted_frames: dict[str, list[np.ndarray]] | None = defaultdict(list)
        first = np.zeros((0, sim.action_space.dim), np.float32)
        while len(predicted_actions) < steps:
            frames = min(self.chunk or steps, steps - len(predicted_actions), limit)
            if predicted_actions:  # a later piece: where things are now
                targets = event_targets(self.targets, sim, observation, arguments)
            request = EventRequest(
                caption, observation, frames, seed, step.skill, arguments, targets
            )
            prediction = self.executor.predict(request)  # a learned model: caption and targets
            actions = prediction.actions[:frames]  # (the oracle answers with its whole routine)
            for action in actions:
                observation = sim.step(sim.action_space.clip(action))
                for name, image in observation.images.items():
                    observed[name].append(image)
            predicted_actions.extend(actions)
            if prediction.frames is None or predicted_frames is None:
                predicted_frames = None
            else:
                for name, clip in prediction.frames.items():
                    predicted_frames[name].extend(clip[: len(actions)])
            if not len(first):
                first = actions  # the open-loop prediction from the event's start
            if len(actions) < frames:  # the executor's whole event was shorter (the oracle)
                break
        ee, held, position = _end_state(sim, step)
        success = (
            float(np.linalg.norm(ee - goal[0])) < self.tolerance
            and held == goal[1]
            and float(np.linalg.norm(position - goal[2])) < self.tolerance
        )
        fault = bool(sim.faults and len(sim.faults.log) > fired)
        scores_psnr, scores_ssim = {}, {}
        if predicted_frames is not None:
            for name, clip in observed.items():
                predicted, recorded = np.stack(predicted_frames[name]), np.stack(clip)
                scores_psnr[name] = float(psnr(predicted, recorded).mean())
                scores_ssim[name] = float(ssim(predicted, recorded).mean())
        compared = min(len(first), len(expert.actions))
        distance = np.linalg.norm(first[:compared, :3] - expert.actions[:compared, :3], axis=1)
        if restore:
            sim.set_state(before)
            for action in expert.actions:
                sim.step(action)
        return EventOutcome(
            step.skill,
            success,
            float(distance.mean()),
            float(distance[:PREFIX_STEPS].mean()),
            scores_psnr,
            scores_ssim,
            fault=fault,
            chained=not restore,
        )

    def task(self, task: Task, seed: int, single_events: bool, report: Report) -> bool:
        """Run every event of `task`; whole-task success when not restoring."""
        self.sim.reset(seed)
        self.instruction = task.instruction
        for _, step in task.plan():
            report.events.append(self.event(step, seed, restore=single_events))
        success = bool(task.success(self.sim))
        if not single_events:
            report.tasks[task.family].append(success)
        return success


def eval_seeds(count: int) -> list[int]:
    """Held-out simulator seeds: never used by `wallwm data generate`."""
    return [EVAL_SEED_OFFSET + index for index in range(count)]


def held_out_jobs(count: int, families: tuple[str, ...] = FAMILIES) -> list[tuple[Task, int, bool]]:
    """(task, held-out seed, paraphrase) for `count` episodes: the families in turn, a family's
    tasks in turn, every other episode with paraphrased captions. Limited to some `families`, an
    episode keeps the seed, task and caption it has in the schedule of all five, so a run on one
    family repeats that family's episodes of a full run."""
    jobs = []
    index = 0
    while len(jobs) < count:
        family = FAMILIES[index % len(FAMILIES)]
        if family in families:
            tasks = tasks_of(family)
            task = tasks[(index // len(FAMILIES)) % len(tasks)]
            jobs.append((task, EVAL_SEED_OFFSET + index, index % 2 == 1))
        index += 1
    return jobs


def training_episodes(data: Path, count: int) -> list[tuple[Task, int]]:
    """(task, simulator seed) of the first `count` nominal episodes a dataset recorded.

    Evaluating on these as well as on held-out seeds tells a model that memorised its training
    scenes (good here, poor there) from one that did not learn the skill at all (poor in both).
    Recovery episodes are skipped: their perturbation is not part of the task's plan.
    """
    reader = DatasetReader(data)
    episodes = []
    for position, row in enumerate(reader.episodes):
        metadata = reader.metadata(position)
        if "task" not in metadata or "seed" not in metadata:
            raise ContractError(
                f"{data} episode {row['episode_index']} names no task and simulator seed: "
                "only datasets made by `wallwm data generate` can be replayed"
            )
        if not metadata.get("recovery", False):
            episodes.append((get_task(metadata["task"]), int(metadata["seed"])))
    if len(episodes) < count:
        raise ContractError(f"{data} has {len(episodes)} nominal episodes; {count} were asked for")
    return episodes[:count]


@dataclass(frozen=True)
class EvalSettings:
    """What `wallwm eval-model` runs (see its --help)."""

    episodes: int = 5
    data: Path | None = None  # evaluate on this dataset's own episodes instead of held-out ones
    fault_episodes: int = 3
    chunk: int | None = None
    guidance: float | None = None
    targets: str = "perceived"
    horizon: str = "expert"  # HORIZONS
    families: tuple[str, ...] = FAMILIES  # held-out episodes of these task families only

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> EvalSettings:
        """The settings of parsed `wallwm eval-model` (or bench_eval_model.py) options."""
        return cls(
            args.episodes,
            args.data,
            args.fault_episodes,
            args.chunk,
            args.guidance,
            args.targets,
            args.horizon,
            parse_families(args.families),
        )


def parse_families(text: str | None) -> tuple[str, ...]:
    """--families: comma-separated task family names (None: all five)."""
    if text is None:
        return FAMILIES
    names = tuple(name.strip() for name in text.split(",") if name.strip())
    for name in names:
        tasks_of(name)  # an unknown family is a clear error before anything runs
    if not names:
        raise ContractError(f"--families names no family; expected some of {FAMILIES}")
    return names


def load_executor(name: str, guidance: float | None) -> tuple[str, ExecutorFactory]:
    """The executor's name and a builder for each runner: a registry executor (oracle,
    hold-still) is built on the runner's own simulator; a learned checkpoint loads once and is
    shared by every runner."""
    if name in EXECUTORS:
        return name, lambda sim: build_executor(name, sim)
    from agent.execution.learned import build

    learned = build(name)
    if guidance is not None:
        learned.guidance = guidance
    return learned.name, lambda sim: learned


def evaluate(
    build: ExecutorFactory, settings: EvalSettings, say: Callable[[str], None] = print
) -> Report:
    """Run the held-out (or the dataset's) episodes event by event and as whole tasks, then the
    fault episodes; `say` gets one line per episode."""
    report = Report()
    if settings.data is not None:  # the training data's own scenes and captions
        episodes = training_episodes(settings.data, settings.episodes)
        jobs = [(task, seed, False) for task, seed in episodes]
    else:  # held-out seeds, one family after another, every other one paraphrased
        jobs = held_out_jobs(settings.episodes, settings.families)
    options = {
        "chunk": settings.chunk,
        "targets": settings.targets,
        "build": build,
        "horizon": settings.horizon,
    }
    for task, seed, paraphrase in jobs:
        say(f"{task.name} seed {seed}{' (paraphrased)' if paraphrase else ''}")
        runner = EventRunner(None, paraphrase=paraphrase, **options)
        try:
            runner.task(task, seed, single_events=True, report=report)
            runner.task(task, seed, single_events=False, report=report)
        finally:
            runner.close()
    for index, (task, seed, _) in enumerate(jobs[: settings.fault_episodes]):
        fault = FAULTS[index % len(FAULTS)]
        say(f"{task.name} seed {seed} with fault {fault}")
        runner = EventRunner(None, fault=fault, **options)
        try:
            runner.task(task, seed, single_events=True, report=report)
        finally:
            runner.close()
    return report


def summary(report: Report, executor: str, settings: EvalSettings) -> dict[str, object]:
    """The figures as one JSON-ready object: per skill (single events, no fault) and per task
    family (whole tasks), counts and success as fractions."""
    by_skill: dict[str, list[EventOutcome]] = defaultdict(list)
    for event in report.events:
        if not event.chained and not event.fault:
            by_skill[event.skill].append(event)
    return {
        "executor": executor,
        "targets": settings.targets,
        "horizon": settings.horizon,
        "episodes": settings.episodes,
        "held_out": settings.data is None,
        "families": list(settings.families),
        "skills": {
            skill: {
                "events": len(events),
                "success": sum(e.success for e in events) / len(events),
                "xyz_error_m": float(np.mean([e.action_error_m for e in events])),
            }
            for skill, events in sorted(by_skill.items())
        },
        "tasks": {
            family: {"episodes": len(results), "success": sum(results) / len(results)}
            for family, results in sorted(report.tasks.items())
        },
    }


def _mean(values: list[float]) -> str:
    return f"{sum(values) / len(values):.2f}" if values else "-"


def tables(report: Report) -> dict[str, tuple[list[str], list[list]]]:
    """The report as titled tables (header, rows): per skill, per task family, frames."""
    families = report.tasks
    single = [event for event in report.events if not event.chained]
    by_skill = defaultdict(list)
    for event in single:
        if not event.fault:
            by_skill[event.skill].append(event)
    skills = [
        [
            skill,
            len(events),
            f"{100 * sum(e.success for e in events) / len(events):.0f}%",
            f"{100 * sum(e.action_error_m for e in events) / len(events):.1f}",
            f"{100 * sum(e.prefix_error_m for e in events) / len(events):.1f}",
        ]
        for skill, events in sorted(by_skill.items())
    ]
    tasks = [
        [family, len(results), f"{100 * sum(results) / len(results):.0f}%"]
        for family, results in sorted(families.items())
    ]
    cameras = sorted({name for event in report.events for name in event.psnr})
    groups = {
        "successful events": [e for e in single if e.success and not e.fault],
        "failed events (no fault)": [e for e in single if not e.success and not e.fault],
        "events with an injected fault": [e for e in single if e.fault],
    }
    frames = [
        [
            group,
            camera,
            len(events),
            _mean([e.psnr[camera] for e in events]),
            _mean([e.ssim[camera] for e in events]),
        ]
        for group, events in groups.items()
        if events  # no fault episodes asked for: no empty fault rows
        for camera in cameras
    ]
    return {
        "single-event success per skill": (
            [
                "skill",
                "events",
                "success",
                "open-loop xyz error (cm)",
                f"same, first {PREFIX_STEPS} steps (cm)",
            ],
            skills,
        ),
        "whole-task success per family (expert event sequence, no faults)": (
            ["family", "episodes", "success"],
            tasks,
        ),
        "predicted vs observed frames": (["events", "camera", "n", "PSNR (dB)", "SSIM"], frames),
    }
