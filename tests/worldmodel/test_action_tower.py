"""Action tower: shapes, padding, time alignment and the one-way coupling with the video tower."""

import dataclasses

import pytest
import torch

from worldmodel.errors import ModelInputError
from worldmodel.model import WallWM


def _batch(config, views: int, steps: int, batch: int = 2, seed: int = 0):
    generator = torch.Generator().manual_seed(seed)
    frames = config.latent_frames(steps)
    return {
        "latents": torch.randn(batch, views, 4, frames, 4, 4, generator=generator),
        "video_timestep": torch.full((batch, frames), 600.0),
        "actions": torch.randn(batch, steps, config.action_dim, generator=generator),
        "action_timestep": torch.tensor([300.0, 900.0][:batch]),
        "text": torch.randn(batch, 1, 384, generator=generator),
        "state": torch.randn(batch, config.proprio_dim, generator=generator),
    }


@pytest.mark.parametrize(("views", "steps"), [(1, 1), (2, 7), (3, 12), (3, 33)])
def test_joint_forward_shapes(mixed_model, debug_config, views, steps):
    inputs = _batch(debug_config, views, steps)
    with torch.no_grad():
        video, action = mixed_model(**inputs)
    assert video.shape == inputs["latents"].shape
    assert action.shape == (2, steps, debug_config.action_dim)
    assert torch.isfinite(action).all()


def test_changing_actions_leaves_every_video_output_bit_identical(mixed_model, debug_config):
    inputs = _batch(debug_config, 3, 12)
    with torch.no_grad():
        video_a, _ = mixed_model.encode_video(
            inputs["latents"], inputs["video_timestep"], inputs["text"]
        )
        sample_a, action_a = mixed_model(**inputs)
        changed = dict(inputs, actions=inputs["actions"] * -3 + 1, action_timestep=torch.ones(2))
        changed["state"] = inputs["state"] + 5
        sample_b, action_b = mixed_model(**changed)
        video_b, _ = mixed_model.encode_video(
            changed["latents"], changed["video_timestep"], changed["text"]
        )
    assert torch.equal(sample_a, sample_b)
    assert all(torch.equal(a, b) for a, b in zip(video_a.features, video_b.features, strict=True))
    assert not torch.allclose(action_a, action_b)


def test_actions_read_the_video(mixed_model, debug_config):
    inputs = _batch(debug_config, 2, 8)
    with torch.no_grad():
        _, before = mixed_model(**inputs)
        _, after = mixed_model(**dict(inputs, latents=inputs["latents"] + 1.0))
    assert not torch.allclose(before, after)


def test_padding_does_not_leak_into_valid_steps(mixed_model, debug_config):
    inputs = _batch(debug_config, 2, 10)
    valid = torch.ones(2, 10, dtype=torch.bool)
    valid[0, 6:] = False
    with torch.no_grad():
        _, context = mixed_model.encode_video(
            inputs["latents"], inputs["video_timestep"], inputs["text"]
        )
        args = (inputs["action_timestep"], inputs["state"], context)
        base = mixed_model.action(inputs["actions"], *args, valid=valid)
        garbage = inputs["actions"].clone()
        garbage[0, 6:] = 1e3
        after = mixed_model.action(garbage, *args, valid=valid)
    torch.testing.assert_close(base[0, :6], after[0, :6], rtol=0, atol=1e-5)
    assert torch.equal(after[0, 6:], torch.zeros_like(after[0, 6:]))
    assert torch.equal(base[1], after[1])


def test_action_steps_carry_their_latent_frame_index(debug_model, debug_config):
    k_p = debug_config.steps_per_latent_frame
    index = debug_model.action.step_time_index(9, torch.device("cpu"))
    assert k_p == 4
    assert index.tolist() == [1, 1, 1, 1, 2, 2, 2, 2, 3]


def test_bad_action_inputs(debug_model, debug_config):
    inputs = _batch(debug_config, 1, 4)
    with torch.no_grad():
        _, context = debug_model.encode_video(
            inputs["latents"], inputs["video_timestep"], inputs["text"]
        )
        with pytest.raises(ModelInputError, match=r"\(B, T <= 64, 7\)"):
            debug_model.action(torch.zeros(2, 4, 6), torch.ones(2), inputs["state"], context)
        with pytest.raises(ModelInputError, match="state has shape"):
            debug_model.action(inputs["actions"], torch.ones(2), torch.zeros(2, 3), context)
        with pytest.raises(ModelInputError, match="video feature blocks"):
            debug_model.action.video_context([], (1, 2, 2))


def test_bf16_cast_keeps_wan_fp32_modules_and_runs(mixed_model, debug_config):
    model = mixed_model.cast(torch.bfloat16)
    assert model.video.wan.blocks[0].attn1.to_q.weight.dtype == torch.bfloat16
    assert model.video.wan.rope.freqs_cos.dtype == torch.float32
    assert model.video.wan.condition_embedder.time_embedder.linear_1.weight.dtype == torch.float32
    assert model.video.cross_view[0].scale_shift_table.dtype == torch.float32
    assert model.video.camera_rope.camera_phase.dtype == torch.float32
    inputs = _batch(debug_config, 2, 6)
    inputs = {
        k: v.bfloat16() if k in ("latents", "actions", "text", "state") else v
        for k, v in inputs.items()
    }
    with torch.no_grad():
        video, action = model(**inputs)
    assert video.dtype == action.dtype == torch.bfloat16
    assert torch.isfinite(video).all() and torch.isfinite(action).all()


def test_video_longer_than_the_time_index_is_refused(debug_model, debug_config):
    features = [torch.zeros(1, 1, 40 * 4, debug_config.video.dim)] * debug_config.video.num_layers
    with pytest.raises(ModelInputError, match="40 latent frames"):
        debug_model.action.video_context(features, (40, 2, 2))


@pytest.mark.parametrize("spatial_grid", [0, 4])
def test_only_the_spatial_embedding_tells_the_action_tower_where_a_token_lies(
    debug_config, spatial_grid
):
    """Flipping every frame upside down is invisible without the row/column embedding: the keys
    carry time, view and chunk only, so the video cross-attention sees a bag of tokens."""
    config = dataclasses.replace(
        debug_config, action=dataclasses.replace(debug_config.action, spatial_grid=spatial_grid)
    )
    torch.manual_seed(0)
    tower = WallWM(config).action.eval()
    generator = torch.Generator().manual_seed(0)
    grid = (2, 3, 2)  # (F', H', W')
    features = [
        torch.randn(1, 2, 2 * 3 * 2, config.video.dim, generator=generator)
        for _ in range(config.video.num_layers)
    ]
    flipped = [f.unflatten(2, grid).flip(3).flatten(2, 4) for f in features]
    inputs = (
        torch.randn(1, 8, config.action_dim, generator=generator),
        torch.tensor([500.0]),
        torch.randn(1, config.proprio_dim, generator=generator),
    )
    with torch.no_grad():
        upright = tower(*inputs, tower.video_context(features, grid))
        upside_down = tower(*inputs, tower.video_context(flipped, grid))
    difference = (upright - upside_down).abs().max().item()
    if spatial_grid:
        assert difference > 1e-2
    else:
        assert difference < 1e-5


def test_a_grid_larger_than_the_spatial_embedding_is_refused(debug_model, debug_config):
    features = [torch.zeros(1, 1, 5 * 5, debug_config.video.dim)] * debug_config.video.num_layers
    with pytest.raises(ModelInputError, match=r"grid 5x5 is larger .* \(4x4\)"):
        debug_model.action.video_context(features, (1, 5, 5))


@pytest.mark.parametrize("padded", [False, True])
def test_a_prepared_event_gives_the_forward_velocity_at_every_step(
    mixed_model, debug_config, padded
):
    """The sampler prepares an event once and then runs only `velocity`: same numbers."""
    inputs = _batch(debug_config, 3, 10)
    valid = torch.ones(2, 10, dtype=torch.bool)
    valid[0, 7:] = not padded
    with torch.no_grad():
        _, context = mixed_model.encode_video(
            inputs["latents"], inputs["video_timestep"], inputs["text"]
        )
        tower = mixed_model.action
        prepared = tower.prepare(10, inputs["state"], context, valid)
        for timestep in (torch.tensor([900.0, 900.0]), torch.tensor([100.0, 400.0])):
            actions = inputs["actions"] * timestep[:, None, None] / 500
            full = tower(actions, timestep, inputs["state"], context, valid)
            assert torch.equal(tower.velocity(actions, timestep, prepared), full)
        with pytest.raises(ModelInputError, match="the prepared event's"):
            tower.velocity(inputs["actions"][:, :9], timestep, prepared)


def test_one_state_token_skips_the_state_attention_arithmetic_exactly(
    mixed_model, debug_config, count_calls
):
    """One event per row has one state token: softmax over a single key is 1, so the block adds
    its value without the query side, computed once per event, not once per denoising step. An
    all-true mask forces the full attention: same numbers."""
    inputs = _batch(debug_config, 2, 9)
    tower = mixed_model.action
    queries = count_calls(tower.blocks[0].state_attn.to_q)
    outputs = count_calls(tower.blocks[0].state_attn.to_out)
    with torch.no_grad():
        _, context = mixed_model.encode_video(
            inputs["latents"], inputs["video_timestep"], inputs["text"]
        )
        prepared = tower.prepare(9, inputs["state"], context)
        fast = tower.velocity(inputs["actions"], inputs["action_timestep"], prepared)
        tower.velocity(inputs["actions"], inputs["action_timestep"], prepared)
        assert (queries[0], outputs[0]) == (0, 1)
        everything = torch.ones(2, 1, 9, 1, dtype=torch.bool)
        masks = dataclasses.replace(prepared.masks, state=everything)
        full_attention = dataclasses.replace(
            prepared, masks=masks, state_out=[None] * len(tower.blocks)
        )
        full = tower.velocity(inputs["actions"], inputs["action_timestep"], full_attention)
        assert queries[0] == 1
    torch.testing.assert_close(fast, full, rtol=1e-5, atol=1e-6)
