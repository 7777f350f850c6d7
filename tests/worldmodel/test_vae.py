"""The Wan VAE wrapper: multi-view uint8 clips to latents and back."""

import copy

import numpy as np
import pytest
import torch
from diffusers.models.autoencoders.autoencoder_kl_wan import WanCausalConv3d

from worldmodel.config import get_config
from worldmodel.errors import ModelInputError
from worldmodel.vae import FirstFrameCausalConv3d, VideoVAE


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


def test_first_frames_convolved_as_images_give_wans_numbers(vae, monkeypatch):
    """The lone-frame fast path (FirstFrameCausalConv3d) against diffusers' own causal
    convolution on the same weights: a keyframe and a 5-frame clip encode, and latents decode,
    to the same values (float rounding aside); the keyframe's encoding takes the 2-D path."""
    plain = copy.deepcopy(vae)
    for module in plain.vae.modules():
        if isinstance(module, WanCausalConv3d):
            module.__class__ = WanCausalConv3d
    frames = np.random.default_rng(2).integers(0, 256, (1, 2, 5, 16, 16, 3), dtype=np.uint8)
    for clip in (frames[:, :, :1], frames):
        torch.testing.assert_close(vae.encode(clip), plain.encode(clip), rtol=0, atol=1e-5)
    causal_3d = []  # calls of diffusers' 3-D causal convolution
    forward = WanCausalConv3d.forward
    monkeypatch.setattr(
        WanCausalConv3d, "forward", lambda conv, *a: causal_3d.append(1) or forward(conv, *a)
    )
    vae.encode(frames[:, :, :1])
    assert isinstance(vae.vae.encoder.conv_in, FirstFrameCausalConv3d) and not causal_3d
    plain.encode(frames[:, :, :1])
    assert causal_3d  # the spy does see the 3-D path
    latents = torch.randn(1, 2, 4, 2, 4, 4, generator=torch.Generator().manual_seed(0))
    difference = vae.decode(latents).astype(int) - plain.decode(latents).astype(int)
    assert np.abs(difference).max() <= 1  # uint8 frames: a value on a rounding edge may flip
