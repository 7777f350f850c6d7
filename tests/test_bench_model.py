"""The model benchmark's parts table runs for a caption of one token (MiniLM) and of many
(umT5's 512 on wan22-5b; its full-attention row once expanded a one-token caption to two)."""

import pytest
import torch

from benchmarks.bench_model import FixedTextEncoder, component_rows, make_request
from worldmodel.executor import EventModeExecutor


@pytest.mark.parametrize("tokens", [1, 6])
def test_every_part_is_timed_for_any_caption_length(tokens):
    text = FixedTextEncoder(384, tokens, torch.device("cpu"))
    executor = EventModeExecutor.from_preset("debug", text_encoder=text)
    rows = component_rows(executor, make_request(executor.model.config, 8, seed=0), repeats=1)
    assert len(rows) == 8
    assert all(float(time.removesuffix(" ms")) > 0 for _, time in rows)
