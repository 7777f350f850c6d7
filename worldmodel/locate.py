"""Where world-model checkpoints are looked for, and how one is recognised."""

from __future__ import annotations

import os
from pathlib import Path

# Checkpoints shipped inside the package (the embedded default lives here).
BUNDLED_CHECKPOINT_DIR = Path(__file__).resolve().parent / "checkpoints"
CHECKPOINT_PATH_ENV = "WALLWM_CHECKPOINT_PATH"


def checkpoint_search_dirs() -> list[Path]:
    """The bundled folder, then every folder in $WALLWM_CHECKPOINT_PATH (os.pathsep-separated)."""
    extra = [
        Path(p).expanduser() for p in os.environ.get(CHECKPOINT_PATH_ENV, "").split(os.pathsep)
    ]
    return [BUNDLED_CHECKPOINT_DIR, *(p for p in extra if str(p) not in ("", "."))]


def is_checkpoint_dir(path: Path) -> bool:
    """A checkpoint is a folder with config.json and at least one .safetensors file."""
    return (path / "config.json").is_file() and any(path.glob("*.safetensors"))


def find_checkpoints() -> list[Path]:
    """Every checkpoint folder directly inside the search folders, in search order."""
    found: list[Path] = []
    for root in checkpoint_search_dirs():
        if not root.is_dir():
            continue
        if is_checkpoint_dir(root):
            found.append(root)
        found.extend(sorted(p for p in root.iterdir() if p.is_dir() and is_checkpoint_dir(p)))
    return found


def checkpoint_folder(name_or_path: str | Path) -> Path:
    """The found checkpoint called `name_or_path` (bundled or on $WALLWM_CHECKPOINT_PATH), else
    `name_or_path` itself as a folder (whether it holds a checkpoint is the loader's to say)."""
    found = next((p for p in find_checkpoints() if p.name == str(name_or_path)), None)
    return found or Path(name_or_path)
