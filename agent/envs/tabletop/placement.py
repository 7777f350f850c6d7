"""Where the objects start: absent objects parked out of sight, the scene's relations set up, and
everything else placed at random by the seed with no two such objects near each other.

Random layouts reject `near` between any two objects they place: a push goal ("push the yellow
block next to the plate") must not hold before anything moves (issue 27: it held at reset for 31 of
200 seeds of push_then_bowl). Only a scene file's own near(X, Y) starts two objects near.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import mujoco
import numpy as np

from agent.envs.tabletop.errors import SceneSetupError
from agent.envs.tabletop.scene import (
    BLOCKS,
    DRAWER,
    NEAR_GAP,
    SLOTS,
    SceneGeometry,
    footprint,
    footprint_gap,
)

if TYPE_CHECKING:
    from agent.envs.tabletop.sim import TabletopSim

# Absent objects stay in the model, so every name, index and state vector is the same in every
# scene (the expert, faults, ground truth and the oracle's state copies address objects by name),
# but they take no part: collisions off, geoms in a group no renderer draws (MuJoCo draws groups
# 0-2 by default, and every renderer here, RGB and segmentation, keeps the default), held still
# by gravity compensation, parked below the floor (z = -0.75) where no camera looks.
HIDDEN_GROUP = 3
PARK_Z = -2.0  # m
CANDIDATES = 1000  # positions tried for one object before the whole layout starts over
LAYOUTS = 50  # layouts tried before the scene is declared not to fit
BESIDE_GAP = 0.005  # m: least gap between the bounding circles of a block set next to an object
# Layouts keep near(X, Y) clear of its threshold by this much either way: objects apart stand at
# least NEAR_GAP + this apart, objects set near at most NEAR_GAP - this. Perception places a block
# within 1.6 cm even when the gripper hides part of it (benchmarks/bench_perception.py), so a
# layout 5.5 cm apart read as near in 24 suite events before.
NEAR_MARGIN = 0.02  # m


def hide_absent(sim: TabletopSim) -> None:
    """Take the scene's absent objects out of sight and out of the physics (once, at build)."""
    model = sim.model
    for index, name in enumerate(sim.config.scene.absent):
        bodies = [sim.body_id[name]] + ([sim.body_id["cabinet"]] if name == DRAWER else [])
        for geom in np.flatnonzero(np.isin(model.geom_bodyid, bodies)):
            model.geom_contype[geom] = 0
            model.geom_conaffinity[geom] = 0
            model.geom_group[geom] = HIDDEN_GROUP
        if name in sim.free_joint:
            model.body_gravcomp[sim.body_id[name]] = 1.0
            adr = sim.free_joint[name]
            parked = (0.3 * index, 0.0, PARK_Z)
            model.qpos0[adr : adr + 3] = parked  # where mj_resetData puts it on every reset
            sim.data.qpos[adr : adr + 3] = parked
        else:  # the drawer: its cabinet is fixed to the world and carries the tray
            model.body_pos[sim.body_id["cabinet"], 2] = PARK_Z


def drop_block(sim: TabletopSim, block: str, xy: np.ndarray, support_z: float) -> None:
    """Put `block` at rest just above a support whose top is at height support_z."""
    sim.set_object_position(block, np.array([*xy, support_z + sim.geometry.block_half + 0.002]))


def place_objects(sim: TabletopSim, rng: np.random.Generator) -> None:
    """Set the scene up from `rng`: the drawer, the objects on the table, then what stands in or
    on them. The caller lets the physics settle."""
    g = sim.geometry
    placement = sim.config.scene.placement
    sim.data.qpos[sim.drawer_qpos] = g.drawer_open if placement.drawer_open else 0.0
    for name, (xy, yaw) in _table_layout(sim, rng).items():
        adr = sim.free_joint[name]
        sim.data.qpos[adr : adr + 3] = (*xy, g.block_half if name in BLOCKS else 0.0)
        sim.data.qpos[adr + 3 : adr + 7] = (math.cos(yaw / 2), 0.0, 0.0, math.sin(yaw / 2))
    mujoco.mj_forward(sim.model, sim.data)
    floors = {"bowl": g.bowl_floor, "plate": g.plate_height, DRAWER: g.drawer_floor}
    used = dict.fromkeys(floors, 0)
    pending = dict(placement.support)
    while pending:  # a tower's blocks bottom up (the scene file was checked for loops)
        for block, below in list(pending.items()):
            if below in pending:
                continue
            base, _ = sim.object_pose(below)
            if below in BLOCKS:
                drop_block(
                    sim, block, base[:2] + rng.uniform(-0.008, 0.008, 2), base[2] + g.block_half
                )
            else:
                slot = np.array(SLOTS[below][used[below]])
                used[below] += 1
                xy = base[:2] + slot + rng.uniform(-0.005, 0.005, 2)
                drop_block(sim, block, xy, base[2] + floors[below])
            del pending[block]


def check_relations(sim: TabletopSim, seed: int) -> None:
    """SceneSetupError unless every relation the scene asked for holds once settled."""
    # Imported here: truth imports the task suite, which imports the simulator that calls this.
    from agent.envs.tabletop.truth import true_relations

    asked = set(sim.config.scene.relations)
    if not asked:
        return
    holding = true_relations(sim)
    missing = sorted(asked - holding)
    if missing:
        raise SceneSetupError(
            f"the scene asks for {', '.join(missing)}, but once the objects settled (seed {seed}) "
            f"the simulator shows only {', '.join(sorted(holding)) or 'no relations'}; try "
            "another --seed, or fewer blocks in one place"
        )


def _radius(g: SceneGeometry, name: str) -> float:
    """The radius of the circle an object covers on the table, whatever its yaw."""
    return {"bowl": g.bowl_radius + 0.005, "plate": g.plate_radius}.get(name, g.block_half * 2**0.5)


def _table_layout(
    sim: TabletopSim, rng: np.random.Generator
) -> dict[str, tuple[np.ndarray, float]]:
    """name -> (xy, yaw) of every object standing on the table: at random, then next to their
    partners; layouts that do not fit start over from the same generator (deterministic)."""
    scene = sim.config.scene
    placement = scene.placement
    at_random = [
        name
        for name in ("bowl", "plate", *BLOCKS)
        if name in scene.objects and placement.resting_on_table(name)
    ]
    for _ in range(LAYOUTS):
        placed: dict[str, tuple[np.ndarray, float]] = {}
        for name in [*at_random, *placement.beside]:
            xy = _position(sim, rng, name, placement.beside.get(name), placed)
            if xy is None:
                break
            yaw = rng.uniform(-math.pi / 4, math.pi / 4) if name in BLOCKS else 0.0
            placed[name] = (xy, yaw)
        else:
            return placed
    raise SceneSetupError(
        f"could not fit the scene's objects on the table in {LAYOUTS} layouts (no two closer "
        f"than {NEAR_GAP} m unless the scene asks for near); ask for fewer near relations"
    )


def _position(
    sim: TabletopSim,
    rng: np.random.Generator,
    name: str,
    partner: str | None,
    placed: dict[str, tuple[np.ndarray, float]],
) -> np.ndarray | None:
    """A position for `name` clear of everything placed and near none of it, or, with a partner,
    next to the partner; None when no candidate fits."""
    g = sim.geometry
    radius = _radius(g, name)
    for _ in range(CANDIDATES):
        if partner is None:
            xy = np.array(
                [
                    rng.uniform(g.area_x[0] + radius, g.area_x[1] - radius),
                    rng.uniform(g.area_y[0] + radius, g.area_y[1] - radius),
                ]
            )
        else:
            centre = placed[partner][0]
            closest = radius + _radius(g, partner) + BESIDE_GAP
            farthest = footprint(name) + footprint(partner) + NEAR_GAP - NEAR_MARGIN
            angle, distance = rng.uniform(0, 2 * math.pi), rng.uniform(closest, farthest)
            xy = centre + distance * np.array([math.cos(angle), math.sin(angle)])
        if _fits(g, name, xy, radius, partner, placed):
            return xy
    return None


def _fits(
    g: SceneGeometry,
    name: str,
    xy: np.ndarray,
    radius: float,
    partner: str | None,
    placed: dict[str, tuple[np.ndarray, float]],
) -> bool:
    inside = (
        g.area_x[0] + radius <= xy[0] <= g.area_x[1] - radius
        and g.area_y[0] + radius <= xy[1] <= g.area_y[1] - radius
    )
    if not inside:
        return False
    for other, (where, _) in placed.items():
        gap = float(np.linalg.norm(xy - where)) - radius - _radius(g, other)
        if other == partner:
            if gap <= BESIDE_GAP or footprint_gap(name, xy, other, where) > NEAR_GAP - NEAR_MARGIN:
                return False
        elif gap <= g.clearance or footprint_gap(name, xy, other, where) <= NEAR_GAP + NEAR_MARGIN:
            return False
    return True
