"""Video tower: equals plain Wan at initialisation, mixes views after training, checks inputs."""

import pytest
import torch
from diffusers.models.transformers.transformer_wan import WanAttnProcessor

from worldmodel.errors import ModelInputError
from worldmodel.video_tower import SelfAttentionProcessor, apply_rotary, rotation


def _inputs(views: int, frames: int = 3, batch: int = 2, seed: int = 0):
    generator = torch.Generator().manual_seed(seed)
    latents = torch.randn(batch, views, 4, frames, 4, 4, generator=generator)
    text = torch.randn(batch, 5, 384, generator=generator)
    return latents, text


@pytest.mark.parametrize("views", [1, 2, 3])
def test_cross_view_branch_leaves_wan_unchanged_at_init(debug_model, views):
    latents, text = _inputs(views)
    wan = debug_model.video.wan
    with torch.no_grad():
        # one timestep per sample
        timestep = torch.tensor([250.0, 800.0])
        out = debug_model.video(latents, timestep, text)
        reference = wan(
            latents.flatten(0, 1),
            timestep.repeat_interleave(views),
            text.repeat_interleave(views, dim=0),
        ).sample
        assert torch.equal(out.sample.flatten(0, 1), reference)
        # one timestep per latent frame (keyframe at 0), as Wan2.2 TI2V uses per-token timesteps
        per_frame = torch.tensor([[0.0, 400.0, 400.0], [0.0, 900.0, 900.0]])
        out = debug_model.video(latents, per_frame, text)
        per_token = per_frame.repeat_interleave(4, dim=1).repeat_interleave(views, dim=0)
        reference = wan(latents.flatten(0, 1), per_token, text.repeat_interleave(views, 0)).sample
        assert torch.equal(out.sample.flatten(0, 1), reference)


@pytest.mark.parametrize("views", [1, 2, 3])
def test_shapes_and_block_features(debug_model, debug_config, views):
    latents, text = _inputs(views, frames=5)
    with torch.no_grad():
        out = debug_model.video(latents, torch.tensor([500.0, 500.0]), text)
    assert out.sample.shape == latents.shape
    assert out.grid == (5, 2, 2)
    assert len(out.features) == debug_config.video.num_layers
    assert all(f.shape == (2, views, 20, debug_config.video.dim) for f in out.features)


def test_views_meet_only_through_the_cross_view_branch(mixed_model):
    latents, text = _inputs(2)
    timestep = torch.tensor([500.0, 500.0])
    changed = latents.clone()
    changed[:, 1] += 1.0  # change view 1 only
    with torch.no_grad():
        base = mixed_model.video(latents, timestep, text).sample
        after = mixed_model.video(changed, timestep, text).sample
        assert not torch.allclose(base[:, 0], after[:, 0])  # view 0 now reads view 1
        # the sight-cone style mask forbids every cross-view pair: view 0 is deaf to view 1
        mask = torch.zeros(2, 8, 8, dtype=torch.bool)
        mask[:, :4, :4] = mask[:, 4:, 4:] = True
        base = mixed_model.video(latents, timestep, text, cross_view_mask=mask).sample
        after = mixed_model.video(changed, timestep, text, cross_view_mask=mask).sample
    torch.testing.assert_close(base[:, 0], after[:, 0], rtol=0, atol=1e-6)


def test_camera_rope_view_phases_are_learnable_and_used(mixed_model):
    latents, text = _inputs(2)
    timestep = torch.tensor([500.0, 500.0])
    rope = mixed_model.video.camera_rope
    assert rope.camera_phase.requires_grad
    with torch.no_grad():
        before = mixed_model.video(latents, timestep, text).sample
        rope.camera_phase[1] += 0.7
        after = mixed_model.video(latents, timestep, text).sample
    assert not torch.allclose(before, after)


def test_bad_inputs_name_the_expected_shape(debug_model):
    latents, text = _inputs(2)
    with pytest.raises(ModelInputError, match=r"\(B, V, 4, F, H, W\)"):
        debug_model.video(latents[:, :, :3], torch.tensor([1.0, 1.0]), text)
    with pytest.raises(ModelInputError, match="one per latent frame"):
        debug_model.video(latents, torch.ones(2, 7), text)
    with pytest.raises(ModelInputError, match="5 views"):
        debug_model.video(torch.randn(1, 5, 4, 1, 4, 4), torch.ones(1), text[:1])
    with pytest.raises(ModelInputError, match="not a multiple of patch"):
        debug_model.video(torch.randn(1, 1, 4, 1, 3, 4), torch.ones(1), text[:1])
    with pytest.raises(ModelInputError, match=r"cross-view mask has shape \(2, 4, 4\)"):
        debug_model.video(latents, torch.ones(2), text, cross_view_mask=torch.ones(2, 4, 4) > 0)


@pytest.mark.parametrize("caption_tokens", [1, 5])
def test_a_one_token_caption_skips_the_text_attention_arithmetic_exactly(
    debug_model, count_calls, caption_tokens
):
    """MiniLM captions are one token: softmax over a single key is 1, so the tower adds that
    token's value without running the query side, and still computes what Wan computes."""
    latents, _ = _inputs(2)
    text = torch.randn(2, caption_tokens, 384, generator=torch.Generator().manual_seed(3))
    wan = debug_model.video.wan
    queries = count_calls(wan.blocks[0].attn2.to_q)
    per_frame = torch.tensor([[0.0, 400.0, 400.0], [0.0, 900.0, 900.0]])
    with torch.no_grad():
        out = debug_model.video(latents, per_frame, text)
        tower_queries = queries[0]
        per_token = per_frame.repeat_interleave(4, dim=1).repeat_interleave(2, dim=0)
        reference = wan(latents.flatten(0, 1), per_token, text.repeat_interleave(2, 0)).sample
    assert tower_queries == (0 if caption_tokens == 1 else 1)
    torch.testing.assert_close(out.sample.flatten(0, 1), reference, rtol=1e-5, atol=1e-6)


def test_rotary_turns_each_channel_pair_by_its_angle():
    """apply_rotary (one complex product per pair) against the rotation written out: pair
    (x1, x2) at angle a becomes (x1 cos a - x2 sin a, x1 sin a + x2 cos a), angles repeated per
    pair as the rotary banks lay them out; gradients pass through."""
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(2, 7, 4, 8, generator=generator, requires_grad=True)
    angles = torch.rand(7, 1, 4, generator=generator) * 6.3
    cos, sin = (f(angles).repeat_interleave(2, dim=-1) for f in (torch.cos, torch.sin))
    x1, x2 = x.detach()[..., 0::2], x.detach()[..., 1::2]
    expected = torch.stack(
        (x1 * angles.cos() - x2 * angles.sin(), x1 * angles.sin() + x2 * angles.cos()), -1
    ).flatten(-2)
    rotated = apply_rotary(x, rotation(cos, sin))
    torch.testing.assert_close(rotated, expected, rtol=0, atol=1e-6)
    rotated.square().sum().backward()  # a rotation keeps lengths: d|Rx|^2/dx = 2x
    torch.testing.assert_close(x.grad, 2 * x.detach(), rtol=1e-5, atol=1e-5)


def test_self_attention_processor_matches_wans_own(debug_model):
    """The blocks' self-attention processor (our rotary) gives Wan's processor's numbers."""
    attn = debug_model.video.wan.blocks[0].attn1
    generator = torch.Generator().manual_seed(0)
    hidden = torch.randn(2, 12, attn.to_q.in_features, generator=generator)
    angles = torch.rand(1, 12, 1, attn.to_q.out_features // attn.heads // 2, generator=generator)
    rotary = tuple(f(angles).repeat_interleave(2, dim=-1) for f in (torch.cos, torch.sin))
    with torch.no_grad():
        ours = attn.processor(attn, hidden, rotary_emb=rotation(*rotary))
        wans = WanAttnProcessor()(attn, hidden, rotary_emb=rotary)
    assert isinstance(attn.processor, SelfAttentionProcessor)
    torch.testing.assert_close(ours, wans, rtol=0, atol=1e-6)
