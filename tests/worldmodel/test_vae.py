"""The Wan VAE wrapper: multi-view uint8 clips to latents and back."""

import copy

import numpy as np
import pytest
import torch
from diffusers.models.autoencoders.autoencoder_kl_wan import WanCausalConv3d, WanRMS_norm

from worldmodel.config import get_config
from worldmodel.errors import ModelInputError
from worldmodel.vae import ChannelRMSNorm, FastCausalConv3d, VideoVAE


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


def test_fast_paths_give_wans_numbers(vae, monkeypatch):
    """Our causal convolution (FastCausalConv3d) and channel norm (ChannelRMSNorm) against
    diffusers' own on the same weights: a keyframe and a 5-frame clip encode, and two latent
    frames (the second reads the first's cache) decode, to the same values (float rounding
    aside); the keyframe's encoding convolves only images."""
    plain = copy.deepcopy(vae)
    for module in plain.vae.modules():
        if isinstance(module, WanCausalConv3d):
            module.__class__ = WanCausalConv3d
        elif isinstance(module, WanRMS_norm):
            module.__class__ = WanRMS_norm
    assert isinstance(vae.vae.encoder.conv_in, FastCausalConv3d)
    assert isinstance(vae.vae.encoder.norm_out, ChannelRMSNorm)
    frames = np.random.default_rng(2).integers(0, 256, (1, 2, 5, 16, 16, 3), dtype=np.uint8)
    for clip in (frames[:, :, :1], frames):
        torch.testing.assert_close(vae.encode(clip), plain.encode(clip), rtol=0, atol=1e-5)
    convolutions_3d = []
    conv3d = torch.nn.functional.conv3d
    monkeypatch.setattr(
        torch.nn.functional, "conv3d", lambda *a, **k: convolutions_3d.append(1) or conv3d(*a, **k)
    )
    vae.encode(frames[:, :, :1])
    assert not convolutions_3d
    plain.encode(frames[:, :, :1])
    assert convolutions_3d  # the spy does see diffusers' 3-D path
    latents = torch.randn(1, 2, 4, 2, 4, 4, generator=torch.Generator().manual_seed(0))
    difference = vae.decode(latents).astype(int) - plain.decode(latents).astype(int)
    assert np.abs(difference).max() <= 1  # uint8 frames: a value on a rounding edge may flip


def test_channel_norm_is_wans_norm_with_a_finite_gradient_at_zero():
    norm = WanRMS_norm(8, images=False)
    with torch.no_grad():
        norm.gamma.normal_()
    fast = copy.deepcopy(norm)
    fast.__class__ = ChannelRMSNorm
    x = torch.randn(2, 8, 3, 5, 5, generator=torch.Generator().manual_seed(0)) * 3
    torch.testing.assert_close(fast(x), norm(x), rtol=0, atol=1e-6)
    half = x.bfloat16()  # normalised in float32 as diffusers does, then rounded to bfloat16
    torch.testing.assert_close(fast(half), norm(half), rtol=0, atol=1e-2)
    zero = torch.zeros(1, 8, 1, 2, 2, requires_grad=True)
    fast(zero).sum().backward()
    assert torch.isfinite(zero.grad).all()
