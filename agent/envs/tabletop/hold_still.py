"""HoldStillExecutor: the negative control. Every event it keeps the arm where it is commanded
now, for the event's segment length, and predicts the cameras' current images unchanged.

An evaluation that scores it above 0% is measuring something other than the executor.
"""

from __future__ import annotations

import time

import numpy as np

from agent.envs.tabletop.sim import TabletopSim
from worldmodel.types import EventPrediction, EventRequest


class HoldStillExecutor:
    name = "hold-still"

    def __init__(self, sim: TabletopSim) -> None:
        self.live = sim

    def predict(self, request: EventRequest) -> EventPrediction:
        began = time.perf_counter()
        steps = request.frames
        actions = np.repeat(self.live.hold_action()[None], steps, axis=0)
        frames = {
            name: np.repeat(image[None], steps, axis=0)
            for name, image in request.observation.images.items()
        }
        elapsed = time.perf_counter() - began
        return EventPrediction(
            actions=actions,
            model=self.name,
            time_to_first_action_s=elapsed,
            total_s=elapsed,
            frames=frames,
        )


def build(robot: TabletopSim) -> HoldStillExecutor:
    """The execution registry's entry (agent/execution/registry.py)."""
    return HoldStillExecutor(robot)
