"""A person plans every event (Event Mode driven by a human): `--planner human` or `--human`.

It never decides itself: every event it hands to the graph's human takeover (agent/graph/nodes.py
`human`), where the person types a caption, a skill call or "end". The goal is read from the
instruction as for the embedded planner, so the person's "end" is judged like any planner's.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from agent.goals import Goal, Scene, read_goal
from agent.planning.base import without_event
from agent.planning.memory import SceneMemory
from agent.skills import SkillCatalogue
from agent.state import EventRecord, EventState, Verification
from worldmodel.types import Observation

if TYPE_CHECKING:
    from agent.run_spec import RunSpec


class HumanPlanner:
    name = "human"

    def understand(self, instruction: str, observation: Observation, scene: Scene) -> Goal:
        return read_goal(instruction, scene)

    def plan(
        self,
        instruction: str,
        observation: Observation,
        history: Sequence[EventRecord],
        last_verification: Verification | None,
    ) -> EventState:
        return without_event("takeover", "a person plans every event", history, progress=0)


def build(spec: RunSpec, skills: SkillCatalogue, memory: SceneMemory) -> HumanPlanner:
    return HumanPlanner()
