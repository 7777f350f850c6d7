"""The VAE's detail-weighted reconstruction loss: small objects cost more to lose."""

import torch

from worldmodel.training.stages import detail_weights


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
