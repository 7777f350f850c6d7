"""The shared training loop: loss falls, resume is exact, Muon/AdamW split, 2-process DDP and
FSDP2 (torchrun, gloo on CPU)."""

import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from tests.torchrun import run_torchrun
from tests.worldmodel.training import fsdp_worker
from worldmodel.errors import TrainingSetupError
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


def test_resume_reads_files_written_with_one_random_state(tmp_path):
    """train_state.pt files from before every rank's random state (and the sharded flag) was kept
    still resume exactly."""
    straight = make_loop(tmp_path / "a", steps=30)
    straight.run()
    make_loop(tmp_path / "b", steps=15, checkpoint_every=15).run()
    path = tmp_path / "b" / "train_state.pt"
    state = torch.load(path, weights_only=True)
    del state["sharded"]
    state["numpy_rng"], state["torch_rng"] = state["numpy_rng"][0], state["torch_rng"][0]
    torch.save(state, path)
    second = make_loop(tmp_path / "b", steps=30)
    assert second.run().resumed_from == 15
    for a, b in zip(straight.model.parameters(), second.model.parameters(), strict=True):
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


def torchrun(worker: str, *args: str) -> None:
    """Run a worker script of this folder in 2 processes, one thread each."""
    done = run_torchrun([str(Path(__file__).with_name(worker)), *args], timeout=240)
    assert done.returncode == 0, done.stderr[-4000:]


def test_parallel_mode_must_be_ddp_or_fsdp():
    with pytest.raises(TrainingSetupError, match="ddp, fsdp"):
        LoopConfig(steps=1, parallel="zero")


def test_two_process_torchrun_keeps_ranks_in_sync(tmp_path):
    torchrun("ddp_worker.py", str(tmp_path))
    ranks = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert ranks[0]["world"] == 2
    assert ranks[0]["wrapper_released"] and ranks[1]["wrapper_released"]
    np.testing.assert_array_equal(ranks[0]["params"], ranks[1]["params"])
    assert ranks[0]["losses"][-1] < 0.1 * ranks[0]["losses"][0]
    assert (tmp_path / "train_state.pt").exists()


def test_fsdp_two_processes_match_one_process_and_resume_exactly(tmp_path):
    torchrun("fsdp_worker.py", "small", str(tmp_path / "fsdp"))
    fsdp_worker.small(tmp_path / "one")  # the same training in this process, unsharded
    ranks = [json.loads((tmp_path / "fsdp" / f"rank{r}.json").read_text()) for r in (0, 1)]
    one = json.loads((tmp_path / "one" / "rank0.json").read_text())
    assert ranks[0]["world"] == 2 and one["world"] == 1
    assert ranks[0]["losses"][-1] < 0.1 * ranks[0]["losses"][0]
    np.testing.assert_allclose(ranks[0]["losses"], one["losses"], rtol=1e-5)
    for name, value in one["params"].items():
        full = np.asarray(ranks[0]["params"][name])
        # Each rank holds its rows of every parameter (the (1, 32) output weight: rank 1 none);
        # together they are the full parameter, the same on both ranks...
        shards = [np.asarray(rank["shards"][name]).reshape(-1, *full.shape[1:]) for rank in ranks]
        assert shards[1].shape[0] < full.shape[0]
        np.testing.assert_array_equal(np.concatenate(shards), full)
        np.testing.assert_array_equal(ranks[1]["params"][name], full)
        # ...and equal to one process trained on both ranks' rows.
        np.testing.assert_allclose(full, value, rtol=1e-5, atol=1e-6)
        # Stopped at step 20 and rerun to 40: resumed, and identical to the straight run.
        np.testing.assert_array_equal(ranks[0]["resumed_params"][name], full)
    assert ranks[0]["resumed_from"] == 20
    # Each rank resumed its own data order.
    for rank in ranks:
        assert rank["data_order"][0] == rank["data_order"][1]
    assert ranks[0]["data_order"][0] != ranks[1]["data_order"][0]
    assert "Muon cannot update FSDP-sharded weights" in ranks[0]["muon_error"]
    assert one["muon_error"] == ""  # one process: nothing is sharded, Muon works

    # The exported EMA: plain tensors of full shape, equal to the unsharded run's EMA.
    ema = torch.load(tmp_path / "fsdp" / "ema.pt", weights_only=True)
    reference = torch.load(tmp_path / "one" / "ema.pt", weights_only=True)
    assert ema.keys() == reference.keys()
    for name, value in ema.items():
        assert type(value) is torch.Tensor and value.shape == reference[name].shape
        torch.testing.assert_close(value, reference[name], rtol=1e-5, atol=1e-6)

    # A sharded run's optimiser state is keyed by parameter name: one process refuses it.
    with pytest.raises(TrainingSetupError, match="sharded"):
        make_loop(tmp_path / "fsdp" / "straight", steps=50).run()


def test_fsdp_trains_each_wallwm_stage_like_one_process(tmp_path):
    """The debug preset's objectives, sharded for two steps: the action stage (video tower
    frozen), the video stage (action tower frozen), the video stage on packed rows and the VAE
    get the gradients of one process computing both ranks' losses, and export plain EMA
    weights."""
    torchrun("fsdp_worker.py", "wallwm", str(tmp_path))
    results = json.loads((tmp_path / "result.json").read_text())
    assert results["action"]["frozen"] > 50 and results["video"]["frozen"] > 50
    for stage, result in results.items():
        assert result["sharded_parameters"] > 100, stage
        np.testing.assert_allclose(result["losses"], result["reference_losses"], rtol=1e-5)
        np.testing.assert_allclose(result["grad_norms"], result["reference_grad_norms"], rtol=1e-5)
        assert result["same_parameters_have_gradients"], stage
        assert result["frozen_with_gradients"] == 0 and result["frozen_unchanged"], stage
        assert result["max_grad_difference"] < 1e-6, stage
        assert result["max_param_difference"] < 5e-5, stage  # Adam steps of 1e-3
        assert result["ema_plain"] and result["max_ema_difference"] < 5e-5, stage
    assert results["vae"]["ema_type"] == "VAEObjective"
    assert results["action"]["ema_type"] == results["video"]["ema_type"] == "FlowObjective"
    assert results["video_packed"]["ema_type"] == "FlowObjective"


def test_batches_reach_the_training_device_with_their_packed_layout():
    from worldmodel.data.packing import PackedLayout
    from worldmodel.flow import TrainingBatch
    from worldmodel.training.loop import to_device

    layout = PackedLayout.from_lengths([[2, 1]], [[4, 2]], 3, 6)
    batch = TrainingBatch(
        torch.zeros(1, 1, 4, 3, 2, 2),
        torch.zeros(1, 2, 1, 8),
        torch.zeros(1, 2, 7),
        torch.zeros(1, 6, 7),
        layout.step_event >= 0,
        packing=layout,
    )
    moved = to_device((batch, [torch.ones(1)]), torch.device("meta"))
    assert moved[0].latents.is_meta and moved[0].valid.is_meta and moved[1][0].is_meta
    assert all(t.is_meta for t in vars(moved[0].packing).values())
    assert moved[0].cross_view_mask is None and not batch.latents.is_meta  # a copy


def test_progress_lines_give_the_recent_rate_and_the_time_left(capsys):
    from worldmodel.training.loop import print_progress

    times = iter([0.0, 200.0, 210.0, 230.0])  # start-up, then 10 steps in 10 s, then 10 in 20 s
    report = print_progress(1000, clock=lambda: next(times))
    for step in (10, 20, 30):
        report(step, {"loss": 0.5})
    lines = capsys.readouterr().err.splitlines()
    assert lines[0].endswith("loss 0.5  (200 s since the stage began)")
    assert lines[1].endswith("(1.00 step/s, 16 min left)")  # 980 steps at 1 step/s
    assert lines[2].endswith("(0.50 step/s, 32 min left)")  # 970 steps at 0.5 step/s


def test_ctrl_c_saves_the_step_and_the_same_run_continues_exactly(tmp_path):
    import signal

    from worldmodel.training.loop import TrainingInterrupted

    straight = make_loop(tmp_path / "a", steps=30)
    straight.run()
    stopped = make_loop(tmp_path / "b", steps=30)
    draw = stopped.batch_fn

    def interrupted_at_step_12(step, rng):
        if step == 12:
            os.kill(os.getpid(), signal.SIGINT)  # as Ctrl-C would, in the middle of a step
        return draw(step, rng)

    stopped.batch_fn = interrupted_at_step_12
    handler = signal.getsignal(signal.SIGINT)
    with pytest.raises(TrainingInterrupted, match="stopped at step 13 of 30"):
        stopped.run()
    assert signal.getsignal(signal.SIGINT) is handler  # restored
    again = make_loop(tmp_path / "b", steps=30)
    assert again.run().resumed_from == 13
    for a, b in zip(straight.model.parameters(), again.model.parameters(), strict=True):
        assert torch.equal(a, b)
