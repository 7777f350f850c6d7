"""Pixel classes from colour: which object of the tabletop vocabulary a pixel can belong to.

Every object of the vocabulary has its own paint (`scene.py`): four saturated block colours, an
orange bowl, a white plate, a wooden cabinet and drawer, and grey or near-black gripper parts.
Shading scales a colour but keeps its hue and, roughly, its saturation, so each class is a region
of hue, saturation and brightness. The rules are evaluated once on every colour of a 7-bit-per-
channel grid into a lookup table; classifying an image is then one integer index per pixel.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

# Pixel classes. BACKGROUND covers the table, the floor and the empty sky.
BACKGROUND, RED, GREEN, BLUE, YELLOW, BOWL, PLATE, WOOD, GRIPPER = range(9)
CLASS_NAMES: tuple[str, ...] = (
    "background",
    "red_block",
    "green_block",
    "blue_block",
    "yellow_block",
    "bowl",
    "plate",
    "drawer",
    "gripper",
)
BITS = 7  # per channel: 2 MiB of table, colours 2 apart are told apart


def classify_colours(rgb: np.ndarray) -> np.ndarray:
    """uint8 class per colour of a float (N, 3) array of RGB values in 0..255."""
    r, g, b = (np.ascontiguousarray(rgb[:, channel]) for channel in range(3))
    high = np.maximum(np.maximum(r, g), b)  # (rgb.max(axis=1) reduces 3 values at a time: slow)
    low = np.minimum(np.minimum(r, g), b)
    chroma = high - low
    saturation = np.where(high > 0, chroma / np.maximum(high, 1e-6), 0.0)
    # hue in degrees, 0 = red, 120 = green, 240 = blue
    safe = np.maximum(chroma, 1e-6)
    hue = np.select(
        [high == r, high == g],
        [(60 * (g - b) / safe) % 360, 60 * (b - r) / safe + 120],
        60 * (r - g) / safe + 240,
    )
    out = np.full(len(rgb), BACKGROUND, np.uint8)
    lit = high >= 40  # darker than this is the sky, a shadowed gap or a black frame
    vivid = lit & (saturation >= 0.56)  # a clipped bowl highlight (255, 201, 103) is 0.6
    out[vivid & ((hue < 14) | (hue >= 340))] = RED
    out[vivid & (hue >= 18) & (hue < 43)] = BOWL
    out[vivid & (hue >= 46) & (hue < 72)] = YELLOW
    out[vivid & (hue >= 90) & (hue < 165)] = GREEN
    out[vivid & (hue >= 200) & (hue < 250)] = BLUE
    # wood: the same hue as the bowl but about half its saturation
    out[lit & (saturation >= 0.28) & (saturation < 0.56) & (hue >= 15) & (hue < 45)] = WOOD
    # the plate is neutral white; the table is warmer (blue below red), the gripper bluer
    blue_over_red = b / np.maximum(r, 1e-6)
    neutral = (saturation < 0.08) & (low >= 110)
    out[neutral & (blue_over_red >= 0.975) & (blue_over_red < 1.06)] = PLATE
    bluish = (saturation < 0.25) & (blue_over_red >= 1.06) & (high < 215)
    near_black = (high >= 18) & (high < 62) & (saturation < 0.2)
    out[bluish | near_black] = GRIPPER
    return out


@lru_cache(maxsize=1)
def lookup_table() -> np.ndarray:
    """uint8 class of every colour on the 7-bit grid, indexed by `colour_index`."""
    levels = (np.arange(1 << BITS, dtype=np.float32) + 0.5) * (256 >> BITS)
    grid = np.stack(np.meshgrid(levels, levels, levels, indexing="ij"), axis=-1).reshape(-1, 3)
    # in chunks of 64Ki colours, whose temporaries malloc reuses: in one piece every temporary
    # of 2 Mi colours is fresh memory, faulted in page by page (0.4-0.6 s against 0.25-0.3 s of
    # a run's start-up on 2 cores)
    return np.concatenate([classify_colours(chunk) for chunk in np.split(grid, 32)])


def classify(image: np.ndarray) -> np.ndarray:
    """uint8 (H, W) pixel classes of a uint8 (H, W, 3) RGB image."""
    shift = 8 - BITS
    pixels = (image >> shift).astype(np.int32)
    index = (pixels[..., 0] << (2 * BITS)) | (pixels[..., 1] << BITS) | pixels[..., 2]
    return lookup_table()[index]
