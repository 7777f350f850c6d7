"""Two detectors that check the world itself beside the world model's prediction.

The latent divergence of the small model barely moves when a block leaves the gripper or is
pushed aside: one latent pixel covers several centimetres, and on the front and side cameras the
latent error of a lift whose block slipped matches that of the same lift without the slip to
0.01 (both 0.4-0.75), so the agent also checks what its sensors measure directly:

- Grip ("grip"): through a skill that holds an object (`holds_object` in its file) the fingers,
  once commanded closed, stop on the object. Fingers that close past the narrowest opening that
  still holds a block hold nothing: a missed grasp or a slip. Read from the robot's proprio.
- Scene ("scene"): a block the event does not name (nor one resting in or on a named one)
  stays where it was, and a block it lets go of lands under where it was let go. Perception
  (pixels and camera calibration) at the event's start and at its end finds one moved farther
  than SCENE_SHIFT_M: a push or a knock.

Both thresholds are physical (a block's size, perception's error), not conformal: their nominal
scores are measurement noise, not a model's; a study measures their false alarms beside the
conformal detectors'.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from agent.envs.tabletop.scene import BLOCKS
from agent.goals.relations import Relation
from agent.perception.pipeline import PerceptionConfig
from agent.perception.scene import PerceivedObject, Scene
from agent.verify.verifier import FAILURE_BY_SKILL

# The tabletop's first arm: action[6] commands the fingers (0 open, 1 closed) and proprio[6]
# measures their opening in metres (agent/envs/tabletop/sim.py), as perception reads them.
GRIP_COMMAND = 6
GRIP_OPENING = 6
CLOSED_COMMAND = 0.5
# Below this opening the fingers hold nothing: perception's lowest "holding" opening.
EMPTY_OPENING_M = PerceptionConfig().grip_opening[0]
# A block is 4 cm; perception places a resting block within about 1 cm (median 0.9 cm, the
# grounding benchmark), so a 4 cm move is a real one.
SCENE_SHIFT_M = 0.04
GRIP = "grip"
SCENE = "scene"


def grip_lost_step(holds_object: bool, actions: np.ndarray, proprio: np.ndarray) -> int | None:
    """The first step whose fingers, commanded closed, closed on nothing; None if none did.

    `actions` (T, A) were sent, `proprio` (T, P) was measured after each of them."""
    if not holds_object or not len(proprio) or proprio.shape[1] <= GRIP_OPENING:
        return None
    steps = min(len(actions), len(proprio))
    closed = actions[:steps, GRIP_COMMAND] >= CLOSED_COMMAND
    empty = proprio[:steps, GRIP_OPENING] < EMPTY_OPENING_M
    lost = np.flatnonzero(closed & empty)
    return int(lost[0]) if len(lost) else None


@dataclass(frozen=True)
class SceneShift:
    """The untouched block that moved most during an event, and how far (metres)."""

    name: str | None
    distance: float

    @property
    def moved(self) -> bool:
        return self.distance > SCENE_SHIFT_M


def _carried_along(scene: Scene, named: set[str]) -> set[str]:
    """Blocks resting in or on a named object at the start (they move with it), transitively."""
    resting = [
        relation.args
        for relation in map(Relation.parse, scene.relation_list)
        if relation.name in ("in", "on")
    ]
    carried = set(named)
    changed = True
    while changed:
        changed = False
        for thing, support in resting:
            if support in carried and thing not in carried:
                carried.add(thing)
                changed = True
    return carried


def _cut_off(found: PerceivedObject) -> bool:
    """Seen cut off (by the image border or the gripper) in a camera: its height, triangulated
    from what is left of it, can be off by a block. Under a block held over it, a stacked block
    was placed 4 cm low at a release's start, then right at its end."""
    return any(sighting.partial for sighting in found.sightings.values())


def untouched_shift(
    start: Scene, end: Scene, named: Iterable[str], holds_object: bool
) -> SceneShift:
    """How far the blocks the event leaves alone moved between its start and end, as seen.

    A block held at the start of an event that does not hold on to it (a release) drops where
    it was let go: it is compared across the table only, its fall not counted. Through an
    event that holds on to it (`holds_object`: a carry) it moves with the gripper. A block seen
    cut off at either end is compared across the table only too: a push moves blocks across."""
    released = start.holding if start.holding and not holds_object else None
    touched = _carried_along(start, set(named)) | {start.holding, end.holding}
    worst = SceneShift(None, 0.0)
    for name in BLOCKS:
        if name in touched and name != released:
            continue
        before, after = start.objects.get(name), end.objects.get(name)
        if not (before and after and before.position and after.position):
            continue  # not seen at one end: nothing to compare
        axes = 2 if name == released or _cut_off(before) or _cut_off(after) else 3
        moved = np.subtract(after.position[:axes], before.position[:axes])
        distance = float(np.linalg.norm(moved))
        if distance > worst.distance:
            worst = SceneShift(name, distance)
    return worst


@dataclass(frozen=True)
class PhysicalFlag:
    """A physical check that flagged an event: when, what it means, and why, in words."""

    step: int  # the event's step (0-based) at which it flagged
    failure: str  # a class of agent.state's failure taxonomy
    reason: str


def physical_checks(
    holds_object: bool,
    skill: str,
    actions: np.ndarray,
    proprio: np.ndarray | None,
    shift: SceneShift | None,
) -> dict[str, PhysicalFlag | None]:
    """The grip and scene checks of one executed event (None: not flagged). An execution
    recorded before the checks existed has neither proprio nor shift: nothing is flagged."""
    grip = None
    if proprio is not None:
        step = grip_lost_step(holds_object, actions, proprio)
        if step is not None:
            opening = float(proprio[step, GRIP_OPENING])
            grip = PhysicalFlag(
                step,
                FAILURE_BY_SKILL.get(skill, "other"),
                f"the fingers closed on nothing at step {step} (opening {100 * opening:.1f} cm "
                f"< {100 * EMPTY_OPENING_M:.1f} cm)",
            )
    scene = None
    if shift is not None and shift.moved:
        scene = PhysicalFlag(
            max(0, len(actions) - 1),
            "object_displaced",
            f"{shift.name} moved {100 * shift.distance:.1f} cm though the event left it alone",
        )
    return {GRIP: grip, SCENE: scene}
