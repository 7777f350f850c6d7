"""The VAE colour benchmark's scoring (a perfect reconstruction scores 100%, a colour-swapped or
washed-out one does not) and, on the same rendered scenes, the VAE loss weights."""

import numpy as np
import pytest
import torch

from agent.envs.tabletop.scene import BLOCKS
from benchmarks.bench_vae_colours import (
    colour_name,
    references,
    render_views,
    score,
    srgb_to_lab,
)
from worldmodel.training.vae_objective import pixel_weights


@pytest.fixture(scope="module")
def views():
    return render_views(6)


def test_srgb_to_lab_matches_known_values():
    np.testing.assert_allclose(srgb_to_lab(np.array([255.0, 255, 255])), [100, 0, 0], atol=0.05)
    np.testing.assert_allclose(srgb_to_lab(np.array([255.0, 0, 0])), [53.2, 80.1, 67.2], atol=0.2)


def test_colour_names_follow_hue_not_lightness(views):
    reference = references(views)
    lit_yellow = srgb_to_lab(np.array([230.0, 205, 30]))
    shaded_yellow = srgb_to_lab(np.array([115.0, 100, 12]))  # olive: yellow in the shade
    orange = srgb_to_lab(np.array([215.0, 140, 60]))
    assert colour_name(lit_yellow, reference) == colour_name(shaded_yellow, reference)
    assert colour_name(shaded_yellow, reference) == "yellow_block"
    assert colour_name(orange, reference) == "bowl"
    assert colour_name(srgb_to_lab(np.array([200.0, 196, 186])), reference) == "table"


def test_the_scenes_show_every_colour_and_the_plate(views):
    scores = score(views, np.stack([v.image for v in views]), references(views))
    assert all(scores.total[block] >= 5 for block in BLOCKS)
    assert scores.plates >= 3


def test_a_perfect_reconstruction_scores_everything(views):
    originals = np.stack([v.image for v in views])
    scores = score(views, originals, references(views))
    assert scores.accuracy == 1.0
    assert all(scores.colour_accuracy(block) == 1.0 for block in BLOCKS)
    assert scores.plate_rate == 1.0
    assert scores.met()


def test_swapped_colours_score_low(views):
    originals = np.stack([v.image for v in views])
    swapped = np.ascontiguousarray(originals[..., [1, 2, 0]])  # red -> blue, green -> red, ...
    scores = score(views, swapped, references(views))
    assert scores.accuracy < 0.2
    assert not scores.met()


def test_a_washed_out_reconstruction_loses_blocks_and_plate(views):
    """Every pixel replaced by the frame's mean colour: nothing is left to classify."""
    originals = np.stack([v.image for v in views])
    flat = np.broadcast_to(originals.mean((1, 2), keepdims=True), originals.shape)
    scores = score(views, flat.round().astype(np.uint8), references(views))
    assert scores.accuracy < 0.3
    assert scores.plate_rate < 0.5


def test_the_loss_weights_favour_blocks_and_plate_over_the_table(views):
    """On rendered scenes, with MuJoCo's segmentation as truth: the weighting the VAE is trained
    with (rarity 0.5, detail 4) puts several times the table's weight on block and plate pixels."""
    images = torch.from_numpy(np.stack([v.image for v in views]))
    clips = images.permute(0, 3, 1, 2)[:, :, None].float() / 127.5 - 1.0  # (N, 3, 1, H, W)
    weights = pixel_weights(clips, detail=4.0, rarity=0.5)[:, 0, 0].numpy()

    def mean_weight(name: str) -> float:
        pixels = [w[v.masks[name]] for w, v in zip(weights, views, strict=True)]
        return float(np.concatenate(pixels).mean())

    table = mean_weight("table")
    assert table < 1.0
    assert all(mean_weight(block) > 4 * table for block in BLOCKS)
    assert mean_weight("plate") > 1.5 * table
