"""Shared fixtures of the world-model tests: the `debug` preset, seeded."""

import pytest
import torch

from worldmodel.checkpoint import NormStats, load_checkpoint, save_checkpoint
from worldmodel.config import ModelConfig, get_config, with_marks
from worldmodel.model import WallWM


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """The debug model's matrices are tiny: one thread avoids spin-waiting on a shared machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def debug_config() -> ModelConfig:
    return get_config("debug")


@pytest.fixture
def debug_model(debug_config: ModelConfig) -> WallWM:
    torch.manual_seed(0)
    return WallWM(debug_config).eval()


@pytest.fixture
def mixed_model(debug_model: WallWM) -> WallWM:
    """The debug model with non-zero cross-view outputs, as after some training."""
    generator = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for branch in debug_model.video.cross_view:
            weight = branch.to_out.weight
            weight.copy_(torch.randn(weight.shape, generator=generator) * 0.2)
    return debug_model


@pytest.fixture
def count_calls():
    """Attaches a forward-call counter to a module; the returned one-item list holds the count."""

    def attach(module: torch.nn.Module) -> list[int]:
        calls = [0]
        module.register_forward_hook(lambda *_: calls.__setitem__(0, calls[0] + 1))
        return calls

    return attach


@pytest.fixture
def old_and_pointed(tmp_path, mixed_model):
    """A checkpoint made without target inputs, and the same loaded into a config with them."""
    folder = save_checkpoint(mixed_model, tmp_path / "old", NormStats.identity(7, 7))
    pointed, _ = load_checkpoint(folder, into=with_marks(mixed_model.config))
    return mixed_model, pointed
