"""The executors a run can use, by name: one line each. Any other name is a learned WALL-WM
checkpoint (a name `worldmodel.locate` finds, or a folder): agent/execution/learned.py.

Each entry names a module with a `build(robot: Robot) -> EventExecutor` function, imported only
when chosen. An executor that needs no simulator (a remote model server answering
EventRequests over the network, say) is one more module and one more line here.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from agent.envs.robot import Robot
    from worldmodel.types import EventExecutor


@dataclass(frozen=True)
class ExecutorEntry:
    module: str  # holds build(robot) -> EventExecutor
    summary: str  # one line for --help


EXECUTORS: dict[str, ExecutorEntry] = {
    "oracle": ExecutorEntry(
        "agent.envs.tabletop.oracle",
        "the scripted expert rolled out in a copy of the world: the upper bound",
    ),
    "hold-still": ExecutorEntry(
        "agent.envs.tabletop.hold_still", "keeps the arm still: the negative control"
    ),
}
AUTO = "auto"  # the shipped learned checkpoint; the oracle where it is not installed
# The learned checkpoint `auto` uses: the grounded one passes issue 26's closed-loop bar (events
# 86-100%, whole tasks >= 60% in 3 of 5 families; worldmodel/checkpoints/grounded/MODEL_CARD.md).
LEARNED_DEFAULT: str | None = "grounded"
# The learned checkpoint `wallwm calibrate` and `wallwm eval` use by default: failure detection is
# measured where predictions are imperfect (the oracle's are exact, so it detects nothing). The
# grounded one: it does the events (worldmodel/checkpoints/grounded/MODEL_CARD.md), and ships
# its thresholds.
STUDY_DEFAULT = "grounded"


def resolve(name: str, shipped: set[str]) -> str:
    """The executor `auto` stands for, given the names of the checkpoints found; else `name`."""
    if name == AUTO:
        return LEARNED_DEFAULT if LEARNED_DEFAULT in shipped else "oracle"
    return name


def build_executor(name: str, robot: Robot) -> EventExecutor:
    """The executor registered as `name` (already resolved), or the learned checkpoint `name`."""
    if name in EXECUTORS:
        return importlib.import_module(EXECUTORS[name].module).build(robot)
    from agent.execution.learned import build

    return build(name)
