"""CUDA graphs of the action steps: replayed predictions equal eager ones, one recording per
event layout; nothing changes on CPU."""

import numpy as np
import pytest
import torch

from benchmarks.bench_model import FixedTextEncoder
from worldmodel.cuda_graphs import GraphCache
from worldmodel.executor import EventModeExecutor
from worldmodel.types import CameraSpec, EventRequest, Observation

needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


def _request(frames: int, seed: int = 0) -> EventRequest:
    rng = np.random.default_rng(seed)
    names = ("front", "left_wrist", "right_wrist")
    specs = tuple(CameraSpec(name, 16, 16) for name in names)
    images = {name: rng.integers(0, 256, (16, 16, 3), dtype=np.uint8) for name in names}
    observation = Observation(specs, images, np.zeros(7, np.float32), 0.0, 0)
    return EventRequest("pick up the red block", observation, frames, seed=seed)


def test_no_graphs_on_cpu():
    executor = EventModeExecutor.from_preset(
        "debug", text_encoder=FixedTextEncoder(384, 1, torch.device("cpu"))
    )
    assert executor.graphs is None


@pytest.mark.gpu
@needs_cuda
def test_a_recording_replays_new_input_values_and_keeps_the_newest():
    cache = GraphCache(capacity=2)

    def affine(x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        return torch.relu(x @ w + 1)

    x, w = torch.randn(4, 8, device="cuda"), torch.randn(8, 3, device="cuda")
    for scale in (1.0, -2.0, 0.5):  # one recording, replayed with other values
        torch.testing.assert_close(cache.run(affine, "a", (x * scale, w)), affine(x * scale, w))
    assert len(cache) == 1
    cache.run(affine, "a", (x[:2], w))  # another layout
    cache.run(affine, "b", (x, w))  # another key
    assert len(cache) == 2  # the capacity: the first recording was dropped
    torch.testing.assert_close(cache.run(affine, "a", (x[:2], w)), affine(x[:2], w))


@pytest.mark.gpu
@needs_cuda
@pytest.mark.parametrize("guidance", [1.0, 3.0])
def test_graphed_predictions_equal_eager_ones(guidance):
    torch.manual_seed(0)
    graphed = EventModeExecutor.from_preset(
        "debug", device="cuda", text_encoder=FixedTextEncoder(384, 1, torch.device("cuda"))
    )
    graphed.guidance = guidance
    eager = EventModeExecutor(
        graphed.model,
        graphed.stats,
        graphed.vae,
        graphed.text_encoder,
        guidance=guidance,
        cuda_graphs=False,
    )
    assert eager.graphs is None and graphed.graphs is not None
    for frames, seed in ((10, 0), (10, 1), (6, 2), (10, 3)):
        request = _request(frames, seed)
        # (bf16: the same kernels give the same numbers, but cuBLAS may pick another
        # algorithm inside a recording; a stale input would be off by the actions' scale, ~1)
        np.testing.assert_allclose(
            graphed.predict(request).actions, eager.predict(request).actions, atol=1e-2
        )
    assert len(graphed.graphs) == 2  # one per event length
