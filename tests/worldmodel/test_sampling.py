"""Samplers: the asymmetric 1-to-N mapping runs the video tower once; symmetric at every step."""

import dataclasses

import pytest
import torch

from worldmodel.errors import ModelInputError
from worldmodel.sampling import EventInputs, sample_asymmetric, sample_event, sample_symmetric


def _inputs(config, views: int = 3, steps: int = 10, seed: int = 0) -> EventInputs:
    generator = torch.Generator().manual_seed(seed)
    return EventInputs(
        keyframes=torch.randn(1, views, 4, 1, 4, 4, generator=generator),
        text=torch.randn(1, 1, 384, generator=generator),
        state=torch.randn(1, config.proprio_dim, generator=generator),
        steps=steps,
    )


def _count_calls(model):
    """Calls of the video tower, its key/value cache, the action tower's per-event preparation
    and its per-step velocity."""
    calls = {"video": 0, "video_context": 0, "prepare": 0, "action": 0}
    model.video.register_forward_hook(lambda *_: calls.__setitem__("video", calls["video"] + 1))

    def counted(name, method):
        def wrapper(*args, **kwargs):
            calls[name] += 1
            return method(*args, **kwargs)

        return wrapper

    model.action.video_context = counted("video_context", model.action.video_context)
    model.action.prepare = counted("prepare", model.action.prepare)
    model.action.velocity = counted("action", model.action.velocity)
    return calls


def test_asymmetric_runs_the_video_tower_once_per_event(mixed_model, debug_config):
    calls = _count_calls(mixed_model)
    sample = sample_asymmetric(mixed_model, _inputs(debug_config), action_steps=7)
    # one video forward, one key/value computation and one preparation, then 7 action steps
    assert calls == {"video": 1, "video_context": 1, "prepare": 1, "action": 7}
    assert sample.video_calls == 1
    assert sample.actions.shape == (1, 10, debug_config.action_dim)
    assert sample.latents.shape == (1, 3, 4, debug_config.latent_frames(10), 4, 4)


def test_symmetric_runs_both_towers_every_step(mixed_model, debug_config):
    calls = _count_calls(mixed_model)
    sample = sample_symmetric(mixed_model, _inputs(debug_config), steps=4)
    assert calls == {"video": 4, "video_context": 4, "prepare": 4, "action": 4}
    assert sample.video_calls == 4


@pytest.mark.parametrize("mode", ["asymmetric", "symmetric"])
@pytest.mark.parametrize(("views", "steps"), [(1, 3), (3, 9)])
def test_keyframe_is_kept_and_seed_decides(mixed_model, debug_config, mode, views, steps):
    inputs = _inputs(debug_config, views, steps)
    first = sample_event(mixed_model, inputs, mode, torch.Generator().manual_seed(5))
    again = sample_event(mixed_model, inputs, mode, torch.Generator().manual_seed(5))
    other = sample_event(mixed_model, inputs, mode, torch.Generator().manual_seed(6))
    assert torch.equal(first.actions, again.actions) and torch.equal(first.latents, again.latents)
    assert not torch.allclose(first.actions, other.actions)
    assert torch.equal(first.latents[:, :, :, :1], inputs.keyframes)
    assert torch.isfinite(first.actions).all() and torch.isfinite(first.latents).all()


def test_bad_requests(debug_model, debug_config):
    with pytest.raises(ModelInputError, match="unknown sampling mode"):
        sample_event(debug_model, _inputs(debug_config), "fast")
    with pytest.raises(ModelInputError, match=r"expected 1\.\.64"):
        sample_event(debug_model, _inputs(debug_config, steps=65))
    bad = _inputs(debug_config)
    bad.keyframes = bad.keyframes.expand(-1, -1, -1, 2, -1, -1)
    with pytest.raises(ModelInputError, match=r"\(B, V, 4, 1, h, w\)"):
        sample_event(debug_model, bad)


@pytest.mark.parametrize("mode", ["asymmetric", "symmetric"])
def test_training_masks_are_off_at_inference(mixed_model, debug_config, mode):
    masks = []

    def record_mask(_module, args, kwargs):
        masks.append(kwargs.get("cross_view_mask"))

    mixed_model.video.register_forward_pre_hook(record_mask, with_kwargs=True)
    sample_event(mixed_model, _inputs(debug_config, steps=4), mode)
    assert masks and all(mask is None for mask in masks)


def _sample(model, inputs, mode, **changes):
    changed = dataclasses.replace(inputs, **changes)
    return sample_event(model, changed, mode, torch.Generator().manual_seed(3))


@pytest.mark.parametrize("mode", ["asymmetric", "symmetric"])
def test_guidance_zero_samples_the_blank_caption(mixed_model, debug_config, mode):
    inputs = _inputs(debug_config)
    blank = _sample(mixed_model, inputs, mode, text=torch.zeros_like(inputs.text))
    unguided = _sample(mixed_model, inputs, mode, guidance=0.0)
    assert torch.allclose(unguided.actions, blank.actions, atol=1e-5)
    assert torch.allclose(unguided.latents, blank.latents, atol=1e-5)
    # and the caption does matter to this model, so the test can tell the two apart
    plain = _sample(mixed_model, inputs, mode)
    assert not torch.allclose(plain.actions, blank.actions, atol=1e-3)


def test_guidance_extrapolates_the_video_from_the_blank_caption_through_the_caption(
    mixed_model, debug_config
):
    inputs = _inputs(debug_config)
    latents = {w: _sample(mixed_model, inputs, "asymmetric", guidance=w).latents for w in (0, 1, 3)}
    # One video forward: the predicted latents are linear in the scale.
    assert torch.allclose(latents[3] - latents[1], 2 * (latents[1] - latents[0]), atol=1e-4)
    assert (latents[1] - latents[0]).abs().max() > 1e-3


@pytest.mark.parametrize(
    ("action_shift", "levels"),
    [(None, [1.0, 0.9375, 0.8333, 0.625]), (1.0, [1.0, 0.75, 0.5, 0.25])],
)
def test_the_action_sampler_runs_its_own_shift(mixed_model, debug_config, action_shift, levels):
    """The action steps follow `flow.action_shift` (None: the video's `shift`, 5 here): at 1,
    evenly spaced noise levels instead of three of four at sigma >= 0.83."""
    flow = dataclasses.replace(debug_config.flow, shift=5.0, action_shift=action_shift)
    mixed_model.config = dataclasses.replace(mixed_model.config, flow=flow)
    seen = []
    velocity = mixed_model.action.velocity

    def recording(actions, timestep, prepared):
        seen.append(round(float(timestep.flatten()[0]) / flow.num_train_timesteps, 4))
        return velocity(actions, timestep, prepared)

    mixed_model.action.velocity = recording
    sample_asymmetric(mixed_model, _inputs(debug_config), action_steps=4)
    assert seen == levels
