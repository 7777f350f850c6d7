"""Routers: side-effect-free decisions on the state (and the run's settings in the runtime
context), typed by the nodes they lead to."""

from __future__ import annotations

from typing import Literal

from langgraph.runtime import Runtime

from agent.graph.context import AgentContext
from agent.graph.state import AgentState


def after_observe(
    state: AgentState, runtime: Runtime[AgentContext]
) -> Literal["plan", "human", "finish"]:
    if state.get("stop_reason"):
        return "finish"
    if state.get("queue"):
        return "plan"  # a recovery queued events: they run before anyone is asked
    if runtime.context.human_mode:
        return "human"
    return "plan"


def after_plan(state: AgentState) -> Literal["execute", "human", "finish"]:
    decision = (state.get("plan") or {}).get("decision")
    if decision == "end":
        return "finish"
    if decision == "takeover":
        return "human"
    return "execute"


def after_human(state: AgentState) -> Literal["execute", "human", "finish"]:
    plan = state.get("plan")
    if plan is None:
        return "human"  # the answer was not understood: ask again, with the error
    return "finish" if plan["decision"] == "end" else "execute"


def after_execute(
    state: AgentState, runtime: Runtime[AgentContext]
) -> Literal["verify", "recover", "human"]:
    if not state.get("refusal"):
        return "verify"
    return "human" if runtime.context.human_mode else "recover"


def after_verify(
    state: AgentState, runtime: Runtime[AgentContext]
) -> Literal["observe", "recover"]:
    if not runtime.context.recovery:
        return "observe"  # recovery off: divergence is recorded, never acted on
    return "observe" if (state.get("last_verification") or {}).get("ok") else "recover"


def after_recover(state: AgentState) -> Literal["observe", "human", "finish"]:
    strategy = state["recoveries"][-1]["strategy"]
    if strategy == "give_up":
        return "finish"
    if strategy == "human_takeover":
        return "human"
    return "observe"  # regrasp / back off and retry run the queue; replan asks the planner
