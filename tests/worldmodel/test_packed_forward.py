"""Packed rows compute each event exactly as it is computed alone in its own row (marks too)."""

import dataclasses

import pytest
import torch

from worldmodel.checkpoint import NormStats, load_checkpoint, save_checkpoint
from worldmodel.config import ModelConfig
from worldmodel.data.packing import PackedLayout
from worldmodel.errors import ModelInputError
from worldmodel.flow import TrainingBatch, training_loss
from worldmodel.model import WallWM

FRAMES = [3, 2]  # latent frames of the two events of row 0 (row 1 holds event 1 and padding)
STEPS = [8, 4]  # their action steps


def _events(config: ModelConfig, generator: torch.Generator) -> list[dict[str, torch.Tensor]]:
    h, w = config.latent_size
    events = []
    for frames, steps in zip(FRAMES, STEPS, strict=True):
        events.append(
            {
                "latents": torch.randn(1, config.cameras, 4, frames, h, w, generator=generator),
                "video_t": torch.cat(
                    [torch.zeros(1, 1), 1000 * torch.rand(1, 1).expand(1, frames - 1)], 1
                ),
                "text": torch.randn(1, 5, 384, generator=generator),
                "state": torch.randn(1, config.proprio_dim, generator=generator),
                "actions": torch.randn(1, steps, config.action_dim, generator=generator),
                "action_t": 1000 * torch.rand(1, generator=generator),
            }
        )
    return events


def _pack(config: ModelConfig, events: list[dict[str, torch.Tensor]]):
    """Row 0: event 0 then event 1. Row 1: event 1 alone, then padding."""
    total_f, total_t = sum(FRAMES), sum(STEPS)
    layout = PackedLayout.from_lengths([FRAMES, FRAMES[1:]], [STEPS, STEPS[1:]], total_f, total_t)

    def row(parts: list[torch.Tensor], dim: int, total: int) -> torch.Tensor:
        x = torch.cat(parts, dim)
        pad = list(x.shape)
        pad[dim] = total - x.shape[dim]
        return torch.cat([x, torch.zeros(pad)], dim)

    def both(key: str, dim: int, total: int) -> torch.Tensor:
        return torch.cat(
            [row([e[key] for e in events], dim, total), row([events[1][key]], dim, total)]
        )

    text = torch.stack(
        [
            torch.cat([e["text"] for e in events]),
            torch.cat([events[1]["text"], torch.zeros(1, 5, 384)]),
        ]
    )
    state = torch.stack(
        [
            torch.cat([e["state"] for e in events]),
            torch.cat([events[1]["state"], torch.zeros_like(events[1]["state"])]),
        ]
    )
    action_t = torch.stack(
        [
            torch.cat(
                [events[0]["action_t"].expand(STEPS[0]), events[1]["action_t"].expand(STEPS[1])]
            ),
            torch.cat([events[1]["action_t"].expand(STEPS[1]), torch.zeros(STEPS[0])]),
        ]
    )
    return (
        layout,
        both("latents", 3, total_f),
        both("video_t", 1, total_f),
        text,
        state,
        both("actions", 1, total_t),
        action_t,
    )


def packed_and_alone(model: WallWM, events: list[dict[str, torch.Tensor]]):
    """(video sample, action velocity) of the events packed by `_pack`, and of each alone."""
    layout, latents, video_t, text, state, actions, action_t = _pack(model.config, events)
    with torch.no_grad():
        video = model.video(latents, video_t, text, packing=layout)
        context = model.action.video_context(video.features, video.grid, packing=layout)
        velocity = model.action(actions, action_t, state, context, packing=layout)
        alone = []
        for e in events:
            out, own = model.encode_video(e["latents"], e["video_t"], e["text"])
            alone.append((out.sample, model.action(e["actions"], e["action_t"], e["state"], own)))
    return (video.sample, velocity), alone


def test_packed_forward_matches_each_event_alone(mixed_model: WallWM):
    events = _events(mixed_model.config, torch.Generator().manual_seed(0))
    (sample, velocity), alone = packed_and_alone(mixed_model, events)
    f0, t0 = FRAMES[0], STEPS[0]
    torch.testing.assert_close(sample[:1, :, :, :f0], alone[0][0], atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(sample[:1, :, :, f0:], alone[1][0], atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(sample[1:, :, :, : FRAMES[1]], alone[1][0], atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(velocity[:1, :t0], alone[0][1], atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(velocity[:1, t0:], alone[1][1], atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(velocity[1:, : STEPS[1]], alone[1][1], atol=1e-5, rtol=1e-4)
    assert torch.all(velocity[1:, STEPS[1] :] == 0)  # padding steps come back as zeros


def test_packed_training_loss_trains_both_towers(debug_model: WallWM):
    config = debug_model.config
    events = _events(config, torch.Generator().manual_seed(1))
    layout, latents, _, text, state, actions, _ = _pack(config, events)
    batch = TrainingBatch(latents, text, state, actions, layout.step_event >= 0, packing=layout)
    debug_model.train()
    losses = training_loss(debug_model, batch, torch.Generator().manual_seed(0))
    losses.total.backward()
    assert torch.isfinite(losses.total)
    assert debug_model.action.action_in.weight.grad.abs().sum() > 0
    assert debug_model.video.wan.proj_out.weight.grad.abs().sum() > 0


def test_packed_inputs_with_wrong_shapes_are_refused(debug_model: WallWM):
    config = debug_model.config
    layout, latents, video_t, text, state, actions, action_t = _pack(
        config, _events(config, torch.Generator().manual_seed(2))
    )
    with pytest.raises(ModelInputError, match="packed batch"):
        debug_model.video(latents, video_t, text[:, 0], packing=layout)
    with pytest.raises(ModelInputError, match="packed layout"):
        debug_model.video(latents[:, :, :, :-1], video_t[:, :-1], text, packing=layout)
    with torch.no_grad():
        video = debug_model.video(latents, video_t, text, packing=layout)
        context = debug_model.action.video_context(video.features, video.grid, packing=layout)
    with pytest.raises(ModelInputError, match="packed state"):
        debug_model.action(actions, action_t, state[:, 0], context, packing=layout)


def test_packed_marks_reach_each_event_keyframe_as_they_do_alone(mixed_model: WallWM, tmp_path):
    config = mixed_model.config
    marked_config = dataclasses.replace(
        config, video=dataclasses.replace(config.video, mark_channels=2)
    )
    folder = save_checkpoint(mixed_model, tmp_path / "ckpt", NormStats.identity(7, 7))
    model, _ = load_checkpoint(folder, into=marked_config)
    generator = torch.Generator().manual_seed(3)
    with torch.no_grad():
        model.video.mark_embedding.proj.weight.normal_(0, 0.5, generator=generator)
    events = _events(config, generator)
    h, w = config.latent_size
    marks = [torch.rand(1, config.cameras, 2, h, w, generator=generator) for _ in events]
    layout, latents, video_t, text, *_ = _pack(config, events)
    packed_marks = torch.stack(
        [torch.cat(marks), torch.cat([marks[1], torch.zeros_like(marks[1])])]
    )  # (B, E, V, M, h, w)
    with torch.no_grad():
        video = model.video(latents, video_t, text, packing=layout, marks=packed_marks)
        alone = [
            model.video(e["latents"], e["video_t"], e["text"], marks=m).sample
            for e, m in zip(events, marks, strict=True)
        ]
        unmarked = model.video(events[1]["latents"], events[1]["video_t"], events[1]["text"])
    f0 = FRAMES[0]
    torch.testing.assert_close(video.sample[:1, :, :, :f0], alone[0], atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(video.sample[:1, :, :, f0:], alone[1], atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(video.sample[1:, :, :, : FRAMES[1]], alone[1], atol=1e-5, rtol=1e-4)
    assert (alone[1] - unmarked.sample).abs().max() > 1e-3  # the marks did change the event
