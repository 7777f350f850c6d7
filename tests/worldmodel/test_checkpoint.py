"""Checkpoints: bit-identical round trip, clear errors, and import of a diffusers Wan directory."""

import dataclasses
import json

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from worldmodel.checkpoint import (
    ACTION_FILE,
    CONFIG_FILE,
    VIDEO_FILE,
    NormStats,
    import_wan_transformer,
    load_checkpoint,
    save_checkpoint,
)
from worldmodel.config import get_config
from worldmodel.errors import (
    CheckpointError,
    CheckpointMismatchError,
    ContractError,
    CorruptCheckpointError,
)
from worldmodel.sampling import EventInputs, sample_event
from worldmodel.video_tower import build_wan


def _stats(config) -> NormStats:
    return NormStats(
        action_mean=np.arange(config.action_dim, dtype=np.float32),
        action_std=np.full(config.action_dim, 0.5, np.float32),
        proprio_mean=np.zeros(config.proprio_dim, np.float32),
        proprio_std=np.ones(config.proprio_dim, np.float32),
    )


@pytest.fixture
def saved(tmp_path, mixed_model, debug_config):
    return save_checkpoint(mixed_model, tmp_path / "ckpt", _stats(debug_config))


def test_round_trip_is_bit_identical(saved, mixed_model, debug_config):
    loaded, stats = load_checkpoint(saved)
    original = mixed_model.state_dict()
    assert all(torch.equal(original[k], v) for k, v in loaded.state_dict().items())
    assert np.array_equal(stats.action_mean, _stats(debug_config).action_mean)
    generator = torch.Generator().manual_seed(0)
    inputs = EventInputs(
        torch.randn(1, 3, 4, 1, 4, 4, generator=generator),
        torch.randn(1, 1, 384, generator=generator),
        torch.randn(1, 7, generator=generator),
        steps=6,
    )
    for mode in ("asymmetric", "symmetric"):
        a = sample_event(mixed_model, inputs, mode, torch.Generator().manual_seed(1))
        b = sample_event(loaded, inputs, mode, torch.Generator().manual_seed(1))
        assert torch.equal(a.actions, b.actions) and torch.equal(a.latents, b.latents)


def test_shape_mismatch_names_the_first_tensor(saved):
    config = json.loads((saved / CONFIG_FILE).read_text())
    config["video"]["ffn_dim"] = 48
    (saved / CONFIG_FILE).write_text(json.dumps(config))
    with pytest.raises(
        CheckpointMismatchError, match=r"'wan\.blocks\.0\.ffn\.net\.0\.proj\.weight'"
    ):
        load_checkpoint(saved)


def test_missing_and_unexpected_tensors_are_named(saved):
    state = load_file(str(saved / ACTION_FILE))
    del state["proj_out.bias"]
    save_file(state, str(saved / ACTION_FILE))
    with pytest.raises(CheckpointMismatchError, match=r"'proj_out\.bias' is missing"):
        load_checkpoint(saved)
    state["proj_out.bias"] = torch.zeros(7)
    state["extra.weight"] = torch.zeros(1)
    save_file(state, str(saved / ACTION_FILE))
    with pytest.raises(CheckpointMismatchError, match=r"unexpected tensor 'extra\.weight'"):
        load_checkpoint(saved)


def test_corrupt_files_give_a_clear_error(saved, tmp_path):
    data = (saved / VIDEO_FILE).read_bytes()
    (saved / VIDEO_FILE).write_bytes(data[: len(data) // 2])
    with pytest.raises(CorruptCheckpointError, match="not a readable safetensors file"):
        load_checkpoint(saved)
    (saved / CONFIG_FILE).write_text("{not json")
    with pytest.raises(CorruptCheckpointError, match="not valid JSON"):
        load_checkpoint(saved)
    (saved / CONFIG_FILE).unlink()
    with pytest.raises(CorruptCheckpointError, match="missing"):
        load_checkpoint(saved)
    with pytest.raises(CheckpointError, match="does not exist"):
        load_checkpoint(tmp_path / "nowhere")


def test_bad_normalisation_stats_are_refused(debug_config):
    with pytest.raises(ContractError, match="action_std has a value <= 0"):
        NormStats(np.zeros(7), np.zeros(7), np.zeros(8), np.ones(8))


def test_diffusers_wan_directory_imports_with_identical_outputs(
    tmp_path, debug_model, debug_config
):
    torch.manual_seed(42)
    wan = build_wan(debug_config.video).eval()  # a diffusers WanTransformer3DModel
    wan.save_pretrained(tmp_path / "wan")
    import_wan_transformer(debug_model, tmp_path / "wan")
    generator = torch.Generator().manual_seed(3)
    latents = torch.randn(1, 3, 4, 3, 4, 4, generator=generator)
    text = torch.randn(1, 6, 384, generator=generator)
    timestep = torch.tensor([[0.0, 700.0, 700.0]])
    with torch.no_grad():
        ours = debug_model.video(latents, timestep, text).sample
        reference = wan(
            latents.flatten(0, 1),
            timestep.repeat_interleave(4, dim=1).repeat_interleave(3, dim=0),
            text.repeat_interleave(3, dim=0),
        ).sample
    assert torch.equal(ours.flatten(0, 1), reference)


def test_importing_a_wan_of_another_shape_names_the_difference(tmp_path, debug_model, debug_config):
    other = build_wan(dataclasses.replace(debug_config.video, ffn_dim=48))
    other.save_pretrained(tmp_path / "wan")
    with pytest.raises(CheckpointMismatchError, match="config 'ffn_dim' is 48"):
        import_wan_transformer(debug_model, tmp_path / "wan")
    with pytest.raises(CheckpointError, match="cannot read a diffusers Wan transformer"):
        import_wan_transformer(debug_model, tmp_path / "missing")


def test_checkpoint_folder_finds_names_and_passes_folders_through(tmp_path, monkeypatch):
    from worldmodel.locate import BUNDLED_CHECKPOINT_DIR, CHECKPOINT_PATH_ENV, checkpoint_folder

    assert checkpoint_folder("tiny") == BUNDLED_CHECKPOINT_DIR / "tiny"
    extra = tmp_path / "mine"
    extra.mkdir()
    (extra / "config.json").write_text("{}")
    (extra / "action_tower.safetensors").write_bytes(b"")
    monkeypatch.setenv(CHECKPOINT_PATH_ENV, str(tmp_path))
    assert checkpoint_folder("mine") == extra  # a name found on $WALLWM_CHECKPOINT_PATH
    assert checkpoint_folder(tmp_path / "elsewhere") == tmp_path / "elsewhere"  # left to the loader


def test_the_bundled_tiny_checkpoint_is_what_the_tiny_preset_trains():
    """`wallwm train --preset tiny` builds the shipped model's architecture and settings, so a
    user's own run can replace it (and the model card's recipe is the preset's)."""
    from worldmodel.locate import checkpoint_folder

    model, stats = load_checkpoint(checkpoint_folder("tiny"))
    preset = get_config("tiny")
    # The action sampler's shift came after it (FlowConfig.action_shift); training never reads
    # it, and the checkpoint keeps sampling as it was measured.
    assert model.config.flow.action_shift is None and preset.flow.action_shift == 1.0
    sampled_as_made = dataclasses.replace(preset.flow, action_shift=None)
    assert model.config == dataclasses.replace(preset, flow=sampled_as_made)
    assert stats.action_mean.shape == (model.config.action_dim,)
