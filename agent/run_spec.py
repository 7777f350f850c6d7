"""What defines one task run (RunSpec), checked before anything is built or written.

Kept apart from agent/session.py, which assembles the run, so that bad input is refused in a
fraction of a second, before torch, LangGraph and the model load.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agent.envs.registry import environment_names
from agent.envs.tabletop import TASKS
from agent.envs.tabletop.faults import LAST, parse_faults
from agent.envs.tabletop.scene_file import SceneSetup
from agent.episode import EpisodeStore, EpisodeStoreError
from agent.execution.registry import EXECUTORS
from agent.planning.registry import planner_names
from agent.verify.registry import measure_names
from worldmodel.errors import WallwmError
from worldmodel.locate import checkpoint_folder, find_checkpoints

# The longest instruction a run accepts: a long-horizon task of several sentences fits; a pasted
# document does not (it would only bloat every planning prompt).
MAX_INSTRUCTION_CHARS = 1000
MAX_ACTION_DRAWS = 64  # more adds time per event, not a better spread estimate
MAX_SEED = 2**32 - 1  # numpy's and the simulator's seeds are unsigned 32-bit
# What `wallwm run --resume` may change: how the run is driven and how long it may take, never
# what the task is or the world it runs in (the recorded actions replay only into that world).
RESUMABLE_FIELDS = (
    "planner",
    "vlm_url",
    "vlm_model",
    "vlm_timeout_s",
    "vlm_retries",
    "human",
    "recovery",
    "max_events",
    "max_retries",
    "wall_time_s",
    "calibration",
)


class RunSpecError(WallwmError):
    """A run's settings are not valid; the message names the setting and what is expected."""


def check_instruction(instruction: object) -> str:
    """The instruction, if it is text a planner can read; else RunSpecError saying why."""
    if not isinstance(instruction, str) or not instruction.strip():
        raise RunSpecError("the instruction is empty; say what the robot should do")
    try:
        instruction.encode("utf-8")
    except UnicodeEncodeError:  # bytes that were not UTF-8 arrive as lone surrogates
        raise RunSpecError("the instruction is not valid UTF-8 text; retype it") from None
    if len(instruction) > MAX_INSTRUCTION_CHARS:
        raise RunSpecError(
            f"the instruction has {len(instruction)} characters; at most "
            f"{MAX_INSTRUCTION_CHARS} are accepted (split a longer job into several runs)"
        )
    control = next((c for c in instruction if ord(c) < 32 and c not in "\t\n\r"), None)
    if control is not None:
        raise RunSpecError(f"the instruction holds the control character {control!r}; use text")
    return instruction


def _check_range(name: str, value: object, low: float, high: float, what: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise RunSpecError(f"{name} is {value!r}; expected {what} from {low} to {high}")


def _check_whole(name: str, value: object, low: int, high: int) -> None:
    if not isinstance(value, int):
        raise RunSpecError(f"{name} is {value!r}; expected a whole number")
    _check_range(name, value, low, high, "a whole number")


@dataclass(frozen=True)
class RunSpec:
    """Everything that defines a run (saved with the episode; the API key never is). Checked on
    construction, so a bad setting is refused before anything is made."""

    instruction: str
    task: str | None = None  # a task of the suite; its success predicate judges the run
    seed: int = 0
    executor: str = "auto"  # auto, a name of agent/execution/registry.py, or a checkpoint
    environment: str = "tabletop"  # a name of agent/envs/registry.py
    planner: str = "auto"  # auto or a name of agent/planning/registry.py
    vlm_url: str | None = None
    vlm_model: str | None = None
    vlm_timeout_s: float | None = None  # a VLM request's budget; None: the client's default
    vlm_retries: int | None = None
    human: bool = False
    recovery: bool = True  # False: verify and record, but never recover (a study's baseline)
    faults: tuple[str, ...] = ()
    resolution: int = 128  # camera images are resolution x resolution pixels
    max_events: int = 30
    max_retries: int = 3
    wall_time_s: float = 900.0
    calibration: str | None = None
    # The divergence measure of an uncalibrated verifier ("ssim" or "latent"); a calibration
    # file brings its own.
    measure: str = "ssim"
    # Extra action sequences a learned executor samples per event for the action-consistency
    # detector (agent/verify/detectors.py); 0: none, so a plain run pays nothing for them.
    action_draws: int = 0
    skills_dirs: tuple[str, ...] = field(default_factory=tuple)
    # The person's answer when the instruction had to be asked back (--human); read in its place.
    clarification: str | None = None
    # The scene file's content (kept, so a resumed run needs no file); None: every object, all
    # placed at random.
    scene: SceneSetup | None = None

    def __post_init__(self) -> None:
        check_instruction(self.instruction)
        if self.task is not None and self.task not in TASKS:
            raise RunSpecError(f"unknown task {self.task!r}; `wallwm sim --list` lists them")
        if self.scene is not None and not isinstance(self.scene, SceneSetup):
            raise RunSpecError(f"the scene is {self.scene!r}; expected a SceneSetup")
        if self.task is not None and self.scene is not None:
            missing = sorted(TASKS[self.task].objects & set(self.scene.absent))
            if missing:
                raise RunSpecError(
                    f"task {self.task} needs {', '.join(missing)}, which the scene leaves out"
                )
        _check_whole("the seed", self.seed, 0, MAX_SEED)
        named = self.executor not in ("auto", *EXECUTORS)
        if named and not checkpoint_folder(self.executor).is_dir():
            shipped = ", ".join(path.name for path in find_checkpoints()) or "none"
            raise RunSpecError(
                f"executor {self.executor!r} is neither auto, {', '.join(EXECUTORS)}, a "
                f"checkpoint found by name ({shipped}) nor a checkpoint folder"
            )
        for name, value, choices in (
            ("the planner", self.planner, planner_names()),
            ("the environment", self.environment, environment_names()),
            ("the divergence measure", self.measure, measure_names()),
        ):
            if value not in choices:
                raise RunSpecError(f"{name} is {value!r}; expected one of {', '.join(choices)}")
        if self.faults:
            parse_faults("+".join(self.faults))  # a misspelt fault raises, naming the fault
        if self.task is None and any(fault.endswith(f"@{LAST}") for fault in self.faults):
            raise RunSpecError(
                "a fault @last needs a task: its goal tells when the last event runs"
            )
        _check_whole("the resolution", self.resolution, 16, 1024)
        if self.resolution % 2:
            raise RunSpecError(f"the resolution is {self.resolution}; expected an even number")
        _check_whole("--max-events", self.max_events, 1, 10_000)
        _check_whole("--max-retries", self.max_retries, 0, 100)
        _check_whole("--action-draws", self.action_draws, 0, MAX_ACTION_DRAWS)
        _check_range("--wall-time", self.wall_time_s, 0.1, 7 * 24 * 3600, "seconds")
        if self.vlm_timeout_s is not None:
            _check_range("--vlm-timeout", self.vlm_timeout_s, 1, 3600, "seconds")
        if self.vlm_retries is not None:
            _check_whole("--vlm-retries", self.vlm_retries, 0, 10)

    @property
    def understood(self) -> str:
        """The text the goal is read from: the clarification a person gave, else the
        instruction."""
        return self.clarification or self.instruction

    @property
    def human_mode(self) -> bool:
        """A person gives every event: --human, or the human planner."""
        return self.human or self.planner == "human"

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> RunSpec:
        names = {f.name for f in dataclasses.fields(cls)}
        kept = {k: tuple(v) if isinstance(v, list) else v for k, v in values.items() if k in names}
        if kept.get("scene") is not None:
            kept["scene"] = SceneSetup.from_dict(kept["scene"], "the run's recorded scene")
        return cls(**kept)

    def resumed_with(self, changes: dict[str, Any]) -> RunSpec:
        """This spec with the settings a resumed run changes; RunSpecError names a setting that
        cannot change once a run has started."""
        fixed = sorted(name for name in changes if name not in RESUMABLE_FIELDS)
        if fixed:
            raise RunSpecError(
                f"{', '.join(fixed)} cannot change when a run resumes (the recorded actions "
                f"replay only into the same task and world); what may change: "
                f"{', '.join(RESUMABLE_FIELDS)}"
            )
        return dataclasses.replace(self, **changes)


def load_spec(runs_dir: Path, thread_id: str) -> RunSpec:
    """The RunSpec an earlier run was started with (as its last resume changed it)."""
    store = EpisodeStore.open_existing(runs_dir / thread_id)
    spec = store.header.get("spec")
    if spec is None:
        raise EpisodeStoreError(f"{runs_dir / thread_id}/episode.json has no run spec")
    return RunSpec.from_dict(spec)
