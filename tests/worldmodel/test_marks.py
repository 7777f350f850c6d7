"""Target marks: heatmaps where the targets are, a zero start that changes nothing, and a path
that changes the prediction once trained."""

import dataclasses

import numpy as np
import pytest
import torch

from worldmodel.checkpoint import NormStats, load_checkpoint, save_checkpoint
from worldmodel.config import ModelConfig
from worldmodel.errors import ModelInputError, UnknownPresetError
from worldmodel.executor import EventModeExecutor
from worldmodel.flow import TrainingBatch, training_loss
from worldmodel.marks import render_marks
from worldmodel.model import WallWM
from worldmodel.sampling import EventInputs, sample_event
from worldmodel.types import CameraSpec, EventRequest, EventTarget, Observation
from worldmodel.vae import VideoVAE

NAMES = ("front", "side", "wrist")


def with_marks(config: ModelConfig) -> ModelConfig:
    return dataclasses.replace(config, video=dataclasses.replace(config.video, mark_channels=2))


def inputs(generator: torch.Generator, marks: torch.Tensor | None = None) -> EventInputs:
    return EventInputs(
        torch.randn(1, 3, 4, 1, 4, 4, generator=generator),
        torch.randn(1, 1, 384, generator=generator),
        torch.randn(1, 7, generator=generator),
        steps=6,
        marks=marks,
    )


def sample(model: WallWM, event: EventInputs, mode: str = "asymmetric"):
    return sample_event(model, event, mode, torch.Generator().manual_seed(1))


@pytest.fixture
def old_and_marked(tmp_path, mixed_model):
    """A checkpoint made without marks, and the same loaded into a config with them."""
    folder = save_checkpoint(mixed_model, tmp_path / "old", NormStats.identity(7, 7))
    marked, _ = load_checkpoint(folder, into=with_marks(mixed_model.config))
    return mixed_model, marked


def test_a_mark_peaks_on_its_latent_pixel_in_its_role_channel():
    # latent pixel (row 1, column 2) of a 4 x 8 grid has its centre at (2.5 / 8, 1.5 / 4)
    red = EventTarget("object", "red_block", {"side": (2.5 / 8, 1.5 / 4)})
    bowl = EventTarget("destination", "bowl", {"front": (0.99, 0.01), "wrist": (0.5, 0.5)})
    marks = render_marks([red, bowl], NAMES, (4, 8), sigma=1.0)
    assert marks.shape == (3, 2, 4, 8) and marks.dtype == np.float32
    assert np.unravel_index(marks[1, 0].argmax(), (4, 8)) == (1, 2)
    assert marks[1, 0, 1, 2] == 1.0 and marks[1, 0, 1, 3] == pytest.approx(np.exp(-0.5))
    assert np.unravel_index(marks[0, 1].argmax(), (4, 8)) == (0, 7)
    assert not marks[0, 0].any() and not marks[2, 0].any()  # no object point in those cameras
    assert not render_marks([], NAMES, (4, 8), 1.0).any()


def test_an_old_checkpoint_loads_with_zero_marks_and_predicts_exactly_as_before(old_and_marked):
    old, marked = old_and_marked
    assert old.config.video.mark_channels == 0 and marked.config.video.mark_channels == 2
    assert not marked.video.mark_embedding.proj.weight.any()
    state = marked.state_dict()
    assert all(torch.equal(state[k], v) for k, v in old.state_dict().items())
    generator = torch.Generator().manual_seed(0)
    event = inputs(generator)
    marks = torch.rand(1, 3, 2, 4, 4, generator=generator)
    for mode in ("asymmetric", "symmetric"):
        before = sample(old, event, mode)
        after = sample(marked, dataclasses.replace(event, marks=marks), mode)
        assert torch.equal(before.actions, after.actions)
        assert torch.equal(before.latents, after.latents)


def test_trained_marks_change_the_prediction_and_zero_marks_still_do_not(old_and_marked):
    old, marked = old_and_marked
    with torch.no_grad():
        marked.video.mark_embedding.proj.weight.normal_(0, 0.5)
    generator = torch.Generator().manual_seed(0)
    event = inputs(generator)
    marks = torch.rand(1, 3, 2, 4, 4, generator=generator)
    plain = sample(old, event).actions
    assert (
        sample(marked, dataclasses.replace(event, marks=marks)).actions - plain
    ).abs().max() > 1e-3
    zeros = dataclasses.replace(event, marks=torch.zeros_like(marks))
    assert torch.equal(sample(marked, zeros).actions, plain)
    assert torch.equal(sample(marked, event).actions, plain)  # no marks at all: the same


def test_marks_of_the_wrong_shape_or_for_a_model_without_them_are_refused(old_and_marked):
    old, marked = old_and_marked
    event = inputs(torch.Generator().manual_seed(0))
    with pytest.raises(ModelInputError, match="no mark channels"):
        sample(old, dataclasses.replace(event, marks=torch.zeros(1, 3, 2, 4, 4)))
    with pytest.raises(ModelInputError, match=r"expected \(1, 3, 2, 4, 4\)"):
        sample(marked, dataclasses.replace(event, marks=torch.zeros(1, 3, 1, 4, 4)))
    video = dataclasses.replace(old.config.video, mark_channels=1)
    with pytest.raises(UnknownPresetError, match="mark_channels 1"):
        dataclasses.replace(old.config, video=video)


def test_the_action_stage_trains_the_mark_embedding_through_the_frozen_video_tower(
    old_and_marked,
):
    _, model = old_and_marked
    model.train()
    model.video.requires_grad_(False)
    model.video.mark_embedding.requires_grad_(True)
    generator = torch.Generator().manual_seed(0)
    batch = TrainingBatch(
        latents=torch.randn(2, 3, 4, 3, 4, 4, generator=generator),
        text=torch.randn(2, 1, 384, generator=generator),
        state=torch.randn(2, 7, generator=generator),
        actions=torch.randn(2, 8, 7, generator=generator),
        valid=torch.ones(2, 8, dtype=torch.bool),
        marks=torch.rand(2, 3, 2, 4, 4, generator=generator),
    )
    training_loss(model, batch, generator, train_video=False).total.backward()
    assert model.video.mark_embedding.proj.weight.grad.abs().sum() > 0
    assert model.video.wan.proj_out.weight.grad is None  # the tower itself stays frozen
    assert model.action.action_in.weight.grad.abs().sum() > 0


class ConstantText:
    """A caption encoder without the MiniLM download's start-up: one fixed token."""

    dim = 384

    def encode(self, captions: list[str]) -> torch.Tensor:
        return torch.ones(len(captions), 1, self.dim)


def test_the_executor_draws_the_request_targets_at_their_pixels(old_and_marked, debug_config):
    _, marked = old_and_marked
    torch.manual_seed(0)
    vae = VideoVAE.from_config(debug_config.vae)
    executor = EventModeExecutor(
        marked, NormStats.identity(7, 7), vae, ConstantText(), decode=False
    )
    cameras = tuple(CameraSpec(name, 32, 24) for name in NAMES)
    images = {c.name: np.full(c.image_shape, 90, np.uint8) for c in cameras}
    observation = Observation(cameras, images, np.zeros(7, np.float32), 0.0, 0)
    # latent pixel (row 3, column 0) of the debug model's 4 x 4 latents
    red = EventTarget("object", "red_block", {"wrist": (0.125, 0.875)})
    plate = EventTarget("destination", "plate", {"front": (0.6, 0.4)})
    request = EventRequest("place the red block on the plate", observation, 6, targets=(red, plate))
    marks = executor.marks(request, (4, 4))
    assert marks.shape == (1, 3, 2, 4, 4)
    assert marks[0, 2, 0, 3, 0] == 1.0 and marks[0, 2, 0].argmax() == 12
    assert not marks[0, :2, 0].any() and not marks[0, 1:, 1].any()
    assert marks[0, 0, 1].argmax() == 1 * 4 + 2  # (0.6 x 4, 0.4 x 4) = (2.4, 1.6): row 1, col 2
    without = dataclasses.replace(request, targets=())
    assert not executor.marks(without, (4, 4)).any()
    with torch.no_grad():
        marked.video.mark_embedding.proj.weight.normal_(0, 0.5)
    moved = dataclasses.replace(
        request, targets=(dataclasses.replace(red, points={"wrist": (0.9, 0.1)}),)
    )
    actions = [executor.predict(r).actions for r in (request, moved, without, without)]
    assert np.abs(actions[0] - actions[1]).max() > 1e-4  # the mark moved, the actions moved
    np.testing.assert_array_equal(actions[2], actions[3])
