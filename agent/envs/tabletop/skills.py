"""The scripted expert's skill routines, one per skill of skills/ (SKILLS).

A routine is a generator: given the simulator (privileged state) and the skill's arguments it
yields `(action, segment caption)` one control step (0.1 s) at a time; the caller steps the robot
with the action and resumes the routine, which reads the new state. Way-points are planned from
the state at the start of each motion phase; a phase is one Segment-level caption ("lower the
gripper to the red block").
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

from agent.envs.tabletop.errors import SkillArgumentError, UnknownNameError
from agent.envs.tabletop.rotations import quat_to_rpy
from agent.envs.tabletop.scene import BLOCKS, CONTAINERS, DRAWER, free_slot
from agent.envs.tabletop.sim import TabletopSim
from agent.envs.tabletop.tasks import display
from worldmodel.skill_input import SKILL_NAMES

SKILLS: tuple[str, ...] = SKILL_NAMES  # the world model's skill input knows these names
Command = tuple[np.ndarray, str]  # (action (A,), segment caption)
Routine = Iterator[Command]


@dataclass(frozen=True)
class ExpertConfig:
    """Speeds, heights and tolerances of the scripted expert (metres, per 0.1 s step)."""

    speed: float = 0.03  # free-space travel per step (0.3 m/s)
    fine_speed: float = 0.015  # near contact
    yaw_speed: float = 0.3  # rad per step
    hover: float = 0.09  # above the object before descending
    carry_height: float = 0.2  # end-effector height while transporting
    retract: float = 0.12  # rise after releasing
    settle_steps: int = 4  # at most this many extra steps to reach a way-point
    tolerance: float = 0.006  # m
    close_steps: int = 4  # gripper ramp
    hold_steps: int = 3  # steps holding still after closing or opening
    reach_grip: float = 0.3  # 6.3 cm between the fingers: room for a 4 cm block, not neighbours
    release_grip: float = 0.35  # partial opening that clears the bowl's wall
    handle_grip: float = 0.7  # opening around the drawer handle (fingers close along x)
    place_clearance: float = 0.004  # gap between the block and its support when released
    # A pushed block stops this far outside the target's rim: well inside near's NEAR_GAP, so
    # perception's centimetre of error cannot flip it (0.03 left 5.16 cm on one seed in 100).
    push_margin: float = 0.02
    push_height: float = 0.02
    push_steps: int = 80  # at most this many pushing steps (re-aims included)
    # Standard deviation (m) of a random offset of where a reach ends, in x and y (clipped to
    # twice it; half of it upward in z), so that the recorded grasps, lifts and places start
    # from the imperfect states a learned reach leaves (noise injected into the demonstrator,
    # as DART does); 0: the exact block centre.
    reach_jitter: float = 0.0
    # Standard deviation (m) of where lifts and moves end: a lift stops up to twice it below the
    # carry height (the half-normal), a move ends off its destination in x and y (clipped to
    # twice it), so that moves and places are recorded from the imperfect starts a learned lift
    # or move leaves too (learned moves ran 1.7 cm low and stacked places ended 1.2 cm off, on
    # data where every lift ended at exactly the carry height and every move over the spot).
    carry_jitter: float = 0.0


def bounded_noise(
    rng: np.random.Generator, sd: float, size: int | None = None
) -> np.ndarray | float:
    """A normal draw with standard deviation `sd` clipped to twice it: the noise the expert's
    jitters inject into where a skill ends (a scalar, or `size` of them)."""
    return np.clip(rng.normal(0.0, sd, size), -2 * sd, 2 * sd)


def fold_yaw(yaw: float) -> float:
    """A cube's yaw folded into [-pi/4, pi/4]: the nearest gripper yaw that grasps its faces."""
    return (yaw + math.pi / 4) % (math.pi / 2) - math.pi / 4


def wrap(angle: float) -> float:
    return (angle + math.pi) % (2 * math.pi) - math.pi


class ExpertContext:
    """The expert's commanded pose of arm 0 (the other arms hold their commands)."""

    def __init__(
        self,
        sim: TabletopSim,
        config: ExpertConfig | None = None,
        rng: np.random.Generator | None = None,
    ):
        self.sim = sim
        self.config = config or ExpertConfig()
        self.rng = rng or np.random.default_rng(0)  # draws the reach jitter, if any
        self.pos = sim.command_pos[0].copy()
        self.yaw = float(quat_to_rpy(sim.command_quat[0])[2])
        self.grip = float(sim.command_grip[0])

    def action(self) -> np.ndarray:
        action = self.sim.hold_action()
        action[:7] = (*self.pos, 0.0, 0.0, wrap(self.yaw), self.grip)
        return self.sim.action_space.clip(action)  # a fallen block may lie out of reach

    def ee(self) -> np.ndarray:
        return self.sim.ee_pose(0)[0]

    # ---------------------------------------------------------------- motions
    def move(
        self,
        goal: np.ndarray,
        segment: str,
        yaw: float | None = None,
        grip: float | None = None,
        speed: float | None = None,
    ) -> Routine:
        """Straight-line way-points to `goal`, then wait (bounded) for the hand to arrive."""
        cfg = self.config
        start, start_yaw, start_grip = self.pos.copy(), self.yaw, self.grip
        goal = np.asarray(goal, dtype=np.float64)
        turn = 0.0 if yaw is None else wrap(yaw - start_yaw)
        end_grip = start_grip if grip is None else grip
        steps = max(
            1,
            math.ceil(np.linalg.norm(goal - start) / (speed or cfg.speed)),
            math.ceil(abs(turn) / cfg.yaw_speed),
        )
        for k in range(1, steps + 1):
            fraction = k / steps
            self.pos = start + fraction * (goal - start)
            self.yaw = start_yaw + fraction * turn
            self.grip = start_grip + fraction * (end_grip - start_grip)
            yield self.action(), segment
        for _ in range(cfg.settle_steps):
            if np.linalg.norm(self.ee() - goal) < cfg.tolerance:
                break
            yield self.action(), segment

    def gripper(self, grip: float, segment: str) -> Routine:
        cfg = self.config
        start = self.grip
        for k in range(1, cfg.close_steps + 1):
            self.grip = start + k / cfg.close_steps * (grip - start)
            yield self.action(), segment
        for _ in range(cfg.hold_steps):
            yield self.action(), segment

    def raise_if_low(self, height: float, xy: np.ndarray) -> Routine:
        """Rise straight up first when the hand is low and has far to go sideways."""
        if self.pos[2] < height - 0.02 and np.linalg.norm(self.pos[:2] - xy) > 0.03:
            yield from self.move(np.array([*self.pos[:2], height]), "raise the gripper")


# ------------------------------------------------------------------- world queries
def handle_position(sim: TabletopSim) -> np.ndarray:
    base, _ = sim.object_pose(DRAWER)
    hx, hz = sim.geometry.handle_offset
    return base + np.array([hx, 0.0, hz])


def support_height(sim: TabletopSim, target: str) -> float:
    """Height of the surface a block placed on/in `target` rests on."""
    g = sim.geometry
    pos, _ = sim.object_pose(target)
    if target == "bowl":
        return float(pos[2] + g.bowl_floor)
    if target == "plate":
        return float(pos[2] + g.plate_height)
    if target == DRAWER:
        return float(pos[2] + g.drawer_floor)
    return float(pos[2] + g.block_half)


def place_pose(sim: TabletopSim, obj: str, target: str) -> tuple[np.ndarray, float]:
    """(xy, yaw) where `obj` goes on/in `target`: a free slot, or the top of a block."""
    pos, _ = sim.object_pose(target)
    if target in BLOCKS:
        return pos[:2].copy(), fold_yaw(sim.object_yaw(target))
    others = [sim.object_pose(b)[0][:2] for b in BLOCKS if b != obj]
    return free_slot(target, pos[:2], others), 0.0


def _need(arguments: dict[str, str], key: str, allowed: tuple[str, ...], skill: str) -> str:
    value = arguments.get(key)
    if value is None:
        raise SkillArgumentError(f"skill {skill!r} needs argument {key!r} (one of {allowed})")
    if value not in allowed:
        raise SkillArgumentError(
            f"skill {skill!r} cannot use {key}={value!r}; expected one of {list(allowed)}"
        )
    return value


# ------------------------------------------------------------------------ routines
def reach(ctx: ExpertContext, arguments: dict[str, str]) -> Routine:
    obj = _need(arguments, "object", BLOCKS, "reach")
    cfg = ctx.config
    pos, _ = ctx.sim.object_pose(obj)
    yaw = fold_yaw(ctx.sim.object_yaw(obj))
    above = np.array([*pos[:2], pos[2] + cfg.hover])
    yield from ctx.raise_if_low(above[2], pos[:2])
    yield from ctx.move(above, f"move above {display(obj)}", yaw=yaw, grip=cfg.reach_grip)
    pos, _ = ctx.sim.object_pose(obj)
    if cfg.reach_jitter > 0:
        pos = pos.copy()
        pos[:2] += bounded_noise(ctx.rng, cfg.reach_jitter, 2)
        pos[2] += abs(bounded_noise(ctx.rng, cfg.reach_jitter / 2))
    yield from ctx.move(pos, f"lower the gripper to {display(obj)}", speed=cfg.fine_speed * 1.5)


def grasp(ctx: ExpertContext, arguments: dict[str, str]) -> Routine:
    obj = _need(arguments, "object", BLOCKS, "grasp")
    yield from ctx.gripper(1.0, f"close the fingers on {display(obj)}")


def lift(ctx: ExpertContext, arguments: dict[str, str]) -> Routine:
    obj = _need(arguments, "object", BLOCKS, "lift")
    cfg = ctx.config
    height = cfg.carry_height
    if cfg.carry_jitter > 0:
        height -= abs(bounded_noise(ctx.rng, cfg.carry_jitter))
    goal = np.array([*ctx.pos[:2], height])
    yield from ctx.move(goal, f"raise {display(obj)}", grip=1.0)


def move(ctx: ExpertContext, arguments: dict[str, str]) -> Routine:
    obj = _need(arguments, "object", BLOCKS, "move")
    target = _need(arguments, "target", (*BLOCKS, *CONTAINERS, DRAWER), "move")
    xy, yaw = place_pose(ctx.sim, obj, target)
    cfg = ctx.config
    if cfg.carry_jitter > 0:
        xy = xy + bounded_noise(ctx.rng, cfg.carry_jitter, 2)
    # a move from a lift that stopped low climbs back to the carry height
    goal = np.array([*xy, max(ctx.pos[2], cfg.carry_height)])
    yield from ctx.move(goal, f"carry {display(obj)} above {display(target)}", yaw=yaw, grip=1.0)


def place(ctx: ExpertContext, arguments: dict[str, str]) -> Routine:
    obj = _need(arguments, "object", BLOCKS, "place")
    target = _need(arguments, "target", (*BLOCKS, *CONTAINERS, DRAWER), "place")
    sim, cfg = ctx.sim, ctx.config
    xy, _ = place_pose(sim, obj, target)
    held, _ = sim.object_pose(obj)
    # where the block sits in the hand; an empty hand goes where the block would have gone
    offset = ctx.ee() - held if sim.held_object(0) == obj else np.zeros(3)
    block_goal = np.array([*xy, support_height(sim, target) + sim.geometry.block_half])
    block_goal[2] += cfg.place_clearance
    goal = block_goal + offset
    word = "into" if target in ("bowl", DRAWER) else "onto"
    yield from ctx.move(goal, f"lower {display(obj)} {word} {display(target)}", speed=cfg.speed)


def release(ctx: ExpertContext, arguments: dict[str, str]) -> Routine:
    _need(arguments, "object", BLOCKS, "release")
    cfg = ctx.config
    yield from ctx.gripper(cfg.release_grip, "open the fingers")
    goal = np.array([*ctx.pos[:2], min(ctx.pos[2] + cfg.retract, 0.4)])
    yield from ctx.move(goal, "retract the gripper")


def _segment_clear(start: np.ndarray, end: np.ndarray, point: np.ndarray, radius: float) -> bool:
    """Whether `point` stays farther than `radius` from the segment start-end (xy)."""
    line = end - start
    t = float(np.clip(np.dot(point - start, line) / max(np.dot(line, line), 1e-12), 0.0, 1.0))
    return float(np.linalg.norm(start + t * line - point)) > radius


def push_route(sim: TabletopSim, obj: str, target: str, margin: float) -> list[np.ndarray]:
    """Way-points (1 or 2) to push `obj` to a spot next to `target` along a path (pusher
    included) clear of every other object: the shortest straight or one-corner path to a point
    on a ring around the target."""
    g = sim.geometry
    rim = {"bowl": g.bowl_radius + 0.005, "plate": g.plate_radius}.get(target, g.block_half)
    radii = {name: g.block_half * math.sqrt(2) for name in BLOCKS}
    radii.update(bowl=g.bowl_radius + 0.005, plate=g.plate_radius)
    start = sim.object_pose(obj)[0][:2]
    centre = sim.object_pose(target)[0][:2]
    ring = rim + margin + g.block_half
    others = [(sim.object_pose(n)[0][:2], r) for n, r in radii.items() if n not in (obj, target)]
    others.append((np.array(g.cabinet_pos), 0.13))  # the cabinet and its closed drawer's handle

    def clear(a: np.ndarray, b: np.ndarray, last: bool, margin: float) -> bool:
        back = a - (b - a) / max(float(np.linalg.norm(b - a)), 1e-6) * 0.06  # pusher start
        # the last leg ends next to the target, so it may come close to it but not cross it
        near_target = rim + (0.02 if last else margin)
        return _segment_clear(back, b, centre, near_target) and all(
            _segment_clear(back, b, p, r + margin) for p, r in others
        )

    limit = g.table_half - 0.06
    goals = [
        centre + ring * np.array([math.cos(a), math.sin(a)])
        for a in np.linspace(0, 2 * math.pi, 16, endpoint=False)
    ]
    goals = [goal for goal in goals if np.all(np.abs(goal) < limit)]
    grid = np.arange(-0.3, 0.31, 0.05)
    corners = [np.array([x, y]) for x in grid for y in grid]
    for clearance in (0.045, 0.035, 0.028):  # relax in crowded scenes
        best: list[np.ndarray] = []
        best_length = math.inf
        for goal in goals:
            length = float(np.linalg.norm(goal - start))
            if length < best_length and clear(start, goal, True, clearance):
                best, best_length = [goal], length
        if best:
            return best
        for goal in goals:
            for corner in corners:
                length = float(np.linalg.norm(corner - start) + np.linalg.norm(goal - corner))
                if (
                    length < best_length
                    and clear(start, corner, False, clearance)
                    and clear(corner, goal, True, clearance)
                ):
                    best, best_length = [corner, goal], length
        if best:
            return best
    return [centre + ring * (start - centre) / np.linalg.norm(start - centre)]


def push(ctx: ExpertContext, arguments: dict[str, str]) -> Routine:
    """Closed-loop pushing toward a clear spot next to the target.

    Every step the closed fingers are placed just behind the block on the line from the block to
    the goal and advanced a little, so the block is steered back when it drifts; when it slips
    off the pusher the gripper rises, re-aims and comes down behind it again.
    """
    obj = _need(arguments, "object", BLOCKS, "push")
    target = _need(arguments, "target", (*BLOCKS, *CONTAINERS), "push")
    sim, cfg = ctx.sim, ctx.config
    g = sim.geometry
    contact = g.block_half + 0.012  # block half width + finger half thickness
    caption = f"push {display(obj)} toward {display(target)}"
    for goal in push_route(sim, obj, target, cfg.push_margin):
        aimed = False
        for _ in range(cfg.push_steps):
            pos = sim.object_pose(obj)[0][:2]
            remaining = float(np.linalg.norm(goal - pos))
            if remaining < 0.01:
                break
            direction = (goal - pos) / remaining
            relative = sim.ee_pose(0)[0][:2] - pos
            lateral = abs(float(relative[0] * direction[1] - relative[1] * direction[0]))
            if not aimed or lateral > 0.02 or float(np.dot(relative, direction)) > -0.015:
                start = pos - direction * (g.block_half * math.sqrt(2) + 0.025)
                if ctx.pos[2] < 0.1:  # straight up first: never drag the block
                    yield from ctx.move(np.array([*ctx.pos[:2], 0.12]), "raise the gripper")
                yaw = math.atan2(direction[1], direction[0])
                yield from ctx.move(
                    np.array([*start, 0.12]), f"move behind {display(obj)}", yaw=yaw
                )
                low = np.array([*start, cfg.push_height])
                yield from ctx.move(low, "lower the gripper", grip=1.0)
                aimed = True
                continue
            pusher = pos - direction * contact + direction * min(cfg.fine_speed, remaining)
            ctx.pos = np.array([*pusher, cfg.push_height])
            ctx.yaw = ctx.yaw + wrap(math.atan2(direction[1], direction[0]) - ctx.yaw)
            yield ctx.action(), caption
    yield from ctx.move(np.array([*ctx.pos[:2], 0.15]), "retract the gripper")


def _drawer(ctx: ExpertContext, opening: float, verb: str) -> Routine:
    sim, cfg = ctx.sim, ctx.config
    handle = handle_position(sim)
    above = handle + np.array([0.0, 0.0, cfg.hover])
    yield from ctx.raise_if_low(above[2], handle[:2])
    yield from ctx.move(
        above, "move above the drawer handle", yaw=math.pi / 2, grip=cfg.handle_grip
    )
    yield from ctx.move(
        handle, "lower the gripper to the drawer handle", speed=cfg.fine_speed * 1.5
    )
    yield from ctx.gripper(1.0, "grasp the drawer handle")
    travel = opening - sim.drawer_opening()
    goal = ctx.pos + np.array([-travel, 0.0, 0.0])
    yield from ctx.move(goal, f"{verb} the drawer", speed=cfg.fine_speed * 1.5)
    yield from ctx.gripper(cfg.handle_grip, "release the drawer handle")
    yield from ctx.move(ctx.pos + np.array([0.0, 0.0, cfg.retract]), "retract the gripper")


def open_(ctx: ExpertContext, arguments: dict[str, str]) -> Routine:
    _need(arguments, "object", (DRAWER,), "open")
    yield from _drawer(ctx, ctx.sim.geometry.drawer_open, "pull open")


def close(ctx: ExpertContext, arguments: dict[str, str]) -> Routine:
    _need(arguments, "object", (DRAWER,), "close")
    yield from _drawer(ctx, -0.006, "push closed")


def regrasp(ctx: ExpertContext, arguments: dict[str, str]) -> Routine:
    obj = _need(arguments, "object", BLOCKS, "regrasp")
    yield from ctx.gripper(0.0, "open the fingers")
    yield from ctx.move(ctx.pos + np.array([0.0, 0.0, 0.05]), f"back off from {display(obj)}")
    yield from reach(ctx, arguments)
    yield from grasp(ctx, arguments)
    yield from lift(ctx, arguments)


_PLACES = (*BLOCKS, *CONTAINERS, DRAWER)
SKILL_ARGUMENTS: dict[str, dict[str, tuple[str, ...]]] = {
    "reach": {"object": BLOCKS},
    "grasp": {"object": BLOCKS},
    "lift": {"object": BLOCKS},
    "move": {"object": BLOCKS, "target": _PLACES},
    "place": {"object": BLOCKS, "target": _PLACES},
    "release": {"object": BLOCKS},
    "push": {"object": BLOCKS, "target": (*BLOCKS, *CONTAINERS)},
    "open": {"object": (DRAWER,)},
    "close": {"object": (DRAWER,)},
    "regrasp": {"object": BLOCKS},
}
ROUTINES: dict[str, Callable[[ExpertContext, dict[str, str]], Routine]] = {
    "reach": reach,
    "grasp": grasp,
    "lift": lift,
    "move": move,
    "place": place,
    "release": release,
    "push": push,
    "open": open_,
    "close": close,
    "regrasp": regrasp,
}


def routine(ctx: ExpertContext, skill: str, arguments: dict[str, str]) -> Routine:
    """The expert routine for `skill`; raises for unknown skills or bad arguments up front."""
    if skill not in ROUTINES:
        raise UnknownNameError(f"unknown skill {skill!r}; expected one of {list(SKILLS)}")
    for key, allowed in SKILL_ARGUMENTS[skill].items():
        _need(dict(arguments), key, allowed, skill)
    return ROUTINES[skill](ctx, dict(arguments))
