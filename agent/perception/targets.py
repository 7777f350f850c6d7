"""Event targets from perception: where an event's object and destination are in each camera.

The object of reach, grasp, lift, move, place, release, push and regrasp is a block: its
sighting in each camera (or its position projected where it is hidden). The drawer, the object
of open and close, is its handle, where those skills act. A destination (move, place and push's
`target`) is the spot the event's block goes: a block's top, or the free slot of the bowl's
floor, the drawer's tray or the plate (the expert's rule, `free_slot`, on the perceived blocks),
so the model is told the spot rather than left to guess which slot.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from agent.envs.tabletop.scene import BLOCKS, DRAWER, GEOMETRY, SLOTS, free_slot
from agent.perception.scene import Position, Scene
from agent.state import EventState, Target, TargetPoint
from worldmodel.types import EventTarget

ROLE_ARGUMENTS: dict[str, str] = {"object": "object", "destination": "target"}


def _free_slot(
    scene: Scene, container: str, centre: tuple[float, float], carried: str | None
) -> tuple[float, float]:
    """Where a block goes in `container` (perceived at `centre`): its first slot no perceived
    block (but `carried`) takes, by the expert's rule (`free_slot`)."""
    others = [
        found.position[:2]
        for block, found in scene.objects.items()
        if block in BLOCKS and block != carried and found.seen and found.position is not None
    ]
    slot = free_slot(container, centre, others)
    return float(slot[0]), float(slot[1])


def _surface(scene: Scene, name: str, role: str, carried: str | None) -> Position | None:
    """The 3-D point a target of `role` on `name` marks (a destination: where `carried` goes)."""
    found = scene.objects[name]
    if found.position is None:
        return None
    x, y, z = found.position
    g = GEOMETRY
    if name == DRAWER and role == "object":
        return scene.drawer_handle
    if role == "destination":
        if name in SLOTS:
            x, y = _free_slot(scene, name, (x, y), carried)
        if name == DRAWER:
            return (x, y, g.drawer_floor)
        lift = {"bowl": g.bowl_floor, "plate": g.plate_height}.get(name, g.block_half)
        return (x, y, z + lift)
    return found.position


def target_for(scene: Scene, role: str, name: str, carried: str | None = None) -> Target | None:
    """The target of `role` on object `name` (a destination: the spot block `carried` goes),
    or None when perception did not find it."""
    if name not in scene.objects or not scene.seen(name):
        return None
    surface = _surface(scene, name, role, carried)
    points = []
    for camera in scene.views:
        if camera in scene.camera_faults:
            continue
        sighting = scene.objects[name].sightings.get(camera)
        if name in BLOCKS and role == "object" and sighting is not None:
            point = sighting.point
        else:
            point = None if surface is None else scene.project(surface, camera)
        if point is not None:
            points.append(TargetPoint(camera=camera, x=point[0], y=point[1]))
    position = None if surface is None else tuple(round(v, 4) for v in surface)
    return Target(role=role, name=name, points=points, position=position)  # type: ignore[arg-type]


def targets_for(scene: Scene, arguments: Mapping[str, str]) -> list[Target]:
    """Targets for an event's arguments: its `object` and, if it has one, its `target`."""
    out = []
    for role, argument in ROLE_ARGUMENTS.items():
        name = arguments.get(argument)
        found = None if not name else target_for(scene, role, name, arguments.get("object"))
        if found is not None:
            out.append(found)
    return out


def as_event_targets(targets: Iterable[Target]) -> tuple[EventTarget, ...]:
    """Targets as the world model's contract type (EventRequest.targets)."""
    return tuple(
        EventTarget(
            role=target.role,
            name=target.name,
            points={point.camera: (point.x, point.y) for point in target.points},
            position=target.position,
        )
        for target in targets
    )


def needs_targets(state: EventState) -> bool:
    """Whether perception has something to add: a role the event's arguments name without a
    target, or a target without a table position."""
    if state.decision not in ("continue", "replan"):
        return False
    for role, argument in ROLE_ARGUMENTS.items():
        if state.arguments.get(argument):
            target = state.target(role)
            if target is None or target.position is None:
                return True
    return False


def fill_targets(state: EventState, scene: Scene) -> EventState:
    """`state` with the targets it lacks taken from perception: a role the planner left out gets
    perception's target, a target without a table position gets perception's position. Points
    the planner gave are kept as they are."""
    if state.decision not in ("continue", "replan"):
        return state
    given = {target.role: target for target in state.targets}
    filled = []
    for role, argument in ROLE_ARGUMENTS.items():
        name = state.arguments.get(argument)
        if not name:
            continue
        perceived = target_for(scene, role, name, state.arguments.get("object"))
        target = given.get(role)
        if target is None or target.name != name:  # a target on another object than named
            target = perceived
        elif target.position is None and perceived is not None and perceived.name == target.name:
            target = target.model_copy(update={"position": perceived.position})
        if target is not None:
            filled.append(target)
    return state if filled == state.targets else state.model_copy(update={"targets": filled})
