"""Cluster-balanced sampling: rare behaviours are not drowned by common ones.

Events are clustered twice with k-means, once on caption embeddings (what is said) and once on
action trajectories (what is done); each event is drawn with probability inversely proportional
to the size of its joint (caption cluster, action cluster) cell. The paper balances over
vision-language and action-trajectory clusters; cluster counts are our choice (config).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np


def kmeans(points: np.ndarray, k: int, seed: int = 0, iterations: int = 50) -> np.ndarray:
    """Cluster labels (N,) of points (N, D) by Lloyd's algorithm with k-means++ seeding."""
    points = np.asarray(points, np.float64)
    count = len(points)
    k = max(1, min(k, count))
    rng = np.random.default_rng(seed)
    centres = [points[rng.integers(count)]]
    for _ in range(1, k):
        distance = np.min([np.sum((points - c) ** 2, axis=1) for c in centres], axis=0)
        if distance.sum() == 0:
            break
        centres.append(points[rng.choice(count, p=distance / distance.sum())])
    centres_array = np.stack(centres)
    labels = np.zeros(count, int)
    for _ in range(iterations):
        distances = ((points[:, None, :] - centres_array[None]) ** 2).sum(-1)  # (N, k)
        new_labels = distances.argmin(1)
        if np.array_equal(new_labels, labels) and _ > 0:
            break
        labels = new_labels
        for cluster in range(len(centres_array)):
            members = points[labels == cluster]
            if len(members):
                centres_array[cluster] = members.mean(0)
    return labels


def trajectory_features(actions: np.ndarray, points: int = 8) -> np.ndarray:
    """A fixed-size descriptor of a (T, A) trajectory: resampled to `points` steps, flattened,
    plus its length, so short and long versions of a motion stay apart."""
    steps = len(actions)
    grid = np.linspace(0, steps - 1, points)
    resampled = np.stack(
        [np.interp(grid, np.arange(steps), actions[:, d]) for d in range(actions.shape[1])], 1
    )
    return np.concatenate([resampled.ravel(), [np.log1p(steps)]])


@dataclass(frozen=True)
class BalancedSampler:
    """Draws event indices with probability 1 / |joint cluster cell|."""

    caption_labels: np.ndarray  # (N,)
    action_labels: np.ndarray  # (N,)
    probabilities: np.ndarray  # (N,)

    @classmethod
    def fit(
        cls,
        caption_embeddings: np.ndarray,
        action_trajectories: list[np.ndarray],
        caption_clusters: int = 8,
        action_clusters: int = 8,
        seed: int = 0,
    ) -> BalancedSampler:
        features = np.stack([trajectory_features(a) for a in action_trajectories])
        features = (features - features.mean(0)) / (features.std(0) + 1e-6)
        caption_labels = kmeans(caption_embeddings, caption_clusters, seed)
        action_labels = kmeans(features, action_clusters, seed + 1)
        cells = Counter(zip(caption_labels.tolist(), action_labels.tolist(), strict=True))
        weights = np.array(
            [1.0 / cells[(c, a)] for c, a in zip(caption_labels, action_labels, strict=True)]
        )
        return cls(caption_labels, action_labels, weights / weights.sum())

    def draw(self, count: int, rng: np.random.Generator) -> np.ndarray:
        return rng.choice(len(self.probabilities), size=count, p=self.probabilities)

    def cell_sizes(self) -> Counter:
        return Counter(zip(self.caption_labels.tolist(), self.action_labels.tolist(), strict=True))
