"""Closed-loop evaluation of a world-model executor driven by the expert's event sequence.

No planner: each task's action-level events come from its plan, in order. For every event the
simulator oracle first rolls the expert's routine out in a private copy of the world (its length
T is the event's `frames`, its actions the open-loop reference, its end state the goal), then the
executor predicts T actions from the live observation and they are executed.

- Single-event mode: every event starts from the state the expert would have reached (after the
  model's attempt the world is restored and the expert's actions are replayed), so each skill is
  scored on its own.
- Whole-task mode: the model's events are chained, no restoring; success is the task's own test.
- Fault mode: single events with an injected fault (push, slip, camera freeze), to show how far
  predicted frames diverge from observed ones when the world does not do what was predicted.

An event succeeds when its end state matches the expert rollout's: the gripper within
`tolerance_m` of where the expert's ended, the same object held (or none), and the event's object
within `tolerance_m` of where the expert left it. Captions can be replaced with held-out
paraphrases the training data never contained.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np

from agent.datagen import EVAL_SEED_OFFSET
from agent.envs.tabletop.faults import FaultConfig, FaultInjector
from agent.envs.tabletop.oracle import SimulatorOracleExecutor
from agent.envs.tabletop.sim import SimConfig, TabletopSim
from agent.envs.tabletop.tasks import PlanStep, Task, display, relation
from agent.verify.measures import psnr, ssim
from worldmodel.types import EventExecutor, EventRequest

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
    psnr: dict[str, float]  # camera -> mean over the event's steps
    ssim: dict[str, float]
    fault: bool = False  # a fault fired during the event
    chained: bool = False  # from a whole-task run (not restored to the expert's state)


@dataclass
class Report:
    events: list[EventOutcome] = field(default_factory=list)
    tasks: dict[str, list[bool]] = field(default_factory=lambda: defaultdict(list))


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
    ) -> None:
        faults = FaultInjector(FaultConfig(fault)) if fault else None
        self.sim = TabletopSim(SimConfig(width=size, height=size, clip_actions=True), faults=faults)
        self.oracle = SimulatorOracleExecutor(self.sim)
        self.executor = executor or self.oracle  # None: the oracle itself (the upper bound)
        self.paraphrase = paraphrase
        self.tolerance = tolerance_m

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
        steps = len(expert.actions)
        request = EventRequest(caption, observation, steps, seed, step.skill, dict(step.arguments))
        prediction = self.executor.predict(request)  # a learned model reads only the caption
        observed: dict[str, list[np.ndarray]] = defaultdict(list)
        for action in prediction.actions:
            for name, image in sim.step(sim.action_space.clip(action)).images.items():
                observed[name].append(image)
        ee, held, position = _end_state(sim, step)
        success = (
            float(np.linalg.norm(ee - goal[0])) < self.tolerance
            and held == goal[1]
            and float(np.linalg.norm(position - goal[2])) < self.tolerance
        )
        fault = bool(sim.faults and len(sim.faults.log) > fired)
        scores_psnr, scores_ssim = {}, {}
        if prediction.frames is not None:
            for name, frames in observed.items():
                clip = np.stack(frames)
                scores_psnr[name] = float(psnr(prediction.frames[name], clip).mean())
                scores_ssim[name] = float(ssim(prediction.frames[name], clip).mean())
        error = np.linalg.norm(prediction.actions[:, :3] - expert.actions[:, :3], axis=1).mean()
        if restore:
            sim.set_state(before)
            for action in expert.actions:
                sim.step(action)
        return EventOutcome(
            step.skill,
            success,
            float(error),
            scores_psnr,
            scores_ssim,
            fault=fault,
            chained=not restore,
        )

    def task(self, task: Task, seed: int, single_events: bool, report: Report) -> bool:
        """Run every event of `task`; whole-task success when not restoring."""
        self.sim.reset(seed)
        for _, step in task.plan():
            report.events.append(self.event(step, seed, restore=single_events))
        success = bool(task.success(self.sim))
        if not single_events:
            report.tasks[task.family].append(success)
        return success


def eval_seeds(count: int) -> list[int]:
    """Held-out simulator seeds: never used by `wallwm data generate`."""
    return [EVAL_SEED_OFFSET + index for index in range(count)]
