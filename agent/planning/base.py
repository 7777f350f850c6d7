"""The planner contract: what decides the next event, and what it understood the task to be.

A planner is one file in agent/planning/ with a `build(spec, skills, memory) -> Planner`
function, and one line in agent/planning/registry.py.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from agent.goals import Goal, Scene
from agent.state import EventRecord, EventState, Verification
from worldmodel.types import Observation


@runtime_checkable
class Planner(Protocol):
    """Decides the next event from the task, the cameras and what happened so far.

    `understand` reads the instruction into the goal the run is judged against, in the scene
    the cameras show at the start; it raises agent.goals.MissingObjectError (an object the scene
    lacks) or ClarificationError (ask the person) and then nothing moves. Whatever a planner
    says, the run succeeds only when that goal holds in the scene the cameras show at the end.

    A planner that keeps a plan between events may also offer `memory_state() -> dict` and
    `restore_memory(dict)`: the graph checkpoints the first after every plan and a resumed run
    hands it back, so the plan goes on where it stopped (agent/planning/embedded.py)."""

    name: str

    def understand(self, instruction: str, observation: Observation, scene: Scene) -> Goal: ...

    def plan(
        self,
        instruction: str,
        observation: Observation,
        history: Sequence[EventRecord],
        last_verification: Verification | None,
    ) -> EventState: ...
