"""A training command's stages run in order: what `wallwm train` calls once it has parsed its
arguments into a model config, the stage plan and StageSettings."""

from __future__ import annotations

import dataclasses
import sys
import time
from pathlib import Path
from typing import Any

import torch

from worldmodel.config import ModelConfig
from worldmodel.data.events import EventDataset
from worldmodel.errors import ContractError
from worldmodel.text import build_text_encoder
from worldmodel.training.batches import Focus
from worldmodel.training.distributed import DistributedContext
from worldmodel.training.loop import TrainingInterrupted, print_progress
from worldmodel.training.recipe import write_training_record
from worldmodel.training.stages import (
    EXPORT,
    StageSettings,
    open_dataset,
    train_towers,
    train_vae,
)

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


def stage_record(stage: str, settings: StageSettings) -> dict[str, Any]:
    """One stage's settings as plain YAML values, the ones that differ from StageSettings'."""
    record: dict[str, Any] = {"stage": stage, "steps": settings.steps}
    for field in dataclasses.fields(StageSettings):
        value = getattr(settings, field.name)
        if field.name == "steps" or value == field.default:
            continue
        if isinstance(value, Focus):
            value = f"{value.skill}={value.share:g}"
        record[field.name] = str(value) if isinstance(value, Path) else value
    return record


def run_stages(
    config: ModelConfig,
    plan: list[tuple[str, StageSettings]],
    data: Path,
    out: Path,
    context: DistributedContext,
    recipe: str | None = None,
) -> int:
    """Train the plan's stages in order on `data` (or a stage's own `dataset`) into `out` (each
    resumes from its own train state) and write what ran into the export (training.yaml); 0
    when done, INTERRUPTED when Ctrl-C stopped a stage (its state saved)."""
    datasets: dict[Path, EventDataset] = {}
    text = None
    # Encoded clips per dataset, shared by the tower stages while the VAE stays the same.
    latent_caches: dict[Path, dict[tuple, torch.Tensor]] = {}
    for stage, settings in plan:
        source = settings.dataset or data
        if source not in datasets:
            datasets[source] = open_dataset(source, config, settings)
        dataset, latent_cache = datasets[source], latent_caches.setdefault(source, {})
        stage_steps = settings.steps
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
                latent_caches.clear()
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
                f"{time.perf_counter() - began:.0f} s; curve "
                f"{out / (settings.folder or stage) / 'loss.png'}",
                flush=True,
            )
    if context.is_main:
        record = {
            "preset": config.name,
            "marks": config.video.mark_channels > 0,
            "skills": bool(config.action.skills),
            "hide_proprio": list(config.action.hidden_proprio),
            "recipe": recipe,
            "data": str(data),
            "stages": [stage_record(stage, settings) for stage, settings in plan],
        }
        write_training_record(out / EXPORT, record)
        print(f"checkpoint: {out / EXPORT}")
    return 0
