"""Live progress of a task: a rich terminal display, or JSON lines for machines.

Both are Reporters (agent/graph/context.py): the nodes call `event(kind, **fields)` with kind in
plan, execute, step, verify, recover, finish; `wallwm run` reports the goal first.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass, field
from typing import Any, TextIO

from rich.console import Console, Group
from rich.live import Live
from rich.panel import Panel
from rich.table import Table
from rich.text import Text


class JsonReporter:
    """One JSON object per line on stdout: {"event": kind, "t": seconds, ...fields}."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stdout
        self.started = time.monotonic()

    def event(self, kind: str, **fields: Any) -> None:
        if kind == "step":
            return  # per-step lines would drown the useful ones
        line = {"event": kind, "t": round(time.monotonic() - self.started, 3), **fields}
        self.stream.write(json.dumps(line, default=str) + "\n")
        self.stream.flush()


def describe_targets(plan: dict[str, Any]) -> str:
    """A plan's targets in a few characters: 'red_block f.42,.61 s.55,.70 -> bowl f.30,.50'
    (first letter of the camera, then normalised x, y)."""
    parts = []
    for target in plan.get("targets") or []:
        points = " ".join(
            f"{p['camera'][0]}{p['x']:.2f},{p['y']:.2f}".replace("0.", ".")
            for p in target["points"]
        )
        parts.append(f"{target['name']} {points}".strip())
    return " -> ".join(parts)


@dataclass
class _Row:
    caption: str
    source: str
    targets: str = ""
    steps: str = ""
    divergence: str = ""
    verdict: str = "running"


@dataclass
class RichReporter:
    """A live panel: the instruction, the event timeline, the current event, budgets."""

    instruction: str
    header: str
    max_events: int
    wall_time_s: float
    console: Console = field(default_factory=lambda: Console(stderr=True))
    rows: list[_Row] = field(default_factory=list)
    goal: str = ""  # the goal in words and relations, once read
    current: str = ""
    recoveries: int = 0
    executions: int = 0
    started: float = field(default_factory=time.monotonic)
    live: Live | None = None

    def __enter__(self) -> RichReporter:
        self.live = Live(self.render(), console=self.console, refresh_per_second=8, transient=False)
        self.live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.live is not None:
            self.live.update(self.render())
            self.live.__exit__(None, None, None)
            if not self.console.is_terminal:
                # rich ends the panel's last line only on a terminal; in a log the next line would
                # run on after the budgets.
                self.console.line()

    def event(self, kind: str, **fields: Any) -> None:
        if kind == "goal":
            stages = " then ".join(" ".join(stage) for stage in fields["relations"])
            self.goal = f"goal: {fields['words']}\n      {stages or '(nothing to do)'}"
        elif kind == "plan":
            plan = fields["plan"]
            if plan["decision"] in ("continue", "replan"):
                self.rows.append(_Row(plan["next_event"], fields["source"], describe_targets(plan)))
        elif kind == "execute":
            self.executions += 1
            self.current = f"{fields['caption']}: predicting"
        elif kind == "step":
            self.current = f"executing step {fields['step']}/{fields['of']}"
        elif kind == "verify" and self.rows:
            verification = fields["verification"]
            row = self.rows[-1]
            row.divergence = f"{verification['divergence']:.3f} / {verification['threshold']:.3f}"
            row.verdict = "ok" if verification["ok"] else f"diverged: {verification['failure']}"
            self.current = ""
        elif kind == "recover":
            self.recoveries += 1
            self.current = f"recovery: {fields['strategy']} (attempt {fields['attempt']})"
        elif kind == "planner_down":
            self.current = f"{fields['planner']} planner down: {fields['fallback']} takes over"
        elif kind == "finish":
            self.current = (
                f"{fields['status']}: progress {fields['progress']:.0f}%, "
                f"{fields['events']} events, {fields['recoveries']} recoveries"
            )
        if self.live is not None:
            self.live.update(self.render())

    def render(self) -> Group:
        timeline = Table(expand=True, show_edge=False)
        for column in ("#", "event", "from", "targets (x, y)", "divergence / threshold"):
            timeline.add_column(column)
        timeline.add_column("verdict")
        for number, row in enumerate(self.rows[-12:], start=max(1, len(self.rows) - 11)):
            style = "green" if row.verdict == "ok" else "red" if "diverged" in row.verdict else ""
            timeline.add_row(
                str(number),
                row.caption,
                row.source,
                Text(row.targets, style="dim"),
                row.divergence,
                Text(row.verdict, style),
            )
        elapsed = time.monotonic() - self.started
        budgets = (
            f"events {self.executions}/{self.max_events}   recoveries {self.recoveries}   "
            f"time {elapsed:.0f}/{self.wall_time_s:.0f} s"
        )
        return Group(
            Panel(
                Group(Text(self.instruction, style="bold"), Text(self.goal, style="magenta")),
                title="task",
                subtitle=self.header,
            ),
            timeline,
            Text(self.current, style="cyan"),
            Text(budgets, style="dim"),
        )
