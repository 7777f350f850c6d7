"""Expert evaluation: success and progress per task family, with or without a fault.

Seed s of a family runs that family's task number s mod (tasks in the family), so 50 seeds cover
every task of the family with different object placements.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from agent.envs.tabletop.expert import RunConfig, run_episode
from agent.envs.tabletop.faults import FaultConfig, FaultInjector
from agent.envs.tabletop.sim import SimConfig, TabletopSim
from agent.envs.tabletop.tasks import FAMILIES, TASKS, Task, tasks_of


@dataclass(frozen=True)
class Outcome:
    task: str
    family: str
    seed: int
    success: bool
    progress: float
    steps: int
    faults_fired: int


def run_outcomes(
    jobs: Iterable[tuple[Task, int]],
    fault: FaultConfig | None = None,
    recover: bool = False,
) -> list[Outcome]:
    """Run the expert on each (task, seed) without rendering and collect the outcomes."""
    injector = FaultInjector(fault) if fault is not None else None
    render = fault is not None and fault.kind in ("camera_freeze", "black_frames", "dropped_frames")
    sim = TabletopSim(SimConfig(render=render), faults=injector)
    config = RunConfig(recover=recover, record_frames=False)
    outcomes = []
    try:
        for task, seed in jobs:
            episode = run_episode(sim, task, seed, config)
            outcomes.append(
                Outcome(
                    task.name,
                    task.family,
                    seed,
                    episode.success,
                    episode.progress,
                    episode.steps,
                    len(episode.faults),
                )
            )
    finally:
        sim.close()
    return outcomes


def family_jobs(family: str, seeds: int) -> list[tuple[Task, int]]:
    tasks = tasks_of(family)
    return [(tasks[seed % len(tasks)], seed) for seed in range(seeds)]


def suite_jobs(seeds: int) -> list[tuple[Task, int]]:
    """Seed s runs task number s mod 15 of the whole suite."""
    tasks = list(TASKS.values())
    return [(tasks[seed % len(tasks)], seed) for seed in range(seeds)]


def summarise(outcomes: list[Outcome]) -> tuple[float, float]:
    """(success rate %, mean progress %)."""
    if not outcomes:
        return 0.0, 0.0
    success = 100.0 * sum(o.success for o in outcomes) / len(outcomes)
    progress = sum(o.progress for o in outcomes) / len(outcomes)
    return success, progress


__all__ = ["FAMILIES", "Outcome", "family_jobs", "run_outcomes", "suite_jobs", "summarise"]
