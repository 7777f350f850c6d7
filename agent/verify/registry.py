"""The divergence measures a verifier can use, by name: one line each.

Each entry names a module with a `build() -> Measure` function (agent/verify/base.py); the module
is imported only when its measure is used, so this file stays light for the settings check.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from agent.verify.base import Measure


@dataclass(frozen=True)
class MeasureEntry:
    module: str  # holds build() -> Measure
    summary: str  # one line for --help


MEASURES: dict[str, MeasureEntry] = {
    "ssim": MeasureEntry("agent.verify.ssim_measure", "1 - SSIM of predicted and observed frames"),
    "latent": MeasureEntry(
        "agent.verify.latent_measure",
        "observed frames encoded by the model's VAE against its predicted latents",
    ),
}


def measure_names() -> tuple[str, ...]:
    return tuple(MEASURES)


def load_measure(name: str) -> Measure:
    """The measure registered as `name`; ValueError naming the known ones otherwise."""
    if name not in MEASURES:
        raise ValueError(f"unknown divergence measure {name!r}; use one of {measure_names()}")
    return importlib.import_module(MEASURES[name].module).build()
