"""EventModeExecutor: a real EventRequest in, a valid EventPrediction out, from any checkpoint."""

import dataclasses

import numpy as np
import pytest
import torch

from worldmodel.checkpoint import NormStats, save_checkpoint
from worldmodel.errors import ModelInputError, NonFiniteOutputError
from worldmodel.executor import EventModeExecutor
from worldmodel.locate import checkpoint_folder
from worldmodel.types import (
    CameraSpec,
    EventExecutor,
    EventPrediction,
    EventRequest,
    EventTarget,
    Observation,
)

NAMES = ("front", "left_wrist", "right_wrist")


def _request(size: int = 16, cameras=NAMES, frames: int = 10, seed: int = 0) -> EventRequest:
    rng = np.random.default_rng(seed)
    specs = tuple(CameraSpec(name, size, size) for name in cameras)
    images = {name: rng.integers(0, 256, (size, size, 3), dtype=np.uint8) for name in cameras}
    observation = Observation(specs, images, np.zeros(7, np.float32), 0.0, 0)
    return EventRequest("pick up the red block", observation, frames, seed=seed)


@pytest.fixture(scope="module")
def executor():
    return EventModeExecutor.from_preset("debug", seed=0)


def test_predict_returns_actions_and_aligned_latents(executor):
    assert isinstance(executor, EventExecutor)
    prediction = executor.predict(_request())
    assert isinstance(prediction, EventPrediction)
    assert prediction.actions.shape == (10, 7)
    assert set(prediction.latents) == set(NAMES)
    assert all(latent.shape == (4, 4, 4, 4) for latent in prediction.latents.values())
    assert prediction.latent_index.tolist() == [1, 1, 1, 1, 2, 2, 2, 2, 3, 3]
    assert 0 < prediction.time_to_first_action_s <= prediction.total_s
    assert prediction.model == "wallwm-debug"
    assert all(clip.shape == (10, 16, 16, 3) for clip in prediction.frames.values())


def test_frames_come_at_the_camera_resolution_from_any_observation_size(executor):
    prediction = executor.predict(_request(size=40, frames=6))
    assert all(clip.shape == (6, 40, 40, 3) for clip in prediction.frames.values())
    assert all(clip.dtype == np.uint8 for clip in prediction.frames.values())
    latents_only = EventModeExecutor(
        executor.model, executor.stats, executor.vae, executor.text_encoder, decode=False
    ).predict(_request(frames=6))
    assert latents_only.frames is None and latents_only.latents is not None


def test_same_seed_same_prediction(executor):
    first = executor.predict(_request(seed=4))
    again = executor.predict(_request(seed=4))
    other = executor.predict(_request(seed=5))
    assert np.array_equal(first.actions, again.actions)
    assert not np.allclose(first.actions, other.actions)


def test_relative_components_are_added_to_the_observed_pose(executor):
    request = _request()
    request.observation.proprio[:] = [0.1, -0.2, 0.3, 0.4, 0.5, 0.6, 0.7]
    config = executor.model.config
    assert config.relative_action_dims == (0, 1, 2, 5)
    relative = executor.predict(request).actions
    executor.model.config = dataclasses.replace(config, relative_action_dims=())
    try:
        absolute = executor.predict(request).actions
    finally:
        executor.model.config = config
    shift = relative - absolute
    np.testing.assert_allclose(shift[:, :3], np.tile([0.1, -0.2, 0.3], (10, 1)), atol=1e-5)
    np.testing.assert_allclose(shift[:, [3, 4, 6]], 0, atol=1e-6)
    np.testing.assert_allclose(np.abs(shift[:, 5] - 0.6) % (2 * np.pi), 0, atol=1e-5)


def test_symmetric_mode_gives_the_same_contract(executor):
    symmetric = EventModeExecutor(
        executor.model, executor.stats, executor.vae, executor.text_encoder, mode="symmetric"
    )
    assert symmetric.predict(_request(frames=5)).actions.shape == (5, 7)


def test_checkpoint_folder_reproduces_the_model(tmp_path, executor):
    config = executor.model.config
    stats = NormStats(
        np.full(7, 2.0, np.float32), np.full(7, 0.1, np.float32), np.zeros(7), np.ones(7)
    )
    save_checkpoint(executor.model, tmp_path / "ckpt", stats, vae=executor.vae.vae)
    loaded = EventModeExecutor.from_checkpoint(tmp_path / "ckpt")
    prediction = loaded.predict(_request(seed=2))
    reference = EventModeExecutor(
        executor.model,
        NormStats.identity(7, config.proprio_dim),
        executor.vae,
        executor.text_encoder,
    ).predict(_request(seed=2))
    np.testing.assert_allclose(prediction.actions, reference.actions * 0.1 + 2.0, rtol=1e-5)
    assert loaded.name == "wallwm-ckpt"


def test_wrong_observations_are_refused(executor):
    with pytest.raises(ModelInputError, match="2 cameras; model 'debug' expects 3"):
        executor.predict(_request(cameras=NAMES[:2]))
    with pytest.raises(ModelInputError, match="at most 64"):
        executor.predict(_request(frames=65))


def test_nan_weights_are_refused_with_a_clear_error(executor):
    broken = EventModeExecutor.from_preset("debug", seed=0)
    with torch.no_grad():
        broken.model.action.proj_out.bias[0] = float("nan")
    with pytest.raises(NonFiniteOutputError, match="non-finite actions"):
        broken.predict(_request())


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_predict_on_cuda_in_bf16():
    executor = EventModeExecutor.from_preset("tiny", device="cuda")
    assert executor.dtype == torch.bfloat16
    request = _request(size=64, frames=32)
    first = executor.predict(request)
    assert first.actions.shape == (32, 7)
    assert np.array_equal(first.actions, executor.predict(request).actions)


def test_action_temperature_scales_the_initial_action_noise(executor):
    assert executor.action_temperature == 0.0  # the default: the flow from the noise's mode
    mode = executor.predict(_request(seed=4)).actions
    executor.action_temperature = 1.0
    try:
        sampled = executor.predict(_request(seed=4)).actions
    finally:
        executor.action_temperature = 0.0
    assert not np.allclose(mode, sampled)


def test_at_anchor_sigma_1_only_the_keyframes_are_encoded(executor):
    """Below anchor sigma 1 the sampler mixes in the latent of a static chunk; at sigma 1 the
    guess has no weight, so the executor encodes one frame per camera and nothing else."""
    config = executor.model.config
    noise_anchor = dataclasses.replace(config, flow=dataclasses.replace(config.flow, anchor_step=0))
    clips = []

    def encode(clip):
        clips.append(clip.shape)
        return original(clip)

    original = executor.vae.encode
    executor.vae.encode = encode
    try:
        executor.predict(_request(frames=6))
        executor.model.config = noise_anchor
        first = executor.predict(_request(frames=6))
        again = executor.predict(_request(frames=6))
    finally:
        executor.model.config = config
        executor.vae.encode = original
    stride = config.vae.scale_factor_temporal
    assert [shape[2] for shape in clips] == [1 + stride, 1, 1]  # (1, V, frames, H, W, 3)
    assert np.array_equal(first.actions, again.actions) and np.isfinite(first.actions).all()


def test_captions_embedded_ahead_in_one_batch_are_those_embedded_one_by_one(executor, monkeypatch):
    fresh = EventModeExecutor(executor.model, executor.stats, executor.vae, executor.text_encoder)
    captions = ["reach the red block", "grasp the red block", "move the red block to the bowl"]
    alone = {caption: executor.text_encoder.encode([caption]) for caption in captions}
    batches = []
    encode = executor.text_encoder.encode
    monkeypatch.setattr(
        executor.text_encoder, "encode", lambda given: batches.append(given) or encode(given)
    )
    fresh.embed_captions([*captions, captions[0]])
    assert batches == [captions]  # one batch, each caption once
    for caption in captions:
        embedding = fresh.caption_embedding(caption)
        torch.testing.assert_close(embedding, alone[caption], rtol=0, atol=1e-6)
    assert batches == [captions]  # the predictions' captions were ready: nothing encoded again


def test_requests_with_targets_are_accepted_and_do_not_change_a_caption_only_model(executor):
    plain = _request(seed=4)
    target = EventTarget("object", "red_block", {"front": (0.25, 0.75)}, (0.1, 0.0, 0.02))
    grounded = dataclasses.replace(plain, targets=(target,))
    assert np.array_equal(executor.predict(plain).actions, executor.predict(grounded).actions)


def test_a_checkpoint_loaded_in_bfloat16_predicts_what_float32_does():
    """WallWM.cast keeps a few small modules in float32 (as diffusers does), so the inputs must
    follow the towers' dtype, not the first parameter's (bf16 predictions crashed on that)."""
    folder = checkpoint_folder("grounded")
    half = EventModeExecutor.from_checkpoint(folder, dtype=torch.bfloat16)
    full = EventModeExecutor.from_checkpoint(folder)
    assert (half.dtype, full.dtype) == (torch.bfloat16, torch.float32)
    half.decode = full.decode = False
    request = _request(size=64, frames=16)
    difference = np.abs(half.predict(request).actions - full.predict(request).actions)
    assert difference[:, :3].max() < 0.02  # metres: bfloat16's rounding, not another motion
