"""The tabletop scene as MJCF built in code: table, floating parallel-jaw gripper(s), four
coloured blocks, a bowl, a plate, a drawer cabinet and three cameras.

Frames: the robot base frame is the world frame. The table top is the plane z = 0, x points away
from the front camera, y to its left. A gripper's pose is its end-effector point (between the
fingertips, 5 mm above them) and the hand orientation; rpy = 0 means pointing straight down with
the fingers closing along y.

The gripper is a free body welded to a mocap target (the controller moves the target), with two
position-actuated fingers: a standard, stable stand-in for an arm's Cartesian controller.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

BLOCK_COLOURS: dict[str, tuple[float, float, float]] = {
    "red": (0.85, 0.12, 0.10),
    "green": (0.12, 0.68, 0.22),
    "blue": (0.12, 0.28, 0.88),
    "yellow": (0.95, 0.82, 0.10),
}
BLOCKS: tuple[str, ...] = tuple(f"{colour}_block" for colour in BLOCK_COLOURS)
CONTAINERS: tuple[str, ...] = ("bowl", "plate")
DRAWER = "drawer"
OBJECTS: tuple[str, ...] = (*BLOCKS, *CONTAINERS, DRAWER)
CAMERAS: tuple[str, ...] = ("front", "side", "wrist")


@dataclass(frozen=True)
class SceneGeometry:
    """Sizes in metres; every number the expert and the predicates need lives here."""

    table_half: float = 0.40
    block_half: float = 0.02  # 4 cm cubes
    bowl_radius: float = 0.075  # wall centre line
    bowl_wall_height: float = 0.044
    bowl_floor: float = 0.008  # floor thickness: a block in the bowl rests at this height
    plate_radius: float = 0.08
    plate_height: float = 0.01
    cabinet_pos: tuple[float, float] = (0.22, 0.20)  # fixed on the table's back-left
    drawer_travel: float = 0.16  # slide joint range
    drawer_open: float = 0.15  # the expert opens this far
    drawer_floor: float = 0.015  # top of the tray floor in the cabinet frame
    drawer_inner_half: float = 0.08
    handle_offset: tuple[float, float] = (-0.125, 0.06)  # handle bar (along y) centre (x, z)
    finger_travel: float = 0.045  # per finger: fully open = 9 cm between the fingers
    tool_offset: float = 0.005  # end-effector point above the fingertips
    home: tuple[float, float, float] = (-0.12, 0.0, 0.25)
    arm1_home: tuple[float, float, float] = (-0.12, -0.25, 0.25)
    # sampling area of the movable objects; the drawer sweeps y > 0.1
    area_x: tuple[float, float] = (-0.26, 0.30)
    area_y: tuple[float, float] = (-0.31, 0.06)
    clearance: float = 0.025  # free gap between sampled objects


GEOMETRY = SceneGeometry()

# Slot offsets (x, y) of blocks in containers, from the container's centre (the drawer: its tray).
SLOTS: dict[str, tuple[tuple[float, float], ...]] = {
    "bowl": ((0.03, 0.0), (-0.03, 0.0)),
    "plate": ((0.035, 0.0), (-0.035, 0.0), (0.0, 0.04)),
    "drawer": ((-0.045, 0.0), (0.0, 0.0)),
}
SLOT_CLEARANCE = 0.035  # a slot is taken when another block's centre is this close (metres)


def free_slot(
    container: str, centre: Sequence[float], others: Sequence[Sequence[float]]
) -> np.ndarray:
    """(2,) table xy where a block goes in `container` (centre xy `centre`): the first slot no
    block of `others` (their xy, the block being placed left out) takes, else the first slot.
    The expert places there, and an event's destination target marks it, in the simulator's
    truth and in perception alike, so a learned model is told the spot and need not guess it."""
    slots = [np.asarray(centre[:2], float) + np.array(offset) for offset in SLOTS[container]]
    for slot in slots:
        if all(np.linalg.norm(slot - np.asarray(o[:2])) > SLOT_CLEARANCE for o in others):
            return slot
    return slots[0]


# How many blocks a container holds when blocks are set in it at the start of a scene: the
# plate's third slot touches the first two, so blocks dropped into all three overlap.
CAPACITY: dict[str, int] = {"bowl": 2, "plate": 2, "drawer": 2}

# near(X, Y): the table-plane gap between X's and Y's footprints is at most this. Tight enough that
# random layouts can reject it (agent/envs/tabletop/placement.py), loose enough that the scripted
# push, which stops a block 1.4 to 3.0 cm from its target's rim (30 seeds of push_then_bowl),
# is inside it with room for perception's error.
NEAR_GAP = 0.05  # m


def footprint(name: str, g: SceneGeometry = GEOMETRY) -> float:
    """The radius an object takes up on the table (a block: its half width)."""
    return {"bowl": g.bowl_radius, "plate": g.plate_radius}.get(name, g.block_half)


def footprint_gap(a: str, a_xy: Sequence[float], b: str, b_xy: Sequence[float]) -> float:
    """The table-plane gap between the footprints of objects a and b at positions a_xy, b_xy."""
    dx, dy = float(a_xy[0]) - float(b_xy[0]), float(a_xy[1]) - float(b_xy[1])
    return (dx * dx + dy * dy) ** 0.5 - footprint(a) - footprint(b)


def near(a: str, a_xy: Sequence[float], b: str, b_xy: Sequence[float]) -> bool:
    """Whether objects a and b at table positions a_xy, b_xy (x, y) count as near each other."""
    return footprint_gap(a, a_xy, b, b_xy) <= NEAR_GAP


def near_relations(
    relations: set[str], positions: Mapping[str, Sequence[float]], held: str | None
) -> set[str]:
    """near(X, Y) for every block X resting on the table (not held, in or on anything) and every
    other block, bowl or plate Y resting on the table, given the other relations."""
    placed = {r.split("(")[1].split(",")[0] for r in relations if r.startswith(("in(", "on("))}
    below = {r.split(", ")[1].rstrip(")") for r in relations if r.startswith("on(")}
    resting = [b for b in BLOCKS if b in positions and b != held and b not in placed]
    out = set()
    for block in resting:
        for other in (*BLOCKS, *CONTAINERS):
            if other in (block, held) or other not in positions:
                continue
            if other in BLOCKS and (other in placed or other in below):
                continue  # near a tower or a block in a container is not "on the table"
            if near(block, positions[block], other, positions[other]):
                out.add(f"near({block}, {other})")
    return out


@dataclass(frozen=True)
class CameraPlacement:
    name: str
    pos: tuple[float, float, float]
    look_at: tuple[float, float, float]
    fovy: float


FIXED_CAMERAS = (
    CameraPlacement("front", (-0.62, 0.0, 0.58), (0.04, 0.0, 0.0), 55.0),
    CameraPlacement("side", (0.04, -0.72, 0.52), (0.04, 0.02, 0.0), 55.0),
)
WRIST_CAMERA = CameraPlacement("wrist", (-0.065, 0.0, 0.06), (0.04, 0.0, -0.04), 75.0)


def xyaxes(pos: tuple[float, ...], look_at: tuple[float, ...]) -> str:
    """MuJoCo `xyaxes` of a camera at `pos` looking at `look_at` with world z up in the image."""
    forward = np.subtract(look_at, pos)
    forward = forward / np.linalg.norm(forward)
    right = np.cross(forward, [0.0, 0.0, 1.0])
    right = right / np.linalg.norm(right)
    up = np.cross(-forward, right)
    return " ".join(f"{v:.6f}" for v in (*right, *up))


def _f(*values: float) -> str:
    return " ".join(f"{v:.5g}" for v in values)


def _gripper(arm: int, home: tuple[float, float, float], g: SceneGeometry) -> tuple[str, str]:
    """(worldbody xml, actuator xml) of one floating gripper."""
    name = f"arm{arm}"
    travel = g.finger_travel
    wrist_camera = ""
    if arm == 0:
        cam = WRIST_CAMERA
        wrist_camera = (
            f'<camera name="wrist" pos="{_f(*cam.pos)}" xyaxes="{xyaxes(cam.pos, cam.look_at)}" '
            f'fovy="{cam.fovy}"/>'
        )
    fingers = ""
    for side, sign in (("l", 1.0), ("r", -1.0)):
        fingers += f"""
      <body name="{name}_finger_{side}" gravcomp="1">
        <joint name="{name}_finger_{side}" type="slide" axis="0 {sign:g} 0"
               range="0 {travel}" damping="10" armature="0.01"/>
        <geom name="{name}_finger_{side}" type="box" size="0.012 0.006 0.032"
              pos="0 {0.006 * sign:g} {0.032 - g.tool_offset:g}" mass="0.05" rgba=".25 .25 .28 1"
              friction="1.5 0.02 0.001" condim="4" solref="0.01 1"/>
      </body>"""
    body = f"""
    <body name="{name}_target" mocap="true" pos="{_f(*home)}"/>
    <body name="{name}_hand" pos="{_f(*home)}" gravcomp="1">
      <freejoint name="{name}_hand"/>
      <site name="{name}_ee" size="0.004" rgba="1 0 1 0"/>
      <geom name="{name}_palm" type="box" size="0.022 0.06 0.012" pos="0 0 0.072" mass="0.3"
            rgba=".55 .55 .6 1"/>
      <geom name="{name}_stem" type="cylinder" size="0.016 0.04" pos="0 0 0.124" mass="0.05"
            rgba=".4 .4 .45 1" contype="0" conaffinity="0"/>
      {wrist_camera}{fingers}
    </body>"""
    actuators = "".join(
        f'<position name="{name}_finger_{side}" joint="{name}_finger_{side}" kp="300" '
        f'ctrlrange="0 {travel}" forcerange="-12 12"/>'
        for side in ("l", "r")
    )
    return body, actuators


def _bowl(g: SceneGeometry) -> str:
    segments = 14
    half_t = math.pi * g.bowl_radius / segments + 0.002
    half_h = (g.bowl_wall_height - g.bowl_floor) / 2
    walls = []
    for k in range(segments):
        angle = 2 * math.pi * k / segments
        x, y = g.bowl_radius * math.cos(angle), g.bowl_radius * math.sin(angle)
        walls.append(
            f'<geom type="box" size="0.004 {half_t:.4f} {half_h:.4f}" '
            f'pos="{_f(x, y, g.bowl_floor + half_h)}" euler="0 0 {angle:.5f}" class="bowl"/>'
        )
    return f"""
    <body name="bowl" pos="0 0.3 0">
      <freejoint name="bowl"/>
      <geom name="bowl_floor" type="cylinder" size="{g.bowl_radius + 0.004:.4f} {g.bowl_floor / 2}"
            pos="0 0 {g.bowl_floor / 2}" class="bowl"/>
      {"".join(walls)}
    </body>"""


def _drawer(g: SceneGeometry) -> str:
    cx, cy = g.cabinet_pos
    hx, hz = g.handle_offset
    inner = g.drawer_inner_half
    standoff = (-inner - 0.01 - hx) / 2  # half length of the bars holding the handle
    return f"""
    <body name="cabinet" pos="{cx} {cy} 0">
      <geom type="box" size="0.1 0.1 0.005" pos="0 0 0.005" class="cabinet"/>
      <geom type="box" size="0.1 0.1 0.005" pos="0 0 0.085" class="cabinet"/>
      <geom type="box" size="0.1 0.005 0.035" pos="0 0.095 0.045" class="cabinet"/>
      <geom type="box" size="0.1 0.005 0.035" pos="0 -0.095 0.045" class="cabinet"/>
      <geom type="box" size="0.005 0.09 0.035" pos="0.095 0 0.045" class="cabinet"/>
      <body name="drawer">
        <joint name="drawer" type="slide" axis="-1 0 0" range="0 {g.drawer_travel}"
               damping="8" frictionloss="0.3" armature="0.2"/>
        <geom name="drawer_floor" type="box" size="{inner + 0.005} {inner + 0.005} 0.0025"
              pos="0 0 {g.drawer_floor - 0.0025}" class="drawer"/>
        <geom type="box" size="{inner + 0.005} 0.0025 0.025" pos="0 {inner + 0.0025} 0.04"
              class="drawer"/>
        <geom type="box" size="{inner + 0.005} 0.0025 0.025" pos="0 {-inner - 0.0025} 0.04"
              class="drawer"/>
        <geom type="box" size="0.0025 {inner} 0.025" pos="{inner + 0.0025} 0 0.04"
              class="drawer"/>
        <geom name="drawer_front" type="box" size="0.0025 0.095 0.036"
              pos="{-inner - 0.0075} 0 0.046" class="drawer"/>
        <geom name="drawer_handle" type="box" size="0.008 0.032 0.008" pos="{hx} 0 {hz}"
              rgba=".2 .2 .22 1" class="drawer"/>
        <geom type="box" size="{standoff} 0.004 0.006" pos="{hx + standoff} 0.026 {hz}"
              rgba=".2 .2 .22 1" class="drawer"/>
        <geom type="box" size="{standoff} 0.004 0.006" pos="{hx + standoff} -0.026 {hz}"
              rgba=".2 .2 .22 1" class="drawer"/>
      </body>
    </body>"""


def build_mjcf(arms: int = 1, geometry: SceneGeometry = GEOMETRY, physics_dt: float = 0.004) -> str:
    """The scene's MJCF text for one or two grippers."""
    g = geometry
    blocks = "".join(
        f"""
    <body name="{colour}_block" pos="0 {0.1 * i} {g.block_half}">
      <freejoint name="{colour}_block"/>
      <geom name="{colour}_block" type="box" size="{_f(g.block_half, g.block_half, g.block_half)}"
            rgba="{_f(*rgb)} 1" mass="0.05" friction="1.2 0.01 0.0005"/>
    </body>"""
        for i, (colour, rgb) in enumerate(BLOCK_COLOURS.items())
    )
    grippers = [_gripper(0, g.home, g)] + ([_gripper(1, g.arm1_home, g)] if arms == 2 else [])
    cameras = "".join(
        f'<camera name="{c.name}" pos="{_f(*c.pos)}" xyaxes="{xyaxes(c.pos, c.look_at)}" '
        f'fovy="{c.fovy}"/>'
        for c in FIXED_CAMERAS
    )
    welds = "".join(
        f'<weld body1="arm{a}_target" body2="arm{a}_hand" solref="0.02 1"/>' for a in range(arms)
    )
    return f"""<mujoco model="wallwm_tabletop">
  <compiler angle="radian" autolimits="true"/>
  <option timestep="{physics_dt}" integrator="implicitfast" cone="elliptic" impratio="10"/>
  <visual>
    <quality shadowsize="0" offsamples="0" numslices="16" numstacks="8"/>
    <headlight ambient=".45 .45 .45" diffuse=".5 .5 .5" specular="0 0 0"/>
    <global offwidth="640" offheight="480"/>
  </visual>
  <default>
    <default class="bowl">
      <geom rgba=".85 .55 .25 1" density="800" friction="1 0.01 0.001"/>
    </default>
    <default class="cabinet"><geom rgba=".55 .40 .28 1"/></default>
    <default class="drawer"><geom rgba=".72 .56 .38 1" density="400"/></default>
  </default>
  <worldbody>
    <light pos="0 0 1.5" dir="0 0 -1" diffuse=".5 .5 .5" castshadow="false"/>
    <geom name="floor" type="plane" size="2 2 .1" pos="0 0 -0.75" rgba=".35 .37 .4 1"/>
    <geom name="table" type="plane" size="{g.table_half} {g.table_half} 0.01"
          rgba=".78 .76 .72 1" friction="0.8 0.005 0.0001"/>
    <geom name="table_edge" type="box" size="{g.table_half} {g.table_half} 0.025"
          pos="0 0 -0.0255" rgba=".70 .68 .64 1" contype="0" conaffinity="0"/>
    {cameras}
    {blocks}
    {_bowl(g)}
    <body name="plate" pos="0 -0.3 0">
      <freejoint name="plate"/>
      <geom name="plate" type="cylinder" size="{g.plate_radius} {g.plate_height / 2}"
            pos="0 0 {g.plate_height / 2}" rgba=".92 .92 .95 1" density="600"
            friction="1 0.01 0.001"/>
    </body>
    {_drawer(g)}
    {"".join(body for body, _ in grippers)}
  </worldbody>
  <contact><exclude body1="cabinet" body2="drawer"/></contact>
  <equality>{welds}</equality>
  <actuator>{"".join(act for _, act in grippers)}</actuator>
</mujoco>"""
