"""Varied scene layouts for perception tests and benchmarks: blocks stacked, in the bowl, in the
open drawer, on the plate, held by the gripper, or hidden behind it.

`arrange(sim, seed)` resets the simulator with `seed`, rearranges the objects from the same seed
and lets the physics settle; every arrangement is one the task suite can produce.
"""

from __future__ import annotations

import math

import mujoco
import numpy as np

from agent.envs.tabletop.placement import drop_block
from agent.envs.tabletop.scene import BLOCKS, CAPACITY, SLOTS
from agent.envs.tabletop.sim import TabletopSim
from agent.envs.tabletop.skills import fold_yaw
from worldmodel.types import Observation

SETTLE_STEPS = 6  # control steps (0.6 s) for teleported objects to come to rest


def _settle(sim: TabletopSim, steps: int = SETTLE_STEPS) -> None:
    for _ in range(steps):
        sim.apply(sim.hold_action())


def _grasp(sim: TabletopSim, block: str, rng: np.random.Generator) -> None:
    """Close the gripper on `block` where it lies, then lift it to a random height."""
    pos, _ = sim.object_pose(block)
    yaw = fold_yaw(sim.object_yaw(block))
    sim.set_gripper_pose(0, pos, yaw, grip=0.3)
    action = sim.hold_action()
    action[6] = 1.0
    for _ in range(6):
        sim.apply(action)
    height = rng.uniform(0.0, 0.2)
    action[2] = pos[2] + height
    for _ in range(max(1, math.ceil(height / 0.05)) + 2):
        sim.apply(action)


def _hover_in_front(sim: TabletopSim, block: str, rng: np.random.Generator) -> None:
    """Park the open gripper on the line from the front camera to `block`, so it hides the block
    (wholly or in part) in that view."""
    pos, _ = sim.object_pose(block)
    camera = sim.camera_pose("front")[:3, 3]
    palm_height = rng.uniform(0.1, 0.2)
    fraction = (palm_height - pos[2]) / (camera[2] - pos[2])
    palm = pos + fraction * (camera - pos) + np.array([0.0, rng.uniform(-0.02, 0.02), 0.0])
    sim.set_gripper_pose(0, palm - np.array([0.0, 0.0, 0.072]), 0.0, grip=0.0)


def arrange(sim: TabletopSim, seed: int) -> Observation:
    """Reset with `seed`, rearrange the blocks by the same seed, settle, observe."""
    sim.reset(seed)
    rng = np.random.default_rng(seed + 7919)
    g = sim.geometry
    if rng.random() < 0.5:
        sim.data.qpos[sim.drawer_qpos] = g.drawer_open
        mujoco.mj_forward(sim.model, sim.data)
    drawer_open = sim.drawer_opening() > 0.1
    used = {"bowl": 0, "plate": 0, "drawer": 0}
    on_table: list[str] = []
    for block in rng.permutation(BLOCKS).tolist():
        choice = rng.choice(
            ["table", "bowl", "plate", "drawer", "stack"], p=[0.3, 0.2, 0.2, 0.1, 0.2]
        )
        if choice == "drawer" and not drawer_open:
            choice = "table"
        if choice in used and used[choice] >= CAPACITY[choice]:
            choice = "table"
        if choice == "stack" and not on_table:
            choice = "table"
        if choice == "table":
            on_table.append(block)
        elif choice == "stack":
            below = on_table.pop(int(rng.integers(len(on_table))))
            base, _ = sim.object_pose(below)
            drop_block(sim, block, base[:2] + rng.uniform(-0.008, 0.008, 2), base[2] + g.block_half)
        else:
            slot = np.array(SLOTS[choice][used[choice]])
            used[choice] += 1
            centre, _ = sim.object_pose(choice)
            floor = {"bowl": g.bowl_floor, "plate": g.plate_height, "drawer": g.drawer_floor}
            drop_block(sim, block, centre[:2] + slot + rng.uniform(-0.005, 0.005, 2), floor[choice])
    _settle(sim)
    gripper = rng.random()
    if gripper < 0.25 and on_table:
        _grasp(sim, on_table[int(rng.integers(len(on_table)))], rng)
    elif gripper < 0.5 and on_table:
        _hover_in_front(sim, on_table[int(rng.integers(len(on_table)))], rng)
        _settle(sim, 2)
    else:
        _settle(sim, 2)
    return sim.observe()
