"""The training stages of a small WALL-WM, each a run of the shared TrainingLoop.

  vae     AutoencoderKLWan on simulator clips (reconstruction + a small KL); small presets have no
          pretrained VAE. Afterwards the per-channel latent mean/std are measured and stored in
          the VAE config, so the towers see unit-scale latents (as Wan's latents_mean/std do).
  video   video pretraining: flow matching on event latents, caption by the frozen text encoder;
          the action tower is untouched.
  action  action pretraining with the video tower frozen: the action loss averaged over K draws.
  joint   both towers from this run's export, trained together on the video loss plus the action
          loss, which also reaches the video tower (at the sampler's video noise level, see
          flow.training_loss). Our addition, not in WALL-WM's recipe: it lets the action loss
          teach the video tower what the actions need from the caption. Not part of "all".

Folders under `out`: one per stage (train_state.pt, losses.jsonl, loss.png; resumable; with
`export_every`, export-<step>/ checkpoint folders of the tower stages) and `export/`, the
checkpoint folder (config.json + safetensors of the EMA weights + normalization.json with the
dataset's statistics + vae/), rewritten after every stage.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from diffusers import AutoencoderKLWan
from torch import nn

from worldmodel.checkpoint import (
    VAE_FOLDER,
    NormStats,
    check_state,
    load_checkpoint,
    load_vae,
    read_config,
    save_checkpoint,
)
from worldmodel.config import ModelConfig
from worldmodel.data.events import EventDataset, EventLoaderConfig
from worldmodel.data.reader import DatasetReader
from worldmodel.errors import ContractError
from worldmodel.flow import TrainingBatch, training_loss
from worldmodel.model import WallWM
from worldmodel.text import TextEncoder
from worldmodel.training.batches import (
    CaptionBank,
    EventBatches,
    Focus,
    PackedEventBatches,
    VAEBatches,
)
from worldmodel.training.distributed import DistributedContext
from worldmodel.training.latent_store import LatentStore
from worldmodel.training.loop import LoopConfig, LoopResult, TrainingLoop
from worldmodel.training.vae_objective import VAEObjective, vae_loss
from worldmodel.vae import VideoVAE, build_vae

log = logging.getLogger(__name__)

STAGES = ("vae", "video", "action")  # what "all" runs, in this order
OPTIONAL_STAGES = ("joint",)
EXPORT = "export"
TOWERS = ("video", "action")
Progress = Callable[[int, dict[str, float]], None]


@dataclass(frozen=True)
class StageSettings:
    """What a stage run needs besides the model config. Values are our choices for small runs."""

    steps: int
    batch: int = 8
    lr: float = 1e-3
    ema_decay: float | None = None  # None: min(paper's 0.9999, 1 - 10 / steps), see ema_for
    checkpoint_every: int = 100
    log_every: int = 10
    seed: int = 0
    max_event_steps: int = 40  # longest event window trained on (control steps)
    crop_stride: int = 8  # event windows start on this grid (bounds the latent cache)
    vae_frames: int = 9  # frames per VAE training clip (1 + 4k)
    kl_weight: float = 1e-6  # weight of the VAE's KL term (small: the latents are re-scaled)
    # Weight of fine detail in the VAE's reconstruction loss (see detail_weights); 0: plain MSE.
    vae_detail_weight: float = 0.0
    # Power of the rarity of a pixel's colour in the VAE's loss (see rarity_weights); 0: none.
    vae_rarity_weight: float = 0.0
    muon: bool = True  # False: AdamW for every parameter (see optim.build_optimizers)
    parallel: str = "ddp"  # under torchrun: "ddp" or "fsdp" (FSDP2, AdamW only), see LoopConfig
    # The fixed-chunk baseline (the paper's event-vs-chunk comparison): train on windows of
    # exactly this many steps cut from whole episodes, captioned with the task instruction,
    # instead of on events. None: event training.
    chunk_steps: int | None = None
    # Multi-event packing: each of the `batch` rows holds several events one after the other,
    # up to this many latent frames, with block-diagonal attention. None: one event per row.
    pack_frames: int | None = None
    # A checkpoint folder whose weights a stage starts from instead of a fresh initialisation
    # (fine-tuning): the vae stage takes its vae/, the video and joint stages both towers, the
    # action stage its action tower (the video tower still comes from this run's video stage). A
    # stage that resumes from its train_state.pt ignores it. None: train from scratch.
    init_from: Path | None = None
    # A folder that keeps the tower stages' encoded event windows for later commands
    # (latent_store.LatentStore); None: they live in memory for this command only.
    latent_store: Path | None = None
    # The stage's folder in the run (its train state, curve and periodic exports); None: the
    # stage's name. A recipe that runs a stage twice names the second (action, then
    # action-mixed): the second starts from the run's export, which the first wrote.
    folder: str | None = None
    # The event dataset this stage trains on; None: the command's (--data, or the recipe's).
    # A recipe stage with data of its own gets the folder that data was generated into.
    dataset: Path | None = None
    # Draw a share of the tower stages' events from one skill (batches.Focus); None: no focus.
    focus: Focus | None = None
    # Share of the tower stages' events whose targets are dropped (EventLoaderConfig), for a
    # model with mark channels.
    target_dropout: float = 0.2
    # The tower stages also export their EMA weights every this many steps, to
    # OUT/<stage>/export-<step>/ (a checkpoint folder), so a run can be scored while it trains
    # (research/caption_loss_gap.py, wallwm eval-model). None: only the final export.
    export_every: int | None = None

    def __post_init__(self) -> None:
        if self.export_every is not None and self.export_every < 1:
            raise ContractError(f"export every {self.export_every} steps; expected at least 1")
        if self.focus is not None and self.chunk_steps is not None:
            raise ContractError("a focus skill applies to events, not to the fixed-chunk baseline")


def ema_for(settings: StageSettings, paper: float) -> float:
    """The EMA decay: the paper's 0.9999 averages ~10k steps, longer than a short run; a short
    run uses 1 - 10 / steps so the exported weights reflect its last tenth."""
    if settings.ema_decay is not None:
        return settings.ema_decay
    return min(paper, 1.0 - 10.0 / max(settings.steps, 20))


class FlowObjective(nn.Module):
    """The flow-matching loss of WallWM as one forward, for the video or the action stage."""

    def __init__(self, model: WallWM, stage: str) -> None:
        super().__init__()
        self.model = model
        self.stage = stage

    def forward(self, batch: TrainingBatch, generator: torch.Generator) -> dict[str, torch.Tensor]:
        losses = training_loss(
            self.model,
            batch,
            generator,
            train_video=self.stage != "action",
            train_action=self.stage != "video",
        )
        return {"total": losses.total, "video": losses.video, "action": losses.action}


def flow_loss(trained: nn.Module, batch: TrainingBatch, generator: torch.Generator):
    out = trained(batch, generator)
    return out["total"], {
        "loss_video": float(out["video"]),
        "loss_action": float(out["action"]),
    }


def open_dataset(root: Path, config: ModelConfig, settings: StageSettings) -> EventDataset:
    loader = EventLoaderConfig(
        max_length=min(settings.max_event_steps, config.action.max_steps),
        crop_stride=settings.crop_stride,
        image_size=(config.image_height, config.image_width),
        relative_action_dims=config.relative_action_dims,
        anchor_actions=config.anchor_actions,
        anchor_keep_height=config.anchor_keep_height,
        anchor_in_place=config.anchor_in_place,
        target_dropout=settings.target_dropout,
    )
    if settings.chunk_steps is not None:
        # Task-level events span whole episodes: cropping them to exactly chunk_steps gives
        # fixed chunks that ignore event boundaries, captioned with the task instruction.
        if not 1 < settings.chunk_steps <= config.action.max_steps:
            raise ContractError(
                f"chunk of {settings.chunk_steps} steps; expected 2..{config.action.max_steps}"
            )
        loader = dataclasses.replace(
            loader,
            level_weights={"task": 1.0},
            max_length=settings.chunk_steps,
            min_length=settings.chunk_steps,
            # a model with target inputs gets the targets of the event each window starts in
            window_targets=bool(config.video.mark_channels or config.action.target_points),
        )
    dataset = EventDataset(DatasetReader(root), loader)
    if len(dataset.reader.camera_names) != config.cameras:
        raise ContractError(
            f"dataset {root} has cameras {dataset.reader.camera_names}; preset {config.name!r} "
            f"expects {config.cameras}"
        )
    dims = (dataset.action_norm.mean.shape[0], dataset.state_norm.mean.shape[0])
    if dims != (config.action_dim, config.proprio_dim):
        raise ContractError(
            f"dataset {root} has {dims[0]}-D actions and {dims[1]}-D proprio; preset "
            f"{config.name!r} expects {config.action_dim} and {config.proprio_dim}"
        )
    return dataset


def norm_stats(dataset: EventDataset) -> NormStats:
    """The dataset's statistics, in the form the checkpoint carries them."""
    return NormStats(
        dataset.action_norm.mean,
        dataset.action_norm.std,
        dataset.state_norm.mean,
        dataset.state_norm.std,
    )


def _loop_config(settings: StageSettings, paper_ema: float, unused: bool) -> LoopConfig:
    return LoopConfig(
        steps=settings.steps,
        lr=settings.lr,
        ema_decay=ema_for(settings, paper_ema),
        log_every=settings.log_every,
        checkpoint_every=settings.checkpoint_every,
        seed=settings.seed,
        find_unused_parameters=unused,
        muon=settings.muon,
        parallel=settings.parallel,
    )


@torch.no_grad()
def latent_statistics(
    vae: AutoencoderKLWan, batches: VAEBatches, rng: np.random.Generator, rounds: int = 8
) -> tuple[list[float], list[float]]:
    """Per-channel mean and std of the posterior means over `rounds` random batches."""
    means = [vae.encode(batches(0, rng)).latent_dist.mean for _ in range(rounds)]
    z = torch.cat([m.transpose(0, 1).flatten(1) for m in means], dim=1)  # (C, N)
    return z.mean(1).tolist(), z.std(1).clamp_min(1e-3).tolist()


def load_weights(module: nn.Module, weights: dict[str, torch.Tensor], where: str) -> None:
    """Copy `weights` into `module` after checking every name and shape (CheckpointMismatchError
    names the first difference: a checkpoint of another preset cannot start this one)."""
    check_state(module.state_dict(), weights, where)
    module.load_state_dict(weights)


def _init_vae(vae: AutoencoderKLWan, folder: Path) -> None:
    source = load_vae(folder)
    if source is None:
        raise ContractError(f"--init-from {folder}: the checkpoint has no vae/ folder")
    load_weights(vae, source.state_dict(), str(folder / VAE_FOLDER))


def _init_towers(model: WallWM, folder: Path, towers: tuple[str, ...]) -> None:
    """Copy the named towers ('video', 'action') of checkpoint `folder` into `model` (a model
    with mark channels from a checkpoint without: the marks' embedding starts at zero)."""
    initial, _ = load_checkpoint(folder, into=model.config)
    for tower in towers:
        load_weights(getattr(model, tower), getattr(initial, tower).state_dict(), str(folder))


def train_vae(
    config: ModelConfig,
    dataset: EventDataset,
    settings: StageSettings,
    out: Path,
    context: DistributedContext,
    progress: Progress | None = None,
) -> LoopResult:
    """Stage 1: the VAE. Exports export/vae/ with measured latent statistics."""
    torch.manual_seed(settings.seed)
    vae = build_vae(config.vae)
    if settings.init_from is not None:
        _init_vae(vae, settings.init_from)
    objective = VAEObjective(
        vae,
        settings.kl_weight,
        settings.vae_detail_weight,
        settings.vae_rarity_weight,
    )
    batches = VAEBatches(dataset, settings.batch, settings.vae_frames)
    loop = TrainingLoop(
        objective,
        vae_loss,
        batches,
        _loop_config(settings, config.flow.ema_decay, unused=False),
        out / (settings.folder or "vae"),
        context,
    )
    result = loop.run(progress)
    ema = loop.ema_model()  # collective under FSDP: every rank takes part
    if ema is not None:
        vae = ema.vae
        mean, std = latent_statistics(vae, batches, np.random.default_rng(settings.seed))
        vae.register_to_config(latents_mean=mean, latents_std=std)
        vae.save_pretrained(str(out / EXPORT / "vae"))
    return result


def _load_vae(out: Path, device: torch.device, init_from: Path | None) -> VideoVAE:
    """The run's own VAE; failing that, the --init-from checkpoint's (fine-tuning the towers
    alone), which the stage's export then carries."""
    vae = load_vae(out / EXPORT)
    if vae is None and init_from is not None:
        vae = load_vae(init_from)
    if vae is None:
        hint = "" if init_from is None else f" (nor has {init_from})"
        raise ContractError(f"{out / EXPORT / 'vae'} is missing{hint}: run the vae stage first")
    return VideoVAE(vae.to(device))


def train_towers(
    stage: str,
    config: ModelConfig,
    dataset: EventDataset,
    text: TextEncoder,
    settings: StageSettings,
    out: Path,
    context: DistributedContext,
    progress: Progress | None = None,
    latent_cache: dict[tuple, torch.Tensor] | None = None,
) -> LoopResult:
    """Stage 2 ('video'), 3 ('action') or 'joint'; exports the EMA weights to export/.

    `latent_cache`: encoded clips to reuse and fill (EventBatches.cache); pass the same dict to
    consecutive stages of one run, whose VAE is the same, so that the second does not encode
    every clip again."""
    vae = _load_vae(out, context.device, settings.init_from)
    export = out / EXPORT
    torch.manual_seed(settings.seed)
    if stage in ("action", "joint"):
        # The run's video stage's towers; fine-tuning without one (--init-from and no video
        # stage in this run): the init checkpoint's.
        source = export
        if not (export / "video_tower.safetensors").exists():
            if settings.init_from is None:
                raise ContractError(f"{export} has no video tower: run the video stage first")
            source = settings.init_from
        found = read_config(source)
        # The action representation and the flow settings (action loss draws, sampler steps)
        # are the action stage's to choose: the video tower does not depend on them, so a video
        # stage exported before the preset changed them is still usable. Mark channels the
        # preset asks for and the checkpoint lacks start at zero.
        video = found.video
        if config.video.mark_channels and not video.mark_channels:
            video = dataclasses.replace(
                video, mark_channels=config.video.mark_channels, mark_sigma=config.video.mark_sigma
            )
        # Target points, the countdown, the skill input and the hidden proprio likewise (the
        # action tower's, which this stage trains).
        action = dataclasses.replace(
            found.action,
            target_points=config.action.target_points,
            countdown=config.action.countdown,
            skills=config.action.skills,
            hidden_proprio=config.action.hidden_proprio,
        )
        into = dataclasses.replace(
            found,
            video=video,
            action=action,
            relative_action_dims=config.relative_action_dims,
            anchor_actions=config.anchor_actions,
            anchor_keep_height=config.anchor_keep_height,
            anchor_in_place=config.anchor_in_place,
            flow=config.flow,
        )
        model, _ = load_checkpoint(source, context.device, into=into)
        if settings.init_from is not None:
            _init_towers(model, settings.init_from, ("action",) if stage == "action" else TOWERS)
        model.train()
        if stage == "action":
            model.video.requires_grad_(False)  # action pretraining with the video tower frozen
            if model.video.mark_embedding is not None:
                # ... but for the marks' embedding, which only the action loss can teach here
                model.video.mark_embedding.requires_grad_(True)
    else:
        model = WallWM(config)
        if settings.init_from is not None:
            _init_towers(model, settings.init_from, TOWERS)
        model.action.requires_grad_(False)
    captions = CaptionBank([event.caption for _, event in dataset.events], text)
    batches = event_batches(model.config, dataset, vae, captions, settings, latent_cache)
    loop = TrainingLoop(
        FlowObjective(model, stage),
        flow_loss,
        batches,
        _loop_config(settings, config.flow.ema_decay, unused=context.enabled),
        out / (settings.folder or stage),
        context,
    )
    stats = norm_stats(dataset)

    def export_to(folder: Path) -> None:
        ema = loop.ema_model()  # collective under FSDP: every rank takes part
        if ema is not None:
            save_checkpoint(ema.model, folder, stats, vae=vae.vae)

    def export_now_and_then(step: int) -> None:
        if settings.export_every and step % settings.export_every == 0:
            export_to(out / (settings.folder or stage) / f"export-{step}")

    result = loop.run(progress, export_now_and_then)
    export_to(export)
    return result


def event_batches(
    config: ModelConfig,
    dataset: EventDataset,
    vae: VideoVAE,
    captions: CaptionBank,
    settings: StageSettings,
    cache: dict[tuple, torch.Tensor] | None = None,
) -> EventBatches:
    """One event per row, or packed rows when settings.pack_frames is set; `cache`: encoded
    clips to share (see EventBatches)."""
    stride = config.vae.scale_factor_temporal
    mark_sigma = config.video.mark_sigma if config.video.mark_channels else None
    store = None
    if settings.latent_store is not None:
        store = LatentStore(settings.latent_store, vae.vae, dataset, stride)
    if settings.pack_frames is None:
        return EventBatches(
            dataset,
            vae,
            captions,
            settings.batch,
            stride,
            cache=cache,
            store=store,
            focus=settings.focus,
            mark_sigma=mark_sigma,
            action=config.action,
        )
    longest = config.latent_frames(dataset.config.max_length)
    if settings.pack_frames < longest:
        raise ContractError(
            f"packing capacity {settings.pack_frames} latent frames is below the longest event "
            f"({dataset.config.max_length} steps = {longest} latent frames); raise --pack"
        )
    return PackedEventBatches(
        dataset,
        vae,
        captions,
        settings.batch,
        stride,
        capacity=settings.pack_frames,
        cache=cache,
        store=store,
        focus=settings.focus,
        mark_sigma=mark_sigma,
        action=config.action,
    )


def stage_plan(stage: str) -> tuple[str, ...]:
    """The stages to run, in order: 'all', one name, or a comma-separated list."""
    if stage == "all":
        return STAGES
    names = tuple(name.strip() for name in stage.split(","))
    known = STAGES + OPTIONAL_STAGES
    unknown = [name for name in names if name not in known]
    if unknown:
        raise ContractError(f"unknown stage(s) {unknown}; expected 'all' or some of {known}")
    return names


__all__ = [
    "EXPORT",
    "STAGES",
    "StageSettings",
    "ema_for",
    "norm_stats",
    "open_dataset",
    "stage_plan",
    "train_towers",
    "train_vae",
]
