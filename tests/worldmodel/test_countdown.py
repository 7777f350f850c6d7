"""The action tower's countdown: an embedding of the steps left to the event's end, zero at the
start (an old checkpoint predicts as before, tested with the other new inputs in
test_target_points), trained by the action loss, and what tells a step how far its event's end
is."""

import pytest
import torch

from worldmodel.checkpoint import NormStats, load_checkpoint, save_checkpoint
from worldmodel.config import with_marks
from worldmodel.data.packing import PackedLayout, steps_to_end
from worldmodel.flow import TrainingBatch, training_loss
from worldmodel.sampling import EventInputs, sample_event


def test_steps_to_end_counts_down_to_zero_in_every_event_and_padding_gets_zero():
    local = torch.arange(5)[None]
    assert steps_to_end(local, None).tolist() == [[4, 3, 2, 1, 0]]
    padded = torch.tensor([[0, 0, 0, -1, -1]])
    assert steps_to_end(local, padded).tolist() == [[2, 1, 0, 0, 0]]
    layout = PackedLayout.from_lengths([[1, 1]], [[3, 2]], total_frames=2, total_steps=6)
    packed = steps_to_end(layout.step_local, layout.step_event)
    assert packed.tolist() == [[2, 1, 0, 1, 0, 0]]


@pytest.fixture
def counting(tmp_path, mixed_model):
    """The mixed model loaded into a config with the countdown (zero), then given random
    countdown weights as if trained."""
    folder = save_checkpoint(mixed_model, tmp_path / "old", NormStats.identity(7, 7))
    model, _ = load_checkpoint(folder, into=with_marks(mixed_model.config))
    assert model.config.action.countdown and not model.action.step_countdown.weight.any()
    return model


def test_the_action_loss_trains_the_countdown(counting):
    counting.train()
    generator = torch.Generator().manual_seed(0)
    valid = torch.ones(2, 8, dtype=torch.bool)
    valid[1, 5:] = False  # the second event is 5 steps long
    batch = TrainingBatch(
        latents=torch.randn(2, 3, 4, 3, 4, 4, generator=generator),
        text=torch.randn(2, 1, 384, generator=generator),
        state=torch.randn(2, counting.action.state_width, generator=generator),
        actions=torch.randn(2, 8, 7, generator=generator),
        valid=valid,
        marks=torch.rand(2, 3, 2, 4, 4, generator=generator),
    )
    training_loss(counting, batch, generator, train_video=False).total.backward()
    trained = counting.action.step_countdown.weight.grad.abs().sum(dim=1) > 0
    assert trained[:8].all() and not trained[8:].any()  # 0..7 steps left occur, no more


def test_a_trained_countdown_makes_the_first_steps_depend_on_the_event_length(counting):
    generator = torch.Generator().manual_seed(0)
    keyframes = torch.randn(1, 3, 4, 1, 4, 4, generator=generator)
    text = torch.randn(1, 1, 384, generator=generator)
    state = torch.randn(1, counting.action.state_width, generator=generator)

    def first_steps(steps: int) -> torch.Tensor:
        inputs = EventInputs(keyframes, text, state, steps=steps)
        return sample_event(counting, inputs, "asymmetric", torch.Generator().manual_seed(1))

    # Zero countdown: lengths 4 and 8 share the video's first latent frames, so only what the
    # tower makes of the length itself could tell them apart; trained, the steps left do.
    short, long = first_steps(4).actions, first_steps(8).actions
    before = (short - long[:, :4]).abs().max()
    with torch.no_grad():
        counting.action.step_countdown.weight.normal_(0, 1.0)
    short, long = first_steps(4).actions, first_steps(8).actions
    assert (short - long[:, :4]).abs().max() > before + 0.05
