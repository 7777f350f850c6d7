"""Run by test_loop.py, under torchrun (2 processes) or alone: training with FSDP2 (gloo, CPU).

`small OUT`: a residual MLP whose blocks sit in an nn.ModuleList (so sharding splits it into
units), trained on a global batch of 16 rows per step that the ranks split evenly: the sharded
run must match one process on the whole batch. 40 steps straight into OUT/straight; 20 steps, then
a rerun to 40 that resumes, into OUT/resumed. Writes OUT/rank{r}.json and OUT/ema.pt.

`wallwm OUT`: the debug preset's three stage objectives (the action stage with the video tower
frozen, the video stage with the action tower frozen, the same on packed rows, the VAE), each
sharded for two steps with
each rank on half of a random batch, and trained again unsharded on rank 0 with the mean of both
halves' losses, which is what the sharded run computes. Rank 0 writes OUT/result.json comparing
the two.
"""

import copy
import dataclasses
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.distributed.tensor import DTensor

from worldmodel.config import ModelConfig, get_config
from worldmodel.data.packing import PackedLayout
from worldmodel.errors import TrainingSetupError
from worldmodel.flow import TrainingBatch
from worldmodel.model import WallWM
from worldmodel.training.distributed import DistributedContext, init_distributed, shutdown
from worldmodel.training.loop import LoopConfig, TrainingLoop
from worldmodel.training.stages import FlowObjective, flow_loss
from worldmodel.training.vae_objective import VAEObjective, vae_loss
from worldmodel.vae import build_vae

TARGET = torch.tensor([[1.0], [-2.0], [0.5], [3.0]])
GLOBAL_BATCH = 16


class Residual(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.inp = nn.Linear(4, 32)
        self.blocks = nn.ModuleList(
            nn.Sequential(nn.LayerNorm(32), nn.Linear(32, 32), nn.GELU()) for _ in range(2)
        )
        self.out = nn.Linear(32, 1)  # a (1, 32) weight: one rank's shard of it is empty

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.inp(x)
        for block in self.blocks:
            x = x + block(x)
        return self.out(x)


def full(tensor: torch.Tensor) -> torch.Tensor:
    """The whole tensor, gathered from every rank's shard under FSDP."""
    return tensor.full_tensor() if isinstance(tensor, DTensor) else tensor


def small(out: Path) -> None:
    context = init_distributed("cpu")
    rows = GLOBAL_BATCH // context.world_size

    def batch_fn(step: int, rng: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        # The same global batch in any world size; each rank takes its rows, in an order drawn
        # from its own generator (the mean loss does not depend on it; a resume must restore it).
        x = np.random.default_rng([1, step]).normal(size=(GLOBAL_BATCH, 4)).astype(np.float32)
        mine = x[context.rank * rows : (context.rank + 1) * rows][rng.permutation(rows)]
        return torch.from_numpy(mine), torch.from_numpy(mine) @ TARGET

    def loss_fn(trained, batch, generator):
        x, y = batch
        return nn.functional.mse_loss(trained(x), y), {}

    def loop(folder: str, steps: int, muon: bool = False) -> TrainingLoop:
        torch.manual_seed(0)
        config = LoopConfig(
            steps=steps,
            lr=1e-2,
            warmup_steps=20,  # the resumed run stops at 20: no cosine before it
            ema_decay=0.9,
            log_every=10,
            checkpoint_every=20,
            muon=muon,
            parallel="fsdp",
        )
        return TrainingLoop(Residual(), loss_fn, batch_fn, config, out / folder, context)

    straight = loop("straight", 40)
    losses = straight.run().losses
    params = {name: full(p.detach()) for name, p in straight.model.named_parameters()}
    shards = {
        name: (p.to_local() if isinstance(p, DTensor) else p).detach()
        for name, p in straight.model.named_parameters()
    }
    ema = straight.ema_model()
    if ema is not None:
        torch.save(ema.state_dict(), out / "ema.pt")

    loop("resumed", 20).run()
    resumed = loop("resumed", 40)
    resumed_from = resumed.run().resumed_from
    resumed_params = {name: full(p.detach()) for name, p in resumed.model.named_parameters()}

    try:
        loop("muon", 1, muon=True)
        muon_error = ""
    except TrainingSetupError as error:
        muon_error = str(error)

    result = {
        "world": context.world_size,
        "losses": losses,
        "params": {name: value.tolist() for name, value in params.items()},
        "shards": {name: value.tolist() for name, value in shards.items()},
        "resumed_from": resumed_from,
        "data_order": [straight.rng.bit_generator.state, resumed.rng.bit_generator.state],
        "resumed_params": {name: value.tolist() for name, value in resumed_params.items()},
        "muon_error": muon_error,
    }
    (out / f"rank{context.rank}.json").write_text(json.dumps(result))
    shutdown(context)


def event_halves(config: ModelConfig) -> Callable[[int], list[TrainingBatch]]:
    """Per step, a random batch of two events (8 control steps, 3 views) as two one-event
    batches: one per rank."""

    def halves(step: int) -> list[TrainingBatch]:
        generator = torch.Generator().manual_seed(100 + step)
        frames, steps = config.latent_frames(8), 8
        return [
            TrainingBatch(
                latents=torch.randn(1, 3, 4, frames, 4, 4, generator=generator),
                text=torch.randn(1, 1, 384, generator=generator),
                state=torch.randn(1, config.proprio_dim, generator=generator),
                actions=torch.randn(1, steps, config.action_dim, generator=generator),
                valid=torch.ones(1, steps, dtype=torch.bool),
            )
            for _ in range(2)
        ]

    return halves


def packed_halves(config: ModelConfig) -> Callable[[int], list[TrainingBatch]]:
    """Per step, two packed rows (events of 8 and 4 control steps one after the other): one per
    rank. The video tower's masked blocks must gather their sharded weights too."""
    steps = [8, 4]
    frames = [config.latent_frames(n) for n in steps]
    layout = PackedLayout.from_lengths([frames], [steps], sum(frames), sum(steps))

    def halves(step: int) -> list[TrainingBatch]:
        generator = torch.Generator().manual_seed(300 + step)
        return [
            TrainingBatch(
                latents=torch.randn(1, 3, 4, sum(frames), 4, 4, generator=generator),
                text=torch.randn(1, 2, 1, 384, generator=generator),
                state=torch.randn(1, 2, config.proprio_dim, generator=generator),
                actions=torch.randn(1, sum(steps), config.action_dim, generator=generator),
                valid=torch.ones(1, sum(steps), dtype=torch.bool),
                packing=layout,
            )
            for _ in range(2)
        ]

    return halves


def clip_halves(step: int) -> list[torch.Tensor]:
    """Per step, two random 5-frame 16x16 clips in [-1, 1] for the VAE: one per rank."""
    generator = torch.Generator().manual_seed(200 + step)
    return [torch.rand(1, 3, 5, 16, 16, generator=generator) * 2 - 1 for _ in range(2)]


def compare(
    objective: nn.Module,
    loss_fn: Callable[..., tuple[torch.Tensor, dict[str, float]]],
    halves: Callable[[int], list[Any]],
    out: Path,
    context: DistributedContext,
) -> dict[str, Any] | None:
    """Two sharded steps, each rank on its half; on rank 0 the same steps unsharded with the mean
    of both halves' losses (each half with the noise generator of the rank that trained on it:
    the loop seeds rank r's with seed * 1000 + r). Returns rank 0's comparison."""
    reference = copy.deepcopy(objective)
    before = {name: p.clone() for name, p in objective.named_parameters()}
    frozen = {name for name, p in objective.named_parameters() if not p.requires_grad}
    config = LoopConfig(steps=2, lr=1e-3, warmup_steps=1, log_every=1, checkpoint_every=2)
    sharded = TrainingLoop(
        objective,
        loss_fn,
        lambda step, rng: halves(step)[context.rank],
        dataclasses.replace(config, muon=False, parallel="fsdp"),
        out / "fsdp",
        context,
    )
    sharded.run()
    grads = {n: full(p.grad) for n, p in sharded.model.named_parameters() if p.grad is not None}
    params = {n: full(p.detach()) for n, p in sharded.model.named_parameters()}
    ema = sharded.ema_model()
    if ema is None:
        return None
    generators = [torch.Generator().manual_seed(rank) for rank in range(2)]

    def reference_loss(trained, pair, generator):
        losses = [loss_fn(trained, half, g)[0] for half, g in zip(pair, generators, strict=True)]
        return torch.stack(losses).mean(), {}

    one = DistributedContext(rank=0, world_size=1, local_rank=0, device=torch.device("cpu"))
    config = dataclasses.replace(config, muon=False)
    plain = TrainingLoop(
        reference, reference_loss, lambda step, rng: halves(step), config, out / "one", one
    )
    plain.run()
    plain_params = dict(plain.model.named_parameters())
    plain_grads = {n: p.grad for n, p in plain_params.items() if p.grad is not None}
    ema_state = ema.state_dict()
    return {
        "sharded_parameters": sum(isinstance(p, DTensor) for p in sharded.model.parameters()),
        "losses": [entry["loss"] for entry in sharded.history],
        "reference_losses": [entry["loss"] for entry in plain.history],
        "grad_norms": [entry["grad_norm"] for entry in sharded.history],
        "reference_grad_norms": [entry["grad_norm"] for entry in plain.history],
        "same_parameters_have_gradients": sorted(grads) == sorted(plain_grads),
        "frozen": len(frozen),
        "frozen_with_gradients": len(frozen & set(grads)),
        "frozen_unchanged": all(torch.equal(params[n], before[n]) for n in frozen),
        "max_grad_difference": max(
            float((grads[n] - plain_grads[n]).abs().max()) for n in plain_grads
        ),
        # Adam divides by the gradient's RMS, so parameters whose gradient is rounding noise
        # (the state attention's q/k: softmax over one key is constant) take noise-sized steps
        # that differ: compare those with a real gradient.
        "max_param_difference": max(
            float((params[n] - plain_params[n].detach()).abs().max())
            for n, grad in plain_grads.items()
            if grad.abs().max() > 1e-6
        ),
        "ema_plain": all(type(t) is torch.Tensor for t in ema_state.values()),
        "ema_type": type(ema).__name__,
        "max_ema_difference": max(
            float((ema_state[n] - p).abs().max()) for n, p in plain.ema.module.state_dict().items()
        ),
    }


def wallwm(out: Path) -> None:
    """The three stages' objectives of the debug preset, each compared with one process."""
    context = init_distributed("cpu")
    config = get_config("debug")
    torch.manual_seed(0)
    video_stage = WallWM(config).train()
    video_stage.action.requires_grad_(False)
    action_stage = copy.deepcopy(video_stage).requires_grad_(True)
    action_stage.video.requires_grad_(False)
    packed_stage = copy.deepcopy(video_stage)  # copied before the loops shard any of them
    vae = VAEObjective(build_vae(config.vae), kl_weight=1e-6)
    results = {
        "action": compare(
            FlowObjective(action_stage, "action"),
            flow_loss,
            event_halves(config),
            out / "action",
            context,
        ),
        "video": compare(
            FlowObjective(video_stage, "video"),
            flow_loss,
            event_halves(config),
            out / "video",
            context,
        ),
        "video_packed": compare(
            FlowObjective(packed_stage, "video"),
            flow_loss,
            packed_halves(config),
            out / "video_packed",
            context,
        ),
        "vae": compare(vae, vae_loss, clip_halves, out / "vae", context),
    }
    if context.is_main:
        (out / "result.json").write_text(json.dumps(results))
    shutdown(context)


if __name__ == "__main__":
    {"small": small, "wallwm": wallwm}[sys.argv[1]](Path(sys.argv[2]))
