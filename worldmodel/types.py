"""The shared contracts: what flows between robot, agent and world model.

Every type validates itself on construction, so a bad camera frame or an out-of-bounds action is
stopped at the boundary where it appears, with a message that names the field, the value found
and the value expected. Arrays are numpy (the robot side); the world model converts to tensors.

Conventions
- Images: uint8 (H, W, 3), RGB.
- Camera extrinsics: 4x4 pose of the camera in the robot base frame (base_from_camera), OpenCV
  axes (x right, y down, z forward). Intrinsics: 3x3 pinhole matrix in pixels.
- Image points (event targets): normalised (x, y) = (u / W, v / H) in [0, 1], x right, y down,
  (0, 0) the image's top-left corner; pixel (row i, column j) has its centre at
  ((j + 0.5) / W, (i + 0.5) / H).
- Actions: per arm [x, y, z, roll, pitch, yaw, gripper]: absolute end-effector targets in the robot
  base frame, metres and radians, gripper 0 (open) .. 1 (closed).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np

from worldmodel.errors import (
    ActionOutOfBoundsError,
    ActionShapeError,
    ContractError,
    ImageDtypeError,
    ImageShapeError,
    MissingCameraError,
    NonFiniteError,
    UnexpectedCameraError,
)

ARM_COMPONENTS: tuple[str, ...] = ("x", "y", "z", "roll", "pitch", "yaw", "gripper")
ACTION_DIM_PER_ARM = len(ARM_COMPONENTS)


def _require_finite(name: str, array: np.ndarray) -> None:
    if not np.all(np.isfinite(array)):
        bad = np.argwhere(~np.isfinite(array))[0].tolist()
        raise NonFiniteError(
            f"{name} contains NaN or infinity (first at index {bad}); expected finite"
        )


@dataclass(frozen=True)
class CameraSpec:
    """One camera: name, resolution and (optionally) its pinhole geometry.

    `extrinsics` is the nominal pose; a camera that moves (a wrist camera) reports its current pose
    per observation in `Observation.camera_poses`.
    """

    name: str
    width: int
    height: int
    intrinsics: np.ndarray | None = None  # (3, 3) pixels
    extrinsics: np.ndarray | None = None  # (4, 4) base_from_camera
    mounted_on: str | None = None  # e.g. "arm0" for a wrist camera; None for a fixed camera

    def __post_init__(self) -> None:
        if not self.name:
            raise ContractError("CameraSpec.name is empty; expected a camera name such as 'front'")
        if self.width <= 0 or self.height <= 0:
            raise ContractError(
                f"camera {self.name!r} has size {self.width}x{self.height}; expected positive"
            )
        for label, value, shape in (
            ("intrinsics", self.intrinsics, (3, 3)),
            ("extrinsics", self.extrinsics, (4, 4)),
        ):
            if value is None:
                continue
            array = np.asarray(value, dtype=np.float64)
            if array.shape != shape:
                raise ContractError(
                    f"camera {self.name!r} {label} has shape {array.shape}; expected {shape}"
                )
            _require_finite(f"camera {self.name!r} {label}", array)
            object.__setattr__(self, label, array)

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return (self.height, self.width, 3)

    @staticmethod
    def pinhole_intrinsics(width: int, height: int, fovy_deg: float) -> np.ndarray:
        """The 3x3 pinhole matrix of a camera with square pixels and vertical field of view."""
        focal = 0.5 * height / math.tan(math.radians(fovy_deg) / 2)
        return np.array([[focal, 0, width / 2], [0, focal, height / 2], [0, 0, 1]], np.float64)


@dataclass(frozen=True)
class ActionSpace:
    """End-effector pose + gripper per arm, with bounds that every action is checked against."""

    arms: int
    low: np.ndarray  # (7 * arms,)
    high: np.ndarray  # (7 * arms,)

    def __post_init__(self) -> None:
        if self.arms < 1:
            raise ContractError(f"ActionSpace.arms is {self.arms}; expected at least 1")
        for label in ("low", "high"):
            array = np.asarray(getattr(self, label), dtype=np.float32)
            if array.shape != (self.dim,):
                raise ActionShapeError(
                    f"ActionSpace.{label} has shape {array.shape}; expected ({self.dim},) "
                    f"= 7 per arm x {self.arms} arm(s)"
                )
            _require_finite(f"ActionSpace.{label}", array)
            object.__setattr__(self, label, array)
        if np.any(self.low > self.high):
            index = int(np.argmax(self.low > self.high))
            raise ContractError(
                f"ActionSpace bound {self.component_names[index]}: low {self.low[index]} > "
                f"high {self.high[index]}"
            )

    @classmethod
    def for_arms(
        cls,
        arms: int,
        xyz_low: Sequence[float],
        xyz_high: Sequence[float],
        rpy_limit: float = math.pi,
    ) -> ActionSpace:
        """The same workspace box for every arm, rpy within +-rpy_limit, gripper in [0, 1]."""
        low = [*xyz_low, -rpy_limit, -rpy_limit, -rpy_limit, 0.0] * arms
        high = [*xyz_high, rpy_limit, rpy_limit, rpy_limit, 1.0] * arms
        return cls(arms=arms, low=np.array(low), high=np.array(high))

    @property
    def dim(self) -> int:
        return ACTION_DIM_PER_ARM * self.arms

    @property
    def component_names(self) -> tuple[str, ...]:
        return tuple(f"arm{a}.{c}" for a in range(self.arms) for c in ARM_COMPONENTS)

    def check(self, action: np.ndarray, tolerance: float = 0.0) -> np.ndarray:
        """Return `action` (or a trajectory (T, dim)) as float32; raise naming the first fault.

        `tolerance` (a fraction of each component's range) lets a value overshoot its bound by
        that much and be clipped to it: a learned model's gripper command of -0.005 is a
        regression's imprecision, not a fault; -0.5 still is."""
        array = np.asarray(action, dtype=np.float32)
        if array.ndim not in (1, 2) or array.shape[-1] != self.dim:
            raise ActionShapeError(
                f"action has shape {array.shape}; expected ({self.dim},) or (T, {self.dim}) "
                f"= 7 per arm x {self.arms} arm(s)"
            )
        _require_finite("action", array)
        margin = tolerance * (self.high - self.low)
        outside = (array < self.low - margin) | (array > self.high + margin)
        if np.any(outside):
            where = np.argwhere(outside)[0]
            column = int(where[-1])
            step = f" at step {int(where[0])}" if array.ndim == 2 else ""
            raise ActionOutOfBoundsError(
                f"action {self.component_names[column]}{step} = {float(array[tuple(where)]):.4g} "
                f"is outside [{self.low[column]:.4g}, {self.high[column]:.4g}]"
                + (f" by more than {tolerance:.0%} of its range" if tolerance else "")
            )
        return np.clip(array, self.low, self.high) if tolerance else array

    def clip(self, action: np.ndarray) -> np.ndarray:
        """Clip a finite action into the bounds (for robots configured to clip, not refuse)."""
        array = np.asarray(action, dtype=np.float32)
        _require_finite("action", array)
        return np.clip(array, self.low, self.high)


@dataclass(frozen=True)
class Observation:
    """What the robot saw and felt at one control step.

    `cameras` is the robot's declared camera list: every one of them must be present in `images`,
    with its declared size, and no other.
    """

    cameras: tuple[CameraSpec, ...]
    images: Mapping[str, np.ndarray]  # name -> uint8 (H, W, 3)
    proprio: np.ndarray  # float32 (P,)
    timestamp: float  # monotonic seconds (simulated time for the simulator)
    step: int
    camera_poses: Mapping[str, np.ndarray] = field(default_factory=dict)  # name -> (4, 4)

    def __post_init__(self) -> None:
        object.__setattr__(self, "cameras", tuple(self.cameras))
        expected = [camera.name for camera in self.cameras]
        missing = [name for name in expected if name not in self.images]
        if missing:
            raise MissingCameraError(
                f"observation lacks camera(s) {missing}; expected all of {expected}"
            )
        extra = sorted(set(self.images) - set(expected))
        if extra:
            raise UnexpectedCameraError(
                f"observation has undeclared camera(s) {extra}; expected only {expected}"
            )
        for camera in self.cameras:
            image = self.images[camera.name]
            if not isinstance(image, np.ndarray):
                raise ImageDtypeError(
                    f"camera {camera.name!r} image is a {type(image).__name__}; "
                    "expected a numpy uint8 array"
                )
            if image.shape != camera.image_shape:
                raise ImageShapeError(
                    f"camera {camera.name!r} image has shape {image.shape}; "
                    f"expected {camera.image_shape} (H, W, 3)"
                )
            if image.dtype != np.uint8:
                raise ImageDtypeError(
                    f"camera {camera.name!r} image has dtype {image.dtype}; expected uint8"
                )
        proprio = np.asarray(self.proprio)
        if proprio.ndim != 1:
            raise ContractError(f"proprio has shape {proprio.shape}; expected a 1-D vector")
        if not np.issubdtype(proprio.dtype, np.floating):
            raise ContractError(f"proprio has dtype {proprio.dtype}; expected float32")
        proprio = proprio.astype(np.float32, copy=False)
        _require_finite("proprio", proprio)
        object.__setattr__(self, "proprio", proprio)
        if not math.isfinite(self.timestamp):
            raise NonFiniteError(f"timestamp is {self.timestamp}; expected finite seconds")
        if self.step < 0:
            raise ContractError(f"step is {self.step}; expected >= 0")
        for name, pose in self.camera_poses.items():
            if name not in expected:
                raise UnexpectedCameraError(f"camera_poses names undeclared camera {name!r}")
            if np.shape(pose) != (4, 4):
                raise ContractError(
                    f"camera_poses[{name!r}] has shape {np.shape(pose)}; expected (4, 4)"
                )

    @property
    def camera_names(self) -> tuple[str, ...]:
        return tuple(camera.name for camera in self.cameras)


TARGET_ROLES: tuple[str, ...] = ("object", "destination")


@dataclass(frozen=True)
class EventTarget:
    """Where one object of an event is: the event's object (role "object") or, for a skill that
    has one, where it goes (role "destination").

    `points` maps a camera name to a point in normalised image coordinates (x, y): x = u / W to
    the right, y = v / H down, (0, 0) the image's top-left corner and (1, 1) its bottom-right,
    so the centre of pixel (row i, column j) is ((j + 0.5) / W, (i + 0.5) / H). A camera that
    does not see the object is left out. `position` is the table position (x, y, z) in metres in
    the robot base frame, when known.
    """

    role: str
    name: str  # the object id, e.g. "red_block"
    points: Mapping[str, tuple[float, float]] = field(default_factory=dict)
    position: tuple[float, float, float] | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (datasets store an event's targets this way)."""
        return {
            "role": self.role,
            "name": self.name,
            "points": {camera: [float(v) for v in point] for camera, point in self.points.items()},
            "position": None if self.position is None else [float(v) for v in self.position],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> EventTarget:
        """The inverse of `to_dict`."""
        position = data.get("position")
        points = data.get("points") or {}
        return cls(
            role=str(data["role"]),
            name=str(data["name"]),
            points={str(c): (float(x), float(y)) for c, (x, y) in points.items()},
            position=None if position is None else tuple(float(v) for v in position),
        )

    def check(self, field_name: str, cameras: Sequence[str]) -> None:
        """Raise naming `field_name` on a role, camera, point or position that is not valid."""
        if self.role not in TARGET_ROLES:
            raise ContractError(
                f"{field_name}.role is {self.role!r}; expected one of {list(TARGET_ROLES)}"
            )
        if not self.name:
            raise ContractError(f"{field_name}.name is empty; expected an object id")
        for camera, point in self.points.items():
            where = f"{field_name}.points[{camera!r}]"
            if camera not in cameras:
                raise UnexpectedCameraError(
                    f"{where}: camera {camera!r} is not declared; expected one of {list(cameras)}"
                )
            array = np.asarray(point, dtype=np.float64)
            if array.shape != (2,):
                raise ContractError(f"{where} has shape {array.shape}; expected (x, y)")
            _require_finite(where, array)
            if np.any(array < 0.0) or np.any(array > 1.0):
                raise ContractError(
                    f"{where} = {tuple(array.tolist())} lies outside the image; expected "
                    "normalised coordinates in [0, 1] x [0, 1]"
                )
        if self.position is not None:
            array = np.asarray(self.position, dtype=np.float64)
            if array.shape != (3,):
                raise ContractError(
                    f"{field_name}.position has shape {array.shape}; expected (x, y, z) metres"
                )
            _require_finite(f"{field_name}.position", array)


@dataclass(frozen=True)
class EventRequest:
    """Ask the world model for one event: caption + current observation + segment length."""

    caption: str
    observation: Observation
    frames: int  # segment length in control steps
    seed: int = 0
    # The planner's structured reading of the caption. A learned model with the skill input
    # (ActionTowerConfig.skills) takes the skill; executors with privileged knowledge (the
    # simulator oracle) use both instead of parsing the caption.
    skill: str | None = None
    arguments: Mapping[str, str] = field(default_factory=dict)
    # Where the event's object (and destination) are, per camera: a visual prompt a grounded
    # model conditions on with the keyframes. Optional: executors that do not use them (the
    # oracle, a caption-only model) ignore them.
    targets: tuple[EventTarget, ...] = ()

    def __post_init__(self) -> None:
        if not self.caption or not self.caption.strip():
            raise ContractError("EventRequest.caption is empty; expected the next event in words")
        if self.frames < 1:
            raise ContractError(f"EventRequest.frames is {self.frames}; expected >= 1 control step")
        object.__setattr__(self, "targets", tuple(self.targets))
        roles = [target.role for target in self.targets]
        if len(set(roles)) != len(roles):
            raise ContractError(f"EventRequest.targets repeat a role ({roles}); one per role")
        for index, target in enumerate(self.targets):
            if not isinstance(target, EventTarget):
                raise ContractError(
                    f"EventRequest.targets[{index}] is a {type(target).__name__}; "
                    "expected an EventTarget"
                )
            target.check(f"EventRequest.targets[{index}]", self.observation.camera_names)

    def target(self, role: str) -> EventTarget | None:
        """The target of `role` ("object" or "destination"), if given."""
        return next((t for t in self.targets if t.role == role), None)


@dataclass(frozen=True)
class EventPrediction:
    """The world model's answer for one event.

    `frames` holds predicted images per camera aligned to control steps (T, H, W, 3); `latents`
    holds predicted latents per camera (F, C, h, w) with `latent_index[t]` the latent frame that
    control step t falls in. A model fills at least one of the two.
    """

    actions: np.ndarray  # float32 (T, A)
    model: str
    time_to_first_action_s: float
    total_s: float
    frames: Mapping[str, np.ndarray] | None = None  # name -> uint8 (T, H, W, 3)
    latents: Mapping[str, np.ndarray] | None = None  # name -> float32 (F, C, h, w)
    latent_index: np.ndarray | None = None  # int (T,)
    # Per control step, how far K sampled action sequences lie apart (metres: the mean distance
    # of each draw's xyz from the draws' mean); None when the executor drew none. The verifier's
    # action-consistency detector scores it (agent/verify/detectors.py).
    action_spread: np.ndarray | None = None  # float32 (T,)

    def __post_init__(self) -> None:
        actions = np.asarray(self.actions, dtype=np.float32)
        if actions.ndim != 2 or actions.shape[0] < 1:
            raise ActionShapeError(
                f"prediction actions have shape {actions.shape}; expected (T, A) with T >= 1"
            )
        _require_finite(f"prediction actions of model {self.model!r}", actions)
        object.__setattr__(self, "actions", actions)
        steps = actions.shape[0]
        if self.frames is None and self.latents is None:
            raise ContractError("EventPrediction has neither frames nor latents; expected one")
        for name, clip in (self.frames or {}).items():
            if clip.ndim != 4 or clip.shape[0] != steps or clip.shape[-1] != 3:
                raise ImageShapeError(
                    f"predicted frames of camera {name!r} have shape {clip.shape}; "
                    f"expected ({steps}, H, W, 3), one per action"
                )
            if clip.dtype != np.uint8:
                raise ImageDtypeError(
                    f"predicted frames of camera {name!r} have dtype {clip.dtype}; expected uint8"
                )
        if self.latents is not None:
            if self.latent_index is None or np.shape(self.latent_index) != (steps,):
                raise ContractError(
                    "EventPrediction.latent_index must map each of the "
                    f"{steps} control steps to a latent frame"
                )
            for name, latent in self.latents.items():
                _require_finite(f"predicted latents of camera {name!r}", np.asarray(latent))
        if self.action_spread is not None:
            spread = np.asarray(self.action_spread, dtype=np.float32)
            if spread.shape != (steps,):
                raise ContractError(
                    f"action spread has shape {spread.shape}; expected ({steps},), one per action"
                )
            _require_finite(f"action spread of model {self.model!r}", spread)
            object.__setattr__(self, "action_spread", spread)
        if self.time_to_first_action_s < 0 or self.total_s < self.time_to_first_action_s:
            raise ContractError(
                f"timings are inconsistent: first action {self.time_to_first_action_s} s, "
                f"total {self.total_s} s"
            )

    @property
    def steps(self) -> int:
        return int(self.actions.shape[0])


@runtime_checkable
class EventExecutor(Protocol):
    """Anything that turns an EventRequest into an EventPrediction: the learned WALL-WM executor,
    the simulator oracle, or a remote model server."""

    name: str

    def predict(self, request: EventRequest) -> EventPrediction: ...
