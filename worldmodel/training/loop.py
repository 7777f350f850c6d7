"""The training loop every stage shares: optimise, clip, EMA, log, checkpoint, resume.

A stage supplies the model, a loss function and a batch source; the loop owns everything else.
Under torchrun the model is wrapped in DistributedDataParallel and each rank draws its own
batches from a rank-specific seed; only rank 0 writes files.

State on disk (out_dir):
  train_state.pt   model, EMA, optimisers, step, random state: written atomically, resumed from
  losses.jsonl     one line per logged step
  loss.png         the loss curve, redrawn at every checkpoint
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from worldmodel.training.distributed import DistributedContext, mean_across_ranks
from worldmodel.training.optim import build_optimizers, learning_rate_factor

log = logging.getLogger(__name__)

# loss_fn(model, batch, generator) -> (scalar loss, metrics to log)
LossFn = Callable[[nn.Module, Any, torch.Generator], tuple[torch.Tensor, dict[str, float]]]
# batch_fn(step, rng) -> batch
BatchFn = Callable[[int, np.random.Generator], Any]

STATE_FILE = "train_state.pt"


@dataclass(frozen=True)
class LoopConfig:
    steps: int
    lr: float = 3e-4
    weight_decay: float = 0.01
    warmup_steps: int = 20
    grad_clip: float = 1.0
    ema_decay: float = 0.9999  # paper: EMA 0.9999
    log_every: int = 10
    checkpoint_every: int = 100
    seed: int = 0
    # DDP must be told when some parameters get no gradient in a step (e.g. a frozen branch).
    find_unused_parameters: bool = False
    muon: bool = True  # Muon for 2-D weights (paper); False: AdamW only (see build_optimizers)


@dataclass
class LoopResult:
    steps_done: int
    resumed_from: int
    losses: list[float]
    seconds: float


class TrainingLoop:
    """Runs `config.steps` optimisation steps of `model` on `loss_fn(batch_fn(step))`."""

    def __init__(
        self,
        model: nn.Module,
        loss_fn: LossFn,
        batch_fn: BatchFn,
        config: LoopConfig,
        out_dir: Path,
        context: DistributedContext,
    ) -> None:
        self.model = model.to(context.device)
        self.loss_fn = loss_fn
        self.batch_fn = batch_fn
        self.config = config
        self.out_dir = Path(out_dir)
        self.context = context
        self.trained = (
            DistributedDataParallel(
                self.model, find_unused_parameters=config.find_unused_parameters
            )
            if context.enabled
            else self.model
        )
        self.optimizers = build_optimizers(self.model, config.lr, config.weight_decay, config.muon)
        self.ema = AveragedModel(self.model, multi_avg_fn=get_ema_multi_avg_fn(config.ema_decay))
        self.step = 0
        self.rng = np.random.default_rng([config.seed, context.rank])
        self.generator = torch.Generator().manual_seed(config.seed * 1000 + context.rank)
        self.history: list[dict[str, float]] = []
        if context.is_main:
            self.out_dir.mkdir(parents=True, exist_ok=True)

    # ---- checkpointing -------------------------------------------------------------------------
    @property
    def state_path(self) -> Path:
        return self.out_dir / STATE_FILE

    def save(self) -> None:
        if not self.context.is_main:
            return
        state = {
            "step": self.step,
            "model": self.model.state_dict(),
            "ema": self.ema.state_dict(),
            "optimizers": [optimizer.state_dict() for optimizer in self.optimizers],
            "numpy_rng": json.dumps(self.rng.bit_generator.state),
            "torch_rng": self.generator.get_state(),
        }
        temporary = self.state_path.with_suffix(".partial")
        torch.save(state, temporary)
        os.replace(temporary, self.state_path)
        self._write_curve()

    def resume(self) -> int:
        """Load train_state.pt if present; returns the step it resumes from (0 if none)."""
        if not self.state_path.exists():
            return 0
        state = torch.load(self.state_path, map_location=self.context.device, weights_only=True)
        self.model.load_state_dict(state["model"])
        self.ema.load_state_dict(state["ema"])
        for optimizer, saved in zip(self.optimizers, state["optimizers"], strict=True):
            optimizer.load_state_dict(saved)
        self.step = int(state["step"])
        self.rng.bit_generator.state = json.loads(state["numpy_rng"])
        self.generator.set_state(state["torch_rng"])
        losses = self.out_dir / "losses.jsonl"
        if losses.exists():
            self.history = [
                entry
                for entry in map(json.loads, losses.read_text().splitlines())
                if entry["step"] <= self.step
            ]
        return self.step

    def _write_curve(self) -> None:
        (self.out_dir / "losses.jsonl").write_text(
            "".join(json.dumps(entry) + "\n" for entry in self.history)
        )
        if not self.history:
            return
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        figure, axis = plt.subplots(figsize=(6, 3.5))
        steps = [entry["step"] for entry in self.history]
        for key in sorted(k for k in self.history[0] if k.startswith("loss")):
            axis.plot(steps, [entry[key] for entry in self.history], label=key)
        axis.set_xlabel("step")
        axis.set_yscale("log")
        axis.legend()
        axis.grid(alpha=0.3)
        figure.tight_layout()
        figure.savefig(self.out_dir / "loss.png", dpi=100)
        plt.close(figure)

    # ---- the loop ------------------------------------------------------------------------------
    def train_step(self) -> dict[str, float]:
        batch = self.batch_fn(self.step, self.rng)
        factor = learning_rate_factor(self.step, self.config.steps, self.config.warmup_steps)
        for optimizer in self.optimizers:
            for group in optimizer.param_groups:
                group["lr"] = self.config.lr * factor
        loss, metrics = self.loss_fn(self.trained, batch, self.generator)
        if not torch.isfinite(loss):
            raise FloatingPointError(
                f"loss is {loss.item()} at step {self.step}; lower the learning rate or check the "
                "data (train_state.pt keeps the last good checkpoint)"
            )
        for optimizer in self.optimizers:
            optimizer.zero_grad(set_to_none=True)
        loss.backward()
        grad_norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.config.grad_clip)
        for optimizer in self.optimizers:
            optimizer.step()
        self.ema.update_parameters(self.model)
        self.step += 1
        return {"loss": float(loss.item()), "grad_norm": float(grad_norm), **metrics}

    def run(self, progress: Callable[[int, dict[str, float]], None] | None = None) -> LoopResult:
        resumed_from = self.resume()
        start = time.perf_counter()
        self.model.train()
        while self.step < self.config.steps:
            metrics = self.train_step()
            if self.step % self.config.log_every == 0 or self.step == self.config.steps:
                metrics = {k: mean_across_ranks(v, self.context) for k, v in metrics.items()}
                self.history.append({"step": self.step, **metrics})
                if progress is not None and self.context.is_main:
                    progress(self.step, metrics)
            if self.step % self.config.checkpoint_every == 0 or self.step == self.config.steps:
                self.save()
        return LoopResult(
            steps_done=self.step,
            resumed_from=resumed_from,
            losses=[entry["loss"] for entry in self.history],
            seconds=time.perf_counter() - start,
        )


def print_progress(total: int) -> Callable[[int, dict[str, float]], None]:
    """A progress callback: one line per logged step (works in logs and terminals alike)."""
    started = time.perf_counter()
    first_step: list[int] = []  # the first step reported in this process (after a resume)

    def report(step: int, metrics: dict[str, float]) -> None:
        if not first_step:
            first_step.append(step)
        elapsed = time.perf_counter() - started
        rate = (step - first_step[0] + 1) / elapsed if elapsed > 0 else 0.0
        shown = "  ".join(f"{k} {v:.4g}" for k, v in metrics.items())
        print(f"step {step:>6}/{total}  {shown}  ({rate:.1f} step/s)", file=sys.stderr, flush=True)

    return report
