"""The graph's state: small, JSON-friendly records only.

Frames, predictions and action arrays never enter the state (they live in the episode store and
the in-memory workspace of the runtime context), so every checkpoint stays a few kilobytes and
every step stays cheap. Fields that accumulate have an explicit reducer (list concatenation);
all other fields are overwritten by the node that returns them.
"""

from __future__ import annotations

from operator import add
from typing import Annotated, Any, Literal, TypedDict

Status = Literal["running", "success", "failed", "budget_exhausted", "stopped"]


class AgentState(TypedDict, total=False):
    instruction: str
    # The event in hand: an EventState dump from the planner, a person, or a recovery.
    plan: dict[str, Any] | None
    # Events queued by a recovery (e.g. a regrasp before retrying) to run before planning again.
    queue: list[dict[str, Any]]
    # Finished events as the planner sees them (agent.state.EventRecord dumps).
    history: Annotated[list[dict[str, Any]], add]
    # Keys of the executions whose actions reached the robot, in order (replayed on resume).
    executions: Annotated[list[str], add]
    # The execution awaiting verification: its key and small facts about it.
    pending: dict[str, Any] | None
    # The verifier's verdict on the last event (agent.state.Verification dump).
    last_verification: dict[str, Any] | None
    # Attempts at the current event beyond the first (reset when the planner plans anew).
    attempts: int
    # Every recovery decision with its evidence.
    recoveries: Annotated[list[dict[str, Any]], add]
    # Why the executor refused the last event before moving (None after a normal execution).
    refusal: str | None
    # A message for the person at the keyboard (an answer that could not be understood).
    human_error: str | None
    status: Status
    # Why the task stopped early (a budget was spent), set by observe; None while within budget.
    stop_reason: str | None
    elapsed_s: float  # wall time spent on this task, summed over resumed runs
    # What the planner keeps between events (the embedded planner: its plan and stage), so a
    # resumed run continues that plan instead of planning anew.
    planner_memory: dict[str, Any] | None
