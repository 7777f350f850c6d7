"""The shared training loop: loss falls, resume is exact, Muon/AdamW split, 2-process DDP."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from worldmodel.training.distributed import init_distributed
from worldmodel.training.loop import LoopConfig, TrainingLoop
from worldmodel.training.optim import build_optimizers, learning_rate_factor, split_parameters

TARGET = torch.tensor([[1.0], [-2.0], [0.5], [3.0]])


def make_loop(out_dir, steps, checkpoint_every=100):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 32), nn.GELU(), nn.Linear(32, 1))

    def batch_fn(step, rng):
        x = torch.from_numpy(rng.normal(size=(16, 4)).astype(np.float32))
        return x, x @ TARGET

    def loss_fn(trained, batch, generator):
        x, y = batch
        noise = torch.randn(y.shape, generator=generator) * 0.01
        return nn.functional.mse_loss(trained(x), y + noise), {"loss_mse": 0.0}

    config = LoopConfig(steps=steps, lr=1e-1, log_every=5, checkpoint_every=checkpoint_every)
    return TrainingLoop(model, loss_fn, batch_fn, config, out_dir, init_distributed("cpu"))


def test_loss_falls_and_files_are_written(tmp_path):
    result = make_loop(tmp_path, steps=80).run()
    assert result.losses[-1] < 0.1 * result.losses[0]
    assert (tmp_path / "train_state.pt").exists() and (tmp_path / "loss.png").stat().st_size > 1000
    lines = (tmp_path / "losses.jsonl").read_text().splitlines()
    assert [json.loads(line)["step"] for line in lines] == list(range(5, 81, 5))


def test_resume_is_bit_identical_to_an_uninterrupted_run(tmp_path):
    straight = make_loop(tmp_path / "a", steps=30)
    straight.run()
    first = make_loop(tmp_path / "b", steps=15, checkpoint_every=15)
    first.run()
    second = make_loop(tmp_path / "b", steps=30)
    result = second.run()
    assert result.resumed_from == 15
    for a, b in zip(straight.model.parameters(), second.model.parameters(), strict=True):
        assert torch.equal(a, b)
    for a, b in zip(straight.ema.parameters(), second.ema.parameters(), strict=True):
        assert torch.equal(a, b)


def test_muon_takes_matrices_and_adamw_the_rest():
    model = nn.Sequential(nn.Embedding(10, 8), nn.Linear(8, 8), nn.LayerNorm(8), nn.Conv1d(8, 8, 3))
    matrices, others = split_parameters(model)
    assert [tuple(p.shape) for p in matrices] == [(8, 8)]
    assert len(others) == 6  # embedding, linear bias, norm weight + bias, conv weight + bias
    optimizers = build_optimizers(model, 1e-3, 0.0)
    assert [type(o).__name__ for o in optimizers] == ["Muon", "AdamW"]


def test_learning_rate_warms_up_then_decays():
    assert learning_rate_factor(0, 100, 10) == pytest.approx(0.1)
    assert learning_rate_factor(9, 100, 10) == pytest.approx(1.0)
    assert learning_rate_factor(100, 100, 10) == pytest.approx(0.1)


def test_non_finite_loss_stops_with_advice(tmp_path):
    loop = make_loop(tmp_path, steps=5)
    loop.loss_fn = lambda trained, batch, generator: (torch.tensor(float("nan")), {})
    with pytest.raises(FloatingPointError, match="learning rate"):
        loop.run()


def test_two_process_torchrun_keeps_ranks_in_sync(tmp_path):
    worker = Path(__file__).with_name("ddp_worker.py")
    env = {**os.environ, "PYTHONPATH": str(Path.cwd()), "OMP_NUM_THREADS": "1"}
    subprocess.run(
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            "--nproc_per_node=2",
            str(worker),
            str(tmp_path),
        ],
        check=True,
        env=env,
        capture_output=True,
        timeout=240,
    )
    ranks = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert ranks[0]["world"] == 2
    np.testing.assert_array_equal(ranks[0]["params"], ranks[1]["params"])
    assert ranks[0]["losses"][-1] < 0.1 * ranks[0]["losses"][0]
    assert (tmp_path / "train_state.pt").exists()
