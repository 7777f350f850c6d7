"""Whether a run met its goal, judged from the cameras: the honest end of a task.

A run succeeds when the goal's last stage holds, and nothing it forbids does, in the scene
perception reads from the latest observation; never because a planner said "end". For evaluation
the metrics also carry the relations the world's own state shows at the end (`final_relations`,
from the simulator; a real robot has none), so a study can count runs whose cameras and world
disagree.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from agent.goals import Goal, relations
from agent.planning.memory import SceneMemory
from worldmodel.types import Observation


@dataclass
class GoalMonitor:
    goal: Goal
    observe: Callable[[], Observation | None]  # the latest observation of the robot
    memory: SceneMemory  # the planner's, where it has one: what was shut in the drawer
    truth: Callable[[], set[str]] | None = None  # the world's own relations, where it has them

    def relations(self) -> frozenset[str]:
        observation = self.observe()
        if observation is None:
            return frozenset()
        return frozenset(str(relation) for relation in self.memory.scene(observation).relations)

    def success(self) -> bool:
        seen = self.relations()
        return self.goal.holds(seen) and not self.goal.violated(seen)

    def progress(self) -> float:
        """Percent of the goal the cameras show done: the stages up to the latest one holding,
        and the share of the next stage's relations that hold."""
        stages = self.goal.stages
        if not stages:
            return 100.0
        seen = self.relations()
        holding = self.goal.stages_holding(seen)
        reached = max((i + 1 for i, held in enumerate(holding) if held), default=0)
        if reached == len(stages):
            return 100.0
        wanted = stages[reached].relations
        share = len(wanted & relations(seen)) / len(wanted)
        return 100.0 * (reached + share) / len(stages)

    def details(self) -> dict[str, Any]:
        """The goal and what held at the end, for metrics.json."""
        seen = self.relations()
        details: dict[str, Any] = {
            "goal": self.goal.strings(),
            "avoid": sorted(str(relation) for relation in self.goal.avoid),
            "perceived_relations": sorted(seen),
            "goal_met": self.goal.holds(seen) and not self.goal.violated(seen),
        }
        if self.truth is not None:
            truth = self.truth()
            details["final_relations"] = sorted(truth)
            details["goal_met_in_world"] = self.goal.holds(truth) and not self.goal.violated(truth)
        return details
