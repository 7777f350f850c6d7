"""The learned WALL-WM executor: Event Mode from a checkpoint (worldmodel/executor.py)."""

from __future__ import annotations

from worldmodel.executor import EventModeExecutor
from worldmodel.locate import checkpoint_folder


def build(checkpoint: str) -> EventModeExecutor:
    """`checkpoint`: a shipped name (tiny) or a folder with config.json and the weights."""
    return EventModeExecutor.from_checkpoint(checkpoint_folder(checkpoint))
