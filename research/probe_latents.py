"""Can the objects' table positions be read from a checkpoint's VAE latents? A probe per source.

Usage:
    PYTHONPATH=. python research/probe_latents.py --checkpoint tiny --checkpoint RUN/export
    PYTHONPATH=. python research/probe_latents.py --checkpoint RUN/export --tower

Reach and move need the model to know where the blocks are, and the model sees the scene only
through the VAE latents of the keyframes. This renders `--scenes` random tabletop scenes (seeds
from 2,000,000, never used for training or evaluation), encodes the three camera images with each
checkpoint's VAE at the model's resolution, and trains the same small probe on every source: a
per-location MLP (1x1 convolutions) scores each object and guesses its offset inside the cell, a
soft-argmax per view gives its image coordinates, and a small MLP maps those to table xy. The
held-out RMSE says how much position the latents keep. The pixels, average-pooled to a grid 4x
coarser than the image, are the reference that shows the probe itself can do it.

With `--tower`, two more sources per checkpoint with towers: the VAE latents folded onto the
video tower's token grid (what a perfect patch embedding could keep) and the video tower's
keyframe tokens (what the action tower reads). Together they say where position is lost: in the
VAE, or between the VAE and the action tower.
"""

from __future__ import annotations

import argparse

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from agent.envs.tabletop.scene import BLOCKS
from agent.envs.tabletop.sim import TabletopSim
from benchmarks.record import markdown_table, record
from worldmodel.checkpoint import load_checkpoint, load_vae
from worldmodel.data.video import resize_frames
from worldmodel.locate import checkpoint_folder
from worldmodel.model import WallWM
from worldmodel.text import build_text_encoder
from worldmodel.vae import VideoVAE

OBJECTS = (*BLOCKS, "bowl")
FIRST_SEED = 2_000_000


def render_scenes(count: int, height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """uint8 images (N, views, H, W, 3) and the objects' table xy (N, objects, 2)."""
    sim = TabletopSim()
    images, positions = [], []
    try:
        for seed in range(FIRST_SEED, FIRST_SEED + count):
            observation = sim.reset(seed)
            names = sorted(observation.images)
            images.append(
                np.stack(
                    [resize_frames(observation.images[n][None], height, width)[0] for n in names]
                )
            )
            positions.append(np.stack([sim.object_pose(name)[0][:2] for name in OBJECTS]))
    finally:
        sim.close()
    return np.stack(images), np.stack(positions)


def probe_rmse(maps: torch.Tensor, positions: torch.Tensor, train: int, steps: int) -> np.ndarray:
    """Held-out RMSE (m) per object of a probe trained on the first `train` scenes.

    maps: (N, views, C, H, W) features laid out on the image grid. Per location an MLP scores
    each object and guesses where in the cell it lies (an offset of at most one cell); a softmax
    over the locations of a view gives the object's expected image coordinates there (soft-argmax
    with offsets, so a coarse grid such as the towers' 4x4 tokens is not limited to cell
    centres); a small MLP per object maps the views' coordinates to table xy. Few parameters, so
    a source that does not hold the position cannot be memorised."""
    torch.manual_seed(0)
    _, views, channels, height, width = maps.shape
    mean = maps[:train].mean((0, 3, 4), keepdim=True)
    std = maps[:train].std((0, 3, 4), keepdim=True) + 1e-6
    maps = (maps - mean) / std
    offset = positions[:train].mean(0)
    objects = positions.shape[1]
    score = nn.Sequential(
        nn.Conv2d(channels, 64, 1), nn.GELU(), nn.Conv2d(64, 64, 1), nn.GELU(),
        nn.Conv2d(64, objects * 3, 1),
    )  # fmt: skip
    to_table = nn.ModuleList(
        nn.Sequential(nn.Linear(views * 2, 64), nn.GELU(), nn.Linear(64, 2)) for _ in range(objects)
    )
    rows = torch.linspace(-1, 1, height)[:, None].expand(height, width).flatten()
    columns = torch.linspace(-1, 1, width)[None, :].expand(height, width).flatten()
    cell = torch.tensor([2 / max(height - 1, 1), 2 / max(width - 1, 1)])
    optimizer = torch.optim.Adam([*score.parameters(), *to_table.parameters()], 3e-3)

    def predict(x: torch.Tensor) -> torch.Tensor:  # (B, objects, 2)
        out = score(x.flatten(0, 1)).flatten(2).unflatten(1, (objects, 3))  # (B*V, obj, 3, H*W)
        weights = out[:, :, 0].softmax(-1)  # (B*V, objects, H*W)
        shift = torch.tanh(out[:, :, 1:]) * cell[:, None]  # (B*V, objects, 2, H*W)
        where = ((torch.stack([rows, columns]) + shift) * weights[:, :, None]).sum(-1)
        where = where.unflatten(0, (len(x), views)).transpose(1, 2).flatten(2)  # (B, obj, V*2)
        return torch.stack([head(where[:, i]) for i, head in enumerate(to_table)], 1) + offset

    for _ in range(steps):
        batch = torch.randint(0, train, (64,))
        loss = F.mse_loss(predict(maps[batch]), positions[batch])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    with torch.no_grad():
        error = predict(maps[train:]) - positions[train:]
    return error.pow(2).sum(-1).mean(0).sqrt().numpy()


@torch.no_grad()
def keyframe_features(model: WallWM, latents: torch.Tensor, caption: str) -> torch.Tensor:
    """(N, views, blocks * Dv, H', W'): every video block's tokens of the keyframe latents
    (N, views, C, 1, h, w), the features the action tower's video cross-attention reads. The
    keyframe alone (timestep 0), without the noisy future frames that the sampler appends: what
    the tower keeps of the scene."""
    text = build_text_encoder(model.config.text).encode([caption])
    maps = []
    for chunk in latents.split(50):
        batch = len(chunk)
        video = model.video(chunk, torch.zeros(batch, 1), text.expand(batch, -1, -1))
        _, height, width = video.grid
        blocks = [f.unflatten(2, (height, width)).permute(0, 1, 4, 2, 3) for f in video.features]
        maps.append(torch.cat(blocks, 2))  # (B, V, blocks * Dv, H', W')
    return torch.cat(maps).float()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--checkpoint",
        action="append",
        help="a shipped name or a folder with vae/ (repeatable; default tiny)",
    )
    parser.add_argument("--scenes", type=int, default=600, help="rendered scenes in all")
    parser.add_argument(
        "--image-size", type=int, default=64, help="the models' input resolution (square)"
    )
    parser.add_argument("--held-out", type=int, default=100, help="scenes the probe never sees")
    parser.add_argument("--steps", type=int, default=1500, help="probe optimisation steps")
    parser.add_argument(
        "--tower",
        action="store_true",
        help="also probe what the action tower reads: the video tower's keyframe tokens (every "
        "block's, side by side) of checkpoints with towers, and as their reference the VAE "
        "latents folded onto the same token grid",
    )
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    names = args.checkpoint or ["tiny"]
    train = args.scenes - args.held_out
    if train < 50:
        parser.error("--scenes must exceed --held-out by at least 50")

    folders = [checkpoint_folder(name) for name in names]
    vaes = [load_vae(folder) for folder in folders]
    for folder, vae in zip(folders, vaes, strict=True):
        if vae is None:
            raise SystemExit(f"{folder} has no vae/ folder")

    images, positions = render_scenes(args.scenes, args.image_size, args.image_size)
    target = torch.as_tensor(positions).float()
    baseline = np.sqrt(((positions[train:] - positions[:train].mean(0)) ** 2).sum(-1).mean(0))
    rows = [["always the mean position", "-", *(f"{100 * e:.1f}" for e in baseline)]]
    pixels = torch.as_tensor(images).permute(0, 1, 4, 2, 3).float() / 255
    pooled = F.avg_pool2d(pixels.flatten(0, 1), 4).unflatten(0, pixels.shape[:2])
    error = probe_rmse(pooled, target, train, args.steps)
    grid = f"{pooled.shape[-2]}x{pooled.shape[-1]}x3"
    rows.append(["pixels, 4x4 average-pooled", grid, *(f"{100 * e:.1f}" for e in error)])
    for name, folder, vae in zip(names, folders, vaes, strict=True):
        encoder = VideoVAE(vae)
        with torch.no_grad():
            latents = torch.cat(
                [
                    encoder.encode(torch.as_tensor(images[i : i + 50])[:, :, None])[:, :, :, 0]
                    for i in range(0, len(images), 50)
                ]
            )  # (N, views, C, h, w): the keyframe latent
        sources = {f"VAE latents of {name}": latents.float()}
        if args.tower and (folder / "config.json").is_file():
            model, _ = load_checkpoint(folder)
            side = model.config.video.patch_size[1]  # the presets' patches are square
            folded = F.pixel_unshuffle(latents.flatten(0, 1).float(), side)
            sources[f"VAE latents of {name}, folded to tokens"] = folded.unflatten(
                0, latents.shape[:2]
            )
            sources[f"video tower keyframe tokens of {name}"] = keyframe_features(
                model, latents[:, :, :, None], "reach the red block"
            )
        for label, maps in sources.items():
            error = probe_rmse(maps, target, train, args.steps)
            grid = f"{maps.shape[-2]}x{maps.shape[-1]}x{maps.shape[2]}"
            rows.append([label, grid, *(f"{100 * e:.1f}" for e in error)])
            print(rows[-1], flush=True)

    table = markdown_table(["source", "grid", *(f"{o} (cm)" for o in OBJECTS)], rows)
    notes = (
        f"Held-out RMSE of each object's table xy, {args.held_out} of {args.scenes} scenes, "
        f"probe {args.steps} steps; 3 cameras."
    )
    record("Object positions readable from the VAE latents (probe)", table, notes, print_only=True)


if __name__ == "__main__":
    main()
