"""The planners a run can use, by name: one line each.

Each entry names a module of agent/planning/ (or any importable module) with a
`build(spec: RunSpec, skills: SkillCatalogue, memory: SceneMemory) -> Planner` function; the
module is imported only when its planner is chosen, so this file stays light enough for the
settings check (agent/run_spec.py) and `--help`.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from agent.planning.base import Planner
    from agent.planning.memory import SceneMemory
    from agent.run_spec import RunSpec
    from agent.skills import SkillCatalogue


@dataclass(frozen=True)
class PlannerEntry:
    module: str  # holds build(spec, skills, memory) -> Planner
    summary: str  # one line for --help


PLANNERS: dict[str, PlannerEntry] = {
    "embedded": PlannerEntry(
        "agent.planning.embedded", "offline: the instruction read into a goal, planned with PDDL"
    ),
    "vlm": PlannerEntry("agent.planning.vlm", "a served VLM over the OpenAI-compatible API"),
    "human": PlannerEntry("agent.planning.human", "a person types every event"),
}
AUTO = "auto"  # the VLM when one is configured, else the embedded planner


def planner_names() -> tuple[str, ...]:
    return (AUTO, *PLANNERS)


def resolve(name: str, vlm_configured: bool) -> str:
    """The registry name `auto` stands for, or `name` itself."""
    if name == AUTO:
        return "vlm" if vlm_configured else "embedded"
    return name


def build_planner(name: str, spec: RunSpec, skills: SkillCatalogue, memory: SceneMemory) -> Planner:
    """The planner registered as `name` (already resolved), built for this run."""
    module = importlib.import_module(PLANNERS[name].module)
    return module.build(spec, skills, memory)
