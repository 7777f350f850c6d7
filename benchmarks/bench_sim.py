"""Simulator speed: control steps per second (10 Hz control, 25 physics substeps each).

Rows: physics only; physics + three 128x128 cameras rendered every step (the agent's live loop);
rendering alone. The actions are a recorded expert episode (contacts, grasps, a drawer), replayed
identically in every row.

    PYTHONPATH=. MUJOCO_GL=egl python benchmarks/bench_sim.py
"""

from __future__ import annotations

import os
import time

os.environ.setdefault("MUJOCO_GL", "egl")

from agent.envs.tabletop.expert import RunConfig, run_episode
from agent.envs.tabletop.sim import SimConfig, TabletopSim
from agent.envs.tabletop.tasks import get_task
from benchmarks.record import markdown_table, record

TASK, SEED, REPEATS = "drawer_then_stack", 0, 3


def replay(sim: TabletopSim, actions, seed: int) -> float:
    """Best-of-REPEATS steps/s replaying `actions` from reset(seed)."""
    best = 0.0
    for _ in range(REPEATS):
        sim.reset(seed)
        began = time.perf_counter()
        for action in actions:
            sim.step(action)
        best = max(best, len(actions) / (time.perf_counter() - began))
    return best


def main() -> None:
    with TabletopSim(SimConfig(render=False)) as physics:
        actions = run_episode(physics, get_task(TASK), SEED, RunConfig(record_frames=False)).actions
        physics_rate = replay(physics, actions, SEED)
    with TabletopSim(SimConfig()) as rendered:
        full_rate = replay(rendered, actions, SEED)
        began = time.perf_counter()
        for _ in range(200):
            rendered.render()
        render_rate = 200 / (time.perf_counter() - began)
    rows = [
        ["physics only", f"{physics_rate:.0f}", "-"],
        ["physics + 3 cameras 128x128 every step", f"{full_rate:.0f}", ">= 100"],
        ["rendering 3 cameras only (frame sets/s)", f"{render_rate:.0f}", "-"],
    ]
    table = markdown_table(["what", "control steps/s", "target"], rows)
    record(
        "Tabletop simulator speed",
        table,
        notes=f"Replay of the expert's {TASK} episode (seed {SEED}, {len(actions)} control steps, "
        "25 physics substeps of 4 ms each), best of 3; MuJoCo EGL (llvmpipe) offscreen, shadows "
        "and MSAA off.",
    )


if __name__ == "__main__":
    main()
