"""SimulatorOracleExecutor: the privileged upper-bound executor.

`predict` copies the live simulation's state into a private, fault-free shadow simulation, rolls
the scripted expert's routine for `request.skill` / `request.arguments` out there, and returns its
actions with the frames the shadow's cameras rendered after each action (T frames for T actions).
The live simulation is not touched. Executing the returned actions on the live simulation from
the same state (and without faults) reproduces the predicted frames exactly: MuJoCo is
deterministic. T is the expert's own duration for the event; `request.frames` is not used.
"""

from __future__ import annotations

import time
from dataclasses import replace

import numpy as np

from agent.envs.tabletop.errors import SkillArgumentError
from agent.envs.tabletop.sim import TabletopSim
from agent.envs.tabletop.skills import ExpertConfig, ExpertContext, routine
from worldmodel.types import EventPrediction, EventRequest


class SimulatorOracleExecutor:
    """An EventExecutor that answers with the expert's rollout in a copy of the live world."""

    name = "simulator-oracle"

    def __init__(self, sim: TabletopSim, expert: ExpertConfig | None = None, max_steps: int = 300):
        self.live = sim
        self.expert = expert or ExpertConfig()
        self.max_steps = max_steps  # a guard: no expert routine runs this long
        self.shadow = TabletopSim(replace(sim.config, render=True), faults=None)

    def predict(self, request: EventRequest) -> EventPrediction:
        if not request.skill:
            raise SkillArgumentError(
                f"the simulator oracle needs EventRequest.skill (and arguments) for event "
                f"{request.caption!r}; the planner supplies them"
            )
        began = time.perf_counter()
        self.shadow.set_state(self.live.get_state())
        context = ExpertContext(self.shadow, self.expert)
        actions: list[np.ndarray] = []
        frames: dict[str, list[np.ndarray]] = {c.name: [] for c in self.shadow.cameras}
        first_action_s = 0.0
        for action, _ in routine(context, request.skill, request.arguments):
            if not actions:
                first_action_s = time.perf_counter() - began
            observation = self.shadow.step(action)
            actions.append(action)
            for name, image in observation.images.items():
                frames[name].append(image)
            if len(actions) >= self.max_steps:
                break
        return EventPrediction(
            actions=np.stack(actions),  # (T, A)
            model=self.name,
            time_to_first_action_s=first_action_s,
            total_s=time.perf_counter() - began,
            frames={name: np.stack(clip) for name, clip in frames.items()},  # (T, H, W, 3)
        )

    def close(self) -> None:
        self.shadow.close()


def build(robot: TabletopSim) -> SimulatorOracleExecutor:
    """The execution registry's entry (agent/execution/registry.py)."""
    return SimulatorOracleExecutor(robot)
