"""The scripted expert: runs a task's event plan with privileged state and records the episode.

`run_episode` executes every subtask's skill calls in order (optionally retrying a failed
subtask with a re-grasp: `recover=True`) and returns an event-segmented `Episode` with captions at
the Task, Subtask, Action and Segment levels. `recovery_episode` starts from a gripper pose
perturbed in a small ball around the nominal grasp pose and records the re-grasp, as the paper's
recovery augmentation does.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from agent.envs.tabletop.episode import CaptionSpan, Episode, EventRecord
from agent.envs.tabletop.sim import TabletopSim
from agent.envs.tabletop.skills import ExpertConfig, ExpertContext, routine
from agent.envs.tabletop.targets import true_targets
from agent.envs.tabletop.tasks import PlanStep, ProgressTracker, Subtask, Task, paraphrase
from worldmodel.types import Observation


@dataclass(frozen=True)
class RunConfig:
    recover: bool = False  # retry a subtask whose goal failed (re-grasp for pick-and-place)
    max_retries: int = 2  # per subtask, when recovering
    record_frames: bool = True  # keep the rendered frames in the episode
    expert: ExpertConfig = field(default_factory=ExpertConfig)


class Recorder:
    """Collects observations, actions and caption spans while the expert acts."""

    def __init__(
        self,
        sim: TabletopSim,
        first: Observation,
        record_frames: bool,
        tracker: ProgressTracker | None = None,
    ):
        self.sim = sim
        self.tracker = tracker
        self.record_frames = record_frames
        self.frames: dict[str, list[np.ndarray]] = {name: [] for name in first.camera_names}
        self.proprio: list[np.ndarray] = []
        self.wrist: list[np.ndarray] = []
        self.actions: list[np.ndarray] = []
        self.captions: list[CaptionSpan] = []
        self.events: list[EventRecord] = []
        self._observe(first)

    @property
    def t(self) -> int:
        return len(self.actions)

    def _observe(self, observation: Observation) -> None:
        if self.record_frames:
            for name, image in observation.images.items():
                self.frames[name].append(image)
        self.proprio.append(observation.proprio)
        self.wrist.append(np.asarray(observation.camera_poses["wrist"]))

    def act(self, action: np.ndarray) -> Observation:
        observation = self.sim.step(action)
        self.actions.append(np.asarray(action, np.float32))
        self._observe(observation)
        if self.tracker is not None:
            self.tracker.update(self.sim)
        return observation

    def run_step(
        self, ctx: ExpertContext, step: PlanStep, subtask: int, recovery: bool = False
    ) -> None:
        """Execute one action-level event, recording its Action and Segment spans."""
        start = self.t
        targets = true_targets(self.sim, step.arguments)
        segment, segment_start = None, start
        for action, caption in routine(ctx, step.skill, step.arguments):
            if caption != segment:
                if segment is not None:
                    self.captions.append(CaptionSpan("segment", segment, segment_start, self.t))
                segment, segment_start = caption, self.t
            self.act(action)
        if segment is not None:
            self.captions.append(CaptionSpan("segment", segment, segment_start, self.t))
        self.captions.append(CaptionSpan("action", step.caption, start, self.t))
        self.events.append(
            EventRecord(
                step.skill,
                dict(step.arguments),
                step.caption,
                subtask,
                start,
                self.t,
                recovery,
                targets,
            )
        )

    def episode(self, task: Task, seed: int, instruction: str) -> Episode:
        frames = {name: np.stack(clip) for name, clip in self.frames.items() if clip}
        return Episode(
            task=task.name,
            family=task.family,
            instruction=instruction,
            seed=seed,
            cameras=self.sim.cameras,
            frames=frames,
            proprio=np.stack(self.proprio),
            actions=(
                np.stack(self.actions)
                if self.actions
                else np.zeros((0, self.sim.action_space.dim), np.float32)
            ),
            captions=[CaptionSpan("task", instruction, 0, self.t), *self.captions],
            events=self.events,
            wrist_poses=np.stack(self.wrist),
        )


def recovery_plan(subtask: Subtask) -> list[PlanStep]:
    """What the expert does again after `subtask` failed: re-grasp and finish, or repeat."""
    skills = [step.skill for step in subtask.steps]
    if skills[:3] == ["reach", "grasp", "lift"]:
        obj = subtask.steps[0].arguments["object"]
        return [PlanStep("regrasp", {"object": obj}), *subtask.steps[3:]]
    return list(subtask.steps)


def run_subtasks(
    recorder: Recorder,
    ctx: ExpertContext,
    task: Task,
    config: RunConfig,
    first_steps: dict[int, list[PlanStep]] | None = None,
) -> None:
    """Run every subtask (with retries when configured), recording Subtask spans."""
    sim = recorder.sim
    for index, subtask in enumerate(task.subtasks):
        start = recorder.t
        steps = (first_steps or {}).get(index, list(subtask.steps))
        for step in steps:
            recorder.run_step(ctx, step, index)
        retries = 0
        while config.recover and not subtask.goal(sim) and retries < config.max_retries:
            retries += 1
            for step in recovery_plan(subtask):
                recorder.run_step(ctx, step, index, recovery=True)
        recorder.captions.append(CaptionSpan("subtask", subtask.caption, start, recorder.t))


def run_episode(
    sim: TabletopSim, task: Task, seed: int, config: RunConfig | None = None
) -> Episode:
    """Reset `sim` with `seed`, let the expert perform `task`, and return the recorded episode."""
    config = config or RunConfig()
    first = sim.reset(seed)
    tracker = ProgressTracker(task)
    recorder = Recorder(sim, first, config.record_frames, tracker)
    ctx = ExpertContext(sim, config.expert, np.random.default_rng([seed, 1]))
    run_subtasks(recorder, ctx, task, config)
    return _finish(recorder, task, seed, tracker)


def _finish(recorder: Recorder, task: Task, seed: int, tracker: ProgressTracker) -> Episode:
    sim = recorder.sim
    episode = recorder.episode(task, seed, paraphrase(task, seed))
    tracker.update(sim)
    episode.success = task.success(sim)
    episode.progress = tracker.progress
    if sim.faults is not None:
        episode.faults = list(sim.faults.log)
    return episode


def recovery_episode(
    sim: TabletopSim,
    task: Task,
    seed: int,
    radius: float = 0.03,
    config: RunConfig | None = None,
) -> Episode:
    """An episode that starts from a perturbed pose near the first grasp and recovers.

    The expert reaches the first block unrecorded; the gripper is then moved to a random point
    in a ball of `radius` around that contact pose, half open, and recording starts: the episode
    shows the re-grasp and the rest of the task.
    """
    config = config or RunConfig()
    sim.reset(seed)
    subtask = task.subtasks[0]
    if subtask.steps[0].skill != "reach":
        raise ValueError(f"task {task.name!r} does not start with a grasp; pick another task")
    ctx = ExpertContext(sim, config.expert)
    for action, _ in routine(ctx, "reach", subtask.steps[0].arguments):
        sim.step(action)
    rng = np.random.default_rng(seed)
    offset = rng.normal(size=3)
    offset *= rng.uniform(0.4, 1.0) * radius / np.linalg.norm(offset)
    offset[2] = abs(offset[2])  # stay above the nominal pose: never into the table
    pos = sim.command_pos[0] + offset
    yaw = ctx.yaw + rng.uniform(-0.4, 0.4)
    sim.set_gripper_pose(0, pos, yaw, grip=0.3)
    ctx = ExpertContext(sim, config.expert, np.random.default_rng([seed, 1]))
    first = sim.observe()
    tracker = ProgressTracker(task)
    recorder = Recorder(sim, first, config.record_frames, tracker)
    run_subtasks(recorder, ctx, task, config, {0: recovery_plan(subtask)})
    episode = _finish(recorder, task, seed, tracker)
    episode.faults.append({"kind": "start_perturbation", "offset_m": offset.tolist()})
    return episode
