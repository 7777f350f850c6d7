"""Presets: the registry, the paper's numbers, time alignment and the JSON round trip."""

import dataclasses

import pytest
import torch

from worldmodel.config import PRESETS, ModelConfig, get_config
from worldmodel.errors import UnknownPresetError
from worldmodel.model import WallWM


def test_registry_has_the_presets():
    assert set(PRESETS) == {"debug", "tiny", "tiny-colour", "tiny-colour-wide", "wan22-5b"}
    assert get_config("tiny").name == "tiny"


def test_typo_suggests_the_closest_preset():
    with pytest.raises(UnknownPresetError, match="did you mean 'wan22-5b'"):
        get_config("wan22_5b")


def test_wan22_5b_has_the_paper_shape():
    config = get_config("wan22-5b")  # configuration only: never instantiated on a CPU machine
    video = config.video
    assert (video.dim, video.num_layers, video.num_heads, video.ffn_dim) == (3072, 30, 24, 14336)
    assert video.patch_size == (1, 2, 2) and video.in_channels == config.vae.z_dim == 48
    assert (config.vae.scale_factor_spatial, config.vae.scale_factor_temporal) == (16, 4)
    assert config.flow.shift == 5.0 and config.flow.action_loss_draws == 6
    assert config.flow.ema_decay == 0.9999
    assert config.action_dim == 14  # 7 per arm, two arms


def test_time_alignment_is_derived_from_fps_and_vae_stride():
    config = get_config("tiny")
    assert config.steps_per_latent_frame == 4  # 4x temporal stride at equal fps
    assert config.latent_frames(32) == 9 and config.latent_frames(1) == 2
    twice_as_fast = dataclasses.replace(config, control_fps=20.0)
    assert twice_as_fast.steps_per_latent_frame == 8
    with pytest.raises(UnknownPresetError, match="whole number"):
        _ = dataclasses.replace(config, control_fps=3.0).steps_per_latent_frame


def test_json_round_trip_and_unknown_fields():
    for config in PRESETS.values():
        assert ModelConfig.from_dict(config.to_dict()) == config
    data = get_config("debug").to_dict()
    data["video"]["heads"] = 3
    with pytest.raises(UnknownPresetError, match="heads"):
        ModelConfig.from_dict(data)


def test_inconsistent_latent_channels_are_refused():
    config = get_config("debug")
    with pytest.raises(UnknownPresetError, match="in_channels"):
        dataclasses.replace(config, video=dataclasses.replace(config.video, in_channels=5))


def test_wan22_5b_builds_on_the_meta_device_at_the_paper_size():
    with torch.device("meta"):  # shapes only, no memory
        model = WallWM(get_config("wan22-5b"))
    counts = model.parameter_counts()
    assert 4.9e9 < counts["wan"] < 5.1e9  # Wan2.2-TI2V-5B
    assert len(model.action.blocks) == len(model.video.wan.blocks) == 30
