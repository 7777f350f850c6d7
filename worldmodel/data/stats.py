"""Feature statistics exactly as LeRobot 0.4 computes them (lerobot/datasets/compute_stats.py).

Every feature but strings gets min, max, mean, std, count and the quantiles q01, q10, q50, q90,
q99 (the QUANTILES normalisation of pi0.5 needs them). Vectors are reduced over frames; camera
streams over a sample of frames and every pixel, per channel, scaled to [0, 1] and shaped
(3, 1, 1). Quantiles come from a 5000-bin histogram between the episode's min and max, as
LeRobot's RunningQuantileStats does; dataset statistics weight each episode's by its count.

One deliberate difference: we accumulate in float64. LeRobot 0.4.4 squares uint8 pixels in uint8
(`batch**2` wraps at 256), so the `std` it writes for cameras is wrong (usually 0); ours is the
true standard deviation. Every other value matches LeRobot's to float32 rounding.
"""

from __future__ import annotations

import numpy as np

QUANTILES = (0.01, 0.10, 0.50, 0.90, 0.99)  # LeRobot's DEFAULT_QUANTILES
QUANTILE_KEYS = tuple(f"q{round(q * 100):02d}" for q in QUANTILES)
STAT_KEYS = ("min", "max", "mean", "std", "count", *QUANTILE_KEYS)
HISTOGRAM_BINS = 5000  # RunningQuantileStats(num_quantile_bins=5000)
IMAGE_DOWNSAMPLE_FROM = 300  # auto_downsample_height_width: images this large are strided...
IMAGE_DOWNSAMPLE_TO = 150  # ...to about this size before their statistics are taken


def sample_indices(length: int) -> np.ndarray:
    """The frames of an episode whose images enter its statistics (LeRobot's sample_indices)."""
    minimum, maximum = min(100, length), 10_000
    count = max(minimum, min(int(length**0.75), maximum))
    return np.round(np.linspace(0, length - 1, count)).astype(int)


def _quantile(histogram: np.ndarray, edges: np.ndarray, target: float) -> float:
    cumulative = np.cumsum(histogram)
    index = int(np.searchsorted(cumulative, target))
    if index == 0:
        return float(edges[0])
    if index >= len(cumulative):
        return float(edges[-1])
    before = cumulative[index - 1]
    inside = cumulative[index] - before
    if inside == 0:
        return float(edges[index])
    return float(edges[index] + (target - before) / inside * (edges[index + 1] - edges[index]))


def _vector_stats(rows: np.ndarray, count: int) -> dict[str, np.ndarray]:
    """Statistics of (N, D) rows, per column; `count` is what LeRobot records as the count."""
    stats = {"min": rows.min(0), "max": rows.max(0)}  # integers stay integers, as in LeRobot
    rows = rows.astype(np.float64)
    stats |= {
        "mean": rows.mean(0),
        "std": rows.std(0),
        "count": np.array([count], np.int64),
    }
    if len(rows) < 2:
        for key in QUANTILE_KEYS:
            stats[key] = stats["mean"].copy()
        return stats
    quantiles = np.zeros((len(QUANTILES), rows.shape[1]))
    for column in range(rows.shape[1]):
        edges = np.linspace(
            stats["min"][column] - 1e-10, stats["max"][column] + 1e-10, HISTOGRAM_BINS + 1
        )
        histogram, _ = np.histogram(rows[:, column], bins=edges)
        for i, q in enumerate(QUANTILES):
            quantiles[i, column] = _quantile(histogram, edges, q * len(rows))
    for key, values in zip(QUANTILE_KEYS, quantiles, strict=True):
        stats[key] = values
    return stats


def numeric_stats(values: np.ndarray) -> dict[str, np.ndarray]:
    """Statistics of a numeric feature over an episode's frames: (T,) or (T, D) values give
    arrays of shape (1,) or (D,)."""
    values = np.asarray(values)
    rows = values.reshape(len(values), -1)
    return _vector_stats(rows, len(values))


def image_stats(frames: np.ndarray) -> dict[str, np.ndarray]:
    """Statistics of a camera stream (uint8 (T, H, W, 3)): a sample of frames, per channel, in
    [0, 1], each of shape (3, 1, 1); count is the number of frames sampled."""
    sample = frames[sample_indices(len(frames))]
    height, width = sample.shape[1:3]
    if max(height, width) >= IMAGE_DOWNSAMPLE_FROM:
        step = int(max(width, height) / IMAGE_DOWNSAMPLE_TO)
        sample = sample[:, ::step, ::step]
    stats = _vector_stats(sample.reshape(-1, 3), len(sample))
    return {
        key: value if key == "count" else (value.astype(np.float64) / 255.0).reshape(3, 1, 1)
        for key, value in stats.items()
    }


def aggregate(parts: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """Statistics of several episodes' frames from each episode's (LeRobot's
    aggregate_feature_stats: exact mean and std, count-weighted quantiles)."""
    means = np.stack([np.asarray(p["mean"], np.float64) for p in parts])
    variances = np.stack([np.asarray(p["std"], np.float64) ** 2 for p in parts])
    counts = np.stack([np.asarray(p["count"], np.float64) for p in parts])
    total = counts.sum(0)
    while counts.ndim < means.ndim:
        counts = counts[..., None]
    mean = (means * counts).sum(0) / total
    variance = ((variances + (means - mean) ** 2) * counts).sum(0) / total
    merged = {
        "min": np.min(np.stack([np.asarray(p["min"]) for p in parts]), 0),
        "max": np.max(np.stack([np.asarray(p["max"]) for p in parts]), 0),
        "mean": mean,
        "std": np.sqrt(variance),
        "count": total.astype(np.int64),
    }
    for key in QUANTILE_KEYS:
        if all(key in p for p in parts):
            values = np.stack([np.asarray(p[key], np.float64) for p in parts])
            merged[key] = (values * counts).sum(0) / total
    return merged


def to_lists(stats: dict[str, np.ndarray]) -> dict[str, list]:
    """JSON/parquet-ready values, stat keys in LeRobot's order."""
    return {key: np.asarray(stats[key]).tolist() for key in STAT_KEYS if key in stats}
