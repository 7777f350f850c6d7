"""The environments a run can act in, by name: one line each.

Each entry names a module with `build(spec: RunSpec) -> Robot` (agent/envs/robot.py) and, for a
simulator, `true_relations(robot) -> set[str]`: the relations its own state shows, which the
metrics record beside the perceived ones, and `true_scene(robot) -> Scene`: its state as
perception's Scene, which failure studies judge events by (a real robot has neither and leaves
them out). A real robot adapter is one module (its cameras, its action space, its motors behind
`step`) and one line.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from types import ModuleType


@dataclass(frozen=True)
class EnvironmentEntry:
    module: str  # holds build(spec) -> Robot; a simulator also true_relations and true_scene
    summary: str  # one line for --help


ENVIRONMENTS: dict[str, EnvironmentEntry] = {
    "tabletop": EnvironmentEntry(
        "agent.envs.tabletop.environment", "MuJoCo tabletop: one arm, four blocks, three cameras"
    ),
}


def environment_names() -> tuple[str, ...]:
    return tuple(ENVIRONMENTS)


def load_environment(name: str) -> ModuleType:
    """The module of the environment registered as `name` (checked by RunSpec)."""
    return importlib.import_module(ENVIRONMENTS[name].module)
