"""An event's true targets: where its object and destination are, read from simulator state.

`wallwm data generate` labels every action-level event with these at the event's first frame,
and `wallwm eval-model --targets truth` hands them to the model; the agent itself takes its
targets from perception (agent/perception/targets.py). Both mark the same places: a block's
centre, the drawer's handle for open and close, and for a destination the spot an object is set
on: a block's top, or the free slot of the bowl's floor, the drawer's tray or the plate's top
(`scene.free_slot`, where the expert puts it). Points
are the 3-D place projected with each camera's calibration and its pose at that instant (the
wrist camera moves); a camera whose image does not contain the place is left out.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from agent.envs.tabletop.scene import DRAWER
from agent.envs.tabletop.sim import TabletopSim
from agent.envs.tabletop.skills import handle_position, place_pose, support_height
from agent.perception.geometry import View
from agent.perception.targets import ROLE_ARGUMENTS
from worldmodel.types import EventTarget


def target_position(
    sim: TabletopSim, role: str, name: str, carried: str | None = None
) -> np.ndarray:
    """The 3-D point (base frame, metres) a target of `role` on object `name` marks; a
    destination for block `carried` is the spot it goes (a container's free slot)."""
    if role == "object":
        return handle_position(sim) if name == DRAWER else sim.object_pose(name)[0]
    position = sim.object_pose(name)[0].copy()
    if carried:
        position[:2] = place_pose(sim, carried, name)[0]
    position[2] = support_height(sim, name)
    return position


def project(sim: TabletopSim, position: np.ndarray) -> dict[str, tuple[float, float]]:
    """`position` in normalised image coordinates of every camera whose image contains it."""
    points = {}
    for camera in sim.cameras:
        pose = sim.camera_pose(camera.name)
        view = View(camera.name, camera.width, camera.height, camera.intrinsics, pose)
        pixel = view.project(position)
        if pixel is not None and view.contains(*pixel):
            points[camera.name] = (pixel[0] / camera.width, pixel[1] / camera.height)
    return points


def true_targets(sim: TabletopSim, arguments: Mapping[str, str]) -> tuple[EventTarget, ...]:
    """The targets of an event with `arguments` (its `object` and `target`), now."""
    out = []
    for role, argument in ROLE_ARGUMENTS.items():
        name = arguments.get(argument)
        if not name:
            continue
        position = target_position(sim, role, name, arguments.get("object"))
        x, y, z = (round(float(v), 4) for v in position)
        out.append(EventTarget(role, name, project(sim, position), (x, y, z)))
    return tuple(out)
