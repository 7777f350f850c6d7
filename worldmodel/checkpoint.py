"""Checkpoint folders: config.json + video_tower.safetensors + action_tower.safetensors +
normalization.json, and import of a diffusers-format Wan transformer into the video tower.

The two towers are stored separately, as the official release pairs them, so a video tower can be
swapped or shared. Loading builds the model from config.json and then checks every tensor name and
shape before copying anything; the first difference is named in the error.

Inputs added after a checkpoint was made (NEW_INPUTS: the target marks' embedding, the action
tower's target points, countdown and skill input) start at zero when a checkpoint without them
is loaded, as it is or into a config that has them (`load_checkpoint(into=)`), so the loaded
model computes exactly what the checkpoint did until they are trained.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from diffusers import AutoencoderKLWan, WanTransformer3DModel
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from worldmodel.config import ModelConfig
from worldmodel.errors import (
    CheckpointError,
    CheckpointMismatchError,
    ContractError,
    CorruptCheckpointError,
)
from worldmodel.model import WallWM

CONFIG_FILE = "config.json"
VIDEO_FILE = "video_tower.safetensors"
ACTION_FILE = "action_tower.safetensors"
NORMALIZATION_FILE = "normalization.json"
VAE_FOLDER = "vae"  # optional: a diffusers AutoencoderKLWan save_pretrained folder
FORMAT = "wallwm-checkpoint/1"
# Prefixes of tensors whose module starts at zero (a no-op), so a checkpoint made before the
# module existed may lack them: video_tower.MarkEmbedding, action_tower's target_in,
# step_countdown, skill_in and skill_time.
NEW_INPUTS: tuple[str, ...] = (
    "mark_embedding.",
    "target_in.",
    "step_countdown.",
    "skill_in.",
    "skill_time.",
)


@dataclass(frozen=True)
class NormStats:
    """Per-component mean and std of actions and proprio (inside the model they are normalised)."""

    action_mean: np.ndarray  # (A,)
    action_std: np.ndarray  # (A,)
    proprio_mean: np.ndarray  # (P,)
    proprio_std: np.ndarray  # (P,)

    @classmethod
    def identity(cls, action_dim: int, proprio_dim: int) -> NormStats:
        """Mean 0, std 1: actions and proprio used as they are."""
        return cls(
            np.zeros(action_dim, np.float32),
            np.ones(action_dim, np.float32),
            np.zeros(proprio_dim, np.float32),
            np.ones(proprio_dim, np.float32),
        )

    def __post_init__(self) -> None:
        for name in ("action_mean", "action_std", "proprio_mean", "proprio_std"):
            value = np.asarray(getattr(self, name), dtype=np.float32)
            if value.ndim != 1 or not np.all(np.isfinite(value)):
                raise ContractError(f"normalisation {name} must be a finite 1-D vector")
            object.__setattr__(self, name, value)
        for name in ("action_std", "proprio_std"):
            if np.any(getattr(self, name) <= 0):
                raise ContractError(f"normalisation {name} has a value <= 0; expected positive")

    def normalize_actions(self, actions: np.ndarray) -> np.ndarray:
        return (actions - self.action_mean) / self.action_std

    def denormalize_actions(self, actions: np.ndarray) -> np.ndarray:
        return actions * self.action_std + self.action_mean

    def normalize_proprio(self, proprio: np.ndarray) -> np.ndarray:
        return (proprio - self.proprio_mean) / self.proprio_std

    def to_dict(self) -> dict[str, list[float]]:
        return {k: getattr(self, k).tolist() for k in self.__dataclass_fields__}


def save_checkpoint(
    model: WallWM, folder: str | Path, stats: NormStats, vae: AutoencoderKLWan | None = None
) -> Path:
    """Write the model, its normalisation statistics and optionally its VAE to `folder`."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    config = {"format": FORMAT, **model.config.to_dict()}
    (folder / CONFIG_FILE).write_text(json.dumps(config, indent=2) + "\n")
    save_file(_contiguous(model.video.state_dict()), str(folder / VIDEO_FILE))
    save_file(_contiguous(model.action.state_dict()), str(folder / ACTION_FILE))
    (folder / NORMALIZATION_FILE).write_text(json.dumps(stats.to_dict(), indent=2) + "\n")
    if vae is not None:
        vae.save_pretrained(str(folder / VAE_FOLDER))
    return folder


def load_vae(folder: str | Path) -> AutoencoderKLWan | None:
    """The VAE saved with a checkpoint, or None when the checkpoint carries none."""
    path = Path(folder) / VAE_FOLDER
    if not path.is_dir():
        return None
    try:
        return AutoencoderKLWan.from_pretrained(str(path))
    except (OSError, ValueError) as error:
        raise CorruptCheckpointError(f"the VAE in {path} cannot be read: {error}") from error


def _contiguous(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {name: tensor.detach().contiguous().cpu() for name, tensor in state.items()}


def _read_json(path: Path) -> dict:
    if not path.is_file():
        raise CorruptCheckpointError(f"checkpoint file {path} is missing")
    try:
        return json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise CorruptCheckpointError(f"{path} is not valid JSON ({error})") from error


def _read_tensors(path: Path) -> dict[str, torch.Tensor]:
    if not path.is_file():
        raise CorruptCheckpointError(f"checkpoint file {path} is missing")
    try:
        return load_file(str(path))
    except (SafetensorError, OSError, ValueError) as error:
        raise CorruptCheckpointError(
            f"{path} is not a readable safetensors file ({error}); re-save or re-copy it"
        ) from error


def check_state(
    expected: dict[str, torch.Tensor], found: dict[str, torch.Tensor], where: str
) -> None:
    """Raise CheckpointMismatchError naming the first missing, unexpected or mis-shaped tensor."""
    for name, tensor in expected.items():
        if name not in found:
            raise CheckpointMismatchError(f"{where}: tensor {name!r} is missing")
        if tuple(found[name].shape) != tuple(tensor.shape):
            raise CheckpointMismatchError(
                f"{where}: tensor {name!r} has shape {tuple(found[name].shape)}; the model "
                f"built from config.json expects {tuple(tensor.shape)}"
            )
    extra = sorted(set(found) - set(expected))
    if extra:
        raise CheckpointMismatchError(f"{where}: unexpected tensor {extra[0]!r}")


def read_config(folder: str | Path) -> ModelConfig:
    """The ModelConfig of checkpoint `folder` (its config.json)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise CheckpointError(f"checkpoint folder {folder} does not exist")
    raw = _read_json(folder / CONFIG_FILE)
    if raw.pop("format", None) != FORMAT:
        raise CorruptCheckpointError(f"{folder / CONFIG_FILE} is not a {FORMAT} config")
    return ModelConfig.from_dict(raw)


def with_new_inputs(
    expected: dict[str, torch.Tensor], found: dict[str, torch.Tensor]
) -> dict[str, torch.Tensor]:
    """`found` plus zeros for every NEW_INPUTS tensor the model expects and `found` lacks (a
    checkpoint made before those inputs existed)."""
    added = {
        name: torch.zeros(tensor.shape, dtype=tensor.dtype)
        for name, tensor in expected.items()
        if name not in found and name.startswith(NEW_INPUTS)
    }
    return {**found, **added}


def load_checkpoint(
    folder: str | Path,
    device: str | torch.device = "cpu",
    dtype: torch.dtype = torch.float32,
    into: ModelConfig | None = None,
) -> tuple[WallWM, NormStats]:
    """Build the model from config.json and load both towers and the normalisation statistics.

    `into`: build this config instead of the checkpoint's (to fine-tune it with mark channels it
    lacks, say). Every tensor must match by name and shape, except NEW_INPUTS tensors the
    checkpoint lacks (made before they existed), which start at zero."""
    folder = Path(folder)
    config = into or read_config(folder)
    stats = NormStats(**_read_json(folder / NORMALIZATION_FILE))
    if stats.action_mean.shape != (config.action_dim,) or stats.proprio_mean.shape != (
        config.proprio_dim,
    ):
        raise CheckpointMismatchError(
            f"{folder / NORMALIZATION_FILE}: action stats {stats.action_mean.shape} / proprio "
            f"stats {stats.proprio_mean.shape}; expected ({config.action_dim},) / "
            f"({config.proprio_dim},)"
        )
    with torch.device("meta"):
        model = WallWM(config)
    for module, filename in ((model.video, VIDEO_FILE), (model.action, ACTION_FILE)):
        state = _read_tensors(folder / filename)
        state = with_new_inputs(module.state_dict(), state)
        check_state(module.state_dict(), state, str(folder / filename))
        # Fresh, aligned storage: kernels pick their path by alignment, so tensors left inside the
        # file's buffer can give bit-different results from the saved model.
        module.load_state_dict({k: v.clone() for k, v in state.items()}, assign=True)
    model = _materialise_buffers(model, config)
    return model.to(device=device).cast(dtype).eval(), stats


def _materialise_buffers(model: WallWM, config: ModelConfig) -> WallWM:
    """Rebuild the non-persistent rotary buffers that a meta-device construction left empty."""
    with torch.device("cpu"):
        reference_rope = type(model.video.wan.rope)(
            config.video.head_dim, tuple(config.video.patch_size), config.video.rope_max_seq_len
        )
        camera_rope = type(model.video.camera_rope)(config.video)
    model.video.wan.rope = reference_rope
    model.video.camera_rope.register_buffer("bank_cos", camera_rope.bank_cos, persistent=False)
    model.video.camera_rope.register_buffer("bank_sin", camera_rope.bank_sin, persistent=False)
    return model


def _plain(value: object) -> object:
    """Lists and tuples compare equal (JSON turns tuples into lists)."""
    return list(value) if isinstance(value, (list, tuple)) else value


def import_wan_transformer(model: WallWM, directory: str | Path) -> None:
    """Load a diffusers `WanTransformer3DModel` directory (save_pretrained) into the video tower.

    The cross-view branches are re-initialised from the imported within-view attention, so the
    tower again computes exactly what the imported Wan computes.
    """
    try:
        wan = WanTransformer3DModel.from_pretrained(str(directory))
    except (OSError, ValueError) as error:
        raise CheckpointError(
            f"cannot read a diffusers Wan transformer at {directory}: {error}"
        ) from error
    ours = model.video.wan.config
    for key, value in wan.config.items():
        if not key.startswith("_") and key in ours and _plain(ours[key]) != _plain(value):
            raise CheckpointMismatchError(
                f"Wan transformer {directory}: config {key!r} is {value!r}; the video tower "
                f"was built with {ours[key]!r}"
            )
    check_state(model.video.wan.state_dict(), wan.state_dict(), f"Wan transformer {directory}")
    model.video.wan.load_state_dict(wan.state_dict())
    model.video.reset_cross_view()
