"""Exception classes shared by the world model and the agent.

Every error a user can cause has its own class, and its message says what was wrong and what was
expected, so the fix is obvious from the message alone.
"""


class WallwmError(Exception):
    """Base class of every error raised on purpose by wallwm-agent."""


class ContractError(WallwmError, ValueError):
    """A value does not satisfy one of the shared contracts (see worldmodel/types.py)."""


class MissingCameraError(ContractError):
    """An observation lacks a camera that the robot's camera list declares."""


class UnexpectedCameraError(ContractError):
    """An observation carries a camera that the robot's camera list does not declare."""


class ImageShapeError(ContractError):
    """An image does not have the (H, W, 3) shape its camera declares."""


class ImageDtypeError(ContractError):
    """An image is not uint8."""


class NonFiniteError(ContractError):
    """A numeric array (proprio, action, prediction) contains NaN or infinity."""


class ActionShapeError(ContractError):
    """An action or action trajectory does not have the action space's width."""


class ActionOutOfBoundsError(ContractError):
    """An action lies outside the bounds of its action space."""


class UnknownPresetError(ContractError):
    """A model preset name or configuration field is unknown or inconsistent."""


class ModelInputError(ContractError):
    """A tensor given to the world model has the wrong shape, size or camera count."""


class TrainingSetupError(ContractError):
    """Training options that are unknown or cannot go together (e.g. Muon with FSDP), or a
    train_state.pt that the current run cannot resume."""


class CheckpointError(WallwmError):
    """A world-model checkpoint folder cannot be read or does not match the model."""


class CorruptCheckpointError(CheckpointError):
    """A checkpoint file is missing, truncated or not valid JSON / safetensors."""


class CheckpointMismatchError(CheckpointError):
    """A checkpoint's tensor names or shapes differ from the model built from its config."""


class NonFiniteOutputError(WallwmError):
    """The world model produced NaN or infinity; the prediction is refused."""
