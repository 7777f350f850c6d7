"""Start, resume and drive one task's graph to its end.

A task is a LangGraph thread (thread id = episode id) in the SQLite checkpointer plus an episode
folder. Resuming a thread restores the robot first: a simulator is reset with the task's seed and
the actions of every recorded execution are replayed, so the world is exactly where the
checkpoint left it; then the graph continues from its last completed step.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from langgraph.graph.state import CompiledStateGraph
from langgraph.types import Command

from agent.graph.context import AgentContext
from agent.graph.state import AgentState

# Answers a human-takeover interrupt: gets its payload, returns the person's text.
AskHuman = Callable[[dict[str, Any]], str]


class TakeoverPending(Exception):
    """The graph waits for a person and no way to ask one was given; resume to answer."""


@dataclass
class TaskRunner:
    graph: CompiledStateGraph
    context: AgentContext
    thread_id: str

    @property
    def config(self) -> dict[str, Any]:
        return {"configurable": {"thread_id": self.thread_id}}

    def state(self) -> AgentState:
        return self.graph.get_state(self.config).values  # type: ignore[return-value]

    def started(self) -> bool:
        return bool(self.state())

    def restore_robot(self, seed: int) -> int:
        """Reset the robot and replay every recorded execution; returns the steps replayed."""
        observation = self.context.robot.reset(seed)
        replayed = 0
        for key in self.state().get("executions", []):
            for action in self.context.store.load_execution(key)["actions"]:
                observation = self.context.robot.step(action)
                replayed += 1
        memory = self.state().get("planner_memory")
        restore = getattr(self.context.planner, "restore_memory", None)
        if memory and restore is not None:
            restore(memory)
        workspace = self.context.workspace
        workspace.observation = observation
        segments = self.context.store.segment_seconds()
        if not segments and self.state().get("elapsed_s"):  # an episode from before segments
            segments = [float(self.state()["elapsed_s"])]
        workspace.elapsed_before = sum(segments)
        workspace.segment = len(segments)
        workspace.started = time.monotonic()
        return replayed

    def record_time(self) -> None:
        """Store this run's wall time so far in the episode (summed over resumed runs)."""
        workspace = self.context.workspace
        self.context.store.record_segment(workspace.segment, workspace.segment_elapsed())

    def run(
        self,
        instruction: str | None,
        human_mode: bool,
        ask_human: AskHuman | None,
        recovery: bool = True,
    ) -> AgentState:
        """Run (or continue) the task to its end; answers takeovers with ask_human. human_mode
        and recovery hold for this call, so a resumed run may change them."""
        self.context.human_mode = human_mode
        self.context.recovery = recovery
        if self.started():
            payload: Any = None  # continue from the last checkpoint
            if self.graph.get_state(self.config).interrupts and ask_human is not None:
                payload = Command(resume=ask_human(self._interrupt_value()))
        else:
            payload = {"instruction": instruction, "attempts": 0}
        try:
            while True:
                self.graph.invoke(payload, self.config, context=self.context)
                snapshot = self.graph.get_state(self.config)
                if not snapshot.interrupts:
                    return snapshot.values  # type: ignore[return-value]
                if ask_human is None:
                    raise TakeoverPending(
                        f"task {self.thread_id} waits for a person: resume it with "
                        f"`wallwm run --resume {self.thread_id}` in a terminal"
                    )
                payload = Command(resume=ask_human(self._interrupt_value()))
        finally:  # however the run stops (end, error, Ctrl-C), its time counts
            self.record_time()

    def _interrupt_value(self) -> dict[str, Any]:
        return self.graph.get_state(self.config).interrupts[0].value
