"""The planner contract: what decides the next event, and what it understood the task to be.

A planner is one file in agent/planning/ with a `build(spec, skills, memory) -> Planner`
function, and one line in agent/planning/registry.py.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, Protocol, runtime_checkable

from agent.goals import Goal, Scene
from agent.state import EventRecord, EventState, Verification
from worldmodel.errors import WallwmError
from worldmodel.types import Observation


class PlannerUnavailableError(WallwmError):
    """A planner's service stopped answering (a served VLM, after its client's retries). With
    recovery on and events already run, the fallback planner takes over (agent/graph/nodes.py
    `plan`)."""


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


def without_event(
    decision: Literal["end", "takeover"],
    reason: str,
    history: Sequence[EventRecord],
    progress: int,
) -> EventState:
    """A decision that runs no event ("end", or "takeover" by a person). EventState still
    names a skill: the last event's, so the record reads naturally."""
    last = history[-1] if history else None
    return EventState(
        next_event="end" if decision == "end" else "a person decides",
        skill=last.skill if last is not None else "reach",
        arguments=dict(last.arguments) if last is not None else {},
        frames=1,
        progress=progress,
        decision=decision,
        reason=reason,
    )
