"""The VAE's weighted reconstruction loss: small objects and rare colours cost more to lose."""

import torch

from worldmodel.training.vae_objective import detail_weights, pixel_weights, rarity_weights


def _table_with_a_block() -> torch.Tensor:
    """(1, 3, 2, 32, 32) clip in [-1, 1]: a plain table with a 3x3 red block in frame 1 only."""
    clip = torch.full((1, 3, 2, 32, 32), 0.6)
    clip[0, :, 1, 20:23, 8:11] = torch.tensor([0.9, -0.8, -0.8])[:, None, None]
    return clip


def test_weights_average_one_per_frame_and_single_out_the_block():
    clip = _table_with_a_block()
    weights = detail_weights(clip, strength=4.0)
    assert weights.shape == (1, 1, 2, 32, 32)
    torch.testing.assert_close(weights.mean((3, 4)), torch.ones(1, 1, 2), atol=1e-3, rtol=0)
    assert torch.allclose(weights[0, 0, 0], torch.ones(32, 32))  # nothing stands out
    block, table = weights[0, 0, 1, 21, 9], weights[0, 0, 1, 5, 25]
    assert block > 5 and table < 0.5
    assert torch.equal(detail_weights(clip, strength=0.0), torch.ones(1, 1, 2, 32, 32))


def test_losing_the_block_costs_more_than_an_even_error_of_the_same_mse():
    clip = _table_with_a_block()
    block_lost = clip.clone()
    block_lost[0, :, 1, 20:23, 8:11] = 0.6
    lost_error = (block_lost - clip) ** 2
    even = clip + lost_error.mean().sqrt()  # the same plain MSE spread over every pixel
    even_error = (even - clip) ** 2
    torch.testing.assert_close(lost_error.mean(), even_error.mean())
    weights = detail_weights(clip, strength=4.0)
    assert (lost_error * weights).mean() > 5 * (even_error * weights).mean()


def _table_with_block_and_plate() -> torch.Tensor:
    """(2, 3, 1, 32, 32) frames in [-1, 1]: a warm grey table with a 2x3 red block and a 4x10
    near-white plate; the second frame has only the table."""
    clip = torch.empty(2, 3, 1, 32, 32)
    clip[:] = torch.tensor([0.55, 0.50, 0.42])[None, :, None, None, None]
    clip[0, :, 0, 20:22, 8:11] = torch.tensor([0.6, -0.8, -0.8])[:, None, None]
    clip[0, :, 0, 6:10, 15:25] = torch.tensor([0.85, 0.85, 0.88])[:, None, None]
    return clip


def test_rarity_weights_put_more_weight_on_the_block_and_the_plate_than_the_table():
    clip = _table_with_block_and_plate()
    weights = rarity_weights(clip, power=0.5)
    assert weights.shape == (2, 1, 1, 32, 32)
    torch.testing.assert_close(weights.mean((3, 4)), torch.ones(2, 1, 1), atol=1e-4, rtol=0)
    block, plate, table = weights[0, 0, 0, 21, 9], weights[0, 0, 0, 8, 20], weights[0, 0, 0, 0, 0]
    assert block > plate > table
    assert block > 10 * table and plate > 3 * table
    assert torch.allclose(weights[1], torch.ones(1, 1, 32, 32))  # one colour: plain MSE
    assert torch.equal(pixel_weights(clip, 0.0, 0.0), torch.ones(2, 1, 1, 32, 32))


def test_rarity_weighted_loss_charges_a_lost_block_more_than_plain_mse():
    clip = _table_with_block_and_plate()[:1]
    block_lost = clip.clone()
    block_lost[0, :, 0, 20:22, 8:11] = clip[0, :, 0, :1, :1]
    lost_error = (block_lost - clip) ** 2
    even = clip + lost_error.mean().sqrt()  # the same plain MSE spread over every pixel
    even_error = (even - clip) ** 2
    weights = pixel_weights(clip, 0.0, 0.5)
    assert (lost_error * weights).mean() > 10 * (even_error * weights).mean()
