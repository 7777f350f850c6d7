"""`wallwm train`: train a small WALL-WM on an event dataset, stage by stage.

Usage:
    wallwm train --preset tiny --data /work/data/tabletop --out runs/tiny --stage all --steps 2000
    wallwm train --recipe smoke --out runs/smoke      # data, stages and steps from a recipe
    wallwm train --preset tiny --data DATA --out runs/tiny --stage video,action --steps 300,600
    wallwm train --preset tiny --data DATA --out runs/chunk16 --stage action --steps 600 --chunk 16
    wallwm train --preset tiny --data DATA --out runs/packed --stage action --steps 600 --pack 24
    wallwm train --preset tiny --data DATA --out runs/tuned --stage all --steps 500 --init-from tiny
    wallwm train --preset tiny --data DATA --out runs/reach --stage video --steps 600 \
        --focus reach=0.5
    wallwm train --preset tiny --data DATA --out runs/marks --stage action --steps 1000 \
        --init-from tiny --marks --focus reach=1
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
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from agent.envs.tabletop.datagen import GenerationConfig


def data_config(options: dict) -> GenerationConfig:
    """A recipe's data options as the generator's config; an unknown option is a ContractError
    (checked for every dataset before any is generated)."""
    from agent.envs.tabletop.datagen import GenerationConfig
    from worldmodel.errors import ContractError

    known = sorted(f.name for f in dataclasses.fields(GenerationConfig) if f.name != "scene")
    unknown = sorted(set(options) - set(known))
    if unknown:
        raise ContractError(f"recipe data: unknown options {unknown}; expected some of {known}")
    if "families" in options:
        options = {**options, "families": tuple(options["families"])}
    try:
        return GenerationConfig(**options)
    except ContractError as error:  # the generator's own words, said of the recipe's data
        raise ContractError(f"recipe data: {error}") from None


def make_data(folder: Path, config: GenerationConfig) -> None:
    """A recipe's dataset: generated (or finished, if an earlier command was stopped) by the
    same code as `wallwm data generate`; a complete one is left as it is. Progress: a line
    every 5% of the episodes, in the style of the training steps' lines (logs and terminals)."""
    from agent.envs.tabletop.datagen import Generator
    from worldmodel.training.loop import format_duration

    generator = Generator(folder, config)
    total = config.episodes
    try:
        if generator.done < total:
            print(f"data: {folder}, {generator.done} of {total} episodes", flush=True)
        every = max(1, total // 20)
        start, began = generator.done, time.monotonic()
        while generator.done < total:
            generator.step()
            done = generator.done
            if done % every == 0 or done == total:
                rate = (done - start) / max(time.monotonic() - began, 1e-9)  # episodes per second
                left = format_duration((total - done) / rate)
                print(
                    f"data: {done}/{total} episodes  ({60 * rate:.1f} episodes/min, {left} left)",
                    flush=True,
                )
    finally:
        generator.close()


def parse_components(text: str) -> tuple[int, ...]:
    """ "6" or "5,6" -> (6,) or (5, 6); anything else is a usage error."""
    from worldmodel.errors import ContractError

    try:
        return tuple(int(part) for part in text.split(","))
    except ValueError:
        raise ContractError(
            f"--hide-proprio {text!r}: expected proprio component numbers such as 6 or 5,6"
        ) from None


def train(args: argparse.Namespace) -> int:
    from dataclasses import replace

    import torch

    from worldmodel.config import get_config, with_hidden_proprio, with_marks, with_skills
    from worldmodel.errors import ContractError
    from worldmodel.locate import checkpoint_folder
    from worldmodel.training.batches import Focus
    from worldmodel.training.distributed import init_distributed, shutdown
    from worldmodel.training.recipe import load_recipe
    from worldmodel.training.run import parse_steps, run_stages, use_muon
    from worldmodel.training.stages import StageSettings, stage_plan

    out = Path(args.out)
    recipe = load_recipe(args.recipe) if args.recipe else None
    if recipe is not None:
        config = recipe.config()
        data = Path(args.data) if args.data else out / "data"
        datasets = {data: recipe.data, **recipe.stage_data(out)}
        configs = {folder: data_config(options) for folder, options in datasets.items()}
        for folder, generation in configs.items():
            make_data(folder, generation)
    else:
        if args.data is None or args.steps is None:
            raise ContractError("give --data and --steps, or a --recipe")
        config = with_marks(get_config(args.preset)) if args.marks else get_config(args.preset)
        config = with_skills(config) if args.skills else config
        if args.hide_proprio:
            config = with_hidden_proprio(config, parse_components(args.hide_proprio))
        data = Path(args.data)
        stages = stage_plan(args.stage)
        steps = parse_steps(args.steps, stages)
    context = init_distributed(args.device)
    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        settings = StageSettings(
            steps=1,  # each stage's own below
            batch=args.batch,
            lr=args.lr,
            ema_decay=args.ema_decay,
            checkpoint_every=args.checkpoint_every,
            log_every=args.log_every,
            seed=args.seed,
            muon=use_muon(args.optimizer, context, args.parallel),
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
            target_dropout=args.target_dropout,
        )
        if recipe is not None:
            plan = recipe.plan(settings, out)
        else:
            plan = [
                (stage, replace(settings, steps=n)) for stage, n in zip(stages, steps, strict=True)
            ]
        return run_stages(config, plan, data, out, context, recipe.name if recipe else None)
    finally:
        shutdown(context)


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("train", help="train a WALL-WM preset on an event dataset")
    parser.add_argument("--preset", default="tiny", help="model preset (tiny, debug)")
    parser.add_argument(
        "--recipe",
        help="a whole run from a recipe (worldmodel/recipes/NAME.yaml, or a .yaml file): its "
        "preset, data (generated into --data, default OUT/data, when missing) and stages; "
        "--preset, --stage, --steps, --marks and the recipe's stage settings are its",
    )
    parser.add_argument("--data", help="dataset folder (wallwm data generate)")
    parser.add_argument("--out", required=True, help="run folder (stages, export/)")
    parser.add_argument(
        "--stage",
        default="all",
        help="vae, video, action, all (those three), joint (both towers on both losses, after "
        "video), or a list: video,action",
    )
    parser.add_argument("--steps", help="optimiser steps per stage: 500, or one per stage: 300,600")
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
        "events, such as reach=0.5, or from several skills', such as reach+move+place=1 (the "
        "rest as usual), so that a rare skill weighs more in the loss; default: every event by "
        "its caption level and cluster",
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
    parser.add_argument(
        "--marks",
        action="store_true",
        help="give the model target marks: heatmaps of where each event's object and destination "
        "are, beside the keyframes (the dataset's targets; see worldmodel/marks.py). With "
        "--init-from a checkpoint without them, their weights start at zero, so training starts "
        "from exactly that model; the action stage then trains them too",
    )
    parser.add_argument(
        "--skills",
        action="store_true",
        help="tell the action tower each event's skill (a one-hot of the skill's name beside the "
        "state; see ActionTowerConfig.skills). With --init-from a checkpoint without it, its "
        "weights start at zero",
    )
    parser.add_argument(
        "--hide-proprio",
        metavar="I[,I...]",
        help="proprio components the action tower is not shown (0-based; the tabletop's are x, "
        "y, z, roll, pitch, yaw, gripper opening), e.g. 6 so that the skill, not the opening, "
        "tells a grasp from a lift (see ActionTowerConfig.hidden_proprio)",
    )
    parser.add_argument(
        "--target-dropout",
        type=float,
        default=0.2,
        metavar="P",
        help="with --marks, drop the targets of this share of events, so that the model also "
        "works when a request has none (default 0.2)",
    )
    parser.set_defaults(func=train)
