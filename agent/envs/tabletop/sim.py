"""TabletopSim: the MuJoCo tabletop world behind the Robot protocol.

One action = one control step (0.1 s at 10 Hz): absolute end-effector targets per arm
[x, y, z, roll, pitch, yaw, gripper]. The controller moves each gripper's mocap target toward the
commanded pose at a bounded speed (like an arm's Cartesian controller) over the physics substeps,
so even a far target never yanks the physics. Every action is checked against the action space
first; NaN or out-of-bounds actions raise (or, with `clip_actions`, are clipped and logged) and
never reach the physics.

Proprio, per arm (PROPRIO_COMPONENTS): end-effector xyz (m), rpy (rad), gripper opening (m,
distance between the fingers).
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import mujoco
import numpy as np

from agent.envs.tabletop.errors import SimulationUnstableError, UnknownNameError
from agent.envs.tabletop.placement import check_relations, hide_absent, place_objects
from agent.envs.tabletop.render import TiledRenderer
from agent.envs.tabletop.rotations import (
    matrix_to_quat,
    matrix_to_rpy,
    quat_angle,
    quat_slerp,
    quat_to_rpy,
    rpy_to_matrix,
)
from agent.envs.tabletop.scene import (
    BLOCKS,
    CAMERAS,
    CONTAINERS,
    GEOMETRY,
    OBJECTS,
    SceneGeometry,
    build_mjcf,
)
from agent.envs.tabletop.scene_file import DEFAULT_SCENE, SceneSetup
from worldmodel.errors import ContractError
from worldmodel.types import ActionSpace, CameraSpec, Observation

if TYPE_CHECKING:
    from agent.envs.tabletop.faults import FaultInjector

log = logging.getLogger(__name__)

PROPRIO_COMPONENTS: tuple[str, ...] = ("x", "y", "z", "roll", "pitch", "yaw", "opening")
# OpenCV camera axes (x right, y down, z forward) from MuJoCo's (x right, y up, looking along -z)
_MUJOCO_TO_OPENCV = np.diag([1.0, -1.0, -1.0])


@dataclass(frozen=True)
class SimConfig:
    """Everything that shapes the simulated robot."""

    arms: int = 1  # 2 gives 14-D actions (the second gripper holds still unless commanded)
    width: int = 128
    height: int = 128
    control_hz: float = 10.0  # one action per 0.1 s of simulated time
    physics_dt: float = 0.004  # 25 substeps per control step; stable with the solrefs used
    clip_actions: bool = False  # False: out-of-bounds actions raise; True: clipped and logged
    render: bool = True  # False skips rendering (black frames) for fast evaluation runs
    realtime: bool = False  # True paces step() to the control rate in wall time (for people)
    max_speed: float = 0.5  # m/s of the gripper's commanded target
    max_angular_speed: float = 3.0  # rad/s
    target_increments: int = 5  # the mocap target moves in this many steps per control period
    workspace_low: tuple[float, float, float] = (-0.38, -0.38, 0.005)  # tips above the table
    workspace_high: tuple[float, float, float] = (0.38, 0.38, 0.45)
    settle_steps: int = 50  # physics steps after placing the objects, before step 0
    geometry: SceneGeometry = GEOMETRY
    # The objects present and the relations set up on every reset (a scene file; the default:
    # every object, all placed at random).
    scene: SceneSetup = DEFAULT_SCENE

    @property
    def substeps(self) -> int:
        return round(1.0 / (self.control_hz * self.physics_dt))


@dataclass
class SimState:
    """A snapshot from which `TabletopSim.set_state` continues bit-exactly (the oracle uses it)."""

    physics: np.ndarray  # mjSTATE_INTEGRATION vector
    step: int
    command_pos: np.ndarray  # (arms, 3)
    command_quat: np.ndarray  # (arms, 4)
    command_grip: np.ndarray  # (arms,)


class TabletopSim:
    """The MuJoCo tabletop world: Robot protocol plus privileged accessors for the expert."""

    def __init__(self, config: SimConfig | None = None, faults: FaultInjector | None = None):
        self.config = config or SimConfig()
        if self.config.arms not in (1, 2):
            raise ContractError(f"SimConfig.arms is {self.config.arms}; expected 1 or 2")
        self.geometry = self.config.geometry
        self.model = mujoco.MjModel.from_xml_string(
            build_mjcf(self.config.arms, self.geometry, self.config.physics_dt)
        )
        self.data = mujoco.MjData(self.model)
        self.faults = faults
        self.clip_log: list[str] = []
        self._next_tick: float | None = None
        self._renderer: TiledRenderer | None = None
        self._black = np.zeros((self.config.height, self.config.width, 3), np.uint8)
        self._action_space = ActionSpace.for_arms(
            self.config.arms, self.config.workspace_low, self.config.workspace_high
        )
        self._ids()
        hide_absent(self)
        arms = self.config.arms
        self.step_index = 0
        self.command_pos = np.zeros((arms, 3))
        self.command_quat = np.tile([1.0, 0.0, 0.0, 0.0], (arms, 1))
        self.command_grip = np.zeros(arms)
        self._home_all()
        mujoco.mj_forward(self.model, self.data)
        self._cameras = self._camera_specs()

    # ----------------------------------------------------------------- set-up
    def _ids(self) -> None:
        m = self.model

        def body(name: str) -> int:
            return mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_BODY, name)

        def joint(name: str) -> int:
            return mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_JOINT, name)

        movable = (*BLOCKS, *CONTAINERS)
        self.body_id = {name: body(name) for name in (*OBJECTS, "cabinet")}
        self.free_joint = {name: m.jnt_qposadr[joint(name)] for name in movable}
        self.free_dof = {name: m.jnt_dofadr[joint(name)] for name in movable}
        self.drawer_qpos = m.jnt_qposadr[joint("drawer")]
        self.camera_id = {c: mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_CAMERA, c) for c in CAMERAS}
        self.arm_ids = [
            {
                "mocap": m.body_mocapid[body(f"arm{a}_target")],
                "hand": body(f"arm{a}_hand"),
                "hand_qpos": m.jnt_qposadr[joint(f"arm{a}_hand")],
                "hand_dof": m.jnt_dofadr[joint(f"arm{a}_hand")],
                "fingers": [m.jnt_qposadr[joint(f"arm{a}_finger_{s}")] for s in "lr"],
                "actuators": [
                    mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_ACTUATOR, f"arm{a}_finger_{s}")
                    for s in "lr"
                ],
            }
            for a in range(self.config.arms)
        ]

    def _home_all(self) -> None:
        homes = [self.geometry.home, self.geometry.arm1_home][: self.config.arms]
        for a, home in enumerate(homes):
            ids = self.arm_ids[a]
            self.command_pos[a] = home
            self.command_quat[a] = (1.0, 0.0, 0.0, 0.0)
            self.command_grip[a] = 0.0
            self.data.mocap_pos[ids["mocap"]] = home
            self.data.mocap_quat[ids["mocap"]] = (1.0, 0.0, 0.0, 0.0)
            adr = ids["hand_qpos"]
            self.data.qpos[adr : adr + 3] = home
            self.data.qpos[adr + 3 : adr + 7] = (1.0, 0.0, 0.0, 0.0)
            for adr, act in zip(ids["fingers"], ids["actuators"], strict=True):
                self.data.qpos[adr] = self.geometry.finger_travel
                self.data.ctrl[act] = self.geometry.finger_travel

    def _camera_specs(self) -> tuple[CameraSpec, ...]:
        specs = []
        for name in CAMERAS:
            cid = self.camera_id[name]
            specs.append(
                CameraSpec(
                    name=name,
                    width=self.config.width,
                    height=self.config.height,
                    intrinsics=CameraSpec.pinhole_intrinsics(
                        self.config.width, self.config.height, float(self.model.cam_fovy[cid])
                    ),
                    extrinsics=self.camera_pose(name),
                    mounted_on="arm0" if name == "wrist" else None,
                )
            )
        return tuple(specs)

    # ------------------------------------------------------------- protocol
    @property
    def cameras(self) -> tuple[CameraSpec, ...]:
        return self._cameras

    @property
    def action_space(self) -> ActionSpace:
        return self._action_space

    def reset(self, seed: int) -> Observation:
        """Set the scene up by `seed`, home the gripper(s), settle, and observe step 0.
        SceneSetupError when the physics did not keep a relation the scene asked for."""
        mujoco.mj_resetData(self.model, self.data)
        self._home_all()
        place_objects(self, np.random.default_rng(seed))
        mujoco.mj_step(self.model, self.data, nstep=self.config.settle_steps)
        self.data.time = 0.0
        mujoco.mj_forward(self.model, self.data)
        check_relations(self, seed)
        self.step_index = 0
        self.clip_log = []
        if self.faults is not None:
            self.faults.reset(seed)
        return self.observe()

    def step(self, action: np.ndarray) -> Observation:
        """Check `action`, move the gripper targets toward it for one control period, observe."""
        action = self._validate(action)
        if self.faults is not None:
            action = self.faults.on_action(self, action)
        self.apply(action)
        if self.faults is not None:
            self.faults.on_physics(self)
        if self.config.realtime:
            self._pace()
        return self.observe()

    def _pace(self) -> None:
        period = 1.0 / self.config.control_hz
        now = time.monotonic()
        if self._next_tick is None or now - self._next_tick > period:
            self._next_tick = now  # first step, or fell far behind: do not try to catch up
        self._next_tick += period
        time.sleep(max(0.0, self._next_tick - now))

    def close(self) -> None:
        if self._renderer is not None:
            self._renderer.close()
            self._renderer = None

    def __enter__(self) -> TabletopSim:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------- control
    def _validate(self, action: np.ndarray) -> np.ndarray:
        if not self.config.clip_actions:
            return self.action_space.check(action).reshape(self.action_space.dim)
        array = np.asarray(action, dtype=np.float32)
        if array.shape != (self.action_space.dim,):
            return self.action_space.check(array)  # raises the shape error
        clipped = self.action_space.clip(array)
        if np.any(clipped != array):
            names = [
                self.action_space.component_names[i]
                for i in np.flatnonzero(clipped != array).tolist()
            ]
            message = f"step {self.step_index}: clipped {names} into the action bounds"
            log.warning(message)
            self.clip_log.append(message)
        return clipped

    def apply(self, action: np.ndarray) -> None:
        """Run one control period toward `action` (already checked); no observation."""
        cfg = self.config
        period = 1.0 / cfg.control_hz
        chunks = cfg.target_increments
        per_chunk = cfg.substeps // chunks
        starts_pos = self.command_pos.copy()
        starts_quat = self.command_quat.copy()
        goals_pos, goals_quat = [], []
        for a in range(cfg.arms):
            part = np.asarray(action[7 * a : 7 * a + 7], dtype=np.float64)
            delta = part[:3] - starts_pos[a]
            distance = float(np.linalg.norm(delta))
            limit = cfg.max_speed * period
            if distance > limit:
                delta *= limit / distance
            goals_pos.append(starts_pos[a] + delta)
            quat = matrix_to_quat(rpy_to_matrix(part[3:6]))
            angle = quat_angle(starts_quat[a], quat)
            angle_limit = cfg.max_angular_speed * period
            if angle > angle_limit:
                quat = quat_slerp(starts_quat[a], quat, angle_limit / angle)
            goals_quat.append(quat)
            opening = self.geometry.finger_travel * (1.0 - float(np.clip(part[6], 0.0, 1.0)))
            for act in self.arm_ids[a]["actuators"]:
                self.data.ctrl[act] = opening
            self.command_grip[a] = part[6]
        for k in range(1, chunks + 1):
            fraction = k / chunks
            for a in range(cfg.arms):
                mocap = self.arm_ids[a]["mocap"]
                self.data.mocap_pos[mocap] = starts_pos[a] + fraction * (
                    goals_pos[a] - starts_pos[a]
                )
                self.data.mocap_quat[mocap] = quat_slerp(starts_quat[a], goals_quat[a], fraction)
            mujoco.mj_step(self.model, self.data, nstep=per_chunk)
        mujoco.mj_forward(self.model, self.data)  # observations show the state after the period
        self.command_pos[:] = goals_pos
        self.command_quat[:] = goals_quat
        self.step_index += 1
        if not np.all(np.isfinite(self.data.qpos)):
            raise SimulationUnstableError(f"physics produced NaN at step {self.step_index}")

    def hold_action(self) -> np.ndarray:
        """The action that keeps every arm at its current command."""
        parts = [
            np.array(
                [*self.command_pos[a], *quat_to_rpy(self.command_quat[a]), self.command_grip[a]]
            )
            for a in range(self.config.arms)
        ]
        return np.concatenate(parts).astype(np.float32)

    # --------------------------------------------------------- observation
    def observe(self) -> Observation:
        images = self.render() if self.config.render else {c: self._black for c in CAMERAS}
        if self.faults is not None:
            images = self.faults.on_images(self, images)
        return Observation(
            cameras=self._cameras,
            images=images,
            proprio=self.proprio(),
            timestamp=float(self.data.time),
            step=self.step_index,
            camera_poses={"wrist": self.camera_pose("wrist")},
        )

    def render(self) -> dict[str, np.ndarray]:
        """One RGB frame per camera, shadows and reflections off."""
        if self._renderer is None:
            self._renderer = TiledRenderer(
                self.model,
                self.config.width,
                self.config.height,
                [self.camera_id[name] for name in CAMERAS],
            )
        return dict(zip(CAMERAS, self._renderer.render(self.data), strict=True))

    def proprio(self) -> np.ndarray:
        parts = []
        for a in range(self.config.arms):
            pos, matrix = self.ee_pose(a)
            parts += [pos, matrix_to_rpy(matrix), [self.gripper_opening(a)]]
        return np.concatenate(parts).astype(np.float32)

    def camera_pose(self, name: str) -> np.ndarray:
        """4x4 base_from_camera in OpenCV axes (x right, y down, z forward)."""
        cid = self.camera_id[name]
        pose = np.eye(4)
        pose[:3, :3] = self.data.cam_xmat[cid].reshape(3, 3) @ _MUJOCO_TO_OPENCV
        pose[:3, 3] = self.data.cam_xpos[cid]
        return pose

    # ---------------------------------------------------------- privileged
    def ee_pose(self, arm: int = 0) -> tuple[np.ndarray, np.ndarray]:
        hand = self.arm_ids[arm]["hand"]
        return self.data.xpos[hand].copy(), self.data.xmat[hand].reshape(3, 3).copy()

    def gripper_opening(self, arm: int = 0) -> float:
        return float(sum(self.data.qpos[adr] for adr in self.arm_ids[arm]["fingers"]))

    def object_pose(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """(position (3,), rotation matrix (3, 3)) of an object's body in the base frame."""
        if name not in self.body_id:
            raise UnknownNameError(f"unknown object {name!r}; expected one of {list(OBJECTS)}")
        bid = self.body_id[name]
        return self.data.xpos[bid].copy(), self.data.xmat[bid].reshape(3, 3).copy()

    def object_yaw(self, name: str) -> float:
        _, matrix = self.object_pose(name)
        return math.atan2(matrix[1, 0], matrix[0, 0])

    def drawer_opening(self) -> float:
        """How far the drawer is pulled out (m), 0 = closed."""
        return float(self.data.qpos[self.drawer_qpos])

    def touching(self, name: str) -> set[str]:
        """Names of the bodies in contact with object `name` (fingers as 'arm0_finger_l' ...)."""
        bid = self.body_id.get(name)
        if bid is None:
            raise UnknownNameError(f"unknown object {name!r}; expected one of {list(OBJECTS)}")
        out = set()
        for contact in self.data.contact[: self.data.ncon]:
            b1 = self.model.geom_bodyid[contact.geom1]
            b2 = self.model.geom_bodyid[contact.geom2]
            if bid in (b1, b2):
                other = b2 if b1 == bid else b1
                out.add(mujoco.mj_id2name(self.model, mujoco.mjtObj.mjOBJ_BODY, other) or "world")
        return out

    def held_object(self, arm: int = 0) -> str | None:
        """The block both fingers of `arm` touch, if any."""
        fingers = {f"arm{arm}_finger_l", f"arm{arm}_finger_r"}
        for name in BLOCKS:
            if fingers <= self.touching(name):
                return name
        return None

    def set_object_position(self, name: str, xyz: np.ndarray) -> None:
        """Teleport a block or container (faults and recovery demos use this), at rest."""
        adr, dof = self.free_joint[name], self.free_dof[name]
        self.data.qpos[adr : adr + 3] = xyz
        self.data.qvel[dof : dof + 6] = 0.0
        mujoco.mj_forward(self.model, self.data)

    def set_gripper_pose(self, arm: int, pos: np.ndarray, yaw: float, grip: float) -> None:
        """Teleport a gripper (at rest) and its target: recovery demos start from such poses."""
        ids = self.arm_ids[arm]
        quat = matrix_to_quat(rpy_to_matrix(np.array([0.0, 0.0, yaw])))
        opening = self.geometry.finger_travel * (1.0 - grip)
        self.data.mocap_pos[ids["mocap"]] = pos
        self.data.mocap_quat[ids["mocap"]] = quat
        adr = ids["hand_qpos"]
        self.data.qpos[adr : adr + 3] = pos
        self.data.qpos[adr + 3 : adr + 7] = quat
        self.data.qvel[ids["hand_dof"] : ids["hand_dof"] + 6] = 0.0
        for finger, act in zip(ids["fingers"], ids["actuators"], strict=True):
            self.data.qpos[finger] = opening
            self.data.ctrl[act] = opening
        self.command_pos[arm] = pos
        self.command_quat[arm] = quat
        self.command_grip[arm] = grip
        mujoco.mj_forward(self.model, self.data)

    # --------------------------------------------------------------- state
    def get_state(self) -> SimState:
        spec = mujoco.mjtState.mjSTATE_INTEGRATION
        physics = np.empty(mujoco.mj_stateSize(self.model, spec))
        mujoco.mj_getState(self.model, self.data, physics, spec)
        return SimState(
            physics=physics,
            step=self.step_index,
            command_pos=self.command_pos.copy(),
            command_quat=self.command_quat.copy(),
            command_grip=self.command_grip.copy(),
        )

    def set_state(self, state: SimState) -> None:
        mujoco.mj_setState(
            self.model, self.data, state.physics, mujoco.mjtState.mjSTATE_INTEGRATION
        )
        mujoco.mj_forward(self.model, self.data)
        self.step_index = state.step
        self.command_pos[:] = state.command_pos
        self.command_quat[:] = state.command_quat
        self.command_grip[:] = state.command_grip
