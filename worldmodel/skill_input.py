"""The event's skill as an input of the action tower (`ActionTowerConfig.skills`).

Every event the agent runs names its skill (the planner's step, a skill file's name), so the
model can be told which motion is asked for instead of guessing it from the caption, which the
tiny model's action tower hears only through the frozen video tower (see ActionTowerConfig).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

# The tabletop's skills (skills/*.md, agent/envs/tabletop/skills.py); a checkpoint keeps its own
# list in config.json.
SKILL_NAMES: tuple[str, ...] = (
    "reach",
    "grasp",
    "lift",
    "move",
    "place",
    "release",
    "push",
    "open",
    "close",
    "regrasp",
)


def skill_one_hot(skill: str | None, names: Sequence[str]) -> np.ndarray:
    """(len(names),) float32: 1 at `skill`'s index; all zeros for None or a name not listed
    (a segment caption without a skill, a skill file added after training)."""
    one_hot = np.zeros(len(names), np.float32)
    if skill in names:
        one_hot[list(names).index(skill)] = 1.0
    return one_hot
