"""What perception reports: the objects found in the cameras, where they are, and the relations
that hold between them. Small and frozen."""

from __future__ import annotations

from dataclasses import dataclass, field

from agent.perception.geometry import View

Point = tuple[float, float]  # normalised image coordinates (x, y) in [0, 1], (0, 0) top-left
Position = tuple[float, float, float]  # metres in the robot base frame


@dataclass(frozen=True)
class Sighting:
    """One object in one camera: where its pixels are."""

    camera: str
    pixel: Point  # (u, v) in pixels: the centroid of the object's pixels
    point: Point  # the same in normalised image coordinates
    pixels: int  # how many pixels show the object
    partial: bool  # cut by the image border or by the gripper: the centroid may be off


@dataclass(frozen=True)
class PerceivedObject:
    """One object of the vocabulary: found or not, and if found where."""

    name: str
    seen: bool
    position: Position | None = None
    confidence: float = 0.0  # 0 (not seen) .. 1; below 0.5 the position is a guess
    sightings: dict[str, Sighting] = field(default_factory=dict)
    reason: str = ""  # why it was not seen, or how its position was found


@dataclass(frozen=True)
class Scene:
    """Everything perceived in one observation; `relations()` are the predicates that hold."""

    step: int
    objects: dict[str, PerceivedObject]
    views: dict[str, View]  # the cameras that could be used, for projecting positions
    camera_faults: dict[str, str] = field(default_factory=dict)  # camera -> what is wrong
    drawer_opening: float | None = None  # metres, None when no camera could measure it
    drawer_handle: Position | None = None
    holding: str | None = None
    relation_list: tuple[str, ...] = ()

    def relations(self) -> list[str]:
        """The relations that hold now, spelt `name(a, b)` or `name(a)`, sorted."""
        return list(self.relation_list)

    def seen(self, name: str) -> bool:
        found = self.objects.get(name)
        return found is not None and found.seen

    def point(self, name: str, camera: str) -> Point | None:
        """Where `name` is in `camera`, normalised: its sighting there, else its position
        projected (an object hidden behind another still has a place in the image); None when
        neither exists or the projection falls outside the image."""
        found = self.objects.get(name)
        if found is None or not found.seen:
            return None
        if camera in found.sightings:
            return found.sightings[camera].point
        return None if found.position is None else self.project(found.position, camera)

    def project(self, position: Position, camera: str) -> Point | None:
        """A base-frame point in `camera`, normalised; None outside the image or the camera."""
        view = self.views.get(camera)
        pixel = None if view is None else view.project(position)  # type: ignore[arg-type]
        if view is None or pixel is None or not view.contains(*pixel):
            return None
        return (pixel[0] / view.width, pixel[1] / view.height)
