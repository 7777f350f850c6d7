"""k-means, cluster-balanced sampling and block-diagonal packing."""

import numpy as np
import pytest
import torch

from worldmodel.data.balance import BalancedSampler, kmeans, trajectory_features
from worldmodel.data.packing import block_diagonal_mask, pack_lengths, segment_ids


def test_kmeans_separates_well_separated_blobs():
    rng = np.random.default_rng(0)
    points = np.concatenate([rng.normal(c, 0.1, (30, 2)) for c in (0, 5, 10)])
    labels = kmeans(points, 3, seed=0)
    for blob in range(3):
        assert len(set(labels[30 * blob : 30 * blob + 30])) == 1
    assert len(set(labels)) == 3


def test_rare_behaviour_gets_its_share():
    """90 'reach' events and 10 'push' events: balanced draws give each cell equal mass."""
    rng = np.random.default_rng(0)
    captions = np.concatenate([np.tile([1.0, 0.0], (90, 1)), np.tile([0.0, 1.0], (10, 1))])
    trajectories = [np.linspace(0, 1, 12)[:, None] * np.ones((1, 7)) for _ in range(90)]
    trajectories += [np.sin(np.linspace(0, 6, 30))[:, None] * np.ones((1, 7)) for _ in range(10)]
    sampler = BalancedSampler.fit(
        captions + rng.normal(0, 0.01, captions.shape),
        trajectories,
        caption_clusters=2,
        action_clusters=2,
    )
    draws = sampler.draw(4000, np.random.default_rng(1))
    rare_share = np.mean(draws >= 90)
    assert rare_share == pytest.approx(0.5, abs=0.04)  # 10% of the data, half of the draws


def test_trajectory_features_are_fixed_size():
    assert trajectory_features(np.zeros((5, 7))).shape == (8 * 7 + 1,)
    assert trajectory_features(np.zeros((50, 14))).shape == (8 * 14 + 1,)


def test_packing_respects_capacity_and_keeps_every_item():
    lengths = [7, 3, 5, 2, 8, 1, 4]
    bins = pack_lengths(lengths, capacity=10)
    assert sorted(i for b in bins for i in b) == list(range(7))
    assert all(sum(lengths[i] for i in b) <= 10 for b in bins)
    assert len(bins) == 3  # 30 tokens in bins of 10: no waste here
    with pytest.raises(ValueError, match="crop them first"):
        pack_lengths([11], capacity=10)


def test_block_diagonal_mask():
    mask = block_diagonal_mask([2, 3], total=6)
    assert segment_ids([2, 3], 6).tolist() == [0, 0, 1, 1, 1, -1]
    expected = torch.zeros(6, 6, dtype=torch.bool)
    expected[:2, :2] = True
    expected[2:5, 2:5] = True
    expected[5, :] = True  # a padding query attends to every key, so no softmax row is empty
    assert torch.equal(mask, expected)
