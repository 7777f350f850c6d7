"""Perception: one Observation (images + calibrated cameras) -> a Scene.

1. Each usable camera's image is classified pixel by pixel by colour (`colour.py`); a missing,
   uncalibrated, black or frozen camera is set aside with the reason.
2. Each object's pixels in each camera give a sighting: their centroid, count, and whether the
   image border or the gripper cuts them (then the centroid may be off).
3. Positions: a block is triangulated from the rays through its centroids (the silhouette of a
   cube is nearly centrally symmetric about its centre's projection); seen in one camera only,
   or by cameras whose rays are nearly parallel, it is assumed to rest on the table. A block
   that is not held then takes the resting height of what lies under it (a block sunk in the
   bowl or the drawer shows only its top). The bowl and the plate stand on the table. The
   drawer's opening is the length of the cabinet seen across its side, less the cabinet's depth
   (its back edge from the camera looking along the slide when something hides it).
4. Relations follow from the positions with the thresholds the task suite's predicates use;
   `holding(X)` also reads the gripper's own opening and end-effector point from proprio.

Everything known in advance is the vocabulary: each object's paint and size (`scene.py`).
Nothing reads simulator state.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from itertools import combinations

import numpy as np

from agent.envs.tabletop.scene import BLOCKS, DRAWER, GEOMETRY, OBJECTS, SceneGeometry
from agent.perception import colour
from agent.perception.geometry import View, on_plane_y, on_plane_z, pixel_rays, triangulate
from agent.perception.relations import OPEN_AT, relations_of
from agent.perception.scene import PerceivedObject, Scene, Sighting
from worldmodel.types import CameraSpec, Observation

CLASS_OF: dict[str, int] = {name: colour.CLASS_NAMES.index(name) for name in OBJECTS}
# The cabinet as `scene.py` builds it: plates and walls 10 cm either side of its centre, top plate
# 9 cm high; the drawer's front panel is 19 cm wide.
CABINET_HALF = 0.1
CABINET_TOP = 0.09
FRONT_PANEL_WIDTH = 0.19


@dataclass(frozen=True)
class PerceptionConfig:
    """Thresholds of perception; each says where its number comes from."""

    min_pixels: int = 4  # fewer pixels of a colour are noise or a sliver: not a sighting
    partial_weight: float = 0.2  # a cut-off centroid counts this much in triangulation
    min_ray_angle: float = 20.0  # degrees: narrower, a pixel of error is centimetres of depth
    max_spread: float = 0.03  # m: rays further apart than this do not see the same thing
    dark_level: float = 8.0  # mean pixel value below this is a black frame (verify uses 8 too)
    # the wrist camera's headlight washes the table out to the plate's white
    plate_cameras_exclude: tuple[str, ...] = ("wrist",)
    # holding: the gripper closed on a 4 cm block reads about 4 cm between the fingers
    grip_opening: tuple[float, float] = (0.02, 0.05)
    grip_distance: float = 0.03  # m between the block's centre and the end-effector point
    rest_snap: float = 0.025  # m: a block this close to a resting height rests there
    geometry: SceneGeometry = GEOMETRY


def _views(
    observation: Observation, cameras: Sequence[CameraSpec]
) -> tuple[dict[str, View], dict[str, str]]:
    views, faults = {}, {}
    for spec in cameras:
        if spec.name not in observation.images:
            faults[spec.name] = "missing from the observation"
            continue
        pose = observation.camera_poses.get(spec.name, spec.extrinsics)
        if spec.intrinsics is None or pose is None:
            faults[spec.name] = "not calibrated (no intrinsics or pose)"
            continue
        views[spec.name] = View(
            spec.name, spec.width, spec.height, spec.intrinsics, np.asarray(pose, np.float64)
        )
    return views, faults


def _frame_faults(
    observation: Observation,
    views: dict[str, View],
    previous: Observation | None,
    config: PerceptionConfig,
) -> dict[str, str]:
    """Black frames, and frames identical to the previous step's while something they show
    changed: another fixed camera's frame, this camera's own pose, or the gripper in view after
    the robot moved (its proprio changed). A rendered still scene repeats exactly, so an
    identical frame alone is no fault."""
    faults = {}
    for name in views:
        if float(observation.images[name].mean()) < config.dark_level:
            faults[name] = "black frame"
    if previous is None or previous.step >= observation.step:
        return faults

    def same(name: str) -> bool:
        return name in previous.images and np.array_equal(
            previous.images[name], observation.images[name]
        )

    fixed = [n for n in views if n not in observation.camera_poses]
    world_changed = any(not same(n) for n in fixed)
    robot_moved = previous.proprio.shape == observation.proprio.shape and not np.allclose(
        previous.proprio, observation.proprio, atol=1e-3
    )
    for name in views:
        if name in faults or not same(name):
            continue
        moved = name in observation.camera_poses and not np.allclose(
            observation.camera_poses[name], previous.camera_poses.get(name, np.eye(4)), atol=1e-4
        )
        gripper_in_view = robot_moved and bool(
            np.any(colour.classify(observation.images[name]) == colour.GRIPPER)
        )
        if moved or world_changed or gripper_in_view:
            faults[name] = "frozen frame (identical to the previous step's)"
    return faults


def _pixels_by_class(labels: np.ndarray) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """(rows, cols) of every non-background class in one pass over the image."""
    flat = labels.ravel()
    index = np.flatnonzero(flat)
    if not len(index):  # nothing but background (a camera against the arm, say)
        return {}
    classes = flat[index]
    order = np.argsort(classes, kind="stable")
    index, classes = index[order], classes[order]
    present, starts = np.unique(classes, return_index=True)
    ends = [*starts[1:], len(index)]
    width = labels.shape[1]
    return {
        int(c): (index[a:b] // width, index[a:b] % width)
        for c, a, b in zip(present, starts, ends, strict=True)
    }


def _sighting(
    name: str,
    camera: str,
    labels: np.ndarray,
    pixels: dict[int, tuple[np.ndarray, np.ndarray]],
    config: PerceptionConfig,
) -> Sighting | None:
    rows, cols = pixels.get(CLASS_OF[name], (np.empty(0, int), np.empty(0, int)))
    if len(rows) < config.min_pixels:
        return None
    height, width = labels.shape
    top, bottom, left, right = rows.min(), rows.max(), cols.min(), cols.max()
    if (bottom - top + 1) * (right - left + 1) > 3 * len(rows) + 30:
        # spread out more than one compact object: drop strays far from the bulk
        centre_r, centre_c = np.median(rows), np.median(cols)
        radius = max(6.0, 3.0 * np.sqrt(len(rows)))
        distance = (rows - centre_r) ** 2 + (cols - centre_c) ** 2
        if not np.any(distance <= radius**2):
            # two far-apart patches with the median between them: centre on the pixel nearest
            # the median, which lies in one of them
            nearest = int(np.argmin(distance))
            distance = (rows - rows[nearest]) ** 2 + (cols - cols[nearest]) ** 2
        keep = distance <= radius**2
        if int(keep.sum()) < config.min_pixels:
            return None
        rows, cols = rows[keep], cols[keep]
        top, bottom, left, right = rows.min(), rows.max(), cols.min(), cols.max()
    partial = top == 0 or left == 0 or bottom == height - 1 or right == width - 1
    if not partial and name != DRAWER:  # the drawer's own handle is as dark as the fingers
        window = labels[max(0, top - 1) : bottom + 2, max(0, left - 1) : right + 2]
        partial = bool(np.any(window == colour.GRIPPER))
    u, v = float(cols.mean()) + 0.5, float(rows.mean()) + 0.5
    return Sighting(camera, (u, v), (u / width, v / height), len(rows), bool(partial))


def _widest_angle(directions: list[np.ndarray]) -> float:
    """The largest angle (degrees) between any two of the rays."""
    cosines = [abs(float(a @ b)) for i, a in enumerate(directions) for b in directions[i + 1 :]]
    return float(np.degrees(np.arccos(min(1.0, min(cosines, default=1.0)))))


def _locate_block(
    sightings: dict[str, Sighting],
    views: dict[str, View],
    config: PerceptionConfig,
    heights: tuple[float, float] = (-0.01, 0.6),
) -> tuple[np.ndarray, float, str]:
    """(position, confidence, how) of an object from its sightings.

    The largest set of cameras whose rays meet (within `max_spread`, at a height in `heights`)
    wins, the tightest one among sets of that size: a few stray pixels of the same paint in one
    camera (a shaded edge of another object) then cannot drag the point away."""
    rays = {n: (views[n].origin, views[n].ray(*sightings[n].pixel)) for n in sightings}
    for size in range(len(rays), 1, -1):
        candidates = []
        for names in combinations(sorted(rays), size):
            if _widest_angle([rays[n][1] for n in names]) < config.min_ray_angle:
                continue  # nearly parallel rays (front and wrist) do not fix the depth
            weights = [config.partial_weight if sightings[n].partial else 1.0 for n in names]
            point, spread = triangulate(
                [rays[n][0] for n in names], [rays[n][1] for n in names], weights
            )
            if spread <= config.max_spread and heights[0] <= point[2] <= heights[1]:
                candidates.append((spread, names, point))
        if candidates:
            _, names, point = min(candidates, key=lambda c: c[0])
            whole = sum(not sightings[n].partial for n in names)
            confidence = min(0.95, 0.6 + 0.15 * whole + 0.05 * (len(names) - whole))
            point[2] = max(point[2], config.geometry.block_half)
            return point, confidence, f"triangulated from {', '.join(names)}"
    # one ray: the steepest whole sighting meets the table plane most exactly
    only = max(rays, key=lambda n: (not sightings[n].partial, abs(rays[n][1][2])))
    origin, direction = rays[only]
    point = on_plane_z(origin, direction, config.geometry.block_half)
    if point is None:
        return origin + 0.5 * direction, 0.2, f"seen in {only} only, looking up"
    confidence = 0.4 if not sightings[only].partial else 0.3
    return point, confidence, f"seen in {only} only: assumed on the table"


def _locate_container(
    name: str, sightings: dict[str, Sighting], views: dict[str, View], config: PerceptionConfig
) -> tuple[np.ndarray, float, str]:
    """The bowl and the plate stand on the table: triangulate their centroids, drop to z = 0."""
    point, confidence, how = _locate_block(sightings, views, config, heights=(-0.03, 0.08))
    if "only" in how:  # one view: meet the plane of the container's visible middle height
        g = config.geometry
        middle = g.bowl_wall_height / 2 if name == "bowl" else g.plate_height
        only = next(iter(sightings))
        hit = on_plane_z(views[only].origin, views[only].ray(*sightings[only].pixel), middle)
        point = hit if hit is not None else point
    point[2] = 0.0
    return point, confidence, how


def _locate_drawer(
    sightings: dict[str, Sighting],
    views: dict[str, View],
    labels: dict[str, np.ndarray],
    config: PerceptionConfig,
) -> tuple[np.ndarray, float, str, float | None]:
    """(tray position, confidence, how, opening) of the drawer from its cabinet's wood pixels.

    The camera that looks most across the slide (along y) measures the wood's extent along x
    on the cabinet's near side: the cabinet's depth when closed, plus the opening when open."""
    g = config.geometry
    # the wood's centroid is a different part of the cabinet in each camera, so the rays never
    # meet exactly: whole sightings first (front, side, wrist), dropping the last until the rays
    # pass within `max_spread` (in practice the fixed front and side cameras)
    names = sorted(sightings, key=lambda n: sightings[n].partial)
    while len(names) >= 2:
        directions = [views[n].ray(*sightings[n].pixel) for n in names]
        if _widest_angle(directions) >= config.min_ray_angle:
            centre, spread = triangulate(
                [views[n].origin for n in names],
                directions,
                [config.partial_weight if sightings[n].partial else 1.0 for n in names],
            )
            if spread <= config.max_spread:
                break
        names = names[:-1]
    else:
        centre, _, how = _locate_block(sightings, views, config)  # the table plane, a guess
        return np.array([centre[0], centre[1], 0.0]), 0.3, how + "; opening not measured", None
    confidence, how = 0.6, f"cabinet centre from {', '.join(names)}"
    across = {
        n: abs(views[n].ray(views[n].width / 2, views[n].height / 2)[1])
        for n in sightings
        if not sightings[n].partial
    }
    side = max(across, key=across.get, default=None)  # type: ignore[arg-type]
    if side is None or across[side] < 0.5:
        return np.array([centre[0], centre[1], 0.0]), 0.4, how + "; opening not measured", None
    view = views[side]
    rows, cols = np.nonzero(labels[side] == colour.WOOD)
    near = centre[1] + (-CABINET_HALF if view.origin[1] < centre[1] else CABINET_HALF)
    hits = on_plane_y(view.origin, pixel_rays(view, cols + 0.5, rows + 0.5), near)
    # only the near face itself (up to the top plate, 9 cm): rays to the far half of the top
    # plate cross the near plane higher up, and closer to the camera's own x
    on_face = np.isfinite(hits[:, 0]) & (hits[:, 2] > -0.005) & (hits[:, 2] < CABINET_TOP + 0.005)
    if not np.any(on_face):
        return np.array([centre[0], centre[1], 0.0]), 0.4, how + "; opening not measured", None
    xs = hits[on_face, 0]
    cabinet_depth = 2 * CABINET_HALF
    front, back = float(xs.min()), float(xs.max())
    if (front - view.origin[0]) * (back - front) > 0:
        # the camera sees the front faces too (they face it): their far end, a panel's width
        # deeper than the near plane, lands closer to the camera's own x; scale it back out
        depth = abs(near - view.origin[1])
        front = view.origin[0] + (front - view.origin[0]) * (depth + FRONT_PANEL_WIDTH) / depth
    # closed, the drawer's front panel (its outer face 9 cm before the tray's centre) sits 1 cm
    # behind the cabinet's front edge: the extent grows only once the drawer is out that far
    recess = cabinet_depth / 2 - (g.drawer_inner_half + 0.01)
    seen_back = _cabinet_back_along(sightings, views, labels)
    if seen_back is not None and seen_back > back + 0.03:
        back = seen_back  # something (the gripper, a held block) hides the back in `side`
    extent = back - front
    opening = extent - cabinet_depth + recess if extent > cabinet_depth + 0.002 else 0.0
    opening = float(np.clip(opening, 0.0, g.drawer_travel))
    cabinet_x = back - CABINET_HALF
    tray = np.array([cabinet_x - opening, centre[1], 0.0])
    return tray, max(confidence, 0.8), f"cabinet measured across in {side}", opening


def _cabinet_back_along(
    sightings: dict[str, Sighting], views: dict[str, View], labels: dict[str, np.ndarray]
) -> float | None:
    """The cabinet's back edge from the camera that looks most along x: the top row of wood
    there is the top plate's far edge (9 cm high). Coarse (a pixel is about 1.7 cm of depth)
    but seldom hidden; None without such a camera."""
    along = {n: abs(views[n].ray(views[n].width / 2, views[n].height / 2)[0]) for n in sightings}
    name = max(along, key=along.get, default=None)  # type: ignore[arg-type]
    if name is None or along[name] < 0.5:
        return None
    rows, cols = np.nonzero(labels[name] == colour.WOOD)
    top = rows.min()
    u = float(cols[rows == top].mean()) + 0.5
    hit = on_plane_z(views[name].origin, views[name].ray(u, float(top) + 0.5), CABINET_TOP)
    return None if hit is None else float(hit[0])


def perceive(
    observation: Observation,
    cameras: Sequence[CameraSpec] | None = None,
    previous: Observation | None = None,
    config: PerceptionConfig | None = None,
) -> Scene:
    """Find every object of the tabletop vocabulary in `observation`'s images.

    `cameras` defaults to the observation's own; `previous` (the observation before) lets a
    frozen camera be recognised. An object no usable camera shows is reported as not seen, with
    the reason, never as a guess."""
    config = config or PerceptionConfig()
    views, faults = _views(observation, cameras or observation.cameras)
    faults.update(_frame_faults(observation, views, previous, config))
    usable = {n: v for n, v in views.items() if n not in faults}
    labels = {n: colour.classify(observation.images[n]) for n in usable}
    pixels = {n: _pixels_by_class(labels[n]) for n in usable}
    objects: dict[str, PerceivedObject] = {}
    opening = handle = None
    for name in OBJECTS:
        sightings = {}
        for camera in usable:
            if name == "plate" and camera in config.plate_cameras_exclude:
                continue
            found = _sighting(name, camera, labels[camera], pixels[camera], config)
            if found is not None:
                sightings[camera] = found
        if not sightings:
            reason = (
                "no usable camera: " + "; ".join(f"{c}: {why}" for c, why in faults.items())
                if not usable
                else "hidden in every usable view"
                + (f" ({', '.join(sorted(faults))} unusable)" if faults else "")
            )
            objects[name] = PerceivedObject(name, False, reason=reason)
            continue
        if name in BLOCKS:
            point, confidence, how = _locate_block(sightings, usable, config)
        elif name == DRAWER:
            point, confidence, how, opening = _locate_drawer(sightings, usable, labels, config)
            hx, hz = config.geometry.handle_offset
            handle = (float(point[0] + hx), float(point[1]), float(point[2] + hz))
        else:
            point, confidence, how = _locate_container(name, sightings, usable, config)
        position = (float(point[0]), float(point[1]), float(point[2]))
        objects[name] = PerceivedObject(name, True, position, confidence, sightings, how)
    holding = _held(objects, observation.proprio, config)
    _rest_blocks(objects, holding, opening, config)
    return Scene(
        step=observation.step,
        objects=objects,
        views=views,
        camera_faults=faults,
        drawer_opening=opening,
        drawer_handle=handle,
        holding=holding,
        relation_list=tuple(relations_of(objects, opening, holding, config.geometry)),
    )


def _held(
    objects: dict[str, PerceivedObject], proprio: np.ndarray, config: PerceptionConfig
) -> str | None:
    """The block between the closed fingers, from the gripper's own proprio (xyz .. opening)."""
    if len(proprio) < 7:
        return None
    ee, opening = proprio[:3], float(proprio[6])
    low, high = config.grip_opening
    if not low <= opening <= high:
        return None
    best, best_distance = None, config.grip_distance
    for name in BLOCKS:
        found = objects[name]
        if found.seen and found.position is not None:
            distance = float(np.linalg.norm(np.subtract(found.position, ee)))
            if distance < best_distance:
                best, best_distance = name, distance
    return best


def _support_height(
    name: str,
    where: np.ndarray,
    objects: dict[str, PerceivedObject],
    opening: float | None,
    g: SceneGeometry,
) -> float:
    """The height of what a block at `where` would rest on: the open drawer's floor, the bowl's
    floor, the plate, a block below it, or the table."""

    def at(other: str) -> np.ndarray | None:
        found = objects.get(other)
        return None if found is None or found.position is None else np.asarray(found.position)

    drawer = at(DRAWER)
    if drawer is not None and opening is not None and opening > OPEN_AT:
        local = where - drawer
        if abs(local[0]) < g.drawer_inner_half and abs(local[1]) < g.drawer_inner_half:
            return g.drawer_floor
    bowl = at("bowl")
    if bowl is not None and np.linalg.norm(where[:2] - bowl[:2]) < g.bowl_radius:
        return bowl[2] + g.bowl_floor
    plate = at("plate")
    if plate is not None and np.linalg.norm(where[:2] - plate[:2]) < g.plate_radius:
        return plate[2] + g.plate_height
    for other in BLOCKS:
        below = at(other)
        if (
            other != name
            and below is not None
            and np.linalg.norm(where[:2] - below[:2]) < g.block_half
            and where[2] - below[2] > g.block_half
        ):
            return below[2] + g.block_half
    return 0.0


def _rest_blocks(
    objects: dict[str, PerceivedObject],
    holding: str | None,
    opening: float | None,
    config: PerceptionConfig,
) -> None:
    """A block that is not held rests on something: where its triangulated height is within
    `rest_snap` of the height it would rest at, take that height. A block sunk in the bowl or
    the drawer shows only its top, whose centroid sits above the block's centre."""
    g = config.geometry
    seen = [n for n in BLOCKS if n != holding and objects[n].position is not None]
    # bottom up, so a block in a tower rests on the block below at its corrected height
    for name in sorted(seen, key=lambda n: objects[n].position[2]):  # type: ignore[index]
        found = objects[name]
        where = np.asarray(found.position)
        rest = _support_height(name, where, objects, opening, g) + g.block_half
        if abs(where[2] - rest) < config.rest_snap:
            objects[name] = replace(found, position=(*found.position[:2], float(rest)))
