"""Ground truth for perception: MuJoCo's segmentation render and the relations that hold in the
simulator's state. Tests, benchmarks and studies compare `agent.perception` (and the checks built
on it) against these; perception itself never reads them.
"""

from __future__ import annotations

import mujoco
import numpy as np

from agent.envs.tabletop.scene import BLOCKS, CAMERAS, DRAWER, OBJECTS, near_relations
from agent.envs.tabletop.sim import TabletopSim
from agent.envs.tabletop.tasks import drawer_closed, drawer_open, is_in, is_on_block
from agent.perception.scene import PerceivedObject, Scene

# A body counts as visible in a camera from this many segmentation pixels: fewer is a sliver
# (a corner behind the gripper) that no detector can be asked to find.
MIN_VISIBLE_PIXELS = 5


class SegmentationRenderer:
    """Per-pixel body ids of every camera (MuJoCo's segmentation render, shadows off)."""

    def __init__(self, sim: TabletopSim):
        self.sim = sim
        self._renderer = mujoco.Renderer(sim.model, sim.config.height, sim.config.width)
        self._renderer.scene.flags[mujoco.mjtRndFlag.mjRND_SHADOW] = False
        self._renderer.enable_segmentation_rendering()
        model = sim.model
        # every geom of the drawer's and the cabinet's bodies count as the drawer
        self._names = {
            name: [sim.body_id[name]] + ([sim.body_id["cabinet"]] if name == DRAWER else [])
            for name in OBJECTS
        }
        self._geom_body = model.geom_bodyid.copy()

    def geoms(self, camera: str) -> np.ndarray:
        """int (H, W): the geom id seen at each pixel, -1 for the background."""
        self._renderer.update_scene(self.sim.data, camera=camera)
        seg = self._renderer.render()
        geom, kind = seg[..., 0], seg[..., 1]
        return np.where((kind == mujoco.mjtObj.mjOBJ_GEOM) & (geom >= 0), geom, -1)

    def bodies(self, camera: str) -> np.ndarray:
        """int (H, W): the body id seen at each pixel, -1 for the background."""
        geom = self.geoms(camera)
        return np.where(geom >= 0, self._geom_body[np.clip(geom, 0, None)], -1)

    def masks(self, camera: str) -> dict[str, np.ndarray]:
        """bool (H, W) per object of the vocabulary (the drawer includes its cabinet)."""
        bodies = self.bodies(camera)
        return {name: np.isin(bodies, ids) for name, ids in self._names.items()}

    def visible(self) -> dict[str, dict[str, np.ndarray]]:
        """camera -> object -> mask, for every camera."""
        return {camera: self.masks(camera) for camera in CAMERAS}

    def close(self) -> None:
        self._renderer.close()


def true_positions(sim: TabletopSim) -> dict[str, np.ndarray]:
    """Every present object's body position in the base frame (the drawer: its sliding tray)."""
    return {name: sim.object_pose(name)[0] for name in sim.config.scene.objects}


def true_relations(sim: TabletopSim) -> set[str]:
    """The relations that hold in the simulator, spelt as `agent.perception` spells them; the
    objects the scene leaves out are in none."""
    present = sim.config.scene.objects
    relations: set[str] = set()
    held = sim.held_object(0)
    for block in (b for b in BLOCKS if b in present):
        if block == held:
            relations.add(f"holding({block})")
            continue
        for container, word in (("bowl", "in"), (DRAWER, "in"), ("plate", "on")):
            if container in present and is_in(block, container)(sim):
                relations.add(f"{word}({block}, {container})")
        for below in (b for b in BLOCKS if b in present):
            if below != block and is_on_block(block, below)(sim):
                relations.add(f"on({block}, {below})")
    relations |= near_relations(relations, true_positions(sim), held)
    if DRAWER in present and drawer_open(sim):
        relations.add("open(drawer)")
    if DRAWER in present and drawer_closed(sim):
        relations.add("closed(drawer)")
    return relations


def true_scene(sim: TabletopSim) -> Scene:
    """The simulator's state as perception's Scene: every present block seen where it is, the
    block held and the relations that hold (no camera views: nothing is projected)."""
    objects = {}
    for name, position in true_positions(sim).items():
        x, y, z = (float(v) for v in position)
        objects[name] = PerceivedObject(name, True, (x, y, z), 1.0)
    return Scene(
        step=0,
        objects=objects,
        views={},
        holding=sim.held_object(0),
        relation_list=tuple(sorted(true_relations(sim))),
    )
