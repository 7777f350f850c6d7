"""The training loop every stage shares: optimise, clip, EMA, log, checkpoint, resume.

A stage supplies the model, a loss function and a batch source; the loop owns everything else.
Under torchrun each rank draws its own batches from a rank-specific seed and the model is either
wrapped in DistributedDataParallel (`parallel="ddp"`) or sharded with FSDP2 (`parallel="fsdp"`,
see sharding.py; the EMA is sharded the same way). Only rank 0 writes files; under FSDP the full
states it writes are gathered from every rank, so saving is collective.

State on disk (out_dir):
  train_state.pt   model, EMA, optimisers, step, every rank's random state: written atomically,
                   resumed from. Model and EMA are full (unsharded) state dicts in either mode;
                   optimiser states are keyed by index (DDP, one process) or by parameter name
                   (FSDP, torch.distributed.checkpoint's full optimiser state dict).
  losses.jsonl     one line per logged step
  loss.png         the loss curve, redrawn at every checkpoint
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import json
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from torch.distributed.checkpoint.state_dict import (
    StateDictOptions,
    get_model_state_dict,
    get_optimizer_state_dict,
    set_model_state_dict,
    set_optimizer_state_dict,
)
from torch.distributed.tensor import DTensor
from torch.nn.parallel import DistributedDataParallel
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from worldmodel.config import PAPER_EMA_DECAY
from worldmodel.errors import TrainingSetupError
from worldmodel.training.distributed import DistributedContext, mean_across_ranks
from worldmodel.training.optim import build_optimizers, learning_rate_factor
from worldmodel.training.sharding import PARALLEL_MODES, device_mesh, shard_model

log = logging.getLogger(__name__)

# loss_fn(model, batch, generator) -> (scalar loss, metrics to log)
LossFn = Callable[[nn.Module, Any, torch.Generator], tuple[torch.Tensor, dict[str, float]]]
# batch_fn(step, rng) -> batch
BatchFn = Callable[[int, np.random.Generator], Any]

STATE_FILE = "train_state.pt"
# Saving gathers full tensors to rank 0's CPU; loading gives every rank the full state, of which
# each keeps its shard.
GATHER = StateDictOptions(full_state_dict=True, cpu_offload=True)
SCATTER = StateDictOptions(full_state_dict=True)


@dataclass(frozen=True)
class LoopConfig:
    steps: int
    lr: float = 3e-4
    weight_decay: float = 0.01
    warmup_steps: int = 20
    grad_clip: float = 1.0
    ema_decay: float = PAPER_EMA_DECAY
    log_every: int = 10
    checkpoint_every: int = 100
    seed: int = 0
    # DDP must be told when some parameters get no gradient in a step (e.g. a frozen branch).
    find_unused_parameters: bool = False
    muon: bool = True  # Muon for 2-D weights (paper); False: AdamW only (see build_optimizers)
    # How torchrun processes share the model: "ddp" replicates it, "fsdp" shards parameters,
    # gradients and optimiser state (FSDP2; AdamW only). Ignored in a single process.
    parallel: str = "ddp"

    def __post_init__(self) -> None:
        if self.parallel not in PARALLEL_MODES:
            raise TrainingSetupError(
                f"parallel is {self.parallel!r}; expected one of {', '.join(PARALLEL_MODES)}"
            )


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
        # The EMA starts as a full copy; under FSDP it is sharded like the model, so that its
        # update is a lerp of each process's own shards.
        self.ema = AveragedModel(self.model, multi_avg_fn=get_ema_multi_avg_fn(config.ema_decay))
        self.sharded = context.enabled and config.parallel == "fsdp"
        # Rank 0 of a sharded run: an unsharded copy on the CPU to load the gathered EMA into for
        # export (see ema_model).
        self._unsharded: nn.Module | None = None
        if self.sharded:
            if context.is_main:
                self._unsharded = copy.deepcopy(self.model).cpu()
            mesh = device_mesh(context.device)
            shard_model(self.model, mesh)
            shard_model(self.ema.module, mesh)
        # What the loss runs: the model itself, or its DDP wrapper while run() trains.
        self.trained: nn.Module = self.model
        # After sharding: FSDP replaces the parameters with DTensor shards.
        self.optimizers = build_optimizers(self.model, config.lr, config.weight_decay, config.muon)
        self.step = 0
        self.rng = np.random.default_rng([config.seed, context.rank])
        # On the training device: the losses draw their noise where the model runs.
        self.generator = torch.Generator(context.device).manual_seed(
            config.seed * 1000 + context.rank
        )
        self.history: list[dict[str, float]] = []
        if context.is_main:
            self.out_dir.mkdir(parents=True, exist_ok=True)

    # ---- checkpointing -------------------------------------------------------------------------
    @property
    def state_path(self) -> Path:
        return self.out_dir / STATE_FILE

    def save(self) -> None:
        """Write train_state.pt from rank 0. Collective: every rank must call it."""
        rngs = self._random_states()
        if self.sharded:
            model = get_model_state_dict(self.model, options=GATHER)
            ema_weights = get_model_state_dict(self.ema.module, options=GATHER)
            ema = {"n_averaged": self.ema.n_averaged}
            ema.update({f"module.{name}": value for name, value in ema_weights.items()})
            optimizers = [
                get_optimizer_state_dict(self.model, optimizer, options=GATHER)
                for optimizer in self.optimizers
            ]
        else:
            model, ema = self.model.state_dict(), self.ema.state_dict()
            optimizers = [optimizer.state_dict() for optimizer in self.optimizers]
        if not self.context.is_main:
            return
        state = {
            "step": self.step,
            "sharded": self.sharded,
            "model": model,
            "ema": ema,
            "optimizers": optimizers,
            "numpy_rng": [numpy_state for numpy_state, _ in rngs],  # one per rank
            "torch_rng": [torch_state for _, torch_state in rngs],
        }
        temporary = self.state_path.with_suffix(".partial")
        torch.save(state, temporary)
        os.replace(temporary, self.state_path)
        self._write_curve()

    def resume(self) -> int:
        """Load train_state.pt if present; returns the step it resumes from (0 if none)."""
        if not self.state_path.exists():
            return 0
        location = "cpu" if self.sharded else self.context.device
        state = torch.load(self.state_path, map_location=location, weights_only=True)
        if state.get("sharded", False) != self.sharded:
            written = "a sharded (FSDP)" if state.get("sharded", False) else "an unsharded"
            raise TrainingSetupError(
                f"{self.state_path} was written by {written} run, whose optimiser state this run "
                "cannot load: resume with the parallel mode it was written with (fsdp needs more "
                "than one process), or train into a new folder"
            )
        if self.sharded:
            ema = dict(state["ema"])
            self.ema.n_averaged.copy_(ema.pop("n_averaged"))
            ema_weights = {name.removeprefix("module."): value for name, value in ema.items()}
            set_model_state_dict(self.model, state["model"], options=SCATTER)
            set_model_state_dict(self.ema.module, ema_weights, options=SCATTER)
            for optimizer, saved in zip(self.optimizers, state["optimizers"], strict=True):
                set_optimizer_state_dict(self.model, optimizer, saved, options=SCATTER)
        else:
            self.model.load_state_dict(state["model"])
            self.ema.load_state_dict(state["ema"])
            for optimizer, saved in zip(self.optimizers, state["optimizers"], strict=True):
                optimizer.load_state_dict(saved)
        self.step = int(state["step"])
        numpy_states, torch_states = state["numpy_rng"], state["torch_rng"]
        if isinstance(numpy_states, str):  # written before every rank's state was kept
            numpy_states, torch_states = [numpy_states], [torch_states]
        # A rank the saved run did not have keeps its seed-derived generators.
        if self.context.rank < len(numpy_states):
            self.rng.bit_generator.state = json.loads(numpy_states[self.context.rank])
            self.generator.set_state(torch_states[self.context.rank].cpu())
        losses = self.out_dir / "losses.jsonl"
        if losses.exists():
            self.history = [
                entry
                for entry in map(json.loads, losses.read_text().splitlines())
                if entry["step"] <= self.step
            ]
        return self.step

    def _random_states(self) -> list[tuple[str, torch.Tensor]]:
        """Every rank's (numpy, torch) generator state, indexed by rank: each rank draws its own
        batches and noise, so an exact resume needs them all."""
        mine = (json.dumps(self.rng.bit_generator.state), self.generator.get_state())
        if not self.context.enabled:
            return [mine]
        states: list[Any] = [None] * self.context.world_size
        dist.all_gather_object(states, mine)
        return states

    def ema_model(self) -> nn.Module | None:
        """The EMA weights as an ordinary module (plain full tensors on this process's device) for
        rank 0 to export; None on the other ranks. Under FSDP it gathers the shards, so every
        rank must call it."""
        if not self.sharded:
            return self.ema.module if self.context.is_main else None
        weights = get_model_state_dict(self.ema.module, options=GATHER)
        if self._unsharded is None:
            return None
        self._unsharded.load_state_dict(weights)
        return self._unsharded.to(self.context.device)

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
        batch = to_device(self.batch_fn(self.step, self.rng), self.context.device)
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
        if isinstance(grad_norm, DTensor):  # FSDP: the norm over every shard, on every rank
            grad_norm = grad_norm.full_tensor()
        for optimizer in self.optimizers:
            optimizer.step()
        self.ema.update_parameters(self.model)
        self.step += 1
        return {"loss": float(loss.item()), "grad_norm": float(grad_norm), **metrics}

    def run(
        self,
        progress: Callable[[int, dict[str, float]], None] | None = None,
        after_step: Callable[[int], None] | None = None,
    ) -> LoopResult:
        """Train to config.steps. In one process, Ctrl-C (SIGINT) lets the step in progress end,
        saves train_state.pt and raises TrainingInterrupted, so a rerun continues exactly; a
        second Ctrl-C stops at once. Under torchrun the ranks would have to agree on the step,
        so there Ctrl-C keeps its default (the last checkpoint is what a rerun resumes from).
        `after_step(step)` runs on every rank after each step (a periodic export, say)."""
        resumed_from = self.resume()
        start = time.perf_counter()
        self.model.train()
        with self._data_parallel(), StopAfterStep(enabled=not self.context.enabled) as stop:
            while self.step < self.config.steps:
                metrics = self.train_step()
                if self.step % self.config.log_every == 0 or self.step == self.config.steps:
                    metrics = {k: mean_across_ranks(v, self.context) for k, v in metrics.items()}
                    self.history.append({"step": self.step, **metrics})
                    if progress is not None and self.context.is_main:
                        progress(self.step, metrics)
                if (
                    stop.requested
                    or self.step % self.config.checkpoint_every == 0
                    or self.step == self.config.steps
                ):
                    self.save()
                if after_step is not None:
                    after_step(self.step)
                if stop.requested and self.step < self.config.steps:
                    raise TrainingInterrupted(self.step, self.config.steps, self.out_dir)
        return LoopResult(
            steps_done=self.step,
            resumed_from=resumed_from,
            losses=[entry["loss"] for entry in self.history],
            seconds=time.perf_counter() - start,
        )

    @contextlib.contextmanager
    def _data_parallel(self) -> Iterator[None]:
        """Under torchrun without sharding, train through a DistributedDataParallel wrapper that
        lives only while run() does.

        Why only then: DDP's Reducer holds the process group, and when the Reducer is the last
        holder, deleting it (with the GIL held) runs the gloo group's destructor, which joins the
        group's worker threads; a worker still dropping a finished all-gather needs the GIL to free
        its tensors, so both wait forever. That hung 3 of 26 two-process runs at exit, after
        shutdown(). Dropped here, the Reducer dies while the group is still registered, and
        destroy_process_group later frees the group with the GIL released."""
        if not self.context.enabled or self.sharded:
            yield
            return
        self.trained = DistributedDataParallel(
            self.model, find_unused_parameters=self.config.find_unused_parameters
        )
        try:
            yield
        finally:
            self.trained = self.model  # frees the wrapper at once: it is in no cycle


class TrainingInterrupted(Exception):
    """The user stopped training (Ctrl-C); train_state.pt holds the last finished step."""

    def __init__(self, step: int, steps: int, out_dir: Path) -> None:
        super().__init__(
            f"stopped at step {step} of {steps}; {out_dir / STATE_FILE} is saved: run the same "
            "command again to continue"
        )
        self.step = step


class StopAfterStep:
    """While active, the first SIGINT only sets `requested` (the loop stops after its step);
    a second raises KeyboardInterrupt at once. Only the main thread can handle signals, so
    elsewhere, or when not enabled, it changes nothing."""

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled and threading.current_thread() is threading.main_thread()
        self.requested = False
        self._previous: Any = None

    def _handle(self, signum: int, frame: Any) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        print(
            "stopping after this step and saving (Ctrl-C again to stop at once)",
            file=sys.stderr,
            flush=True,
        )

    def __enter__(self) -> StopAfterStep:
        if self.enabled:
            self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self.enabled:
            signal.signal(signal.SIGINT, self._previous)


def to_device(value: Any, device: torch.device) -> Any:
    """`value` with every tensor inside it (dataclass fields, tuples, lists) on `device`: batch
    sources build on the CPU, the model may run on a GPU."""
    if isinstance(value, torch.Tensor):
        return value.to(device)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = {
            f.name: to_device(getattr(value, f.name), device) for f in dataclasses.fields(value)
        }
        return dataclasses.replace(value, **fields)
    if isinstance(value, (list, tuple)):
        return type(value)(to_device(item, device) for item in value)
    return value


def print_progress(
    total: int, clock: Callable[[], float] = time.perf_counter
) -> Callable[[int, dict[str, float]], None]:
    """A progress callback: one line per logged step (works in logs and terminals alike), with
    the rate since the previous line and the time left at that rate. The first line gives the
    time since the stage began instead: it holds the start-up (loading the dataset, encoding the
    first windows), which says nothing of the rate to come."""
    previous: list[tuple[int, float]] = [(0, clock())]  # (step, time) of the last line

    def report(step: int, metrics: dict[str, float]) -> None:
        now = clock()
        shown = "  ".join(f"{k} {v:.4g}" for k, v in metrics.items())
        last_step, last_time = previous[-1]
        if len(previous) == 1:
            timing = f"{now - last_time:.0f} s since the stage began"
        else:
            rate = (step - last_step) / max(now - last_time, 1e-9)
            timing = f"{rate:.2f} step/s, {format_duration((total - step) / rate)} left"
        previous.append((step, now))
        print(f"step {step:>6}/{total}  {shown}  ({timing})", file=sys.stderr, flush=True)

    return report


def format_duration(seconds: float) -> str:
    """'45 s', '12 min', '2.5 h'."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"
