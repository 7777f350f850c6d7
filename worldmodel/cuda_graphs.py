"""CUDA graphs of a tensor function, one per input layout: for the action denoising loop on a GPU.

On an H200 the wan22-5b action tower's step runs 4.4 ms of kernels in 28 ms of wall time: its
~1,700 small kernels (57 per block) are launched one by one from Python. A CUDA graph records
those launches once and replays them as one, so the GPU no longer waits for the host: the first
action of a 32-step event came 3.2x sooner, the same actions bit for bit (benchmarks/RESULTS.md,
"wan22-5b on cuda").

A graph is recorded for each layout of its inputs (shapes, dtypes, device) and each `key` of the
Python values the function reads (the event length, the guidance weight): everything not in the
tensors is frozen into the recording. Each call copies its inputs into the recorded inputs,
replays, and returns a copy of the recorded output. The graph reads the model's weights where
they lie, so weights changed in place are seen; a model whose parameters are replaced by new
tensors needs a new `GraphCache`. Where recording fails (an operation a graph cannot hold), that
layout runs eagerly from then on, with one warning.
"""

from __future__ import annotations

import warnings
from collections import OrderedDict
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass

import torch

TensorFunction = Callable[..., torch.Tensor]


@dataclass
class _Recording:
    graph: torch.cuda.CUDAGraph
    inputs: tuple[torch.Tensor, ...]
    output: torch.Tensor


class GraphCache:
    """Runs `function(*inputs)` through a recorded CUDA graph per input layout (at most
    `capacity` kept, least recently used dropped: each holds its own memory)."""

    def __init__(self, capacity: int = 16) -> None:
        self.capacity = capacity
        self._recordings: OrderedDict[Hashable, _Recording | None] = OrderedDict()

    def __len__(self) -> int:
        return sum(recording is not None for recording in self._recordings.values())

    def run(
        self, function: TensorFunction, key: Hashable, inputs: Sequence[torch.Tensor]
    ) -> torch.Tensor:
        """`function(*inputs)`, replayed from the recording for (`key`, the inputs' layout); the
        first call of a layout runs it once to warm up and once to record."""
        layout = (key, *((t.shape, t.dtype, t.device) for t in inputs))
        if layout not in self._recordings:
            self._recordings[layout] = self._record(function, inputs)
            while len(self._recordings) > self.capacity:
                self._recordings.popitem(last=False)
        self._recordings.move_to_end(layout)
        recording = self._recordings[layout]
        if recording is None:
            return function(*inputs)
        for recorded, given in zip(recording.inputs, inputs, strict=True):
            recorded.copy_(given)
        recording.graph.replay()
        return recording.output.clone()

    @staticmethod
    def _record(function: TensorFunction, inputs: Sequence[torch.Tensor]) -> _Recording | None:
        recorded_inputs = tuple(t.clone() for t in inputs)
        # Warm up on a side stream (lazy initialisation, library workspaces), as torch's
        # CUDA graph notes ask, then record.
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            function(*recorded_inputs)
        torch.cuda.current_stream().wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        try:
            with torch.cuda.graph(graph):
                output = function(*recorded_inputs)
        except RuntimeError as error:
            warnings.warn(
                f"CUDA graph recording failed ({error}); this layout runs eagerly", stacklevel=3
            )
            return None
        return _Recording(graph, recorded_inputs, output)
