"""A training command's stages run in order: what `wallwm train` calls once it has parsed its
arguments into a model config, the stage plan and StageSettings."""

from __future__ import annotations

import dataclasses
import sys
import time
from pathlib import Path

import torch

from worldmodel.config import ModelConfig
from worldmodel.errors import ContractError
from worldmodel.text import build_text_encoder
from worldmodel.training.distributed import DistributedContext
from worldmodel.training.loop import TrainingInterrupted, print_progress
from worldmodel.training.stages import StageSettings, open_dataset, train_towers, train_vae

INTERRUPTED = 130  # the shell's status for a command stopped by Ctrl-C


def parse_steps(text: str | int, stages: list[str]) -> list[int]:
    """'2000' (every stage) or '300,600' (one per stage) -> steps per stage."""
    steps = [int(value) for value in str(text).split(",")]
    if len(steps) == 1:
        steps = steps * len(stages)
    if len(steps) != len(stages):
        raise ContractError(f"--steps {text}: give one number or one per stage {stages}")
    return steps


def use_muon(optimizer: str, context: DistributedContext, parallel: str) -> bool:
    """Muon for matrices where it helps: asked for, or `auto` on an unsharded GPU run (torch's
    Muon orthogonalises in bfloat16, slow on a CPU, and cannot update sharded matrices)."""
    sharded = context.enabled and parallel == "fsdp"
    return optimizer == "muon" or (
        optimizer == "auto" and context.device.type == "cuda" and not sharded
    )


def run_stages(
    config: ModelConfig,
    stages: list[str],
    steps: list[int],
    settings: StageSettings,
    data: Path,
    out: Path,
    context: DistributedContext,
) -> int:
    """Train `stages` in order on `data` into `out` (each resumes from its own train state);
    0 when done, INTERRUPTED when Ctrl-C stopped a stage (its state saved)."""
    dataset = open_dataset(data, config, settings)
    text = None
    # Encoded clips, shared by the tower stages while the VAE stays the same.
    latent_cache: dict[tuple, torch.Tensor] = {}
    for stage, stage_steps in zip(stages, steps, strict=True):
        settings = dataclasses.replace(settings, steps=stage_steps)
        began = time.perf_counter()
        if context.is_main:
            print(
                f"stage {stage}: {stage_steps} steps, batch {settings.batch} per process, "
                f"{context.world_size} process(es) on {context.device}"
                + (f" ({settings.parallel})" if context.enabled else ""),
                flush=True,
            )
        progress = print_progress(stage_steps)
        try:
            if stage == "vae":
                result = train_vae(config, dataset, settings, out, context, progress)
                latent_cache.clear()
            else:
                text = text or build_text_encoder(config.text, "cpu")
                result = train_towers(
                    stage, config, dataset, text, settings, out, context, progress, latent_cache
                )
        except TrainingInterrupted as stopped:
            print(f"stage {stage}: {stopped}", file=sys.stderr, flush=True)
            return INTERRUPTED
        if context.is_main:
            last = result.losses[-1] if result.losses else float("nan")
            print(
                f"stage {stage} done: step {result.steps_done} (resumed from "
                f"{result.resumed_from}), last loss {last:.4g}, "
                f"{time.perf_counter() - began:.0f} s; curve {out / stage / 'loss.png'}",
                flush=True,
            )
    if context.is_main:
        print(f"checkpoint: {out / 'export'}")
    return 0
