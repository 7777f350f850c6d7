"""The tabletop as a run's environment (agent/envs/registry.py): the simulator a RunSpec asks for,
its scene set up on every reset and its faults injected."""

from __future__ import annotations

from typing import TYPE_CHECKING

from agent.envs.tabletop.faults import FaultInjector, parse_faults
from agent.envs.tabletop.scene_file import DEFAULT_SCENE
from agent.envs.tabletop.sim import SimConfig, TabletopSim
from agent.envs.tabletop.tasks import get_task

# the registry's entries for a simulator
from agent.envs.tabletop.truth import true_relations as true_relations
from agent.envs.tabletop.truth import true_scene as true_scene

if TYPE_CHECKING:
    from agent.run_spec import RunSpec


def build(spec: RunSpec) -> TabletopSim:
    injector = None
    if spec.faults:
        # The task's goal tells a last-event fault (KIND@last) when the last event runs.
        goal = get_task(spec.task).success if spec.task else None
        injector = FaultInjector(parse_faults("+".join(spec.faults)), goal=goal)
    # The scene is the simulator's: set up on every reset (the run's, its resume's, the oracle's).
    scene = spec.scene or DEFAULT_SCENE
    config = SimConfig(width=spec.resolution, height=spec.resolution, scene=scene)
    return TabletopSim(config, faults=injector)
