"""A planner an integrator might add: it ends at once. Registered by test_registry.py only."""

from __future__ import annotations

from agent.goals import Goal, Scene, read_goal
from agent.state import EventState


class EndsAtOnce:
    name = "ends-at-once"

    def understand(self, instruction: str, observation: object, scene: Scene) -> Goal:
        return read_goal(instruction, scene)

    def plan(self, instruction, observation, history, last_verification) -> EventState:
        return EventState(
            next_event="end",
            skill="reach",
            arguments={},
            frames=1,
            progress=100,
            decision="end",
            reason="I always end",
        )


def build(spec, skills, memory) -> EndsAtOnce:
    return EndsAtOnce()
