"""The tabletop as a run's environment (agent/envs/registry.py): the simulator a RunSpec asks for,
its scene set up on every reset and its faults injected."""

from __future__ import annotations

from typing import TYPE_CHECKING

from agent.envs.tabletop.faults import FaultConfig, FaultInjector
from agent.envs.tabletop.scene_file import DEFAULT_SCENE
from agent.envs.tabletop.sim import SimConfig, TabletopSim
from agent.envs.tabletop.truth import true_relations as true_relations  # the registry's entry

if TYPE_CHECKING:
    from agent.run_spec import RunSpec


def build(spec: RunSpec) -> TabletopSim:
    injector = FaultInjector([FaultConfig(kind) for kind in spec.faults]) if spec.faults else None
    # The scene is the simulator's: set up on every reset (the run's, its resume's, the oracle's).
    scene = spec.scene or DEFAULT_SCENE
    config = SimConfig(width=spec.resolution, height=spec.resolution, scene=scene)
    return TabletopSim(config, faults=injector)
