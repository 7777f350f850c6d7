"""Perceived scenes written by hand for the tests of the checks built on perception."""

from __future__ import annotations

from typing import Any

from agent.perception.scene import PerceivedObject, Scene


def scene(positions: dict[str, tuple[float, float, float]], **kwargs: Any) -> Scene:
    """Every named object seen, confidently, at its position."""
    return Scene(
        step=0,
        objects={n: PerceivedObject(n, True, p, 1.0) for n, p in positions.items()},
        views={},
        **kwargs,
    )
