"""The Wan VAE wrapper: multi-view uint8 clips to latents and back."""

import numpy as np
import pytest
import torch

from worldmodel.config import get_config
from worldmodel.errors import ModelInputError
from worldmodel.vae import VideoVAE


@pytest.fixture(scope="module")
def vae():
    torch.manual_seed(0)
    return VideoVAE.from_config(get_config("debug").vae)


def test_encode_compresses_time_4x_and_space_by_the_stride(vae):
    frames = np.random.default_rng(0).integers(0, 256, (1, 2, 5, 16, 16, 3), dtype=np.uint8)
    latents = vae.encode(frames)
    assert latents.shape == (1, 2, 4, 2, 4, 4)  # 1 + 4 frames -> 2 latent frames, 16 -> 4
    assert torch.isfinite(latents).all()
    decoded = vae.decode(latents)
    assert decoded.shape == (1, 2, 5, 16, 16, 3) and decoded.dtype == np.uint8


def test_views_are_encoded_independently(vae):
    frames = np.random.default_rng(1).integers(0, 256, (1, 2, 1, 16, 16, 3), dtype=np.uint8)
    both = vae.encode(frames)
    alone = vae.encode(frames[:, 1:])
    torch.testing.assert_close(both[:, 1:], alone)


def test_bad_frames_are_refused(vae):
    with pytest.raises(ModelInputError, match="uint8"):
        vae.encode(np.zeros((1, 1, 1, 16, 16, 3), np.float32))
