"""The agent's graph, built and compiled in one place.

```
START -> observe -> plan -----> execute -> verify -> observe ...        (the event loop)
            |         |  \\-> human -/        \\-> recover -> observe     (retry, regrasp, replan)
            |         \\-> finish                         \\-> human / finish
            \\-> human (with --human) / finish (budget spent)
```
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.checkpoint.sqlite import SqliteSaver
from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph

from agent.graph import nodes, routers
from agent.graph.context import AgentContext
from agent.graph.state import AgentState


def build_graph(checkpointer: BaseCheckpointSaver) -> CompiledStateGraph:
    graph = StateGraph(AgentState, context_schema=AgentContext)
    graph.add_node("observe", nodes.observe)
    graph.add_node("plan", nodes.plan)
    graph.add_node("human", nodes.human)
    graph.add_node("execute", nodes.execute)
    graph.add_node("verify", nodes.verify)
    graph.add_node("recover", nodes.recover)
    graph.add_node("finish", nodes.finish)
    graph.add_edge(START, "observe")
    graph.add_conditional_edges("observe", routers.after_observe)
    graph.add_conditional_edges("plan", routers.after_plan)
    graph.add_conditional_edges("human", routers.after_human)
    graph.add_conditional_edges("execute", routers.after_execute)
    graph.add_conditional_edges("verify", routers.after_verify)
    graph.add_conditional_edges("recover", routers.after_recover)
    graph.add_edge("finish", END)
    return graph.compile(checkpointer=checkpointer)


def sqlite_checkpointer(path: Path) -> SqliteSaver:
    """LangGraph's SQLite checkpointer on `path` (one database, one thread per task)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    return SqliteSaver(sqlite3.connect(str(path), check_same_thread=False))
