"""Event datasets from the scripted expert: the simulator's Episode -> EpisodeRecord -> LeRobot.

Episode index i of a dataset is fully determined by (seed, i): its family, task, simulator seed
and whether it is a recovery episode (the gripper starts perturbed near the first grasp pose and
the expert re-grasps, the paper's recovery augmentation). An interrupted generation therefore
resumes at the next uncommitted index and produces the same dataset as an uninterrupted one.

Alignment: the simulator's Episode holds T + 1 observations and T actions; an EpisodeRecord holds
one action per observation. The final observation is kept by appending one "hold" action (the
last action repeated), so the outcome of the last event stays visible in the data.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from agent.envs.tabletop.episode import Episode
from agent.envs.tabletop.expert import RunConfig, recovery_episode, run_episode
from agent.envs.tabletop.scene_file import DEFAULT_SCENE, SceneSetup
from agent.envs.tabletop.sim import PROPRIO_COMPONENTS, SimConfig, TabletopSim
from agent.envs.tabletop.skills import ExpertConfig
from agent.envs.tabletop.tasks import FAMILIES, Task, tasks_of
from worldmodel.data.episode import EpisodeRecord, EventAnnotation
from worldmodel.data.lerobot_format import KEYFRAME_INTERVAL
from worldmodel.data.writer import DatasetWriter
from worldmodel.errors import ContractError
from worldmodel.types import ARM_COMPONENTS

EVAL_SEED_OFFSET = 1_000_000  # simulator seeds at or above this are held out for evaluation
SEED_STRIDE = 100_000  # simulator seed = dataset seed * stride + episode index
CONTROL_FPS = (
    10  # the simulator's control rate (agent/envs/tabletop/sim.py SimConfig): one frame per action
)


@dataclass(frozen=True)
class EpisodePlan:
    """What episode `index` of a dataset is: chosen from (dataset seed, index) alone."""

    index: int
    task: Task
    sim_seed: int
    recovery: bool


def plan_episode(
    index: int,
    seed: int,
    families: Sequence[str],
    recovery_fraction: float,
    scene: SceneSetup = DEFAULT_SCENE,
) -> EpisodePlan:
    """The task, simulator seed and kind of episode `index` (deterministic, see module doc),
    among the tasks whose objects the scene holds."""
    if not 0.0 <= recovery_fraction <= 1.0:
        raise ContractError(f"recovery fraction {recovery_fraction}; expected 0..1")
    rng = np.random.default_rng([seed, index])
    family = families[index % len(families)]
    tasks = runnable_tasks(family, scene)
    if not tasks:
        raise ContractError(
            f"no task of family {family} can run in the scene (it leaves out "
            f"{', '.join(scene.absent)}); choose other --families"
        )
    recovery = bool(rng.random() < recovery_fraction)
    if recovery:
        graspable = [t for t in tasks if t.subtasks[0].steps[0].skill == "reach"]
        tasks = graspable or tasks
        recovery = bool(graspable)  # a family without a grasp-first task records nominal runs
    task = tasks[int(rng.integers(len(tasks)))]
    sim_seed = seed * SEED_STRIDE + index
    if sim_seed >= EVAL_SEED_OFFSET:
        raise ContractError(
            f"simulator seed {sim_seed} reaches the held-out range (>= {EVAL_SEED_OFFSET}); "
            f"use a dataset seed below {EVAL_SEED_OFFSET // SEED_STRIDE} and fewer episodes"
        )
    return EpisodePlan(index, task, sim_seed, recovery)


def runnable_tasks(family: str, scene: SceneSetup) -> list[Task]:
    """The family's tasks that name only objects present in the scene."""
    return [task for task in tasks_of(family) if task.objects <= set(scene.objects)]


def run_plan(sim: TabletopSim, plan: EpisodePlan, expert: ExpertConfig | None = None) -> Episode:
    """Let the expert perform the planned episode (retrying failed subtasks, as a demonstrator),
    with `expert`'s settings (its jitters: where reaches, lifts and moves end)."""
    config = RunConfig(recover=True, expert=expert or ExpertConfig())
    if plan.recovery:
        return recovery_episode(sim, plan.task, plan.sim_seed, config=config)
    return run_episode(sim, plan.task, plan.sim_seed, config)


def episode_to_record(episode: Episode, recovery: bool = False) -> EpisodeRecord:
    """Convert a recorded simulator episode into the dataset writer's EpisodeRecord."""
    if episode.steps < 1:
        raise ContractError(f"episode of task {episode.task!r} has no actions")
    missing = [c.name for c in episode.cameras if c.name not in episode.frames]
    if missing:
        raise ContractError(f"episode has no frames for camera(s) {missing}; record frames")
    hold = episode.actions[-1:]  # keeps the final observation: see module doc
    actions = np.concatenate([episode.actions, hold]).astype(np.float32)  # (T + 1, A)
    skills = {(e.start, e.end): e for e in episode.events}
    annotations = []
    for span in episode.captions:
        if span.end <= span.start:
            continue  # an empty span (a skill that needed no motion) is not an event
        event = skills.get((span.start, span.end)) if span.level == "action" else None
        annotations.append(
            EventAnnotation(
                level=span.level,
                caption=span.text,
                start=span.start,
                end=span.end,
                skill=event.skill if event else None,
                arguments=dict(event.arguments) if event else {},
                targets=event.targets if event else (),
            )
        )
    metadata = episode.metadata()
    metadata.pop("captions")  # stored as annotations
    metadata["recovery"] = recovery
    metadata["hold_action_appended"] = True
    return EpisodeRecord(
        task=episode.instruction,
        cameras=episode.cameras,
        frames={name: np.ascontiguousarray(clip) for name, clip in episode.frames.items()},
        proprio=episode.proprio.astype(np.float32),
        actions=actions,
        annotations=annotations,
        fps=CONTROL_FPS,
        metadata=metadata,
        **tabletop_names(episode.proprio.shape[1], actions.shape[1]),
    )


def tabletop_names(state_width: int, action_width: int) -> dict[str, tuple[str, ...]]:
    """Per-dimension names of the tabletop's proprio and actions ("arm0.x", ...); none when the
    widths are not the tabletop's."""
    arms = range(action_width // len(ARM_COMPONENTS))
    if state_width != len(arms) * len(PROPRIO_COMPONENTS) or not arms:
        return {}
    return {
        "state_names": tuple(f"arm{a}.{c}" for a in arms for c in PROPRIO_COMPONENTS),
        "action_names": tuple(f"arm{a}.{c}" for a in arms for c in ARM_COMPONENTS),
    }


@dataclass(frozen=True)
class GenerationConfig:
    episodes: int
    families: tuple[str, ...] = FAMILIES
    recovery_fraction: float = 0.2
    seed: int = 0
    width: int = 128
    height: int = 128
    keyframe_interval: int = KEYFRAME_INTERVAL  # frames between mp4 keyframes (random access)
    scene: SceneSetup = DEFAULT_SCENE  # a scene file's objects and starting relations
    reach_jitter: float = 0.0  # sd (m) of where the expert's reaches end (ExpertConfig)
    carry_jitter: float = 0.0  # sd (m) of where its lifts and moves end (ExpertConfig)

    def __post_init__(self) -> None:
        unknown = [f for f in self.families if f not in FAMILIES]
        if unknown:
            raise ContractError(f"unknown task families {unknown}; expected some of {FAMILIES}")
        idle = [f for f in self.families if not runnable_tasks(f, self.scene)]
        if idle:
            raise ContractError(
                f"no task of the families {idle} can run in the scene (it leaves out "
                f"{', '.join(self.scene.absent)}); choose other --families"
            )
        if self.episodes < 1:
            raise ContractError(f"--episodes {self.episodes}; expected at least 1")
        for name, jitter in (("reach", self.reach_jitter), ("carry", self.carry_jitter)):
            if not 0.0 <= jitter <= 0.03:
                raise ContractError(
                    f"--{name}-jitter {jitter}; expected 0..0.03 m (a block is 4 cm wide)"
                )
        if self.keyframe_interval < 1:
            raise ContractError(
                f"--keyframe-interval {self.keyframe_interval}; expected at least 1 frame"
            )


class Generator:
    """Writes episodes [already committed .. config.episodes) into a dataset folder."""

    def __init__(self, out: Path, config: GenerationConfig) -> None:
        self.config = config
        self.writer = DatasetWriter(Path(out), keyframe_interval=config.keyframe_interval)
        self.sim = TabletopSim(
            SimConfig(width=config.width, height=config.height, scene=config.scene)
        )

    @property
    def done(self) -> int:
        return self.writer.num_episodes

    def step(self) -> EpisodePlan:
        """Generate and commit the next episode."""
        config = self.config
        plan = plan_episode(
            self.done, config.seed, config.families, config.recovery_fraction, config.scene
        )
        expert = ExpertConfig(reach_jitter=config.reach_jitter, carry_jitter=config.carry_jitter)
        episode = run_plan(self.sim, plan, expert)
        record = episode_to_record(episode, plan.recovery)
        record.metadata["dataset_seed"] = config.seed
        if config.scene != DEFAULT_SCENE:
            record.metadata["scene"] = config.scene.to_dict()
        self.writer.write(record)
        return plan

    def close(self) -> None:
        self.writer.finalize()
        self.sim.close()
