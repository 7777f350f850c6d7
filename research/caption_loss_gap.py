"""Does a checkpoint use the colour word? Flow loss of recorded reaches, named block vs others.

Usage:
    PYTHONPATH=. python research/caption_loss_gap.py --data DATA --checkpoint tiny \
        --checkpoint RUN/export
    PYTHONPATH=. python research/caption_loss_gap.py --data DATA --tower action

For every recorded reach of a dataset whose caption names a block, the video tower's flow loss
(its training loss) on the recorded event with its caption, with the colour word swapped for
each other block, and with no caption, all at the same noise and noise levels. A model that uses
the colour predicts the recorded future better with the right name, so the swapped captions cost
more; one that ignores it scores them the same. This is the training objective's view of
`caption_following.py`'s question. It needs no sampling and no simulator, so it is quick enough
to run right after a video stage, before any action training (the action tower reads the caption
only through the video tower). On the training data and on a held-out dataset (`wallwm data
generate --seed 9`, say) it tells a model that has not learned the colour from one that has
learned it only for the scenes it saw.

`--tower action` scores the action tower's loss instead (the action stage's: the video forward at
the sampler's level, the K action draws), on the same reaches and draws: whether the actions
themselves depend on the colour word, which is what a reach needs.
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

import numpy as np
import torch

from agent.envs.tabletop.scene import BLOCKS
from benchmarks.record import markdown_table, record
from research.caption_following import spoken
from worldmodel.checkpoint import load_checkpoint, load_vae
from worldmodel.data.events import EventDataset
from worldmodel.flow import TrainingBatch, training_loss
from worldmodel.locate import checkpoint_folder
from worldmodel.model import WallWM
from worldmodel.text import build_text_encoder
from worldmodel.training.batches import CaptionBank, encode_window
from worldmodel.training.stages import StageSettings, open_dataset
from worldmodel.vae import VideoVAE


def named_reaches(dataset: EventDataset) -> list[tuple[int, str]]:
    """(event index, named block) of every reach whose caption says the block's name."""
    found = []
    for index, (_, event) in enumerate(dataset.events):
        block = event.arguments.get("object")
        if event.skill == "reach" and block in BLOCKS and spoken(block) in event.caption:
            found.append((index, block))
    return found


def measure(
    folder: Path, data: Path, events: int, draws: int, seed: int, tower: str = "video"
) -> dict[str, float]:
    """Mean losses of `tower` over `events` reaches (each averaged over `draws` noise draws) for the
    caption as recorded, the other colours and no caption; how often the recorded one is the
    lowest of the colours; the gap (other colours minus as recorded) by the block the caption
    names, since the VAE keeps some colours' positions better than others (probe_latents.py)."""
    model, _ = load_checkpoint(folder)
    model.eval()
    config = model.config
    vae_model = load_vae(folder)
    if vae_model is None:
        raise SystemExit(f"{folder} has no VAE: the losses need the latents it was trained on")
    dataset = open_dataset(data, config, StageSettings(steps=1))
    reaches = named_reaches(dataset)
    if not reaches:
        raise SystemExit(f"{data} has no reach whose caption names a block")
    rng = np.random.default_rng(seed)
    chosen = [reaches[i] for i in rng.choice(len(reaches), min(events, len(reaches)), False)]

    def recolour(index: int, named: str, block: str) -> str:
        return dataset.event_caption(index).replace(spoken(named), spoken(block))

    text = build_text_encoder(config.text, "cpu")
    bank = CaptionBank([recolour(i, named, b) for i, named in chosen for b in BLOCKS], text)
    vae = VideoVAE(vae_model)
    right, swapped, blank, lowest = [], [], [], []
    gaps: dict[str, list[float]] = {block: [] for block in BLOCKS}
    for event_number, (index, named) in enumerate(chosen):
        sample = dataset.sample(index, np.random.default_rng(seed + event_number))
        # draws copies of the event; the caption is set per call (the sample's may be dropped)
        batch = TrainingBatch(
            latents=encode_window(vae, sample, config.vae.scale_factor_temporal)
            .float()[None]
            .expand(draws, -1, -1, -1, -1, -1),
            text=bank[""][None].expand(draws, -1, -1),
            state=torch.from_numpy(sample.proprio)[None].expand(draws, -1),
            actions=torch.from_numpy(sample.actions)[None].expand(draws, -1, -1),
            valid=torch.ones(draws, sample.length, dtype=torch.bool),
        )
        by_block = {
            block: flow_loss(model, batch, bank[recolour(index, named, block)], seed, tower)
            for block in BLOCKS
        }
        right.append(by_block[named])
        others = [value for block, value in by_block.items() if block != named]
        swapped.extend(others)
        gaps[named].append(float(np.mean(others)) - by_block[named])
        blank.append(flow_loss(model, batch, bank[""], seed, tower))
        lowest.append(min(by_block, key=by_block.__getitem__) == named)
    return {
        "events": len(chosen),
        "right": float(np.mean(right)),
        "swapped": float(np.mean(swapped)),
        "blank": float(np.mean(blank)),
        "lowest": float(np.mean(lowest)),
        **{
            f"gap {block}": float(np.mean(gaps[block])) if gaps[block] else np.nan
            for block in BLOCKS
        },
        **{f"count {block}": len(gaps[block]) for block in BLOCKS},
    }


@torch.no_grad()
def flow_loss(
    model: WallWM, batch: TrainingBatch, text: torch.Tensor, seed: int, tower: str
) -> float:
    """The video or action tower's flow loss with this caption; the seed fixes noise and noise
    levels, so captions are compared on the same draws."""
    captioned = dataclasses.replace(batch, text=text[None].expand(len(batch.latents), -1, -1))
    generator = torch.Generator().manual_seed(seed)
    if tower == "video":
        return float(training_loss(model, captioned, generator, train_action=False).video)
    return float(training_loss(model, captioned, generator, train_video=False).action)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="dataset (wallwm data generate)")
    parser.add_argument(
        "--checkpoint",
        action="append",
        help="a shipped name or a folder (repeatable; default tiny)",
    )
    parser.add_argument("--events", type=int, default=32, help="reaches to score")
    parser.add_argument("--draws", type=int, default=8, help="noise draws per reach")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--tower",
        choices=("video", "action"),
        default="video",
        help="whose loss to score: the video tower's, or the action tower's (its reach actions)",
    )
    args = parser.parse_args()
    torch.manual_seed(args.seed)
    rows = []
    for name in args.checkpoint or ["tiny"]:
        result = measure(
            checkpoint_folder(name), args.data, args.events, args.draws, args.seed, args.tower
        )
        rows.append(
            [
                name,
                result["events"],
                *(f"{result[key]:.4f}" for key in ("right", "swapped", "blank")),
                f"{1000 * (result['swapped'] - result['right']):+.2f}",
                f"{100 * result['lowest']:.0f}%",
                " / ".join(
                    f"{1000 * result[f'gap {block}']:+.2f} ({result[f'count {block}']})"
                    for block in BLOCKS
                ),
            ]
        )
        print(rows[-1], flush=True)
    header = [
        "checkpoint",
        "reaches",
        f"{args.tower} loss, caption as recorded",
        "another colour",
        "no caption",
        "another colour minus as recorded (x 1000)",
        f"recorded colour has the lowest {args.tower} loss",
        "the same gap by named block: " + " / ".join(spoken(block) for block in BLOCKS),
    ]
    notes = (
        f"dataset {args.data} ({args.events} reaches drawn with seed {args.seed}, "
        f"{args.draws} noise draws each, the same draws for every caption; 1 in {len(BLOCKS)} "
        "by chance in the column of the lowest; the last column x 1000, with the reaches "
        "naming each block in brackets)."
    )
    record(
        f"Does the {args.tower} tower use the colour word? (flow loss)",
        markdown_table(header, rows),
        notes,
        print_only=True,
    )


if __name__ == "__main__":
    main()
