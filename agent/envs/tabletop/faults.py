"""Fault injection for the tabletop simulator: seeded, and recorded in a fault log.

A `FaultInjector` holds one or more `FaultConfig`s and hooks into `TabletopSim.step`: it may
change the action before the physics (action noise, action delay, a slipping or missed grasp),
change the world after the physics (an external push), or change the rendered images (camera
freeze, black frames, dropped frames, a camera dropped for the whole episode). Every injected
fault appends a record to `log`, which the expert copies into the episode. The same seed gives the
same faults.

A fault is written as text in specs and on the command line: `KIND`, or `KIND@last` for a fault
armed only in the episode's last event (`parse_fault`); several faults of one episode are joined
with `+` (`parse_faults`: "grasp_slip+external_push").

Faults that act on the world or the actions lower the scripted expert's success; camera faults
leave the physics alone (the privileged expert does not look) and exist to test the agent's
predicted-vs-observed verification.
"""

from __future__ import annotations

import difflib
import math
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from agent.envs.tabletop.errors import UnknownNameError
from agent.envs.tabletop.scene import BLOCKS, CAMERAS

if TYPE_CHECKING:
    from agent.envs.tabletop.sim import TabletopSim

FAULT_KINDS: tuple[str, ...] = (
    "grasp_slip",
    "missed_grasp",
    "external_push",
    "camera_freeze",
    "black_frames",
    "dropped_frames",
    "camera_dropout",
    "action_noise",
    "action_delay",
)
LAST = "last"  # the one trigger suffix: KIND@last
# Faults that need a grasp to act on: none follows the moment the goal first holds (the last
# block has just been let go), so they cannot be armed in the last event.
GRASP_FAULTS = ("grasp_slip", "missed_grasp")


@dataclass(frozen=True)
class FaultConfig:
    """One fault and its magnitude; fields that do not apply to `kind` are ignored."""

    kind: str
    start_window: tuple[int, int] = (15, 60)  # time-triggered faults start in this step range
    camera: str | None = None  # camera faults: None = a seeded choice
    slip_after: int = 3  # grasp_slip: transport steps (block held above slip_height) before it
    slip_height: float = 0.08  # m
    slip_steps: int = 4  # grasp_slip: control steps the fingers are forced open
    miss_offset: float = 0.05  # missed_grasp: the block shifts this far as the fingers close (m)
    push_distance: float = 0.09  # external_push (m)
    freeze_steps: int = 30  # camera_freeze
    frame_rate: float = 0.15  # black_frames / dropped_frames: fraction of frames affected
    noise_std: float = 0.015  # action_noise on xyz (m)
    noise_std_yaw: float = 0.15  # action_noise on yaw (rad)
    delay_steps: int = 8  # action_delay: commands reach the controller this many steps late
    delay_channels: str = "gripper"  # action_delay: "gripper" (a slow gripper bus) or "all"
    # Armed only in the episode's last event. The injector sees physics steps, not events, so it
    # arms the fault at the first step where the task's goal holds: goals are met by letting go
    # of the last object (or closing the drawer), inside the last event, and the run ends after
    # that event unless something went wrong. The fault then acts by its usual trigger from
    # there on (a push knocks the object just placed; time-triggered faults start at once).
    last_event: bool = False

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            close = difflib.get_close_matches(self.kind, FAULT_KINDS, n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            raise UnknownNameError(
                f"unknown fault {self.kind!r}{hint}; expected one of {', '.join(FAULT_KINDS)}"
            )
        if self.last_event and self.kind in (*GRASP_FAULTS, "camera_dropout"):
            why = (
                "it lasts the whole episode"
                if self.kind == "camera_dropout"
                else "nothing is grasped once the goal holds"
            )
            raise UnknownNameError(f"{self.kind}@{LAST} cannot be injected: {why}")
        if self.delay_channels not in ("gripper", "all"):
            raise UnknownNameError(
                f"delay_channels is {self.delay_channels!r}; expected 'gripper' or 'all'"
            )
        if self.camera is not None and self.camera not in CAMERAS:
            raise UnknownNameError(f"unknown camera {self.camera!r}; expected one of {CAMERAS}")


class _Fault:
    """Per-episode state of one configured fault."""

    def __init__(self, config: FaultConfig, rng: np.random.Generator):
        self.config = config
        self.rng = rng
        self.start = int(rng.integers(*config.start_window))
        self.camera = config.camera or CAMERAS[int(rng.integers(len(CAMERAS)))]
        self.fired = False
        self.counter = 0
        self.override = 0  # remaining steps of a forced gripper opening
        self.frozen: np.ndarray | None = None
        self.last: np.ndarray | None = None
        self.queue: deque[np.ndarray] = deque()
        self.start_positions: dict[str, np.ndarray] = {}
        self.armed = not config.last_event  # a last-event fault waits for the goal to hold


class FaultInjector:
    """Applies the configured faults to a TabletopSim and records what it did."""

    def __init__(
        self,
        faults: FaultConfig | Sequence[FaultConfig],
        goal: Callable[[TabletopSim], bool] | None = None,
    ):
        """`goal`: the task's success predicate; last-event faults need it to know when the
        last event runs."""
        self.configs = (faults,) if isinstance(faults, FaultConfig) else tuple(faults)
        if goal is None and any(config.last_event for config in self.configs):
            raise UnknownNameError(
                f"a fault @{LAST} needs a task: its goal tells when the last event runs"
            )
        self.goal = goal
        self.log: list[dict] = []
        self._faults: list[_Fault] = []

    def reset(self, seed: int) -> None:
        self.log = []
        self._faults = [
            _Fault(config, np.random.default_rng([seed, 7919, index]))
            for index, config in enumerate(self.configs)
        ]

    def _record(self, sim: TabletopSim, fault: _Fault, **details: object) -> None:
        """Log a fault under the observation it first shows in: this one for an image or a
        physics fault."""
        self.log.append({"kind": fault.config.kind, "step": sim.step_index, **details})

    def _record_before_action(self, sim: TabletopSim, fault: _Fault, **details: object) -> None:
        """Log a fault that acts on the next action (the action of step s first shows in
        observation s + 1), so a study attributes it to the event that saw it."""
        self.log.append({"kind": fault.config.kind, "step": sim.step_index + 1, **details})

    def _armed(self) -> list[_Fault]:
        return [fault for fault in self._faults if fault.armed]

    def _arm_last_event_faults(self, sim: TabletopSim) -> None:
        waiting = [fault for fault in self._faults if not fault.armed]
        if waiting and self.goal is not None and self.goal(sim):
            for fault in waiting:
                fault.armed = True
                fault.start = sim.step_index  # time-triggered kinds start now

    # ------------------------------------------------------------------ actions
    def on_action(self, sim: TabletopSim, action: np.ndarray) -> np.ndarray:
        action = action.copy()
        for fault in self._armed():
            kind, cfg = fault.config.kind, fault.config
            if kind == "action_noise" and sim.step_index >= fault.start:
                if not fault.fired:
                    fault.fired = True
                    self._record_before_action(
                        sim, fault, std_m=cfg.noise_std, std_yaw=cfg.noise_std_yaw
                    )
                for arm in range(sim.config.arms):
                    action[7 * arm : 7 * arm + 3] += fault.rng.normal(0, cfg.noise_std, 3)
                    action[7 * arm + 5] += fault.rng.normal(0, cfg.noise_std_yaw)
                action = sim.action_space.clip(action)
            elif kind == "action_delay" and sim.step_index >= fault.start:
                if not fault.fired:
                    fault.fired = True
                    self._record_before_action(
                        sim, fault, delay_steps=cfg.delay_steps, channels=cfg.delay_channels
                    )
                    held = sim.hold_action()
                    fault.queue.extend([held] * cfg.delay_steps)
                fault.queue.append(action.copy())
                late = fault.queue.popleft()
                if cfg.delay_channels == "all":
                    action = late
                else:
                    grippers = np.arange(6, len(action), 7)
                    action[grippers] = late[grippers]
            elif kind == "missed_grasp" and not fault.fired:
                self._maybe_miss(sim, fault, action)
            elif kind == "grasp_slip" and fault.override > 0:
                action[6] = 0.0
                fault.override -= 1
        return action

    def _maybe_miss(self, sim: TabletopSim, fault: _Fault, action: np.ndarray) -> None:
        """When the fingers start to close around a block, the block shifts out of reach."""
        closing = action[6] - sim.command_grip[0] > 0.1 and sim.command_grip[0] < 0.5
        if not closing:
            return
        ee, rotation = sim.ee_pose(0)
        for name in BLOCKS:
            pos, _ = sim.object_pose(name)
            if np.linalg.norm(pos[:2] - ee[:2]) < 0.03 and abs(pos[2] - ee[2]) < 0.03:
                sideways = rotation[:, 0].copy()  # hand x: across the closing direction
                sideways[2] = 0.0
                sideways /= max(np.linalg.norm(sideways), 1e-9)
                shifted = pos + sideways * fault.config.miss_offset
                sim.set_object_position(name, shifted)
                fault.fired = True
                self._record_before_action(
                    sim, fault, object=name, offset_m=fault.config.miss_offset
                )
                return

    # ------------------------------------------------------------------ physics
    def on_physics(self, sim: TabletopSim) -> None:
        for fault in self._faults:
            # A push knocks blocks moved since the reset, armed or not yet (a last-event push).
            if fault.config.kind == "external_push" and not fault.start_positions:
                fault.start_positions = {b: sim.object_pose(b)[0] for b in BLOCKS}
        self._arm_last_event_faults(sim)
        for fault in self._armed():
            kind, cfg = fault.config.kind, fault.config
            if kind == "grasp_slip" and not fault.fired:
                held = sim.held_object(0)
                if held is not None and sim.object_pose(held)[0][2] > cfg.slip_height:
                    fault.counter += 1
                    if fault.counter >= cfg.slip_after:
                        fault.fired = True
                        fault.override = cfg.slip_steps
                        self._record_before_action(sim, fault, object=held)
            elif kind == "external_push" and not fault.fired:
                self._maybe_push(sim, fault)

    def _maybe_push(self, sim: TabletopSim, fault: _Fault) -> None:
        """Knock a block the robot has already moved (and let go of) off its place."""
        if sim.step_index < fault.start:
            return
        held = sim.held_object(0)
        for name in BLOCKS:
            pos, _ = sim.object_pose(name)
            moved = np.linalg.norm(pos[:2] - fault.start_positions[name][:2]) > 0.05
            gripper_far = np.linalg.norm(sim.ee_pose(0)[0] - pos) > 0.1
            if name != held and moved and gripper_far:
                angle = fault.rng.uniform(0, 2 * math.pi)
                shift = fault.config.push_distance * np.array([math.cos(angle), math.sin(angle)])
                target = pos.copy()
                target[:2] = np.clip(pos[:2] + shift, -0.33, 0.33)
                target[2] = sim.geometry.block_half + 0.002
                sim.set_object_position(name, target)
                fault.fired = True
                self._record(sim, fault, object=name, displacement_m=shift.tolist())
                return

    # ------------------------------------------------------------------ images
    def on_images(self, sim: TabletopSim, images: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        images = dict(images)
        for fault in self._armed():
            kind, cfg, cam = fault.config.kind, fault.config, fault.camera
            if kind == "camera_freeze":
                if fault.start <= sim.step_index < fault.start + cfg.freeze_steps:
                    if fault.frozen is None:
                        fault.frozen = images[cam].copy()
                        self._record(sim, fault, camera=cam, steps=cfg.freeze_steps)
                    images[cam] = fault.frozen
            elif kind == "black_frames" and sim.step_index > 0:
                if fault.rng.random() < cfg.frame_rate:
                    images[cam] = np.zeros_like(images[cam])
                    self._record(sim, fault, camera=cam)
            elif kind == "dropped_frames":
                stale = fault.last is not None and sim.step_index > 0
                if stale and fault.rng.random() < cfg.frame_rate:
                    images[cam] = fault.last  # the new frame never arrived: stale repeat
                    self._record(sim, fault, camera=cam)
                fault.last = images[cam]
            elif kind == "camera_dropout":
                if not fault.fired:
                    fault.fired = True
                    # steps None: to the episode's end (the study counts every event as faulty)
                    self._record(sim, fault, camera=cam, steps=None)
                images[cam] = np.zeros_like(images[cam])
        return images


def parse_fault(text: str) -> FaultConfig:
    """'external_push' or 'external_push@last' -> its FaultConfig; a misspelling raises."""
    kind, at, trigger = text.strip().partition("@")
    if at and trigger != LAST:
        raise UnknownNameError(f"fault {text!r}: the only trigger is @{LAST} (e.g. {kind}@{LAST})")
    return FaultConfig(kind, last_event=bool(at))


def parse_faults(text: str) -> tuple[FaultConfig, ...]:
    """'grasp_slip+external_push@last' -> the faults of one episode, each checked."""
    parts = [part.strip() for part in text.split("+")]
    if len(set(parts)) < len(parts):
        raise UnknownNameError(f"fault {text!r} names the same fault twice")
    return tuple(parse_fault(part) for part in parts)
