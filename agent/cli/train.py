"""`wallwm train`: train a small WALL-WM on an event dataset, stage by stage.

Usage:
    wallwm train --preset tiny --data /work/data/tabletop --out runs/tiny --stage all --steps 2000
    wallwm train --preset tiny --data DATA --out runs/tiny --stage video,action --steps 300,600
    wallwm train --preset tiny --data DATA --out runs/chunk16 --stage action --steps 600 --chunk 16
    wallwm train --preset tiny --data DATA --out runs/packed --stage action --steps 600 --pack 24
    wallwm train --preset tiny --data DATA --out runs/tuned --stage all --steps 500 --init-from tiny
    wallwm train --preset tiny --data DATA --out runs/reach --stage video --steps 600 \
        --focus reach=0.5
    torchrun --standalone --nproc_per_node 2 -m agent.cli.main train --preset debug ...
    torchrun --standalone --nproc_per_node 2 -m agent.cli.main train --parallel fsdp ...

Stages: vae, video, action (or all, in that order), and joint: both towers on the video loss plus
the action loss, which then trains the video tower too (our addition to WALL-WM's recipe, which
freezes the video tower for the action stage; not part of all). Every stage resumes from its
train_state.pt when run again; the EMA weights are exported to OUT/export/ after each stage
(copy that folder to worldmodel/checkpoints/<name>/ to ship it). Progress: one line per logged
step on stderr; losses.jsonl and loss.png in OUT/<stage>/. The video and action stages of one
command share the clips they have encoded, so run them together where you can; with
`--latent-cache DIR` later commands share them too.

Ctrl-C in one process lets the step in progress end, saves train_state.pt and exits with status
130; the same command continues from there (a second Ctrl-C stops at once, and the stage then
resumes from its last checkpoint).

Under torchrun, `--parallel ddp` (the default) replicates the model in every process and
`--parallel fsdp` shards parameters, gradients and optimizer state (FSDP2), with AdamW: torch's
Muon cannot update sharded matrices, so `--optimizer auto` picks AdamW there and `--optimizer
muon` is refused. A stage started sharded resumes only sharded, and one started unsharded (one
process, or ddp) only unsharded: their optimizer states are stored differently.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path


def train(args: argparse.Namespace) -> int:
    import torch

    from worldmodel.config import get_config
    from worldmodel.locate import checkpoint_folder
    from worldmodel.text import build_text_encoder
    from worldmodel.training.batches import Focus
    from worldmodel.training.distributed import init_distributed, shutdown
    from worldmodel.training.loop import TrainingInterrupted, print_progress
    from worldmodel.training.stages import (
        StageSettings,
        open_dataset,
        stage_plan,
        train_towers,
        train_vae,
    )

    config = get_config(args.preset)
    stages = stage_plan(args.stage)
    steps = [int(value) for value in str(args.steps).split(",")]
    if len(steps) == 1:
        steps = steps * len(stages)
    if len(steps) != len(stages):
        raise SystemExit(f"--steps {args.steps}: give one number or one per stage {stages}")
    context = init_distributed(args.device)
    sharded = context.enabled and args.parallel == "fsdp"
    if args.threads:
        torch.set_num_threads(args.threads)
    out = Path(args.out)
    try:
        settings = StageSettings(
            steps=steps[0],
            batch=args.batch,
            lr=args.lr,
            ema_decay=args.ema_decay,
            checkpoint_every=args.checkpoint_every,
            log_every=args.log_every,
            seed=args.seed,
            muon=args.optimizer == "muon"
            or (args.optimizer == "auto" and context.device.type == "cuda" and not sharded),
            parallel=args.parallel,
            vae_frames=args.vae_frames,
            vae_detail_weight=args.vae_detail_weight,
            vae_rarity_weight=args.vae_rarity_weight,
            chunk_steps=args.chunk,
            pack_frames=args.pack,
            init_from=None if args.init_from is None else checkpoint_folder(args.init_from),
            latent_store=args.latent_cache,
            focus=None if args.focus is None else Focus.parse(args.focus),
            export_every=args.export_every,
        )
        dataset = open_dataset(Path(args.data), config, settings)
        text = None
        # Encoded clips, shared by the tower stages while the VAE stays the same.
        latent_cache: dict[tuple, torch.Tensor] = {}
        for stage, stage_steps in zip(stages, steps, strict=True):
            settings = dataclasses.replace(settings, steps=stage_steps)
            began = time.perf_counter()
            if context.is_main:
                print(
                    f"stage {stage}: {stage_steps} steps, batch {args.batch} per process, "
                    f"{context.world_size} process(es) on {context.device}"
                    + (f" ({args.parallel})" if context.enabled else ""),
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
                return 130  # the shell's status for a command stopped by Ctrl-C
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
    finally:
        shutdown(context)
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("train", help="train a WALL-WM preset on an event dataset")
    parser.add_argument("--preset", default="tiny", help="model preset (tiny, debug)")
    parser.add_argument("--data", required=True, help="dataset folder (wallwm data generate)")
    parser.add_argument("--out", required=True, help="run folder (stages, export/)")
    parser.add_argument(
        "--stage",
        default="all",
        help="vae, video, action, all (those three), joint (both towers on both losses, after "
        "video), or a list: video,action",
    )
    parser.add_argument(
        "--steps", required=True, help="optimiser steps per stage: 500, or one per stage: 300,600"
    )
    parser.add_argument(
        "--batch", type=int, default=8, help="events (clips for vae; rows with --pack) per process"
    )
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--ema-decay", type=float, default=None, help="default: by run length")
    parser.add_argument("--checkpoint-every", type=int, default=100)
    parser.add_argument("--log-every", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default=None, help="cpu, cuda, cuda:1 (default: best)")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: default)")
    parser.add_argument(
        "--optimizer",
        choices=("auto", "muon", "adamw"),
        default="auto",
        help="muon: Muon for 2-D weights + AdamW (paper); adamw: AdamW only; auto: muon on GPUs, "
        "adamw on CPUs (torch's Muon orthogonalises in bfloat16, slow on CPUs) and under "
        "--parallel fsdp (Muon cannot update sharded weights)",
    )
    parser.add_argument(
        "--parallel",
        choices=("ddp", "fsdp"),
        default="ddp",
        help="how torchrun processes share the model: ddp replicates it, fsdp shards parameters, "
        "gradients and optimizer state (FSDP2); ignored in a single process",
    )
    parser.add_argument("--vae-frames", type=int, default=9, help="frames per VAE clip (1+4k)")
    parser.add_argument(
        "--vae-detail-weight",
        type=float,
        default=0.0,
        metavar="S",
        help="weight fine detail (small blocks, edges) in the VAE's reconstruction loss: a "
        "pixel's weight grows with its difference from its 7x7 neighbourhood, scaled by S "
        "(0: plain MSE)",
    )
    parser.add_argument(
        "--vae-rarity-weight",
        type=float,
        default=0.0,
        metavar="P",
        help="weight rare colours of a frame (blocks, the plate) in the VAE's reconstruction "
        "loss: a pixel's weight is the count of its frame's pixels of about its colour to the "
        "power -P (0: none; 1: every colour of the frame weighs the same in total)",
    )
    parser.add_argument(
        "--chunk",
        type=int,
        default=None,
        metavar="STEPS",
        help="train the fixed-chunk baseline instead of events: STEPS-step windows of whole "
        "episodes with the task instruction (evaluate it with `wallwm eval-model --chunk STEPS`)",
    )
    parser.add_argument(
        "--pack",
        type=int,
        default=None,
        metavar="FRAMES",
        help="multi-event packing for the video and action stages: each of the --batch rows holds "
        "several events one after the other, up to FRAMES latent frames, with block-diagonal "
        "attention (at least the longest event: 11 for tiny's 40-step events)",
    )
    parser.add_argument(
        "--init-from",
        default=None,
        metavar="CHECKPOINT",
        help="fine-tune: start from this checkpoint's weights (a folder, or a name such as tiny) "
        "instead of a fresh initialisation; the vae stage takes its vae/, the video and joint "
        "stages both towers, the action stage its action tower. A stage that resumes ignores it",
    )
    parser.add_argument(
        "--latent-cache",
        type=Path,
        default=None,
        metavar="DIR",
        help="keep the tower stages' encoded event windows in DIR (a subfolder per VAE and "
        "dataset), so that later commands on the same data read them instead of encoding again",
    )
    parser.add_argument(
        "--focus",
        default=None,
        metavar="SKILL=SHARE",
        help="draw SHARE of the video and action stages' events from one skill's action-level "
        "events, such as reach=0.5 (the rest as usual), so that a rare skill weighs more in the "
        "loss; default: every event by its caption level and cluster",
    )
    parser.add_argument(
        "--export-every",
        type=int,
        default=None,
        metavar="STEPS",
        help="the video and action stages also export their EMA weights every STEPS steps, to "
        "OUT/<stage>/export-<step>/ (a checkpoint folder for eval-model or the benchmarks), so a "
        "run can be scored while it trains; default: only OUT/export/ at the end of each stage",
    )
    parser.set_defaults(func=train)
