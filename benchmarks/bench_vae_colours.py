"""Does a VAE keep what the tasks name? Block colours and the plate, in its reconstructions.

Held-out tabletop scenes (`agent/envs/tabletop/layouts.py`, seeds from 2,000,000: blocks stacked,
in the bowl, drawer or on the plate, held or hidden by the gripper) are rendered by all three
cameras, resized to the model's 64x64 as the executor does, encoded and decoded. MuJoCo's
segmentation render, downsampled to the same grid, says which pixels show which object (only
"pure" pixels, whose every source pixel shows it). Then, per VAE:

- **block colour**: for every block with at least MIN_BLOCK_PIXELS pure pixels in a view, the
  mean colour of the reconstruction under its mask, in CIELAB, is named: "table" when its chroma
  is below MIN_CHROMA (the block faded into the table), else the object among the four blocks
  and the bowl whose hue angle is nearest (references: mean colours of those objects in the
  original frames of the same scenes). Hue rather than the whole colour, because shading changes
  lightness: a yellow block in the bowl's shadow is olive, nearer the bowl's orange than lit
  yellow in CIELAB but not in hue. Correct when it is the block's own colour; a block that turns
  into the bowl's orange or fades into the table counts as lost.
  Perception's pixel classifier (`agent.perception.colour.classify`, majority vote under the
  mask) is reported beside it.
- **plate present**: in every view whose original shows the plate against the table (at least
  MIN_PLATE_PIXELS pure plate pixels and a difference of at least MIN_PLATE_CONTRAST in CIELAB
  between the mean plate colour and the mean of the ring of table around it), the
  reconstruction's plate-minus-ring difference, projected on the original's, must keep at least
  PLATE_KEPT of it (a shift of the whole frame's colour neither hides nor makes a plate). The
  median share kept is reported too.
- **PSNR** over whole frames, and the same two scores for the last frame of a 5-frame still clip
  (the temporally compressed latent that the video tower predicts), not only the keyframe.

    PYTHONPATH=. MUJOCO_GL=egl python benchmarks/bench_vae_colours.py \
        --vae shipped-tiny=worldmodel/checkpoints/tiny [--vae NAME=FOLDER ...] [--scenes 200]

A FOLDER is a checkpoint folder with vae/ or a diffusers AutoencoderKLWan folder. Target (issue
26, read strictly): >= 95% of the blocks overall and of each of the four colours, and the plate
present in >= 95% of the views that show it. Rewrites its own section of benchmarks/RESULTS.md in
place.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

os.environ.setdefault("MUJOCO_GL", "egl")

import numpy as np
import torch
from diffusers import AutoencoderKLWan

from agent.envs.tabletop.layouts import arrange
from agent.envs.tabletop.scene import BLOCKS, CAMERAS
from agent.envs.tabletop.sim import TabletopSim
from agent.envs.tabletop.truth import SegmentationRenderer
from agent.perception.colour import CLASS_NAMES, classify
from benchmarks.record import markdown_table, record
from worldmodel.data.video import resize_frames
from worldmodel.vae import VideoVAE

TITLE = "VAE colour fidelity (held-out scenes)"
FIRST_SEED = 2_000_000  # held out: datasets use seeds below 1,000,000, evaluations from there
SIZE = 64  # the tiny preset's frames
CLIP_FRAMES = 5  # a still clip: the keyframe and one temporally compressed latent frame
MIN_BLOCK_PIXELS = 2  # pure 64x64 pixels for a block to count as visible (a block is ~2x3)
MIN_PLATE_PIXELS = 6
MIN_PLATE_CONTRAST = 4.0  # CIELAB distance plate vs table ring in the original
RING = 2  # pixels of table around the plate that the plate is compared with
PLATE_KEPT = 0.5  # share of the original plate-to-table difference a present plate keeps
TARGET = 0.95
# hues a block's reconstructed colour is matched against: the four blocks and the bowl's orange,
# which red and yellow turned into in the shipped VAE
HUES: tuple[str, ...] = (*BLOCKS, "bowl")
MIN_CHROMA = 20.0  # CIELAB chroma below which a colour is the table's (table ~6, blocks >= 70)


# ----------------------------------------------------------------------------- colour space
def srgb_to_lab(rgb: np.ndarray) -> np.ndarray:
    """CIELAB (D65) of float sRGB values in 0..255, any leading shape."""
    c = np.asarray(rgb, np.float64) / 255.0
    linear = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    xyz = (
        linear
        @ np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722], [0.0193, 0.1192, 0.9505]]).T
    )
    xyz = xyz / np.array([0.95047, 1.0, 1.08883])
    f = np.where(xyz > (6 / 29) ** 3, np.cbrt(xyz), xyz / (3 * (6 / 29) ** 2) + 4 / 29)
    return np.stack(
        [116 * f[..., 1] - 16, 500 * (f[..., 0] - f[..., 1]), 200 * (f[..., 1] - f[..., 2])], -1
    )


# ----------------------------------------------------------------------------- scenes
@dataclass
class View:
    """One camera of one scene at the model's size: the image and its pure-pixel masks."""

    camera: str
    image: np.ndarray  # uint8 (H, W, 3)
    masks: dict[str, np.ndarray]  # name -> bool (H, W): blocks, bowl, plate, table, other


def pure_masks(labels: np.ndarray, names: dict[str, int], size: int) -> dict[str, np.ndarray]:
    """bool (size, size) per name: pixels whose every source pixel of `labels` is that id."""
    factor = labels.shape[0] // size
    blocks = (
        labels.reshape(size, factor, size, factor).transpose(0, 2, 1, 3).reshape(size, size, -1)
    )
    return {name: (blocks == ident).all(-1) for name, ident in names.items()}


def render_views(scenes: int, first_seed: int = FIRST_SEED, size: int = SIZE) -> list[View]:
    """Every camera of `scenes` held-out arranged scenes, resized to `size`."""
    sim = TabletopSim()
    segmentation = SegmentationRenderer(sim)
    model = sim.model
    table = model.geom("table").id
    plate = model.geom("plate").id
    views = []
    try:
        for seed in range(first_seed, first_seed + scenes):
            observation = arrange(sim, seed)
            for camera in CAMERAS:
                geoms = segmentation.geoms(camera)
                bodies = np.where(geoms >= 0, model.geom_bodyid[np.clip(geoms, 0, None)], -1)
                # blocks and the bowl by body (the bowl has several geoms), table and plate by geom
                labels = np.where(geoms == table, -2, bodies)
                labels = np.where(geoms == plate, -3, labels)
                names = {name: sim.body_id[name] for name in (*BLOCKS, "bowl")}
                names |= {"table": -2, "plate": -3}
                masks = pure_masks(labels, names, size)
                # "other": pixels that show anything but the plate and the table, even in part
                masks["other"] = ~pure_masks(np.isin(labels, (-2, -3)), {"x": True}, size)["x"]
                image = resize_frames(observation.images[camera], size, size)
                views.append(View(camera, image, masks))
    finally:
        segmentation.close()
        sim.close()
    return views


# ----------------------------------------------------------------------------- scoring
@dataclass
class Scores:
    """Block colour and plate results of one set of reconstructions."""

    correct: dict[str, int] = field(default_factory=lambda: dict.fromkeys(BLOCKS, 0))
    perception: dict[str, int] = field(default_factory=lambda: dict.fromkeys(BLOCKS, 0))
    total: dict[str, int] = field(default_factory=lambda: dict.fromkeys(BLOCKS, 0))
    confusions: dict[tuple[str, str], int] = field(default_factory=dict)
    plates_present: int = 0
    plates: int = 0
    plate_contrast: list[float] = field(default_factory=list)
    plate_cameras: list[str] = field(default_factory=list)

    @property
    def accuracy(self) -> float:
        return sum(self.correct.values()) / max(sum(self.total.values()), 1)

    def colour_accuracy(self, block: str) -> float:
        return self.correct[block] / max(self.total[block], 1)

    @property
    def plate_rate(self) -> float:
        return self.plates_present / max(self.plates, 1)

    def met(self) -> bool:
        return (
            self.accuracy >= TARGET
            and all(self.colour_accuracy(b) >= TARGET for b in BLOCKS)
            and self.plate_rate >= TARGET
        )


def references(views: list[View]) -> np.ndarray:
    """(len(HUES), 3) mean CIELAB colour of each object of HUES in the original frames."""
    rows = []
    for name in HUES:
        pixels = np.concatenate([v.image[v.masks[name]] for v in views])
        if not len(pixels):
            raise ValueError(f"no view shows {name}: render more scenes")
        rows.append(srgb_to_lab(pixels.astype(np.float64)).mean(0))
    return np.stack(rows)


def colour_name(lab: np.ndarray, reference: np.ndarray) -> str:
    """The name of a mean CIELAB colour: "table" when nearly grey, else the object of HUES whose
    reference hue angle is nearest."""
    if np.hypot(lab[1], lab[2]) < MIN_CHROMA:
        return "table"
    hue = np.arctan2(lab[2], lab[1])
    hues = np.arctan2(reference[:, 2], reference[:, 1])
    gap = np.abs(np.angle(np.exp(1j * (hues - hue))))  # angular distance, wrapped to [0, pi]
    return HUES[int(np.argmin(gap))]


def score(views: list[View], reconstructions: np.ndarray, reference: np.ndarray) -> Scores:
    """Classify every visible block's colour and check every visible plate in the
    reconstructions (uint8 (N, H, W, 3), one per view)."""
    scores = Scores()
    for view, recon in zip(views, reconstructions, strict=True):
        lab = srgb_to_lab(recon.astype(np.float64))  # (H, W, 3)
        classes = classify(recon)
        for block in BLOCKS:
            mask = view.masks[block]
            if mask.sum() < MIN_BLOCK_PIXELS:
                continue
            guess = colour_name(lab[mask].mean(0), reference)
            scores.total[block] += 1
            scores.correct[block] += guess == block
            if guess != block:
                scores.confusions[(block, guess)] = scores.confusions.get((block, guess), 0) + 1
            votes = np.bincount(classes[mask], minlength=len(CLASS_NAMES))
            scores.perception[block] += CLASS_NAMES[int(np.argmax(votes))] == block
        # the plate and the table ring around it, away from other objects, whose colours a blur
        # would mix in: the measure compares the plate with the table and nothing else
        clear = ~_dilate(view.masks["other"], RING)
        plate = view.masks["plate"] & clear
        if plate.sum() < MIN_PLATE_PIXELS:
            continue
        ring = _dilate(view.masks["plate"], RING) & view.masks["table"] & clear
        if ring.sum() < MIN_PLATE_PIXELS:
            continue
        original = srgb_to_lab(view.image.astype(np.float64))
        plate_colour, ring_colour = original[plate].mean(0), original[ring].mean(0)
        contrast = float(np.linalg.norm(plate_colour - ring_colour))
        if contrast < MIN_PLATE_CONTRAST:
            continue
        # the reconstruction's plate-minus-table difference along the original's, as a share of
        # the original's: 1 kept, 0 gone (a colour shift of the whole frame does not count)
        direction = plate_colour - ring_colour
        kept = float((lab[plate].mean(0) - lab[ring].mean(0)) @ direction) / contrast**2
        scores.plates += 1
        scores.plates_present += kept >= PLATE_KEPT
        scores.plate_contrast.append(kept)
        scores.plate_cameras.append(view.camera)
    return scores


def _dilate(mask: np.ndarray, radius: int) -> np.ndarray:
    """`mask` grown by `radius` pixels (a square neighbourhood; nothing wraps around)."""
    height, width = mask.shape
    padded = np.pad(mask, radius)
    out = np.zeros_like(mask)
    for dy in range(2 * radius + 1):
        for dx in range(2 * radius + 1):
            out |= padded[dy : dy + height, dx : dx + width]
    return out


def psnr(originals: np.ndarray, reconstructions: np.ndarray) -> float:
    """Mean over frames of the PSNR (dB, peak 255)."""
    error = (originals.astype(np.float64) - reconstructions.astype(np.float64)) ** 2
    mse = error.reshape(len(originals), -1).mean(1)
    return float(np.mean(10 * np.log10(255.0**2 / np.maximum(mse, 1e-10))))


# ----------------------------------------------------------------------------- the VAE
def load(folder: Path) -> VideoVAE:
    """A checkpoint folder's vae/, or a diffusers AutoencoderKLWan folder itself."""
    path = folder / "vae" if (folder / "vae").is_dir() else folder
    return VideoVAE(AutoencoderKLWan.from_pretrained(str(path)))


def reconstruct(vae: VideoVAE, images: np.ndarray, frames: int, batch: int = 32) -> np.ndarray:
    """uint8 (N, H, W, 3) -> the last frame of the reconstructed still clip of `frames` frames."""
    out = []
    for start in range(0, len(images), batch):
        chunk = images[start : start + batch]
        clip = np.repeat(chunk[:, None, None], frames, axis=2)  # (B, 1, T, H, W, 3)
        out.append(vae.decode(vae.encode(clip))[:, 0, -1])
    return np.concatenate(out)


def plates_by_camera(scores: Scores) -> str:
    """'front 40/60, side ...': views with the plate present, per camera."""
    kept = np.array(scores.plate_contrast) >= PLATE_KEPT
    cameras = np.array(scores.plate_cameras)
    return ", ".join(
        f"{camera} {int(kept[cameras == camera].sum())}/{int((cameras == camera).sum())}"
        for camera in CAMERAS
    )


def rows_for(name: str, scores: Scores, psnr_db: float, frame: str) -> list[object]:
    per_colour = [f"{100 * scores.colour_accuracy(b):.1f}%" for b in BLOCKS]
    perception = sum(scores.perception.values()) / max(sum(scores.total.values()), 1)
    contrast = np.median(scores.plate_contrast) if scores.plate_contrast else float("nan")
    return [
        name,
        frame,
        *per_colour,
        f"**{100 * scores.accuracy:.1f}%** ({sum(scores.correct.values())}/"
        f"{sum(scores.total.values())})",
        f"{100 * perception:.1f}%",
        f"{100 * scores.plate_rate:.1f}% ({scores.plates_present}/{scores.plates})",
        f"{contrast:.2f}",
        f"{psnr_db:.2f}",
        "met" if scores.met() else "MISSED",
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--vae",
        action="append",
        required=True,
        metavar="NAME=FOLDER",
        help="a VAE to score (repeatable): a checkpoint folder with vae/ or a VAE folder",
    )
    parser.add_argument("--scenes", type=int, default=200)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--no-record", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    named = [item.split("=", 1) for item in args.vae]
    if any(len(pair) != 2 for pair in named):
        parser.error("--vae takes NAME=FOLDER")

    started = time.perf_counter()
    views = render_views(args.scenes)
    originals = np.stack([v.image for v in views])
    reference = references(views)
    rows = [rows_for("original frames", score(views, originals, reference), float("inf"), "-")]
    for name, folder in named:
        vae = load(Path(folder))
        for frames, label in ((1, "keyframe"), (CLIP_FRAMES, f"frame {CLIP_FRAMES} of a clip")):
            recon = reconstruct(vae, originals, frames)
            scores = score(views, recon, reference)
            rows.append(rows_for(name, scores, psnr(originals, recon), label))
            confusions = ", ".join(
                f"{a.removesuffix('_block')}->{b.removesuffix('_block')} {n}"
                for (a, b), n in sorted(scores.confusions.items(), key=lambda item: -item[1])[:6]
            )
            print(f"{name} {label}: most frequent confusions: {confusions or 'none'}")
            print(f"{name} {label}: plate present by camera: {plates_by_camera(scores)}")
    header = [
        "VAE",
        "frame",
        *[b.removesuffix("_block") for b in BLOCKS],
        "blocks (colour named)",
        "blocks (perception's classifier)",
        "plate present",
        "plate contrast kept (median share)",
        "PSNR (dB)",
        "target",
    ]
    counts = {b: sum(int(v.masks[b].sum() >= MIN_BLOCK_PIXELS) for v in views) for b in BLOCKS}
    elapsed = time.perf_counter() - started
    folders = "; ".join(f"{name} = `{folder}`" for name, folder in named)
    notes = (
        f"{args.scenes} scenes x {len(CAMERAS)} cameras at {SIZE}x{SIZE}, seeds "
        f"{FIRST_SEED}..{FIRST_SEED + args.scenes - 1} (`layouts.arrange`); visible blocks "
        f"(>= {MIN_BLOCK_PIXELS} pure pixels) per colour: "
        + ", ".join(f"{b.removesuffix('_block')} {n}" for b, n in counts.items())
        + f". Block colour: the mean CIELAB colour under the mask is the table's below chroma "
        f"{MIN_CHROMA:g}, else the nearest hue among {', '.join(HUES)} (references from the "
        "original frames); perception's classifier: majority vote of its pixel classes "
        f"under the mask. Plate present: views whose original plate differs from the table ring "
        f"by >= {MIN_PLATE_CONTRAST} CIELAB; present when the reconstruction keeps >= "
        f"{PLATE_KEPT:.0%} of that difference (projected on it). Target: >= 95% of blocks, "
        f"every colour >= 95%, plate present >= 95%. VAEs: {folders}. {elapsed:.0f} s."
    )
    record(TITLE, markdown_table(header, rows), notes, print_only=args.no_record)
    return 0


if __name__ == "__main__":
    sys.exit(main())
